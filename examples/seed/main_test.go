package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/capture"
	"github.com/plainws/plainws/internal/wstest"
	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// assertInOrder checks that out contains every part, each after the previous one.
func assertInOrder(t *testing.T, out string, parts ...string) {
	t.Helper()
	rest := out
	for _, p := range parts {
		i := strings.Index(rest, p)
		if !assert.GreaterOrEqual(t, i, 0, "%q missing, or out of order, in:\n%s", p, out) {
			return
		}
		rest = rest[i+len(p):]
	}
}

// The seed run bounded with -embedded on a free port: the manual's events in the manual's order.
func TestSeedEmbeddedOnFreePort(t *testing.T) {
	target, stop, err := startEchoServer("ws://127.0.0.1:0")
	require.NoError(t, err)
	defer stop()
	u, err := url.Parse(target)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1", u.Hostname())
	assert.NotEqual(t, "0", u.Port(), "the client gets the port the server took")

	out, err := capture.Stdout(func() error { return run(target, 500*time.Millisecond) })
	require.NoError(t, err, "-exit-after is a normal end")
	// onConnect, then onWebSocketConnect echoing the 101 response as PHP's `echo $response`
	// would, then onMessage with the echo of "hello".
	assertInOrder(t, out,
		"tcp connected\n",
		"HTTP/1.1 101 Switching Protocols\r\n",
		"\r\n\r\n",
		"recv: hello\n",
	)
	assert.Contains(t, out, "Upgrade: websocket\r\n")
	assert.Contains(t, out, "Connection: Upgrade\r\n")
	assert.Contains(t, out, "Sec-Websocket-Accept: ")
	assert.Equal(t, 1, strings.Count(out, "tcp connected"), "nothing closed, so no reconnect")
	assert.NotContains(t, out, "error:")
}

// seedServer records what the seed's client sends and closes the first session after echoing it,
// so that the client's onClose → reConnect(1) shows.
type seedServer struct {
	mu       sync.Mutex
	sessions int
	headers  []http.Header
	frames   []string // "text hello" etc., in arrival order
}

func (s *seedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := (&ws.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	s.mu.Lock()
	s.sessions++
	n := s.sessions
	s.headers = append(s.headers, r.Header.Clone())
	s.mu.Unlock()
	for {
		op, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.frames = append(s.frames, op.String()+" "+string(msg))
		s.mu.Unlock()
		if c.WriteMessage(op, msg) != nil {
			return
		}
		if n == 1 {
			_ = c.Close(ws.CloseGoingAway, "server restarting")
			return
		}
	}
}

// The seed's settings reach the server, and its onClose reconnects one second later.
func TestSeedSendsHeadersAndReconnects(t *testing.T) {
	s := &seedServer{}
	srv := httptest.NewServer(s)
	defer srv.Close()
	target := "ws" + strings.TrimPrefix(srv.URL, "http")

	out, err := capture.Stdout(func() error { return run(target, 1600*time.Millisecond) })
	require.NoError(t, err)
	assertInOrder(t, out,
		"tcp connected\n",
		"HTTP/1.1 101 Switching Protocols\r\n",
		"recv: hello\n",
		"connection closed and try to reconnect\n",
		"tcp connected\n",
		"HTTP/1.1 101 Switching Protocols\r\n",
		"recv: hello\n",
	)
	assert.NotContains(t, out, "error:", "a server's close is not an error")

	s.mu.Lock()
	defer s.mu.Unlock()
	require.Equal(t, 2, s.sessions)
	for _, h := range s.headers {
		// $ws_connection->headers
		assert.Equal(t, "PHPSID=82u98fjhakfusuanfnahfi; token=2hf9a929jhfihaf9i", h.Get("Cookie"))
		assert.Equal(t, "values", h.Get("OtherKey"))
	}
	// Ws::BINARY_TYPE_BLOB sends text frames.
	assert.Equal(t, []string{ws.OpText.String() + " hello", ws.OpText.String() + " hello"}, s.frames)
}

// With nothing listening, onError reports the failure and onClose schedules the reconnect.
func TestSeedUnreachable(t *testing.T) {
	addr := wstest.UnusedAddr(t)

	out, err := capture.Stdout(func() error { return run("ws://"+addr, 300*time.Millisecond) })
	require.NoError(t, err)
	assertInOrder(t, out, "error: ", "connection closed and try to reconnect\n")
	assert.NotContains(t, out, "tcp connected")
}

// -embedded never listens beyond loopback.
func TestSeedEmbeddedLoopbackOnly(t *testing.T) {
	for _, target := range []string{"ws://0.0.0.0:0", "ws://192.0.2.1:1234", "ws://example.com:1234"} {
		_, _, err := startEchoServer(target)
		assert.ErrorContains(t, err, "loopback only", target)
	}
}
