package wstest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plainws/plainws/internal/wstest"
	"github.com/plainws/plainws/ws"
)

// The accept value of RFC 6455 §1.3's worked example.
func TestAcceptKeyRFCExample(t *testing.T) {
	assert.Equal(t, wstest.ExampleAccept, wstest.AcceptKey(wstest.ExampleKey))
	assert.Equal(t, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", wstest.AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="))
	// §4.2.2 item 5.4: the key is hashed as the string it is, not decoded.
	assert.NotEqual(t, wstest.ExampleAccept, wstest.AcceptKey("dGhlIHNhbXBsZSBub25jZQ"))
}

// The frame builder writes the examples of RFC 6455 §5.7 byte for byte
// (their masking key is DefaultKey).
func TestFrameRFCExamples(t *testing.T) {
	assert.Equal(t, []byte{0x81, 0x05, 'H', 'e', 'l', 'l', 'o'}, wstest.Text("Hello").Bytes())
	assert.Equal(t, []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}, wstest.Text("Hello").Mask().Bytes())
	assert.Equal(t, []byte{0x01, 0x03, 'H', 'e', 'l'}, wstest.Frame{Opcode: wstest.OpText, Payload: []byte("Hel")}.Bytes())
	assert.Equal(t, []byte{0x80, 0x02, 'l', 'o'}, wstest.Frame{Fin: true, Payload: []byte("lo")}.Bytes())
	assert.Equal(t, []byte{0x89, 0x05, 'H', 'e', 'l', 'l', 'o'}, wstest.Frame{Fin: true, Opcode: wstest.OpPing, Payload: []byte("Hello")}.Bytes())
	b := wstest.Binary(make([]byte, 256)).Bytes()
	assert.Equal(t, []byte{0x82, 0x7E, 0x01, 0x00}, b[:4])
	assert.Len(t, b, 4+256)
	b = wstest.Binary(make([]byte, 65536)).Bytes()
	assert.Equal(t, []byte{0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0}, b[:10])
	assert.Len(t, b, 10+65536)
}

// Every frame the builder makes, valid or deliberately malformed, reads
// back equal through ReadFrame.
func TestFrameRoundTrip(t *testing.T) {
	var frames []wstest.Frame
	for _, size := range []int{0, 1, 125, 126, 127, 65535, 65536, 70000} {
		p := make([]byte, size)
		for i := range p {
			p[i] = byte(i * 7)
		}
		for _, masked := range []bool{false, true} {
			f := wstest.Frame{Fin: true, Opcode: wstest.OpBinary, Payload: p}
			if masked {
				f.Masked, f.Key = true, [4]byte{1, 2, 3, 4}
			}
			frames = append(frames, f)
		}
	}
	frames = append(frames,
		wstest.Frame{Fin: true, Opcode: wstest.OpText, LenForm: wstest.Len16, Payload: []byte("short")},
		wstest.Frame{Fin: true, Opcode: wstest.OpText, LenForm: wstest.Len64, Payload: []byte("short")},
		wstest.Frame{Fin: true, Opcode: wstest.OpText, LenForm: wstest.Len64, Payload: make([]byte, 300)},
		wstest.Frame{Rsv: wstest.Rsv1 | wstest.Rsv2 | wstest.Rsv3, Opcode: 0x3, Payload: []byte("reserved")},
		wstest.Frame{Fin: true, Opcode: 0xB, Masked: true, Key: [4]byte{9, 9, 9, 9}},
		wstest.Frame{Fin: true, Opcode: wstest.OpText, Masked: true, Payload: []byte("zero key")},
		wstest.Close(wstest.CloseNormal, "bye").Mask(),
	)
	var wire []byte
	for _, f := range frames {
		got, err := wstest.ReadFrame(strings.NewReader(string(f.Bytes())))
		require.NoError(t, err)
		if len(f.Payload) == 0 {
			f.Payload = []byte{}
		}
		assert.Equal(t, f, got)
		wire = f.Append(wire)
	}
	// Back to back on one stream too.
	r := strings.NewReader(string(wire))
	for range frames {
		_, err := wstest.ReadFrame(r)
		require.NoError(t, err)
	}
	_, err := wstest.ReadFrame(r)
	assert.ErrorIs(t, err, io.EOF)
}

// A frame that lies about its length says so on the wire, and the reader
// reports the short payload.
func TestFrameLyingLength(t *testing.T) {
	f := wstest.Frame{Fin: true, Opcode: wstest.OpBinary, Payload: []byte("abc"), Length: wstest.Len(10)}
	b := f.Bytes()
	assert.Equal(t, []byte{0x82, 10, 'a', 'b', 'c'}, b)
	_, err := wstest.ReadFrame(strings.NewReader(string(b)))
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	// §5.2: the most significant bit of a 64-bit length must be 0.
	b = wstest.Frame{Fin: true, Opcode: wstest.OpBinary, Length: wstest.Len(1 << 63)}.Bytes()
	assert.Equal(t, []byte{0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0}, b)
	_, err = wstest.ReadFrame(strings.NewReader(string(b)))
	assert.ErrorContains(t, err, "over")
}

// ClosePayload writes RFC 6455 §5.5.1's body and ParseClose reads it back.
func TestClosePayload(t *testing.T) {
	assert.Equal(t, []byte{0x03, 0xE8, 'o', 'k'}, wstest.ClosePayload(1000, "ok"))
	assert.Empty(t, wstest.ClosePayload(0, ""))
	code, reason, err := wstest.ParseClose(wstest.ClosePayload(4001, "why"))
	require.NoError(t, err)
	assert.Equal(t, uint16(4001), code)
	assert.Equal(t, "why", reason)
	code, _, err = wstest.ParseClose(nil)
	require.NoError(t, err)
	assert.Zero(t, code)
	_, _, err = wstest.ParseClose([]byte{3})
	assert.ErrorIs(t, err, wstest.ErrCloseBody)
}

// The scripted server answers plainws's client per RFC 6455 §4.2.2 (the
// Dialer checks the accept value, §4.1), sends a message and reads the
// client's masked frames.
func TestServeAnswersRealClient(t *testing.T) {
	srv := wstest.Serve(t, func(p *wstest.Peer) {
		p.Upgrade("Sec-WebSocket-Protocol: chat")
		p.Send(wstest.Text("hello"))
		f := p.Expect(wstest.OpText)
		assert.True(t, f.Masked, "§5.3: a client masks")
		assert.Equal(t, "back", string(f.Payload))
		code, reason := p.ExpectClose()
		assert.Equal(t, wstest.CloseNormal, code)
		assert.Equal(t, "done", reason)
		// §7.1.1: the server closes the TCP connection first, which it
		// does when the script returns.
		p.Send(wstest.Close(code, ""))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := (&ws.Dialer{Subprotocols: []string{"chat"}}).Dial(ctx, srv.URL+"/path")
	require.NoError(t, err)
	assert.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	assert.Equal(t, "chat", c.Subprotocol())
	op, msg, err := c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, ws.OpText, op)
	assert.Equal(t, "hello", string(msg))
	require.NoError(t, c.WriteMessage(ws.OpText, []byte("back")))
	require.NoError(t, c.Close(ws.CloseNormalClosure, "done"))

	p := srv.Next(t)
	require.NoError(t, p.Err)
	assert.Equal(t, "/path", p.Req.URL.Path)
	assert.Equal(t, "GET /path HTTP/1.1", wstest.Lines(p.Head)[0])
}

// The raw client's handshake is accepted by plainws's server (RFC 6455
// §4.2.1), and it reads what the server sends.
func TestClientAgainstRealServer(t *testing.T) {
	ln := wstest.Listen(t)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		nc, err := ln.Accept()
		if !assert.NoError(t, err) {
			return
		}
		c, _, err := (&ws.Upgrader{}).UpgradeConn(context.Background(), nc, nil)
		if !assert.NoError(t, err) {
			return
		}
		defer c.CloseNow()
		op, msg, err := c.ReadMessage()
		if assert.NoError(t, err) {
			assert.NoError(t, c.WriteMessage(op, msg))
		}
	}()
	defer wg.Wait()
	c := wstest.Dial(t, ln.Addr().String())
	c.Upgrade("/")
	c.Send(wstest.Text("echo").Mask())
	assert.Equal(t, "echo", string(c.Expect(wstest.OpText).Payload))
}

// A raw client sees a non-101 answer as it is: any status, headers, body.
func TestServeRespondAnyStatus(t *testing.T) {
	srv := wstest.Serve(t, func(p *wstest.Peer) {
		p.Respond("HTTP/1.1 403 Forbidden\r\nX-Why: {accept}\r\nContent-Length: 2\r\n\r\nno")
	})
	c := wstest.Dial(t, srv.Addr)
	resp := c.Handshake("/")
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Equal(t, wstest.AcceptKey(c.Key), resp.Header.Get("X-Why"))
	body, err := io.ReadAll(c.R)
	require.NoError(t, err)
	assert.Equal(t, "no", string(body))
}

// Reset ends the connection with an RST, CloseWrite with a FIN that leaves
// the other direction open.
func TestResetAndHalfClose(t *testing.T) {
	srv := wstest.Serve(t, func(p *wstest.Peer) {
		switch p.Req.URL.Path {
		case "/rst":
			p.Upgrade()
			p.Reset()
		case "/half":
			p.Upgrade()
			p.CloseWrite()
			assert.Equal(t, "still open", string(p.Expect(wstest.OpBinary).Payload))
		}
	})
	c := wstest.Dial(t, srv.Addr)
	c.Upgrade("/rst")
	_, err := c.R.ReadByte()
	assert.True(t, errors.Is(err, syscall.ECONNRESET), "want a reset, got %v", err)

	c = wstest.Dial(t, srv.Addr)
	c.Upgrade("/half")
	_, err = c.R.ReadByte()
	assert.ErrorIs(t, err, io.EOF)
	c.Send(wstest.Binary([]byte("still open")).Mask())
	srv.Next(t)
	srv.Next(t)
}

// fakeTB records failures instead of failing the real test, to show that a
// script step fails the test clearly.
type fakeTB struct {
	testing.TB
	mu     sync.Mutex
	failed bool
	msgs   []string
}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = true
	f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
}

func (f *fakeTB) FailNow() {
	f.mu.Lock()
	f.failed = true
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Helper() {}

// failures runs script on a server whose test is a fakeTB, lets client act
// on a raw client that sent a handshake request, and returns what the
// script reported as failures once its connection ended.
func failures(t *testing.T, script wstest.Script, client func(c *wstest.Client)) []string {
	ft := &fakeTB{TB: t}
	srv := wstest.Serve(ft, script)
	c := wstest.Dial(t, srv.Addr)
	c.WriteString(wstest.Request(srv.Addr, "/", wstest.ExampleKey))
	client(c)
	srv.Next(t)
	ft.mu.Lock()
	defer ft.mu.Unlock()
	require.True(t, ft.failed, "the script failed the test")
	return ft.msgs
}

// A script that expects a frame the client does not send fails the test
// with a message that names what was expected, and the connection's
// goroutine ends (Next still reports it).
func TestScriptFailsClearly(t *testing.T) {
	msgs := failures(t, func(p *wstest.Peer) { p.Expect(wstest.OpBinary) }, func(c *wstest.Client) {
		c.Send(wstest.Text("not binary").Mask())
	})
	assert.Contains(t, strings.Join(msgs, "\n"), "wstest: opcode of the frame read")
}

// A script waiting for a frame that never comes fails on its timeout, not
// never.
func TestScriptTimesOut(t *testing.T) {
	msgs := failures(t, func(p *wstest.Peer) {
		p.Timeout = 50 * time.Millisecond
		p.ReadFrame()
	}, func(*wstest.Client) {})
	assert.Contains(t, strings.Join(msgs, "\n"), "wstest: reading a frame")
}

// A silent peer neither reads nor writes until the test ends; the server's
// cleanup still returns.
func TestSilentEndsWithTheTest(t *testing.T) {
	srv := wstest.Serve(t, func(p *wstest.Peer) {
		p.Upgrade()
		p.Silent()
	})
	c := wstest.Dial(t, srv.Addr)
	c.Upgrade("/")
	c.Timeout = 100 * time.Millisecond
	_ = c.Conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	_, err := c.R.ReadByte()
	var ne interface{ Timeout() bool }
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	srv.Close() // returns: Silent ended
}

// A request head that is not HTTP is reported with Err, and the script
// does not run.
func TestServeBadHead(t *testing.T) {
	ran := false
	srv := wstest.Serve(t, func(*wstest.Peer) { ran = true })
	c := wstest.Dial(t, srv.Addr)
	c.WriteString("garbage\r\n\r\n")
	p := srv.Next(t)
	assert.Error(t, p.Err)
	assert.Equal(t, "garbage\r\n\r\n", p.Head)
	assert.False(t, ran)
}

// TCPPair's ends are connected both ways.
func TestTCPPair(t *testing.T) {
	a, b := wstest.TCPPair(t)
	_, err := a.Write([]byte("x"))
	require.NoError(t, err)
	buf := make([]byte, 1)
	_, err = io.ReadFull(b, buf)
	require.NoError(t, err)
	assert.Equal(t, "x", string(buf))
}
