package peers

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"

	coder "github.com/coder/websocket"
	"github.com/plainws/plainws/bench"
	"github.com/plainws/plainws/ws"
)

// coder/websocket v1.8.15, through its documented fast paths: Reader read
// into a reused buffer (Read allocates per message) and Write, one frame per
// message. Compression is off (its default). Its read limit is raised from
// 32 KiB to readLimit so that the large workloads fit.
var coderLib = library{
	name: "coder",
	readWhole: func(b *testing.B, server bool, size int) {
		c := coderMemConn(b, server, bench.FrameLoop(ws.OpBinary, size, server))
		ctx := context.Background()
		readLoop(b, size, func(buf []byte) ([]byte, error) {
			_, r, err := c.Reader(ctx)
			if err != nil {
				return buf, err
			}
			return readInto(r, buf)
		})
	},
	readStream: func(b *testing.B, server bool, size int) {
		c := coderMemConn(b, server, bench.FrameLoop(ws.OpBinary, size, server))
		ctx := context.Background()
		streamLoop(b, size, func() (io.Reader, error) {
			_, r, err := c.Reader(ctx)
			return r, err
		})
	},
	write: func(b *testing.B, server bool, size int) {
		c := coderMemConn(b, server, nil)
		ctx := context.Background()
		writeLoop(b, size, func(p []byte) error { return c.Write(ctx, coder.MessageBinary, p) })
	},
	roundTrip: func(b *testing.B, size int) { loopback(b, size, coderEcho, coderClient(b, size), false) },
	pipelined: func(b *testing.B, size int) { loopback(b, size, coderEcho, coderClient(b, size), true) },
	idle: func(ctx context.Context, addr string) (io.Closer, any, error) {
		coderIdle.mu.Lock()
		defer coderIdle.mu.Unlock()
		c, _, err := coder.Dial(ctx, "ws://"+addr+"/", &coder.DialOptions{HTTPClient: coderIdle.client})
		if err != nil {
			return nil, nil, err
		}
		go func() { _, _, _ = c.Reader(context.Background()) }()
		return coderIdle.last, c, nil
	},
}

// coderIdle shares one http.Client across the idle dials (so that it is not
// counted per connection) and catches each dialed conn.
var coderIdle = func() *struct {
	mu     sync.Mutex
	last   net.Conn
	client *http.Client
} {
	s := &struct {
		mu     sync.Mutex
		last   net.Conn
		client *http.Client
	}{}
	s.client = &http.Client{Transport: &http.Transport{DialContext: tcpDialer(&s.last), DisableKeepAlives: true}}
	return s
}()

// coderMemConn builds a coder conn over a bench.ReplayConn through coder's
// own handshake: net/http's client on the client side, Accept on the
// server side.
func coderMemConn(b *testing.B, server bool, loop []byte) *coder.Conn {
	var (
		c   *coder.Conn
		err error
	)
	if server {
		rc := bench.NewUpgradeClientConn(loop)
		closeAtEnd(b, rc)
		if serr := bench.ServeUpgrade(rc, func(w http.ResponseWriter, r *http.Request) {
			c, err = coder.Accept(w, r, &coder.AcceptOptions{InsecureSkipVerify: true})
		}); serr != nil {
			b.Fatal(serr)
		}
	} else {
		rc := bench.NewUpgradeServerConn(loop)
		closeAtEnd(b, rc)
		client := &http.Client{Transport: &http.Transport{DialContext: dialer(rc)}}
		c, _, err = coder.Dial(context.Background(), "ws://bench.invalid/", &coder.DialOptions{HTTPClient: client})
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.CloseNow() })
	c.SetReadLimit(readLimit)
	return c
}

func coderEcho(nc net.Conn) {
	var c *coder.Conn
	if err := bench.ServeUpgrade(nc, func(w http.ResponseWriter, r *http.Request) {
		c, _ = coder.Accept(w, r, &coder.AcceptOptions{InsecureSkipVerify: true})
	}); err != nil || c == nil {
		return
	}
	defer func() { _ = c.CloseNow() }()
	c.SetReadLimit(readLimit)
	ctx := context.Background()
	var buf []byte
	for {
		typ, r, err := c.Reader(ctx)
		if err != nil {
			return
		}
		if buf, err = readInto(r, buf); err != nil {
			return
		}
		if err = c.Write(ctx, typ, buf); err != nil {
			return
		}
	}
}

func coderClient(b *testing.B, size int) func(addr string) (write, read func() error) {
	return func(addr string) (write, read func() error) {
		ctx := context.Background()
		client := &http.Client{Transport: &http.Transport{}}
		c, _, err := coder.Dial(ctx, "ws://"+addr+"/", &coder.DialOptions{HTTPClient: client})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.CloseNow() })
		c.SetReadLimit(readLimit)
		p := bench.Payload(size)
		buf := make([]byte, 0, size)
		write = func() error { return c.Write(ctx, coder.MessageBinary, p) }
		read = func() error {
			_, r, err := c.Reader(ctx)
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
