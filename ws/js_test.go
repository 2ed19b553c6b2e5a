//go:build js

package ws

// The browser client's tests. They need a plainws server: the host-side
// test in internal/wasmtest builds this package's test binary for js/wasm,
// starts the server on loopback and runs the binary under Node, passing the
// server's address in PLAINWS_WASM_URL. Run them with
//
//	go test ./internal/wasmtest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"syscall/js"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// jsServer is the base URL of the server the host test started.
func jsServer(t *testing.T) string {
	t.Helper()
	u := os.Getenv("PLAINWS_WASM_URL")
	require.NotEmpty(t, u, "PLAINWS_WASM_URL is not set: run these tests with go test ./internal/wasmtest")
	return u
}

func jsDial(t *testing.T, d *Dialer, path string) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := d.Dial(ctx, jsServer(t)+path)
	require.NoError(t, err)
	require.Equal(t, 101, resp.StatusCode)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// waitClosed waits until the browser has finished closing c, so that the
// server sees the close frame before the test binary exits.
func waitClosed(t *testing.T, c *Conn) {
	t.Helper()
	select {
	case <-c.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the browser did not finish closing within 5 s")
	}
}

// pattern is n bytes that differ from message to message and are not all
// one value, so that a copy of the wrong part shows.
func pattern(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7) ^ seed
	}
	return p
}

func TestJSEcho(t *testing.T) {
	d := &Dialer{Subprotocols: []string{"chat.v1", "chat.v2"}}
	c, resp, err := d.Dial(context.Background(), jsServer(t)+"/echo")
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.CloseNow() })
	// The server prefers chat.v2 (RFC 6455 §4.2.2: it picks one of ours).
	assert.Equal(t, "chat.v2", c.Subprotocol())
	assert.Equal(t, 101, resp.StatusCode)
	assert.Equal(t, "chat.v2", resp.Header.Get("Sec-WebSocket-Protocol"))
	assert.Equal(t, RoleClient, c.Role())

	echo := func(op Opcode, p []byte) {
		t.Helper()
		require.NoError(t, c.WriteMessage(op, p))
		gotOp, got, err := c.ReadMessage()
		require.NoError(t, err)
		require.Equal(t, op, gotOp)
		require.True(t, bytes.Equal(p, got), "echo of a %d-byte %s message differs", len(p), op)
	}
	echo(OpText, []byte("héllo, 世界 🌍"))
	echo(OpBinary, []byte{0, 1, 2, 0xfe, 0xff})
	echo(OpBinary, []byte{})
	echo(OpText, []byte{})
	echo(OpBinary, pattern(1<<20, 0x5a))
	echo(OpText, []byte(strings.Repeat("é€", 1<<20/5)))

	require.NoError(t, c.WriteText("via WriteText"))
	op, r, err := c.NextReader()
	require.NoError(t, err)
	require.Equal(t, OpText, op)
	var got bytes.Buffer
	_, err = got.ReadFrom(r)
	require.NoError(t, err)
	assert.Equal(t, "via WriteText", got.String())

	w, err := c.NextWriter(OpBinary)
	require.NoError(t, err)
	for _, part := range []string{"gathered ", "in ", "parts"} {
		_, err = w.Write([]byte(part))
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	require.ErrorIs(t, w.Close(), ErrClosed)
	op, p, err := c.ReadMessage()
	require.NoError(t, err)
	require.Equal(t, OpBinary, op)
	assert.Equal(t, "gathered in parts", string(p))
	_, err = c.NextWriter(OpPing)
	require.ErrorIs(t, err, ErrBadOpcode)

	require.NoError(t, c.Close(4000, "bye from wasm"))
	_, _, err = c.ReadMessage()
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, c.WriteText("late"), ErrClosed)
	require.ErrorIs(t, c.Close(1000, ""), ErrClosed)
}

// TestJSReadMessageIntoReuses checks that a buffer passed back is filled in
// place when it is big enough.
func TestJSReadMessageIntoReuses(t *testing.T) {
	c := jsDial(t, &Dialer{}, "/echo")
	buf := make([]byte, 0, 64<<10)
	for i := range 3 {
		want := pattern(32<<10+i, byte(i))
		require.NoError(t, c.WriteMessage(OpBinary, want))
		op, got, err := c.ReadMessageInto(buf)
		require.NoError(t, err)
		require.Equal(t, OpBinary, op)
		require.Equal(t, want, got)
		require.Same(t, &buf[:1][0], &got[0], "ReadMessageInto allocated although buf was big enough")
		buf = got
	}
	require.NoError(t, c.Close(CloseNormalClosure, ""))
}

func TestJSPeerClose(t *testing.T) {
	c := jsDial(t, &Dialer{}, "/close")
	op, p, err := c.ReadMessage()
	require.NoError(t, err)
	require.Equal(t, OpText, op)
	require.Equal(t, "closing soon", string(p))
	_, _, err = c.ReadMessage()
	var ce *CloseError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, StatusCode(4001), ce.Code)
	assert.Equal(t, "server says bye", ce.Reason)
	assert.Equal(t, StatusCode(4001), CloseStatus(err))
	// Sticky, and writes see the end too.
	_, _, err2 := c.ReadMessage()
	require.Equal(t, err, err2)
	require.Error(t, c.WriteText("after the close"))
}

func TestJSReadLimit(t *testing.T) {
	c := jsDial(t, &Dialer{Options: Options{ReadLimit: 1 << 20}}, "/big")
	// The first message is at the limit and passes; the second is over.
	op, p, err := c.ReadMessage()
	require.NoError(t, err)
	require.Equal(t, OpBinary, op)
	require.Len(t, p, 1<<20)
	_, _, err = c.ReadMessage()
	var perr *ProtocolError
	require.ErrorAs(t, err, &perr)
	assert.ErrorIs(t, err, ErrReadLimit)
	assert.Equal(t, CloseMessageTooBig, perr.Code)
	_, _, err2 := c.ReadMessage()
	require.Equal(t, err, err2, "a failed connection reports the same error again")
	require.ErrorIs(t, c.WriteText("x"), ErrClosed)
	waitClosed(t, c)

	// Text counts the same way, in bytes of UTF-8: /bigtext sends 1200
	// bytes in 600 UTF-16 code units, so a limit of 1000 is seen after
	// the copy into Go, a limit of 500 before.
	for _, tc := range []struct {
		limit  int64
		detail string
	}{{1000, "a 1200-byte text message"}, {500, "at least 600 bytes"}} {
		c = jsDial(t, &Dialer{}, "/bigtext")
		c.SetReadLimit(tc.limit)
		_, _, err = c.ReadMessage()
		require.ErrorAs(t, err, &perr)
		require.ErrorIs(t, err, ErrReadLimit)
		assert.Contains(t, perr.Detail, tc.detail)
		waitClosed(t, c)
	}
}

func TestJSReadDeadline(t *testing.T) {
	c := jsDial(t, &Dialer{}, "/echo")
	require.NoError(t, c.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
	_, _, err := c.ReadMessage()
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	// Still usable.
	require.NoError(t, c.SetReadDeadline(time.Time{}))
	require.NoError(t, c.WriteText("after the deadline"))
	_, p, err := c.ReadMessage()
	require.NoError(t, err)
	require.Equal(t, "after the deadline", string(p))
	require.NoError(t, c.Close(CloseNormalClosure, "done"))
}

func TestJSDialContext(t *testing.T) {
	// /hang never answers the handshake: only the context ends the dial.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := Dial(ctx, jsServer(t)+"/hang")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 5*time.Second)

	// The handshake timeout alone does the same.
	_, _, err = (&Dialer{HandshakeTimeout: 200 * time.Millisecond}).Dial(context.Background(), jsServer(t)+"/hang")
	require.ErrorIs(t, err, context.DeadlineExceeded)

	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	_, _, err = Dial(ctx, jsServer(t)+"/echo")
	require.ErrorIs(t, err, context.Canceled)
}

func TestJSDialErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A refused handshake looks like any other failure to a script.
	_, _, err := Dial(ctx, jsServer(t)+"/refuse")
	require.ErrorIs(t, err, ErrAbnormalClosure)

	_, _, err = Dial(ctx, "ftp://127.0.0.1/")
	require.ErrorIs(t, err, ErrBadURL)
	_, _, err = Dial(ctx, "ws:///nohost")
	require.ErrorIs(t, err, ErrBadURL)

	// The browser throws on a subprotocol that is not a token; that is
	// an error, not a panic.
	_, _, err = (&Dialer{Subprotocols: []string{"not a token"}}).Dial(ctx, jsServer(t)+"/echo")
	require.Error(t, err)

	// A host without WebSocket (Node 20 without its flag) is an error too.
	saved := js.Global().Get("WebSocket")
	js.Global().Set("WebSocket", js.Undefined())
	_, _, err = Dial(ctx, jsServer(t)+"/echo")
	js.Global().Set("WebSocket", saved)
	require.ErrorIs(t, err, errors.ErrUnsupported)
}

// TestJSBrowserLimits checks the calls the browser cannot carry out fail
// plainly instead of doing something else.
func TestJSBrowserLimits(t *testing.T) {
	c := jsDial(t, &Dialer{Options: Options{Compression: &CompressionOptions{Level: 9}}}, "/echo")
	require.ErrorIs(t, c.WritePing(nil), errors.ErrUnsupported)
	require.ErrorIs(t, c.WritePong(nil), errors.ErrUnsupported)
	require.ErrorIs(t, c.WriteControl(OpPing, nil), errors.ErrUnsupported)
	require.ErrorIs(t, c.WriteControl(OpText, nil), ErrBadOpcode)
	_, err := c.Ping(context.Background(), nil)
	require.ErrorIs(t, err, errors.ErrUnsupported)
	require.ErrorIs(t, c.WriteMessage(OpPing, nil), ErrBadOpcode)
	// The browser would replace invalid UTF-8; it is refused instead.
	require.ErrorIs(t, c.WriteMessage(OpText, []byte{0xff, 0xfe}), ErrInvalidUTF8)
	// Scripts may close with 1000 and 3000–4999 only.
	require.ErrorIs(t, c.Close(CloseGoingAway, ""), ErrInvalidClosePayload)
	require.ErrorIs(t, c.Close(4000, strings.Repeat("x", MaxCloseReason+1)), ErrInvalidClosePayload)
	require.ErrorIs(t, c.Close(0, "reason without code"), ErrInvalidClosePayload)
	// None of that touched the connection.
	require.NoError(t, c.WriteText("still open"))
	_, p, err := c.ReadMessage()
	require.NoError(t, err)
	require.Equal(t, "still open", string(p))

	require.NoError(t, c.CloseNow())
	_, _, err = c.ReadMessage()
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, c.WriteText("x"), ErrClosed)
	waitClosed(t, c)
}

// TestJSAbnormalClosure: a server that drops the TCP connection without a
// close frame yields ErrAbnormalClosure, 1006 (RFC 6455 §7.1.5).
func TestJSAbnormalClosure(t *testing.T) {
	c := jsDial(t, &Dialer{}, "/drop")
	_, p, err := c.ReadMessage()
	require.NoError(t, err)
	require.Equal(t, "dropping", string(p))
	_, _, err = c.ReadMessage()
	require.ErrorIs(t, err, ErrAbnormalClosure)
	require.Error(t, c.WriteText("x"))
}

// TestJSCloseTimeout: Close waits for the peer's close frame no longer than
// CloseTimeout.
func TestJSCloseTimeout(t *testing.T) {
	c := jsDial(t, &Dialer{Options: Options{CloseTimeout: 200 * time.Millisecond}}, "/deaf")
	start := time.Now()
	require.ErrorIs(t, c.Close(CloseNormalClosure, ""), ErrCloseTimeout)
	require.Less(t, time.Since(start), 3*time.Second)
}

// TestJSWriteBackpressure: writes to a peer that reads nothing wait once
// the browser holds more than sendHighWater unsent, instead of queueing
// without end, and a write deadline set meanwhile ends the wait.
func TestJSWriteBackpressure(t *testing.T) {
	c := jsDial(t, &Dialer{}, "/deaf")
	type result struct {
		sent int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		msg := make([]byte, 1<<20)
		var r result
		for ; r.sent < 256 && r.err == nil; r.sent++ {
			r.err = c.WriteMessage(OpBinary, msg)
		}
		done <- r
	}()
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, c.SetWriteDeadline(time.Now()))
	select {
	case r := <-done:
		require.ErrorIs(t, r.err, os.ErrDeadlineExceeded, "%d MiB queued without backpressure", r.sent)
		require.Less(t, r.sent, 256)
	case <-time.After(5 * time.Second):
		t.Fatal("a write waiting for the send buffer missed its deadline")
	}
}

// TestJSBrowserChecksUTF8: text that is not UTF-8 fails the connection in
// the browser (RFC 6455 §8.1), before this package sees it, and the script
// is told 1006, as the standard's "fail the WebSocket connection" says.
// (What the peer gets varies: a browser may send 1007; Node's undici 6
// drops the TCP connection without a close frame.)
func TestJSBrowserChecksUTF8(t *testing.T) {
	c := jsDial(t, &Dialer{}, "/badutf8")
	_, _, err := c.ReadMessage()
	require.ErrorIs(t, err, ErrAbnormalClosure)
	waitClosed(t, c)
}
