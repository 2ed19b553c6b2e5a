//go:build !js

package ws

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// pipePair returns a client and a server Conn joined by net.Pipe, with the
// handshake skipped.
func pipePair(t *testing.T, copts, sopts *Options) (*Conn, *Conn) {
	t.Helper()
	a, b := net.Pipe()
	c := NewConn(a, nil, RoleClient, "", copts)
	s := NewConn(b, nil, RoleServer, "", sopts)
	t.Cleanup(func() { _ = c.CloseNow(); _ = s.CloseNow() })
	return c, s
}

// echoServer starts an httptest server whose handler upgrades with u and
// echoes every message until the connection ends.
func echoServer(t *testing.T, u *Upgrader) (string, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := u.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		var buf []byte
		for {
			op, msg, err := c.ReadMessageInto(buf)
			if err != nil {
				return
			}
			buf = msg
			if err := c.WriteMessage(op, msg); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), srv
}

func dialT(t *testing.T, d *Dialer, url string) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := d.Dial(ctx, url)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// checkNoLeak fails if goroutines started during the test are still alive
// once it ends (after a grace period for them to exit).
func checkNoLeak(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			require.LessOrEqualf(t, n, before, "goroutines leaked:\n%s", buf)
		}
	})
}

// tcpPair returns two ends of a loopback TCP connection. Unlike net.Pipe,
// writes do not wait for the reader, so a test can script a peer's bytes.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() { c, err := ln.Accept(); ch <- res{c, err} }()
	a, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	r := <-ch
	require.NoError(t, r.err)
	t.Cleanup(func() { _ = a.Close(); _ = r.c.Close() })
	return a, r.c
}

// rawPeer is the scripted other end of a Conn under test.
type rawPeer struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
	// masks reports whether frames the peer sends must be masked, i.e. the
	// Conn under test is a server.
	masks bool
}

// newRawPeer returns a Conn in role and a scripted peer.
func newRawPeer(t *testing.T, role Role, opts *Options) (*Conn, *rawPeer) {
	t.Helper()
	a, b := tcpPair(t)
	c := NewConn(a, nil, role, "", opts)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c, &rawPeer{t: t, nc: b, br: bufio.NewReader(b), masks: role == RoleServer}
}

// frameBytes builds one frame as the peer would send it (masked with a fixed
// key when masked).
func frameBytes(fin bool, rsv byte, op Opcode, masked bool, payload []byte) []byte {
	h := Header{Fin: fin, Rsv: rsv, Opcode: op, Masked: masked, Length: int64(len(payload))}
	if masked {
		h.Mask = [4]byte{0x37, 0xfa, 0x21, 0x3d}
	}
	b := AppendHeader(nil, h)
	start := len(b)
	b = append(b, payload...)
	if masked {
		Mask(b[start:], MaskKeyWord(h.Mask))
	}
	return b
}

// send writes a frame with the peer's masking.
func (p *rawPeer) send(fin bool, op Opcode, payload []byte) {
	p.t.Helper()
	p.write(frameBytes(fin, 0, op, p.masks, payload))
}

func (p *rawPeer) write(b []byte) {
	p.t.Helper()
	_, err := p.nc.Write(b)
	require.NoError(p.t, err)
}

// next reads one frame the Conn sent and checks its masking against RFC 6455
// §5.1 (a client masks, a server does not).
func (p *rawPeer) next() (Header, []byte) {
	p.t.Helper()
	_ = p.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	h, err := ReadHeader(p.br)
	require.NoError(p.t, err)
	require.Equal(p.t, !p.masks, h.Masked, "RFC 6455 §5.1 masking of frames we send")
	payload := make([]byte, h.Length)
	_, err = io.ReadFull(p.br, payload)
	require.NoError(p.t, err)
	if h.Masked {
		Mask(payload, MaskKeyWord(h.Mask))
	}
	return h, payload
}

// expectClose reads frames until a close frame and returns its code.
func (p *rawPeer) expectClose() StatusCode {
	p.t.Helper()
	for {
		h, payload := p.next()
		if h.Opcode == OpClose {
			code, _, err := ParseClosePayload(payload)
			require.NoError(p.t, err)
			return code
		}
	}
}

// expectEOF checks the Conn closed the TCP connection.
func (p *rawPeer) expectEOF() {
	p.t.Helper()
	_ = p.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.Copy(io.Discard, p.br)
	require.NoError(p.t, err, "want a clean EOF")
}

func closePayload(code StatusCode, reason string) []byte {
	b, err := AppendClosePayload(nil, code, reason)
	if err != nil {
		panic(err)
	}
	return b
}

// nopConn is a net.Conn that does nothing, for embedding.
type nopConn struct{}

func (nopConn) Read([]byte) (int, error)         { return 0, io.EOF }
func (nopConn) Write(p []byte) (int, error)      { return 0, io.ErrClosedPipe }
func (nopConn) Close() error                     { return nil }
func (nopConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (nopConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (nopConn) SetDeadline(time.Time) error      { return nil }
func (nopConn) SetReadDeadline(time.Time) error  { return nil }
func (nopConn) SetWriteDeadline(time.Time) error { return nil }
