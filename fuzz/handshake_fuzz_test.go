package fuzz

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/require"
)

// acceptPlaceholder, anywhere in a FuzzClientHandshakeResponse input, is
// replaced by the right Sec-WebSocket-Accept for the request's key (RFC 6455
// §4.2.2 item 5.4), so that the fuzzer gets past the accept check (a SHA-1
// it cannot guess) and reaches the checks and the frame reading behind it.
const acceptPlaceholder = "{{ACCEPT}}"

// fuzzHandshakeTimeout bounds each handshake, so a hanging input costs one
// second, not the 30 s default; the inputs below are arranged so that only
// a bug makes them wait that long.
const fuzzHandshakeTimeout = time.Second

// fuzzOptions keeps what a successful handshake may read small and its
// closing handshake short, so one exec stays fast.
var fuzzOptions = ws.Options{ReadLimit: 64 << 10, CloseTimeout: 20 * time.Millisecond}

// isHandshakeOrIOError reports whether err is what a failed handshake may
// return: a *ws.HandshakeError (a broken or refused handshake), or the I/O
// error or expired context that ended it.
func isHandshakeOrIOError(err error) bool {
	var he *ws.HandshakeError
	var ne net.Error
	return errors.As(err, &he) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.ErrClosedPipe) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.As(err, &ne)
}

// responseHead parses the response head at the start of b, as the Dialer
// will. The fuzz server uses it to know whether the Dialer will wait for
// more bytes, and closes the pipe if so, so that no exec waits out the
// handshake timeout.
func responseHead(b []byte) (*http.Response, bool) {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), &http.Request{Method: http.MethodGet})
	return resp, err == nil
}

// clientFrame is what the fuzz server read after the handshake.
type clientFrame struct {
	h       ws.Header
	payload []byte
	err     error
}

// FuzzClientHandshakeResponse answers a ws.Dialer's opening handshake with
// arbitrary bytes (with acceptPlaceholder replaced by the right accept
// value) over a net.Pipe. It checks that the dial never panics, ends within
// the handshake timeout, fails only with a *ws.HandshakeError or an I/O
// error, never accepts a response that breaks RFC 6455 §4.1's checks, and
// that a Conn it does return works: the client's message reaches the
// server masked (§5.3) and intact, and reading whatever the server sent
// after its head does not panic.
func FuzzClientHandshakeResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+acceptPlaceholder+"\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\nnope!"), false)

	f.Fuzz(func(t *testing.T, response []byte, compress bool) {
		if len(response) > 256<<10 {
			return
		}
		d := &ws.Dialer{
			Options:          fuzzOptions,
			HandshakeTimeout: fuzzHandshakeTimeout,
			Subprotocols:     []string{"chat", "superchat"},
		}
		if compress {
			d.Compression = &ws.CompressionOptions{}
		}
		// Deferred calls run last first: the pipe is closed, then the
		// goroutines are waited for.
		var wg sync.WaitGroup
		defer wg.Wait()
		cli, srv := net.Pipe()
		defer cli.Close()
		defer srv.Close()
		d.NetDialContext = func(context.Context, string, string) (net.Conn, error) { return cli, nil }

		keys := make(chan string, 1)
		frames := make(chan clientFrame, 1)
		wg.Add(1)
		go func() { // the server: read the request, answer, read one frame
			defer wg.Done()
			br := bufio.NewReader(srv)
			req, err := http.ReadRequest(br)
			if err != nil {
				keys <- ""
				frames <- clientFrame{err: err}
				return
			}
			key := req.Header.Get("Sec-WebSocket-Key")
			keys <- key
			resp := bytes.ReplaceAll(response, []byte(acceptPlaceholder), []byte(ws.AcceptKey(key)))
			head, complete := responseHead(resp)
			waits := complete && head.StatusCode == http.StatusSwitchingProtocols
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = srv.Write(resp)
				if !waits {
					// The client needs more bytes than there are (or reads a
					// body to its end): end them, as a server that closes.
					_ = srv.Close()
				}
			}()
			var fr clientFrame
			if fr.h, fr.err = ws.ReadHeader(br); fr.err == nil {
				if fr.h.Length > 1<<20 {
					fr.err = errors.New("frame too long for this test")
				} else {
					fr.payload = make([]byte, fr.h.Length)
					_, fr.err = io.ReadFull(br, fr.payload)
				}
			}
			frames <- fr
			_, _ = io.Copy(io.Discard, br) // pongs and close frames
		}()

		start := time.Now()
		c, resp, err := d.Dial(context.Background(), "ws://server.example.com/chat")
		elapsed := time.Since(start)
		require.Less(t, elapsed, fuzzHandshakeTimeout+2*time.Second, "the handshake timeout bounds the dial")
		key := <-keys
		if err != nil {
			require.Nil(t, c)
			require.True(t, isHandshakeOrIOError(err), "error %T is neither a *ws.HandshakeError nor an I/O error: %v", err, err)
			var he *ws.HandshakeError
			if errors.As(err, &he) && resp != nil {
				require.Equal(t, resp.StatusCode, he.StatusCode)
			}
			require.NotPanics(t, func() { _ = err.Error() })
			return
		}
		defer c.CloseNow()

		// RFC 6455 §4.1: success only for a 101 with Upgrade, Connection and
		// the right accept, and a subprotocol we offered, if any.
		require.NotNil(t, resp)
		require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
		require.True(t, hasToken(resp.Header, "Upgrade", "websocket"), "Upgrade: %q", resp.Header.Values("Upgrade"))
		require.True(t, hasToken(resp.Header, "Connection", "upgrade"), "Connection: %q", resp.Header.Values("Connection"))
		accepts := resp.Header.Values("Sec-WebSocket-Accept")
		require.Len(t, accepts, 1)
		require.Equal(t, ws.AcceptKey(key), strings.TrimSpace(accepts[0]))
		require.Contains(t, []string{"", "chat", "superchat"}, c.Subprotocol())
		if !compress {
			require.Empty(t, resp.Header.Values("Sec-WebSocket-Extensions"), "§4.1: no extension was offered")
		}

		// The Conn works: a message reaches the server, masked.
		msg := []byte("fuzz says hello")
		require.NoError(t, c.WriteMessage(ws.OpBinary, msg))
		select {
		case fr := <-frames:
			require.NoError(t, fr.err)
			require.True(t, fr.h.Masked, "RFC 6455 §5.3: a client masks every frame")
			require.Equal(t, ws.OpBinary, fr.h.Opcode)
			require.True(t, fr.h.Fin)
			ws.Mask(fr.payload, ws.MaskKeyWord(fr.h.Mask))
			require.Equal(t, msg, fr.payload)
		case <-time.After(5 * time.Second):
			require.FailNow(t, "the client's message never reached the server")
		}

		// Whatever followed the head is read as frames, without panicking.
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		for range 4 {
			op, _, err := c.ReadMessage()
			if err != nil {
				break
			}
			require.Contains(t, []ws.Opcode{ws.OpText, ws.OpBinary}, op)
		}
	})
}

// hasToken reports whether a comma-separated header contains token, case
// insensitively: RFC 6455 §4.1's test for Upgrade and Connection, written
// independently of package ws.
func hasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// FuzzServerHandshakeRequest feeds arbitrary bytes as the upgrade request to
// ws.Upgrader.UpgradeConn over a net.Pipe. It checks that UpgradeConn never
// panics, ends within its handshake timeout, fails only with a
// *ws.HandshakeError (whose status is the one written) or an I/O error,
// upgrades only requests that meet RFC 6455 §4.2.1, answers them with the
// right accept value (§4.2.2), and returns a Conn that works: its message
// reaches the client unmasked (§5.1), and pipelined frames are read without
// panicking.
func FuzzServerHandshakeRequest(f *testing.F) {
	f.Add([]byte("GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
	f.Add([]byte("POST / HTTP/1.1\r\nHost: x\r\n\r\n"))

	f.Fuzz(func(t *testing.T, request []byte) {
		if len(request) > 256<<10 {
			return
		}
		up := &ws.Upgrader{
			Options:          fuzzOptions,
			HandshakeTimeout: fuzzHandshakeTimeout,
			Subprotocols:     []string{"superchat", "chat"},
		}
		var wg sync.WaitGroup
		defer wg.Wait()
		cli, srv := net.Pipe()
		defer cli.Close()
		defer srv.Close()
		_, parseErr := http.ReadRequest(bufio.NewReader(bytes.NewReader(request)))
		complete := parseErr == nil

		wg.Add(2)
		go func() { // the client's bytes
			defer wg.Done()
			_, _ = cli.Write(request)
			if !complete {
				// UpgradeConn would wait for more: end the stream instead.
				_ = cli.Close()
			}
		}()
		answer := make(chan []byte, 1)
		go func() { // everything the server sends
			defer wg.Done()
			b, _ := io.ReadAll(io.LimitReader(cli, 1<<20))
			answer <- b
		}()

		start := time.Now()
		c, r, err := up.UpgradeConn(context.Background(), srv, nil)
		require.Less(t, time.Since(start), fuzzHandshakeTimeout+2*time.Second, "the handshake timeout bounds UpgradeConn")
		if err != nil {
			require.Nil(t, c)
			require.True(t, isHandshakeOrIOError(err), "error %T is neither a *ws.HandshakeError nor an I/O error: %v", err, err)
			require.NotPanics(t, func() { _ = err.Error() })
			_ = cli.Close()
			out := <-answer
			var he *ws.HandshakeError
			if errors.As(err, &he) && len(out) > 0 {
				resp, ok := responseHead(out)
				require.True(t, ok, "the refusal is a valid HTTP response: %q", out)
				require.Equal(t, he.StatusCode, resp.StatusCode)
				require.GreaterOrEqual(t, resp.StatusCode, 400)
			}
			return
		}

		// RFC 6455 §4.2.1: only a valid request is upgraded.
		require.NotNil(t, r)
		require.Equal(t, http.MethodGet, r.Method)
		require.True(t, r.ProtoAtLeast(1, 1))
		require.NotEmpty(t, r.Host)
		require.True(t, hasToken(r.Header, "Upgrade", "websocket"))
		require.True(t, hasToken(r.Header, "Connection", "upgrade"))
		require.Equal(t, []string{"13"}, trimmed(r.Header.Values("Sec-WebSocket-Version")))
		keys := trimmed(r.Header.Values("Sec-WebSocket-Key"))
		require.Len(t, keys, 1)
		raw, kerr := base64.StdEncoding.DecodeString(keys[0])
		require.NoError(t, kerr)
		require.Len(t, raw, 16)
		if p := c.Subprotocol(); p != "" {
			require.Contains(t, up.Subprotocols, p)
			require.True(t, hasToken(r.Header, "Sec-WebSocket-Protocol", p))
		}

		require.NoError(t, c.WriteMessage(ws.OpText, []byte("ok")))
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		for range 4 {
			op, _, err := c.ReadMessage()
			if err != nil {
				break
			}
			require.Contains(t, []ws.Opcode{ws.OpText, ws.OpBinary}, op)
		}
		_ = c.CloseNow()
		out := <-answer

		// §4.2.2 item 5: a 101 with the accept value for the key, then our
		// message, unmasked (§5.1).
		br := bufio.NewReader(bytes.NewReader(out))
		resp, rerr := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
		require.NoError(t, rerr)
		require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
		require.Equal(t, ws.AcceptKey(keys[0]), resp.Header.Get("Sec-WebSocket-Accept"))
		require.Equal(t, c.Subprotocol(), resp.Header.Get("Sec-WebSocket-Protocol"))
		h, herr := ws.ReadHeader(br)
		require.NoError(t, herr)
		require.False(t, h.Masked, "RFC 6455 §5.1: a server does not mask")
		require.Equal(t, ws.OpText, h.Opcode)
		payload := make([]byte, h.Length)
		_, err = io.ReadFull(br, payload)
		require.NoError(t, err)
		require.Equal(t, "ok", string(payload))
	})
}

// trimmed returns vs with each value's surrounding spaces removed.
func trimmed(vs []string) []string {
	out := slices.Clone(vs)
	for i := range out {
		out[i] = strings.TrimSpace(out[i])
	}
	return out
}
