//go:build !js

package ws

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/wstest"
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

// rawPeer is the scripted other end of a Conn under test: a wstest.Wire
// with helpers in package ws's types. Its frames are built and parsed by
// wstest, not by the code under test.
type rawPeer struct {
	*wstest.Wire
	// masks reports whether frames the peer sends must be masked, i.e. the
	// Conn under test is a server.
	masks bool
}

// newRawPeer returns a Conn in role and a scripted peer.
func newRawPeer(t *testing.T, role Role, opts *Options) (*Conn, *rawPeer) {
	t.Helper()
	a, b := wstest.TCPPair(t)
	c := NewConn(a, nil, role, "", opts)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c, peerOn(t, b, role == RoleServer)
}

// peerOn returns a scripted peer on nc; masks as in rawPeer.
func peerOn(t *testing.T, nc net.Conn, masks bool) *rawPeer {
	return &rawPeer{Wire: wstest.NewWire(t, nc), masks: masks}
}

// send writes a frame with the peer's masking (RFC 6455 §5.3).
func (p *rawPeer) send(fin bool, op Opcode, payload []byte) {
	p.T.Helper()
	p.Send(wstest.Frame{Fin: fin, Opcode: byte(op), Masked: p.masks, Key: wstest.DefaultKey, Payload: payload})
}

// peerFrame is one frame as a peer would send it, built by wstest (not by
// the code under test), masked with wstest.DefaultKey when masked.
func peerFrame(fin bool, op Opcode, masked bool, payload []byte) []byte {
	return wstest.Frame{Fin: fin, Opcode: byte(op), Masked: masked, Key: wstest.DefaultKey, Payload: payload}.Bytes()
}

// next reads one frame the Conn sent and checks its masking against RFC 6455
// §5.1 (a client masks, a server does not).
func (p *rawPeer) next() (Header, []byte) {
	p.T.Helper()
	f := p.ReadFrame()
	require.Equal(p.T, !p.masks, f.Masked, "RFC 6455 §5.1 masking of frames we send")
	return Header{Fin: f.Fin, Rsv: f.Rsv, Opcode: Opcode(f.Opcode), Masked: f.Masked, Mask: f.Key, Length: int64(len(f.Payload))}, f.Payload
}

// expectClose reads frames until a close frame and returns its code, which
// must parse as RFC 6455 §5.5.1 and §7.4 allow.
func (p *rawPeer) expectClose() StatusCode {
	p.T.Helper()
	for {
		h, payload := p.next()
		if h.Opcode == OpClose {
			code, _, err := ParseClosePayload(payload)
			require.NoError(p.T, err)
			return code
		}
	}
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
