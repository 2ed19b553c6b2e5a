package peers

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"

	coder "github.com/coder/websocket"
	gorilla "github.com/gorilla/websocket"
	"github.com/lxzan/gws"
	"github.com/plainws/plainws/bench"
	"github.com/plainws/plainws/ws"
)

// The compressed-connection memory comparison of issue 13: each library
// with permessage-deflate as it is usually run — coder and gws with
// context takeover both ways, gorilla without (the only mode it has) —
// next to plainws in the same modes, through bench.MeasureCompressedIdle.

var errNoCompression = errors.New("permessage-deflate not negotiated")

// coderCompressed is coder/websocket with CompressionContextTakeover on
// both ends.
var coderCompressed = bench.CompressedLib{
	Handler: func(serve func(func() error, any)) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := coder.Accept(w, r, &coder.AcceptOptions{CompressionMode: coder.CompressionContextTakeover})
			if err != nil {
				return
			}
			serve(func() error {
				typ, p, err := c.Read(context.Background())
				if err != nil {
					return err
				}
				return c.Write(context.Background(), typ, p)
			}, c)
		})
	},
	Dial: func(ctx context.Context, url string) (func([]byte) error, any, error) {
		c, resp, err := coder.Dial(ctx, url, &coder.DialOptions{CompressionMode: coder.CompressionContextTakeover})
		if err != nil {
			return nil, nil, err
		}
		if resp.Header.Get("Sec-WebSocket-Extensions") == "" {
			return nil, nil, errNoCompression
		}
		return func(p []byte) error {
			if err := c.Write(ctx, coder.MessageText, p); err != nil {
				return err
			}
			_, got, err := c.Read(ctx)
			if err == nil && len(got) != len(p) {
				err = errWrongSize
			}
			return err
		}, c, nil
	},
}

// gorillaCompressed is gorilla/websocket with EnableCompression on both
// ends: no context takeover, its only mode.
var gorillaCompressed = bench.CompressedLib{
	Handler: func(serve func(func() error, any)) http.Handler {
		u := &gorilla.Upgrader{EnableCompression: true}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := u.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			serve(func() error {
				typ, p, err := c.ReadMessage()
				if err != nil {
					return err
				}
				return c.WriteMessage(typ, p)
			}, c)
		})
	},
	Dial: func(_ context.Context, url string) (func([]byte) error, any, error) {
		d := &gorilla.Dialer{EnableCompression: true}
		c, resp, err := d.Dial(url, nil)
		if err != nil {
			return nil, nil, err
		}
		if resp.Header.Get("Sec-WebSocket-Extensions") == "" {
			return nil, nil, errNoCompression
		}
		return func(p []byte) error {
			if err := c.WriteMessage(gorilla.TextMessage, p); err != nil {
				return err
			}
			_, got, err := c.ReadMessage()
			if err == nil && len(got) != len(p) {
				err = errWrongSize
			}
			return err
		}, c, nil
	},
}

// gwsDeflate is gws's permessage-deflate with context takeover both ways.
var gwsDeflate = gws.PermessageDeflate{Enabled: true, ServerContextTakeover: true, ClientContextTakeover: true}

// gwsCompressed is gws with gwsDeflate on both ends. gws is event driven:
// each end runs its ReadLoop, and the server echoes from OnMessage.
var gwsCompressed = bench.CompressedLib{
	Handler: func(serve func(func() error, any)) http.Handler {
		u := gws.NewUpgrader(&gwsHandler{onMessage: func(c *gws.Conn, m *gws.Message) {
			_ = c.WriteMessage(m.Opcode, m.Bytes())
			_ = m.Close()
		}}, &gws.ServerOption{PermessageDeflate: gwsDeflate})
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := u.Upgrade(w, r)
			if err != nil {
				return
			}
			// ReadLoop echoes from OnMessage until the connection closes.
			serve(func() error { c.ReadLoop(); return net.ErrClosed }, c)
		})
	},
	Dial: func(_ context.Context, url string) (func([]byte) error, any, error) {
		echoes := make(chan int, 1)
		h := &gwsHandler{onMessage: func(_ *gws.Conn, m *gws.Message) {
			echoes <- m.Data.Len()
			_ = m.Close()
		}}
		c, resp, err := gws.NewClient(h, &gws.ClientOption{Addr: url, PermessageDeflate: gwsDeflate})
		if err != nil {
			return nil, nil, err
		}
		if resp.Header.Get("Sec-WebSocket-Extensions") == "" {
			return nil, nil, errNoCompression
		}
		go c.ReadLoop()
		return func(p []byte) error {
			if err := c.WriteMessage(gws.OpcodeText, p); err != nil {
				return err
			}
			if <-echoes != len(p) {
				return errWrongSize
			}
			return nil
		}, c, nil
	},
}

// BenchmarkCompressedIdle: heap per idle compressed connection after one
// 1 KiB message each way, at 1,000 connection pairs, and the cost of the
// next message (see bench.MeasureCompressedIdle). Run it with
// -benchtime=1x.
func BenchmarkCompressedIdle(b *testing.B) {
	for _, l := range []struct {
		name string
		lib  bench.CompressedLib
	}{
		{"plainws/takeover", bench.PlainwsCompressed(&ws.CompressionOptions{})},
		{"coder/takeover", coderCompressed},
		{"gws/takeover", gwsCompressed},
		{"plainws/no-takeover", bench.PlainwsCompressed(&ws.CompressionOptions{ServerNoContextTakeover: true, ClientNoContextTakeover: true})},
		{"gorilla/no-takeover", gorillaCompressed},
	} {
		b.Run(l.name, func(b *testing.B) { bench.MeasureCompressedIdle(b, l.lib) })
	}
}
