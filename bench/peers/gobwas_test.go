package peers

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"testing"

	gobwas "github.com/gobwas/ws"
	"github.com/plainws/plainws/bench"
	"github.com/plainws/plainws/ws"
)

// gobwas/ws v1.5.0 through its low-level API, as leanly as it allows:
// ReadHeaderBuffer into a reused array (ReadHeader allocates), CheckHeader,
// the payload read straight into the caller's buffer and unmasked with
// Cipher (assembly on amd64 since v1.5.0); writes build header and payload in
// one reused buffer (WriteHeaderBuffer, Cipher) and leave in one Write.
// Masking keys come from NewMask (math/rand, the library's own choice). The
// caller's payload is never modified, as with the other libraries.
var gobwasLib = library{
	name: "gobwas",
	readWhole: func(b *testing.B, server bool, size int) {
		g := gobwasMemConn(b, server, bench.FrameLoop(ws.OpBinary, size, server))
		readLoop(b, size, func(buf []byte) ([]byte, error) {
			_, buf, err := g.readMessage(buf)
			return buf, err
		})
	},
	readStream: func(b *testing.B, server bool, size int) {
		g := gobwasMemConn(b, server, bench.FrameLoop(ws.OpBinary, size, server))
		streamLoop(b, size, func() (io.Reader, error) { return g.nextReader() })
	},
	write: func(b *testing.B, server bool, size int) {
		g := gobwasMemConn(b, server, nil)
		writeLoop(b, size, func(p []byte) error { return g.write(gobwas.OpBinary, p) })
	},
	mask: func(b *testing.B, size, off int) {
		p := make([]byte, size+off)[off:]
		mask := [4]byte{0x37, 0xfa, 0x21, 0x3d}
		start(b, size)
		pos := 0
		for range b.N {
			// The offset carries the key phase between calls, as a
			// streaming reader's would.
			gobwas.Cipher(p, mask, pos)
			pos += size
		}
	},
	roundTrip: func(b *testing.B, size int) { loopback(b, size, gobwasEcho, gobwasClient(b, size), false) },
	pipelined: func(b *testing.B, size int) { loopback(b, size, gobwasEcho, gobwasClient(b, size), true) },
	idle: func(ctx context.Context, addr string) (io.Closer, any, error) {
		nc, br, _, err := gobwas.Dial(ctx, "ws://"+addr+"/")
		if err != nil {
			return nil, nil, err
		}
		// The lean idle client: no bufio.Reader while waiting (gobwas hands
		// its handshake reader back to a pool); the header is read straight
		// from the conn into a small array, and a buffer would only be
		// taken once a frame arrives.
		var src io.Reader = nc
		if br != nil {
			src = br
		}
		go gobwasWaitHeader(src)
		return nc, nc, nil
	},
}

func gobwasWaitHeader(r io.Reader) {
	var hdr [gobwas.MaxHeaderSize - 2]byte
	_, _ = gobwas.ReadHeaderBuffer(r, hdr[:])
}

// gobwasConn is the state a lean gobwas program keeps per connection.
type gobwasConn struct {
	nc     net.Conn
	br     *bufio.Reader
	state  gobwas.State
	client bool
	rhdr   [gobwas.MaxHeaderSize]byte // the reader's, apart from the writer's:
	whdr   [gobwas.MaxHeaderSize]byte // one goroutine may read while another writes
	wbuf   sliceWriter
	iov    net.Buffers
	iovArr [2][]byte
	// streaming state
	left int64
	mask [4]byte
	pos  int
	mskd bool
}

// sliceWriter appends to a byte slice; WriteHeaderBuffer writes the header
// into it so that header and payload leave in one Write.
type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

var errTooLarge = errors.New("peers: message over the read limit")

func newGobwasConn(nc net.Conn, br *bufio.Reader, client bool) *gobwasConn {
	if br == nil {
		br = bufio.NewReaderSize(nc, ws.DefaultBufferSize)
	}
	state := gobwas.StateServerSide
	if client {
		state = gobwas.StateClientSide
	}
	return &gobwasConn{nc: nc, br: br, state: state, client: client, wbuf: sliceWriter{b: make([]byte, 0, ws.DefaultBufferSize)}}
}

// nextFrame reads and checks one header, skipping control frames (a full
// program would answer them; none arrive in these workloads).
func (g *gobwasConn) nextFrame() (gobwas.Header, error) {
	for {
		h, err := gobwas.ReadHeaderBuffer(g.br, g.rhdr[:])
		if err != nil {
			return h, err
		}
		if err := gobwas.CheckHeader(h, g.state); err != nil {
			return h, err
		}
		if !h.OpCode.IsControl() {
			return h, nil
		}
		if _, err := g.br.Discard(int(h.Length)); err != nil {
			return h, err
		}
	}
}

// readMessage reads one whole message into buf[:0], frame by frame.
func (g *gobwasConn) readMessage(buf []byte) (gobwas.OpCode, []byte, error) {
	buf = buf[:0]
	var op gobwas.OpCode
	for {
		h, err := g.nextFrame()
		if err != nil {
			return op, buf, err
		}
		if h.OpCode != gobwas.OpContinuation {
			op = h.OpCode
		}
		if int64(len(buf))+h.Length > readLimit {
			return op, buf, errTooLarge
		}
		n := len(buf)
		buf = slices.Grow(buf, int(h.Length))[:n+int(h.Length)]
		if _, err := io.ReadFull(g.br, buf[n:]); err != nil {
			return op, buf, err
		}
		if h.Masked {
			gobwas.Cipher(buf[n:], h.Mask, 0)
		}
		if h.Fin {
			return op, buf, nil
		}
	}
}

// nextReader starts a message and returns g as its reader (single-frame
// messages only, which is all these workloads send).
func (g *gobwasConn) nextReader() (io.Reader, error) {
	h, err := g.nextFrame()
	if err != nil {
		return nil, err
	}
	if h.Length > readLimit {
		return nil, errTooLarge
	}
	g.left, g.mask, g.mskd, g.pos = h.Length, h.Mask, h.Masked, 0
	return g, nil
}

// Read streams the current frame's payload, unmasking with the offset.
func (g *gobwasConn) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	n, err := g.br.Read(p)
	if g.mskd {
		gobwas.Cipher(p[:n], g.mask, g.pos)
	}
	g.pos += n
	g.left -= int64(n)
	return n, err
}

// write sends one unfragmented message; a client masks a copy with a fresh
// key (RFC 6455 §5.3).
func (g *gobwasConn) write(op gobwas.OpCode, p []byte) error {
	h := gobwas.Header{Fin: true, OpCode: op, Length: int64(len(p))}
	if g.client {
		h.Masked = true
		h.Mask = gobwas.NewMask()
	}
	g.wbuf.b = g.wbuf.b[:0]
	if err := gobwas.WriteHeaderBuffer(&g.wbuf, h, g.whdr[:]); err != nil {
		return err
	}
	if !g.client && len(p) > cap(g.wbuf.b)-len(g.wbuf.b) {
		// A large server frame: header and payload in one writev, no copy.
		g.iovArr = [2][]byte{g.wbuf.b, p}
		g.iov = g.iovArr[:]
		_, err := g.iov.WriteTo(g.nc)
		g.iovArr[1] = nil
		return err
	}
	start := len(g.wbuf.b)
	g.wbuf.b = append(g.wbuf.b, p...)
	if g.client {
		gobwas.Cipher(g.wbuf.b[start:], h.Mask, 0)
	}
	_, err := g.nc.Write(g.wbuf.b)
	return err
}

// gobwasMemConn runs gobwas's own handshake over a bench.ReplayConn.
func gobwasMemConn(b *testing.B, server bool, loop []byte) *gobwasConn {
	if server {
		rc := bench.NewUpgradeClientConn(loop)
		closeAtEnd(b, rc)
		if _, err := gobwas.Upgrade(rc); err != nil {
			b.Fatal(err)
		}
		return newGobwasConn(rc, nil, false)
	}
	rc := bench.NewUpgradeServerConn(loop)
	closeAtEnd(b, rc)
	d := gobwas.Dialer{NetDial: dialer(rc)}
	nc, br, _, err := d.Dial(context.Background(), "ws://bench.invalid/")
	if err != nil {
		b.Fatal(err)
	}
	return newGobwasConn(nc, br, true)
}

func gobwasEcho(nc net.Conn) {
	if _, err := gobwas.Upgrade(nc); err != nil {
		return
	}
	g := newGobwasConn(nc, nil, false)
	var buf []byte
	for {
		op, p, err := g.readMessage(buf)
		if err != nil {
			return
		}
		buf = p
		if err := g.write(op, buf); err != nil {
			return
		}
	}
}

func gobwasClient(b *testing.B, size int) func(addr string) (write, read func() error) {
	return func(addr string) (write, read func() error) {
		nc, br, _, err := gobwas.Dial(context.Background(), "ws://"+addr+"/")
		if err != nil {
			b.Fatal(err)
		}
		closeAtEnd(b, nc)
		g := newGobwasConn(nc, br, true)
		p := bench.Payload(size)
		buf := make([]byte, 0, size)
		write = func() error { return g.write(gobwas.OpBinary, p) }
		read = func() error {
			var err error
			if _, buf, err = g.readMessage(buf); err == nil && len(buf) != size {
				err = errWrongSize
			}
			return err
		}
		return write, read
	}
}
