package asyncconn

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/require"
)

// connWait bounds every wait of the connection tests. It is a liveness bound, never a
// performance assertion, and generous because these tests share two cores with the race detector
// and, on a developer machine, with other work.
const connWait = 20 * time.Second

// recorder collects what callbacks saw, from any goroutine, and lets a test wait for it.
type recorder struct {
	mu  sync.Mutex
	evs []string
	ch  chan struct{}
}

func newRecorder() *recorder { return &recorder{ch: make(chan struct{}, 1)} }

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	r.evs = append(r.evs, fmt.Sprintf(format, args...))
	r.mu.Unlock()
	select {
	case r.ch <- struct{}{}:
	default:
	}
}

func (r *recorder) events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.evs)
}

// waitUntil waits until pred holds for the events, failing the test after connWait.
func (r *recorder) waitUntil(t *testing.T, what string, pred func([]string) bool) []string {
	t.Helper()
	deadline := time.After(connWait)
	for {
		evs := r.events()
		if pred(evs) {
			return evs
		}
		select {
		case <-r.ch:
		case <-deadline:
			require.FailNowf(t, "timed out", "waiting for %s; events so far: %q", what, evs)
		}
	}
}

// waitFor waits until ev has been recorded n times (at least).
func (r *recorder) waitFor(t *testing.T, ev string, n int) []string {
	t.Helper()
	return r.waitUntil(t, fmt.Sprintf("%d× %q", n, ev), func(evs []string) bool {
		k := 0
		for _, e := range evs {
			if e == ev {
				k++
			}
		}
		return k >= n
	})
}

// count returns how many recorded events start with prefix.
func (r *recorder) count(prefix string) int {
	k := 0
	for _, e := range r.events() {
		if strings.HasPrefix(e, prefix) {
			k++
		}
	}
	return k
}

// record sets every callback of c to record what it sees (with the status inside the callback).
func record(c *Conn, r *recorder) {
	c.OnConnect = func(c *Conn) { r.add("connect %s", c.Status()) }
	c.OnWebSocketConnect = func(c *Conn, resp *http.Response) {
		r.add("wsconnect %d %s", resp.StatusCode, c.Status())
	}
	c.OnMessage = func(c *Conn, data []byte) { r.add("message %s %s", c.MessageType(), data) }
	c.OnError = func(c *Conn, code ErrorCode, msg string) { r.add("error %s %s", code, c.Status()) }
	c.OnClose = func(c *Conn) { r.add("close %s", c.Status()) }
	c.OnBufferFull = func(c *Conn) { r.add("bufferfull") }
	c.OnBufferDrain = func(c *Conn) { r.add("bufferdrain") }
	c.OnWebSocketPong = func(c *Conn, p []byte) { r.add("pong %s", p) }
	c.OnWebSocketClose = func(c *Conn, code ws.StatusCode, reason string) { r.add("wsclose %d %s", code, reason) }
}

// newConn returns a Conn on l for url, failing the test on error, and destroys it at the end.
func newConn(t *testing.T, l *Loop, url string) *Conn {
	t.Helper()
	c, err := New(l, url)
	require.NoError(t, err)
	t.Cleanup(c.Destroy)
	return c
}

// wsServer is an httptest server that upgrades every request with ws and runs a handler.
type wsServer struct {
	*httptest.Server
	url string // ws:// URL of the server

	mu    sync.Mutex
	reqs  []*http.Request // the first maxKeptRequests upgrade requests
	nreqs int             // all upgrade requests
	conns map[*ws.Conn]struct{}
}

// maxKeptRequests bounds what a wsServer remembers, so that long tests measure the client's memory,
// not the server's records.
const maxKeptRequests = 64

// newWSServer starts a ws server whose handler runs for each upgraded connection; the
// connection is closed when the handler returns and when the test ends.
func newWSServer(t *testing.T, handler func(c *ws.Conn, r *http.Request)) *wsServer {
	t.Helper()
	return startWSServer(t, false, nil, handler)
}

// newWSServerSmallWindow is newWSServer with a small TCP receive buffer on the server's side of
// every connection, so that a client sending to a server that does not read is stuck after a
// little data rather than after megabytes of kernel buffers. (Not below the loopback MSS of about
// 64 KiB: then Linux's silly-window avoidance can stall the connection for seconds.)
func newWSServerSmallWindow(t *testing.T, handler func(c *ws.Conn, r *http.Request)) *wsServer {
	t.Helper()
	return startWSServer(t, false, func(s *httptest.Server) {
		s.Listener = smallWindowListener{s.Listener}
	}, handler)
}

// smallWindowListener sets a small receive buffer on every connection it accepts.
type smallWindowListener struct{ net.Listener }

func (l smallWindowListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(256 << 10)
	}
	return c, err
}

// newWSServerTLS is newWSServer over TLS, with httptest's certificate (valid for 127.0.0.1 and
// example.com); tlsConfigFor makes a client trust it.
func newWSServerTLS(t *testing.T, handler func(c *ws.Conn, r *http.Request)) *wsServer {
	t.Helper()
	return startWSServer(t, true, nil, handler)
}

func startWSServer(t *testing.T, useTLS bool, setup func(*httptest.Server), handler func(c *ws.Conn, r *http.Request)) *wsServer {
	t.Helper()
	s := &wsServer{conns: map[*ws.Conn]struct{}{}}
	up := &ws.Upgrader{CheckOrigin: func(*http.Request) bool { return true }, Subprotocols: []string{"chat", "superchat"}}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Recorded before the 101 goes out: the client may act on it at once.
		s.mu.Lock()
		if len(s.reqs) < maxKeptRequests {
			s.reqs = append(s.reqs, r)
		}
		s.nreqs++
		s.mu.Unlock()
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		defer func() {
			_ = c.CloseNow()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
		handler(c, r)
	}))
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // refused TLS handshakes are expected in tests
	if setup != nil {
		setup(s.Server)
	}
	if useTLS {
		s.StartTLS()
	} else {
		s.Start()
	}
	s.url = "ws" + strings.TrimPrefix(s.Server.URL, "http")
	t.Cleanup(s.close)
	return s
}

func (s *wsServer) close() {
	s.Server.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = c.CloseNow()
	}
}

// upgrades returns how many upgrade requests the server has received.
func (s *wsServer) upgrades() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nreqs
}

func (s *wsServer) requests() []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

// echo is a handler that sends every message back with its type.
func echo(c *ws.Conn, _ *http.Request) {
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
}

// readAll is a handler that records every message it reads into got until the connection ends,
// then sends the end error to done.
func readAll(got chan<- string, done chan<- error) func(c *ws.Conn, _ *http.Request) {
	return func(c *ws.Conn, _ *http.Request) {
		for {
			op, msg, err := c.ReadMessage()
			if err != nil {
				if done != nil {
					done <- err
				}
				return
			}
			got <- fmt.Sprintf("%s %s", op, msg)
		}
	}
}

// recv reads one value from ch or fails the test after connWait.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(connWait):
		require.FailNow(t, "timed out waiting for "+what)
	}
	var zero T
	return zero
}

// connGoroutines counts the goroutines of asyncconn connections (readers and writers).
func connGoroutines() int {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for g := range bytes.SplitSeq(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte("asyncconn.(*attempt).")) || bytes.Contains(g, []byte("asyncconn.(*Conn).writeLoop")) {
			n++
		}
	}
	return n
}

// waitNoConnGoroutines fails the test if connection goroutines are still alive after connWait.
// The verdict rests on the samples the wait took, and none counts as gone until two samples
// 20 ms apart find none: a goroutine that a call just made is about to start (Connect on a
// stopped loop starts one that ends at once) could otherwise appear between a zero sample and
// the check, or after it.
func waitNoConnGoroutines(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(connWait)
	n := connGoroutines()
	for time.Now().Before(deadline) {
		if n == 0 {
			time.Sleep(20 * time.Millisecond)
			if n = connGoroutines(); n == 0 {
				return
			}
			continue
		}
		time.Sleep(10 * time.Millisecond)
		n = connGoroutines()
	}
	if n > 0 {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		require.FailNowf(t, "goroutines leaked", "%d connection goroutines still running:\n%s", n, buf)
	}
}
