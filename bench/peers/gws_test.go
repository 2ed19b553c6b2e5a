package peers

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"

	"github.com/lxzan/gws"
	"github.com/plainws/plainws/bench"
	"github.com/plainws/plainws/ws"
)

// lxzan/gws v1.9.1, through its documented model: ReadLoop delivers each
// whole message to OnMessage in a pooled buffer that Close gives back, and
// WriteMessage sends one frame. It has no streaming reader, so the
// read-stream cells stay empty. UTF-8 checks and compression are off (its
// defaults), read and write buffers are its 4 KiB defaults.
var gwsLib = library{
	name:      "gws",
	readWhole: gwsReadWhole,
	write: func(b *testing.B, server bool, size int) {
		c := gwsMemConn(b, server, nil, &gwsHandler{})
		writeLoop(b, size, func(p []byte) error { return c.WriteMessage(gws.OpcodeBinary, p) })
	},
	roundTrip: func(b *testing.B, size int) { loopback(b, size, gwsEcho, gwsClient(b, size), false) },
	pipelined: func(b *testing.B, size int) { loopback(b, size, gwsEcho, gwsClient(b, size), true) },
	idle: func(ctx context.Context, addr string) (io.Closer, any, error) {
		c, _, err := gws.NewClient(gwsIdleHandler, &gws.ClientOption{Addr: "ws://" + addr + "/"})
		if err != nil {
			return nil, nil, err
		}
		go c.ReadLoop()
		return c.NetConn(), c, nil
	},
}

var gwsIdleHandler = &gwsHandler{}

// gwsHandler forwards OnMessage and OnClose to functions set per workload.
type gwsHandler struct {
	gws.BuiltinEventHandler
	onMessage func(c *gws.Conn, m *gws.Message)
	onClose   func(err error)
}

func (h *gwsHandler) OnMessage(c *gws.Conn, m *gws.Message) {
	if h.onMessage != nil {
		h.onMessage(c, m)
		return
	}
	_ = m.Close()
}

func (h *gwsHandler) OnClose(_ *gws.Conn, err error) {
	if h.onClose != nil {
		h.onClose(err)
	}
}

// gwsReadWhole lets ReadLoop deliver b.N messages and stops it there.
func gwsReadWhole(b *testing.B, server bool, size int) {
	h := &gwsHandler{}
	c := gwsMemConn(b, server, bench.FrameLoop(ws.OpBinary, size, server), h)
	n, count := b.N, 0
	done := make(chan error, 1)
	stop := make(chan struct{})
	h.onMessage = func(_ *gws.Conn, m *gws.Message) {
		l := m.Data.Len()
		_ = m.Close()
		if l != size {
			done <- errWrongSize
			<-stop
			return
		}
		if count++; count == n {
			done <- nil
			<-stop
		}
	}
	h.onClose = func(err error) {
		select {
		case done <- err:
		default:
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	start(b, size)
	go func() {
		defer wg.Done()
		c.ReadLoop()
	}()
	err := <-done
	b.StopTimer()
	_ = c.NetConn().Close()
	close(stop)
	wg.Wait()
	if err != nil {
		b.Fatal(err)
	}
}

// gwsMemConn runs gws's own handshake over a bench.ReplayConn.
func gwsMemConn(b *testing.B, server bool, loop []byte, h *gwsHandler) *gws.Conn {
	if server {
		rc := bench.NewUpgradeClientConn(loop)
		closeAtEnd(b, rc)
		br := bufio.NewReader(rc)
		r, err := http.ReadRequest(br)
		if err != nil {
			b.Fatal(err)
		}
		c, err := gws.NewUpgrader(h, &gws.ServerOption{}).UpgradeFromConn(rc, br, r)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	rc := bench.NewUpgradeServerConn(loop)
	closeAtEnd(b, rc)
	c, _, err := gws.NewClientFromConn(h, &gws.ClientOption{Addr: "ws://bench.invalid/"}, rc)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

var gwsEchoUpgrader = gws.NewUpgrader(&gwsHandler{onMessage: func(c *gws.Conn, m *gws.Message) {
	_ = c.WriteMessage(m.Opcode, m.Bytes())
	_ = m.Close()
}}, &gws.ServerOption{})

func gwsEcho(nc net.Conn) {
	br := bufio.NewReader(nc)
	r, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	c, err := gwsEchoUpgrader.UpgradeFromConn(nc, br, r)
	if err != nil {
		return
	}
	c.ReadLoop()
}

func gwsClient(b *testing.B, size int) func(addr string) (write, read func() error) {
	return func(addr string) (write, read func() error) {
		echoes := make(chan error, 1024)
		h := &gwsHandler{
			onMessage: func(_ *gws.Conn, m *gws.Message) {
				var err error
				if m.Data.Len() != size {
					err = errWrongSize
				}
				_ = m.Close()
				echoes <- err
			},
			onClose: func(err error) {
				select {
				case echoes <- err:
				default:
				}
			},
		}
		c, _, err := gws.NewClient(h, &gws.ClientOption{Addr: "ws://" + addr + "/"})
		if err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.ReadLoop()
		}()
		b.Cleanup(func() {
			_ = c.NetConn().Close()
			wg.Wait()
		})
		p := bench.Payload(size)
		write = func() error { return c.WriteMessage(gws.OpcodeBinary, p) }
		read = func() error { return <-echoes }
		return write, read
	}
}
