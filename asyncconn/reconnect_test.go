package asyncconn

import (
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pendingTimers returns how many timers the loop holds.
func pendingTimers(l *Loop) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.timerByID)
}

// The seed's pattern: the server drops us, OnClose calls ReConnect(d). Each reconnect runs the
// whole connect again with a fresh key; callbacks, settings, ID and Context survive.
func TestReconnectFromOnCloseKeepsIdentity(t *testing.T) {
	var keysMu sync.Mutex
	keys := map[string]bool{}
	srv := newWSServer(t, func(c *ws.Conn, r *http.Request) {
		keysMu.Lock()
		keys[r.Header.Get("Sec-WebSocket-Key")] = true
		keysMu.Unlock()
		_ = c.Close(ws.CloseServiceRestart, "again")
	})
	l := startLoop(t)
	c := newConn(t, l, srv.url)
	c.Context = &struct{ name string }{"mine"}
	c.Headers = http.Header{"X-Keep": {"1"}}
	ctx, id := c.Context, c.ID()
	r := newRecorder()
	record(c, r)
	var closes int
	c.OnClose = func(c *Conn) {
		closes++
		r.add("close %s", c.Status())
		if closes < 3 {
			c.ReConnect(5 * time.Millisecond)
			r.add("after ReConnect %s", c.Status())
		}
	}
	c.Connect()
	evs := r.waitFor(t, "close CLOSED", 3)
	one := []string{"connect ESTABLISHED", "wsconnect 101 ESTABLISHED", "wsclose 1012 again", "close CLOSED"}
	want := append(append(append(append(append([]string{}, one...), "after ReConnect INITIAL"), one...), "after ReConnect INITIAL"), one...)
	assert.Equal(t, want, evs)
	assert.Equal(t, id, c.ID())
	assert.Same(t, ctx, c.Context)
	keysMu.Lock()
	assert.Len(t, keys, 3, "every handshake had its own key")
	keysMu.Unlock()
	for _, req := range srv.requests() {
		assert.Equal(t, "1", req.Header.Get("X-Keep"), "settings survive")
	}
	waitNoConnGoroutines(t)
}

// ReConnect on a live connection closes it first (with a closing handshake), OnClose runs once
// for it, and then a new connection is made. Workerman opens a second socket beside the first
// (bug B19).
func TestReConnectOnALiveConnectionClosesItFirst(t *testing.T) {
	ends := make(chan error, 4)
	srv := newWSServer(t, readAll(make(chan string, 16), ends))
	l := startLoop(t)
	c := newConn(t, l, srv.url)
	r := newRecorder()
	record(c, r)
	c.Connect()
	r.waitFor(t, "wsconnect 101 ESTABLISHED", 1)
	c.ReConnect(0) // from another goroutine than the loop
	r.waitFor(t, "wsconnect 101 ESTABLISHED", 2)
	assert.Equal(t, ws.CloseNormalClosure, ws.CloseStatus(recv(t, ends, "first connection's end")))
	evs := r.events()
	assert.Equal(t, []string{
		"connect ESTABLISHED", "wsconnect 101 ESTABLISHED",
		"close INITIAL", // the replaced connection's OnClose; the reconnect is pending
		"connect ESTABLISHED", "wsconnect 101 ESTABLISHED",
	}, evs)
	assert.Len(t, srv.requests(), 2)
}

// Messages sent while a reconnect is pending wait for the new connection.
func TestSendsDuringReconnectGoToTheNewConnection(t *testing.T) {
	got := make(chan string, 4)
	srv := newWSServer(t, readAll(got, nil))
	l := startLoop(t)
	c := newConn(t, l, srv.url)
	r := newRecorder()
	record(c, r)
	c.Connect()
	r.waitFor(t, "wsconnect 101 ESTABLISHED", 1)
	c.ReConnect(20 * time.Millisecond)
	require.NoError(t, c.SendString("for the next one"))
	assert.Equal(t, "text for the next one", recv(t, got, "message"))
	assert.Len(t, srv.requests(), 2)
}

// Close cancels a pending reconnect (Workerman's close() does not, issue #253), and so do
// CancelReconnect and Destroy.
func TestCloseCancelsAPendingReconnect(t *testing.T) {
	for name, stop := range map[string]func(c *Conn){
		"Close":           func(c *Conn) { _ = c.Close(ws.CloseNormalClosure, "") },
		"Destroy":         func(c *Conn) { c.Destroy() },
		"CancelReconnect": func(c *Conn) { c.CancelReconnect() },
	} {
		t.Run(name, func(t *testing.T) {
			l := startLoop(t)
			c := newConn(t, l, "ws://127.0.0.1:1")
			c.ReConnect(time.Hour)
			assert.Equal(t, StatusInitial, c.Status())
			assert.Equal(t, 1, pendingTimers(l))
			stop(c)
			assert.Equal(t, 0, pendingTimers(l), "the reconnect timer is gone")
			c.mu.Lock()
			assert.False(t, c.reconnPending)
			c.mu.Unlock()
			if name == "CancelReconnect" {
				assert.Equal(t, StatusInitial, c.Status())
			} else {
				assert.Equal(t, StatusClosed, c.Status())
			}
		})
	}
}

// The last ReConnect wins, also one made in OnClose of the connection a ReConnect replaced.
func TestLastReConnectWins(t *testing.T) {
	srv := newWSServer(t, echo)
	l := startLoop(t)
	c := newConn(t, l, srv.url)
	r := newRecorder()
	record(c, r)
	c.OnClose = func(c *Conn) {
		r.add("close")
		c.ReConnect(time.Hour) // replaces the ReConnect(0) below
	}
	c.Connect()
	r.waitFor(t, "wsconnect 101 ESTABLISHED", 1)
	c.ReConnect(0)
	r.waitFor(t, "close", 1)
	flush(t, l)
	assert.Equal(t, 1, pendingTimers(l))
	assert.Equal(t, StatusInitial, c.Status())
	c.Connect() // Connect does not wait for a pending reconnect
	r.waitFor(t, "wsconnect 101 ESTABLISHED", 2)
	assert.Equal(t, 0, pendingTimers(l))
}

// ReConnect while the connection is still being made abandons that attempt.
func TestReConnectWhileConnecting(t *testing.T) {
	hold, arrived := make(chan struct{}), make(chan struct{})
	var n atomic.Int32
	srv := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			close(arrived)
			<-hold // the first upgrade never gets an answer
			return
		}
		c, err := (&ws.Upgrader{}).Upgrade(w, r, nil)
		if err == nil {
			echo(c, r)
			_ = c.CloseNow()
		}
	}))
	defer close(hold)
	l := startLoop(t)
	c := newConn(t, l, srv)
	r := newRecorder()
	record(c, r)
	c.Connect()
	recv(t, arrived, "the first upgrade request")
	r.waitFor(t, "connect ESTABLISHED", 1)
	c.ReConnect(0)
	evs := r.waitFor(t, "wsconnect 101 ESTABLISHED", 1)
	assert.Equal(t, []string{"connect ESTABLISHED", "close INITIAL", "connect ESTABLISHED", "wsconnect 101 ESTABLISHED"}, evs)
}

// 1,000 reconnect cycles leave no goroutine behind and do not grow memory.
func TestThousandReconnectCycles(t *testing.T) {
	srv := newWSServer(t, echo)
	l := startLoop(t)
	c := newConn(t, l, srv.url)
	const cycles = 1000
	var n int
	var heapAt300 uint64
	done := make(chan uint64, 1)
	c.OnWebSocketConnect = func(c *Conn, _ *http.Response) {
		n++
		switch n {
		case 300:
			heapAt300 = liveHeap()
		case cycles:
			done <- liveHeap()
			c.Destroy()
			return
		}
		c.ReConnect(0)
	}
	c.Connect()
	var heapAtEnd uint64
	select {
	case heapAtEnd = <-done:
	case <-time.After(60 * time.Second):
		require.FailNow(t, "reconnect cycles did not finish", "%d done", c.ID())
	}
	waitNoConnGoroutines(t)
	t.Logf("live heap after 300 cycles: %d B, after %d: %d B", heapAt300, cycles, heapAtEnd)
	// 700 more cycles may not keep memory: allow 256 KiB of noise (under 400 B a cycle).
	assert.Less(t, int64(heapAtEnd)-int64(heapAt300), int64(256<<10))
	assert.Equal(t, cycles, srv.upgrades())
}

// liveHeap returns the heap in use after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second, Factor: 2}
	assert.Equal(t, 100*time.Millisecond, b.Delay(0))
	assert.Equal(t, 200*time.Millisecond, b.Delay(1))
	assert.Equal(t, 800*time.Millisecond, b.Delay(3))
	assert.Equal(t, time.Second, b.Delay(4), "capped by Max")
	assert.Equal(t, time.Second, b.Delay(1000), "no overflow")
	assert.Equal(t, 100*time.Millisecond, Backoff{Min: 100 * time.Millisecond, Factor: 0.5}.Delay(5), "a factor below 1 counts as 1")
	j := Backoff{Min: time.Second, Max: time.Second, Factor: 2, Jitter: 0.5}
	for range 200 {
		d := j.Delay(3)
		assert.GreaterOrEqual(t, d, 500*time.Millisecond)
		assert.LessOrEqual(t, d, time.Second)
	}
	d := DefaultBackoff.Delay(0)
	assert.GreaterOrEqual(t, d, 800*time.Millisecond, "DefaultBackoff starts at 1 s less up to 20%")
	assert.LessOrEqual(t, d, time.Second)
}

// ReConnect with a negative delay asks the policy; the count of attempts grows while attempts
// fail and is reset by a successful upgrade.
func TestReConnectNegativeUsesThePolicy(t *testing.T) {
	var n atomic.Int32
	srv := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 3 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		c, err := (&ws.Upgrader{}).Upgrade(w, r, nil)
		if err == nil {
			echo(c, r)
			_ = c.CloseNow()
		}
	}))
	l := startLoop(t)
	c := newConn(t, l, srv)
	c.ReconnectPolicy = &Backoff{Min: time.Millisecond, Max: 4 * time.Millisecond, Factor: 2}
	r := newRecorder()
	record(c, r)
	failures := func() int { c.mu.Lock(); defer c.mu.Unlock(); return c.failures }
	var seen []int
	c.OnClose = func(c *Conn) {
		seen = append(seen, failures())
		r.add("close")
		c.ReConnect(-1)
	}
	c.Connect()
	r.waitFor(t, "wsconnect 101 ESTABLISHED", 1)
	assert.Equal(t, []int{0, 1, 2}, seen, "each refused attempt counts")
	assert.Equal(t, 3, r.count("error HANDSHAKE_FAIL"))
	assert.Equal(t, 0, failures(), "an upgrade resets the backoff")
}

// AutoReconnect comes back after closes the program did not ask for, and not after Close.
func TestAutoReconnect(t *testing.T) {
	srv := newWSServer(t, func(c *ws.Conn, _ *http.Request) { _ = c.Close(ws.CloseGoingAway, "") })
	l := startLoop(t)
	c := newConn(t, l, srv.url)
	c.AutoReconnect = true
	c.ReconnectPolicy = &Backoff{Min: time.Millisecond, Factor: 1}
	r := newRecorder()
	record(c, r)
	c.Connect()
	r.waitFor(t, "close CLOSED", 3)
	require.NoError(t, c.Close(ws.CloseNormalClosure, ""))
	waitNoConnGoroutines(t)
	flush(t, l)
	assert.Equal(t, StatusClosed, c.Status())
	assert.Equal(t, 0, pendingTimers(l), "no reconnect after Close")
}

// A panic in a callback goes to ErrorHandler; the bookkeeping around the callback goes on, and so
// does the loop.
func TestPanicInCallbackGoesToErrorHandler(t *testing.T) {
	srv := newWSServer(t, func(c *ws.Conn, _ *http.Request) {
		_ = c.WriteMessage(ws.OpText, []byte("boom"))
		_ = c.WriteMessage(ws.OpText, []byte("fine"))
		_ = c.Close(ws.CloseNormalClosure, "")
	})
	l := startLoop(t)
	c := newConn(t, l, srv.url)
	r := newRecorder()
	record(c, r)
	c.ErrorHandler = func(c2 *Conn, v any) {
		assert.Same(t, c, c2)
		r.add("handler %v", v)
	}
	c.OnMessage = func(c *Conn, data []byte) {
		r.add("message %s", data)
		if string(data) == "boom" {
			panic("boom!")
		}
	}
	c.OnWebSocketClose = func(*Conn, ws.StatusCode, string) { panic("in close") }
	c.Connect()
	evs := r.waitFor(t, "close CLOSED", 1)
	assert.Equal(t, []string{
		"connect ESTABLISHED", "wsconnect 101 ESTABLISHED",
		"message boom", "handler boom!", "message fine", "handler in close", "close CLOSED",
	}, evs)
	assert.Equal(t, StatusClosed, c.Status())
}

// Without ErrorHandler the panic reaches the loop's panic handler, and the loop keeps running.
func TestPanicWithoutErrorHandlerGoesToTheLoop(t *testing.T) {
	srv := newWSServer(t, echo)
	l := startLoop(t)
	panics := make(chan any, 4)
	l.SetPanicHandler(func(v any, stack []byte) {
		assert.Contains(t, string(stack), "TestPanicWithoutErrorHandlerGoesToTheLoop")
		panics <- v
	})
	c := newConn(t, l, srv.url)
	r := newRecorder()
	c.OnConnect = func(*Conn) { panic("in OnConnect") }
	c.OnWebSocketConnect = func(c *Conn, _ *http.Response) { r.add("up"); _ = c.SendString("x") }
	c.OnMessage = func(*Conn, []byte) { r.add("message") }
	// A handler that panics itself falls back to the loop as well.
	c.ErrorHandler = nil
	c.Connect()
	assert.Equal(t, "in OnConnect", recv(t, panics, "panic"))
	r.waitFor(t, "message", 1)
	c.ErrorHandler = func(*Conn, any) { panic("handler too") }
	require.True(t, l.Post(func() { c.call(func() { panic("again") }) }))
	assert.Equal(t, "handler too", recv(t, panics, "handler panic"))
}

// Stopping the loop ends its connections: no goroutine stays behind.
func TestLoopStopEndsConnections(t *testing.T) {
	srv := newWSServer(t, echo)
	l := NewLoop()
	l.Start()
	r := newRecorder()
	for range 3 {
		c, err := New(l, srv.url)
		require.NoError(t, err)
		c.OnWebSocketConnect = func(*Conn, *http.Response) { r.add("up") }
		c.Connect()
	}
	r.waitFor(t, "up", 3)
	l.Stop()
	<-l.Done()
	waitNoConnGoroutines(t)

	// Connect on a stopped loop leaves nothing running either.
	c, err := New(l, srv.url)
	require.NoError(t, err)
	c.Connect()
	waitNoConnGoroutines(t)
}
