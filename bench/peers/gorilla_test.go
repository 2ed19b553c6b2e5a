package peers

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"

	gorilla "github.com/gorilla/websocket"
	"github.com/plainws/plainws/bench"
	"github.com/plainws/plainws/ws"
)

// gorilla/websocket v1.5.3, through its documented fast paths: NextReader
// read into a reused buffer (ReadMessage would allocate a new slice per
// message through io.ReadAll) and WriteMessage. Buffers are its defaults,
// 4 KiB each way, like plainws's.
var gorillaLib = library{
	name: "gorilla",
	readWhole: func(b *testing.B, server bool, size int) {
		c := gorillaMemConn(b, server, bench.FrameLoop(ws.OpBinary, size, server))
		readLoop(b, size, func(buf []byte) ([]byte, error) {
			_, r, err := c.NextReader()
			if err != nil {
				return buf, err
			}
			return readInto(r, buf)
		})
	},
	readStream: func(b *testing.B, server bool, size int) {
		c := gorillaMemConn(b, server, bench.FrameLoop(ws.OpBinary, size, server))
		streamLoop(b, size, func() (io.Reader, error) {
			_, r, err := c.NextReader()
			return r, err
		})
	},
	write: func(b *testing.B, server bool, size int) {
		c := gorillaMemConn(b, server, nil)
		writeLoop(b, size, func(p []byte) error { return c.WriteMessage(gorilla.BinaryMessage, p) })
	},
	roundTrip: func(b *testing.B, size int) { loopback(b, size, gorillaEcho, gorillaClient(b, size), false) },
	pipelined: func(b *testing.B, size int) { loopback(b, size, gorillaEcho, gorillaClient(b, size), true) },
	idle: func(ctx context.Context, addr string) (io.Closer, any, error) {
		c, _, err := gorillaIdleDialer.DialContext(ctx, "ws://"+addr+"/", nil)
		if err != nil {
			return nil, nil, err
		}
		go func() { _, _, _ = c.NextReader() }()
		return c.NetConn(), c, nil
	},
}

var gorillaIdleDialer = &gorilla.Dialer{}

// gorillaMemConn builds a gorilla conn over a bench.ReplayConn, through
// gorilla's own handshake on either side.
func gorillaMemConn(b *testing.B, server bool, loop []byte) *gorilla.Conn {
	var (
		c   *gorilla.Conn
		err error
	)
	if server {
		rc := bench.NewUpgradeClientConn(loop)
		closeAtEnd(b, rc)
		u := gorilla.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
		if serr := bench.ServeUpgrade(rc, func(w http.ResponseWriter, r *http.Request) { c, err = u.Upgrade(w, r, nil) }); serr != nil {
			b.Fatal(serr)
		}
	} else {
		rc := bench.NewUpgradeServerConn(loop)
		closeAtEnd(b, rc)
		d := gorilla.Dialer{NetDialContext: dialer(rc)}
		c, _, err = d.Dial("ws://bench.invalid/", nil)
	}
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func gorillaEcho(nc net.Conn) {
	u := gorilla.Upgrader{}
	var c *gorilla.Conn
	if err := bench.ServeUpgrade(nc, func(w http.ResponseWriter, r *http.Request) { c, _ = u.Upgrade(w, r, nil) }); err != nil || c == nil {
		return
	}
	var buf []byte
	for {
		typ, r, err := c.NextReader()
		if err != nil {
			return
		}
		if buf, err = readInto(r, buf); err != nil {
			return
		}
		if err = c.WriteMessage(typ, buf); err != nil {
			return
		}
	}
}

func gorillaClient(b *testing.B, size int) func(addr string) (write, read func() error) {
	return func(addr string) (write, read func() error) {
		c, _, err := gorillaIdleDialer.Dial("ws://"+addr+"/", nil)
		if err != nil {
			b.Fatal(err)
		}
		closeAtEnd(b, c)
		p := bench.Payload(size)
		buf := make([]byte, 0, size)
		write = func() error { return c.WriteMessage(gorilla.BinaryMessage, p) }
		read = func() error {
			_, r, err := c.NextReader()
			if err != nil {
				return err
			}
			if buf, err = readInto(r, buf); err == nil && len(buf) != size {
				err = errWrongSize
			}
			return err
		}
		return write, read
	}
}
