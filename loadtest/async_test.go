package loadtest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/plainws/plainws/asyncconn"
	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startLoops runs n asyncconn loops until the test ends, as a Workerman
// server runs n workers.
func startLoops(t *testing.T, n int) []*asyncconn.Loop {
	t.Helper()
	loops := make([]*asyncconn.Loop, n)
	for i := range loops {
		l := asyncconn.NewLoop()
		l.SetPanicHandler(func(v any, stack []byte) { t.Errorf("panic on loop: %v\n%s", v, stack) })
		l.Start()
		loops[i] = l
		t.Cleanup(func() { l.Stop(); <-l.Done() })
	}
	return loops
}

// failures collects errors reported from loop callbacks, bounded.
type failures struct {
	mu   sync.Mutex
	n    int
	msgs []string
}

func (f *failures) add(format string, a ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if len(f.msgs) < 10 {
		f.msgs = append(f.msgs, fmt.Sprintf(format, a...))
	}
}

func (f *failures) check(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	require.Zero(t, f.n, "errors (first %d): %q", len(f.msgs), f.msgs)
}

// waitGroup waits for wg, failing the test after d.
func waitGroup(t *testing.T, wg *sync.WaitGroup, d time.Duration, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		require.FailNow(t, "timed out: "+what)
	}
}

// TestManyConnectionsAsync holds N asyncconn connections on runtime.NumCPU()
// loops against "plainws serve" (another process), sends numbered messages on
// all of them and checks that every echo arrives once and in order on its own
// connection; it reports memory per idle connection.
func TestManyConnectionsAsync(t *testing.T) {
	n := loadConns()
	raiseFileLimit(t, n)
	url := startServe(t)
	const perConn = 5
	loops := startLoops(t, runtime.NumCPU())

	type client struct {
		c   *asyncconn.Conn
		idx uint32
		got []uint32 // loop only
	}
	var fails failures
	var closing atomic.Bool
	var upgraded, echoed, closed sync.WaitGroup
	slots := make(chan struct{}, 256) // connection attempts in flight
	clients := make([]*client, n)

	before := memInUse()
	for i := range clients {
		c, err := asyncconn.New(loops[i%len(loops)], url)
		require.NoError(t, err)
		cl := &client{c: c, idx: uint32(i)}
		clients[i] = cl
		c.WebsocketType = asyncconn.BinaryTypeArrayBuffer
		settled := false
		settle := func() {
			if !settled {
				settled = true
				<-slots
				upgraded.Done()
			}
		}
		c.OnWebSocketConnect = func(*asyncconn.Conn, *http.Response) { settle() }
		c.OnMessage = func(_ *asyncconn.Conn, data []byte) {
			if len(data) != 8 || binary.BigEndian.Uint32(data[4:]) != cl.idx {
				fails.add("conn %d: echo %x is not its own", cl.idx, data)
				return
			}
			cl.got = append(cl.got, binary.BigEndian.Uint32(data))
			if len(cl.got) == perConn {
				echoed.Done()
			}
		}
		c.OnError = func(_ *asyncconn.Conn, code asyncconn.ErrorCode, msg string) {
			fails.add("conn %d: %v %s", cl.idx, code, msg)
		}
		c.OnClose = func(*asyncconn.Conn) {
			if !closing.Load() {
				fails.add("conn %d closed early: %v", cl.idx, c.LastError())
			}
			settle()
			closed.Done()
		}
	}
	upgraded.Add(n)
	echoed.Add(n)
	closed.Add(n)
	for _, cl := range clients {
		slots <- struct{}{}
		cl.c.Connect()
	}
	waitGroup(t, &upgraded, 2*time.Minute, "connections did not all open")
	fails.check(t)
	for _, cl := range clients {
		require.Equal(t, asyncconn.StatusEstablished, cl.c.Status())
	}
	time.Sleep(100 * time.Millisecond) // let the writers exit: the idle state
	perIdle := float64(int64(memInUse())-int64(before)) / float64(n)
	t.Logf("%d idle asyncconn.Conn on %d loops: %.0f bytes of heap+stack each (client side only)", n, len(loops), perIdle)

	// Each loop sends on its own connections, as Workerman code would from a timer.
	for _, l := range loops {
		l.Post(func() {
			var b [8]byte
			for seq := range perConn {
				for _, cl := range clients {
					if cl.c.Loop() != l {
						continue
					}
					binary.BigEndian.PutUint32(b[:], uint32(seq))
					binary.BigEndian.PutUint32(b[4:], cl.idx)
					if err := cl.c.Send(b[:]); err != nil {
						fails.add("conn %d: send %d: %v", cl.idx, seq, err)
					}
				}
			}
		})
	}
	waitGroup(t, &echoed, 2*time.Minute, "echoes did not all arrive")
	fails.check(t)

	closing.Store(true)
	for _, cl := range clients {
		require.NoError(t, cl.c.Close(ws.CloseNormalClosure, ""))
	}
	waitGroup(t, &closed, time.Minute, "connections did not all close")
	fails.check(t)
	// Read on the loops' side of a completed WaitGroup: every OnMessage has run.
	for _, cl := range clients {
		require.Len(t, cl.got, perConn, "conn %d lost messages", cl.idx)
		for seq, v := range cl.got {
			require.Equal(t, uint32(seq), v, "conn %d: message %d out of order", cl.idx, seq)
		}
	}
}

// restartableServer is an in-process echo server that can be stopped, which
// drops every connection at once (no closing handshake: a crash as the clients
// see it), and started again on the same port.
type restartableServer struct {
	addr string
	mu   sync.Mutex
	gen  *serverGen
}

// serverGen is one life of the server.
type serverGen struct {
	srv     *http.Server
	mu      sync.Mutex
	conns   map[*ws.Conn]struct{}
	stopped bool
	wg      sync.WaitGroup // handlers
	served  chan struct{}  // Serve returned
}

func (s *restartableServer) start(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	for range 100 {
		if ln, err = net.Listen("tcp", s.addr); err == nil || !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(t, err)
	s.addr = ln.Addr().String()
	g := &serverGen{conns: map[*ws.Conn]struct{}{}, served: make(chan struct{})}
	up := &ws.Upgrader{}
	g.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		g.mu.Lock()
		if g.stopped {
			g.mu.Unlock()
			_ = c.CloseNow()
			return
		}
		g.conns[c] = struct{}{}
		g.wg.Add(1)
		g.mu.Unlock()
		defer func() {
			g.mu.Lock()
			delete(g.conns, c)
			g.mu.Unlock()
			_ = c.CloseNow()
			g.wg.Done()
		}()
		var buf []byte
		for {
			op, msg, err := c.ReadMessageInto(buf)
			if err != nil {
				return
			}
			buf = msg
			if c.WriteMessage(op, msg) != nil {
				return
			}
		}
	})}
	go func() { _ = g.srv.Serve(ln); close(g.served) }()
	s.mu.Lock()
	s.gen = g
	s.mu.Unlock()
}

// stop closes the listener and drops every connection, and waits until
// every goroutine of this life has ended.
func (s *restartableServer) stop() {
	s.mu.Lock()
	g := s.gen
	s.gen = nil
	s.mu.Unlock()
	if g == nil {
		return
	}
	_ = g.srv.Close() // the listener, and connections not upgraded yet
	<-g.served
	g.mu.Lock()
	g.stopped = true
	for c := range g.conns {
		_ = c.CloseNow()
	}
	g.mu.Unlock()
	g.wg.Wait()
}

// upgradedConns is the number of connections the running server holds.
func (s *restartableServer) upgradedConns() int {
	s.mu.Lock()
	g := s.gen
	s.mu.Unlock()
	if g == nil {
		return 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.conns)
}

// liveHeap is the heap in use by live objects, after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// A server that crashes and comes back 100 times: asyncconn clients reconnect
// every time (half by AutoReconnect, half by ReConnect in OnClose, Workerman's
// idiom), and at the end every client is connected and round-trips a message,
// with no goroutine or memory left behind by the 100 dropped connections each.
func TestServerRestartsAsync(t *testing.T) {
	const nClients, restarts = 20, 100
	srv := &restartableServer{addr: "127.0.0.1:0"}
	srv.start(t)
	t.Cleanup(srv.stop)
	url := "ws://" + srv.addr + "/"
	loops := startLoops(t, runtime.NumCPU())

	policy := &asyncconn.Backoff{Min: 2 * time.Millisecond, Max: 40 * time.Millisecond, Factor: 2, Jitter: 0.2}
	clients := make([]*asyncconn.Conn, nClients)
	upNow := make([]atomic.Bool, nClients) // OnWebSocketConnect ran, OnClose has not
	echoes := make(chan string, nClients)
	var upgrades atomic.Int64
	for i := range clients {
		c, err := asyncconn.New(loops[i%len(loops)], url)
		require.NoError(t, err)
		c.ReconnectPolicy = policy
		c.ConnectTimeout = 5 * time.Second
		c.CloseTimeout = time.Second
		if i%2 == 0 {
			c.AutoReconnect = true
			c.OnClose = func(*asyncconn.Conn) { upNow[i].Store(false) }
		} else {
			c.OnClose = func(c *asyncconn.Conn) {
				upNow[i].Store(false)
				c.ReConnect(-1) // the policy's delay
			}
		}
		c.OnWebSocketConnect = func(*asyncconn.Conn, *http.Response) { upgrades.Add(1); upNow[i].Store(true) }
		c.OnMessage = func(_ *asyncconn.Conn, data []byte) { echoes <- string(data) }
		clients[i] = c
		c.Connect()
	}
	allBack := func() bool {
		if srv.upgradedConns() != nClients {
			return false
		}
		// The server holds a connection of every client, so every client's old connection has
		// had its OnClose (a reconnect starts only after it): each flag set is a new upgrade.
		for i, c := range clients {
			if !upNow[i].Load() || c.Status() != asyncconn.StatusEstablished {
				return false
			}
		}
		return true
	}
	require.Eventually(t, allBack, 10*time.Second, time.Millisecond, "clients did not connect")

	var goroutinesBefore int
	var heapBefore uint64
	start := time.Now()
	for r := range restarts {
		if r == 5 { // after a few rounds have filled the pools and caches
			goroutinesBefore, heapBefore = runtime.NumGoroutine(), liveHeap()
		}
		srv.stop()
		if r%4 == 0 {
			time.Sleep(20 * time.Millisecond) // down for a while: attempts are refused
		}
		srv.start(t)
		require.Eventually(t, allBack, 20*time.Second, time.Millisecond, "restart %d: clients did not all come back", r)
	}
	t.Logf("%d restarts with %d clients in %v; %d upgrades", restarts, nClients, time.Since(start), upgrades.Load())
	assert.GreaterOrEqual(t, upgrades.Load(), int64(nClients*(restarts+1)), "every client reconnected after every restart")

	// Every client is connected and a message round-trips on each.
	for i, c := range clients {
		require.Equal(t, asyncconn.StatusEstablished, c.Status(), "client %d", i)
		require.NoError(t, c.SendString(fmt.Sprintf("hello %d", i)))
	}
	got := map[string]bool{}
	for range clients {
		select {
		case m := <-echoes:
			got[m] = true
		case <-time.After(10 * time.Second):
			require.FailNow(t, "echoes missing", "got %v", got)
		}
	}
	for i := range clients {
		assert.True(t, got[fmt.Sprintf("hello %d", i)], "client %d", i)
	}

	// Nothing piles up: goroutines come back to where they were (the reader
	// of each connection and the server's handler; writers exit when idle),
	// and the live heap grows by less than 1 KiB per dropped connection.
	assert.Eventually(t, func() bool { return runtime.NumGoroutine() <= goroutinesBefore+2 }, 5*time.Second, 10*time.Millisecond,
		"goroutines: %d before, %d after", goroutinesBefore, runtime.NumGoroutine())
	heapAfter := liveHeap()
	t.Logf("live heap: %d B before, %d B after %d restarts", heapBefore, heapAfter, restarts-5)
	assert.Less(t, int64(heapAfter)-int64(heapBefore), int64(nClients*(restarts-5)*1024))

	// Settings and callbacks change on the Conn's loop, then the clients close for good.
	var closed sync.WaitGroup
	for _, c := range clients {
		closed.Add(1)
		c.Loop().Post(func() {
			c.AutoReconnect = false
			c.OnClose = func(*asyncconn.Conn) { closed.Done() }
			assert.NoError(t, c.Close(ws.CloseNormalClosure, ""))
		})
	}
	waitGroup(t, &closed, 10*time.Second, "clients did not close")
}

// A server that does not read, then reads slowly: 100 MiB of 64 KiB messages
// go through with memory held near MaxSendBufferSize. While the server reads
// nothing, a careless producer that ignores OnBufferFull is refused (the
// buffer does not grow past the limit); then a producer that pauses on
// OnBufferFull and resumes on OnBufferDrain sees the two fire in pairs, again
// and again.
func TestSlowReaderMemoryBoundAsync(t *testing.T) {
	const (
		chunk = 64 << 10
		total = 100 << 20
		limit = asyncconn.DefaultMaxSendBufferSize
	)
	received := make(chan int64, 1)
	stall := make(chan struct{})
	up := &ws.Upgrader{Options: ws.Options{ReadLimit: chunk}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		<-stall // not reading at all at first: the buffer fills and stays full
		var n int64
		buf := make([]byte, 0, chunk)
		for i := 0; ; i++ {
			_, msg, err := c.ReadMessageInto(buf)
			if err != nil {
				received <- n
				return
			}
			n += int64(len(msg))
			if n >= total {
				received <- n
				_, _, _ = c.ReadMessageInto(buf) // until the client closes
				return
			}
			if i%8 == 0 {
				time.Sleep(time.Millisecond) // slow: the buffer fills again and again
			}
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	loops := startLoops(t, 1)
	c, err := asyncconn.New(loops[0], "ws://"+ln.Addr().String()+"/")
	require.NoError(t, err)
	c.WebsocketType = asyncconn.BinaryTypeArrayBuffer
	data := make([]byte, chunk)
	var fulls, drains, refused atomic.Int64
	var stalled atomic.Bool
	stalled.Store(true)
	var accepted int64 // loop only
	paused := false    // loop only
	var maxBuffered atomic.Int64
	var pump func()
	c.OnBufferFull = func(*asyncconn.Conn) { fulls.Add(1); paused = true }
	c.OnBufferDrain = func(*asyncconn.Conn) { drains.Add(1); paused = false; pump() }
	c.OnError = func(_ *asyncconn.Conn, code asyncconn.ErrorCode, msg string) {
		if code != asyncconn.SendFail {
			t.Errorf("unexpected error %v: %s", code, msg)
		}
	}
	pump = func() {
		// Careless while the server stalls: it pushes until refused, whatever OnBufferFull said.
		if paused && !stalled.Load() {
			return
		}
		for accepted < total {
			if c.Send(data) != nil {
				refused.Add(1)
				break
			}
			accepted += chunk
			maxBuffered.Store(max(maxBuffered.Load(), int64(c.SendBufferSize())))
		}
	}
	c.OnWebSocketConnect = func(c *asyncconn.Conn, _ *http.Response) {
		c.Loop().Repeat(time.Millisecond, pump)
	}

	runtime.GC()
	var baseStats runtime.MemStats
	runtime.ReadMemStats(&baseStats)
	base := baseStats.HeapAlloc
	var peak atomic.Uint64
	sampleDone := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		var m runtime.MemStats
		for {
			select {
			case <-sampleDone:
				return
			case <-time.After(5 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			peak.Store(max(peak.Load(), m.HeapInuse))
		}
	}()
	c.Connect()

	require.Eventually(t, func() bool { return fulls.Load() >= 1 && refused.Load() >= 10 }, 10*time.Second, time.Millisecond,
		"the buffer did not fill while the server did not read")
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	stalledGrowth := int64(m.HeapAlloc) - int64(base)
	stalled.Store(false)
	close(stall)

	var n int64
	select {
	case n = <-received:
	case <-time.After(2 * time.Minute):
		require.FailNow(t, "the transfer did not finish")
	}
	close(sampleDone)
	sampler.Wait()
	require.Equal(t, int64(total), n)
	require.Eventuallyf(t, func() bool { return fulls.Load() == drains.Load() }, 10*time.Second, time.Millisecond,
		"every OnBufferFull is followed by OnBufferDrain (%d full, %d drain, buffered %d)", fulls.Load(), drains.Load(), c.SendBufferSize())
	peakGrowth := int64(peak.Load()) - int64(baseStats.HeapInuse)
	t.Logf("100 MiB through a slow reader: %d full/drain cycles, %d refused sends, send buffer at most %d B, "+
		"live heap +%d B while stalled, heap in use at most +%d B", fulls.Load(), refused.Load(), maxBuffered.Load(),
		stalledGrowth, peakGrowth)
	assert.GreaterOrEqual(t, fulls.Load(), int64(2), "the slow reader fills the buffer again and again")
	// One send may overshoot the limit, no more.
	assert.Less(t, maxBuffered.Load(), int64(limit+chunk+16))
	// While the server reads nothing, what is held is the send buffer (plus what the socket took).
	// (The race detector makes sync.Pool drop buffers at random, which adds up to a couple of
	// pooled 66 KiB frames per round to the live heap; 4 × the limit leaves room for that.)
	assert.Less(t, stalledGrowth, int64(4*limit))
	// Garbage counts in HeapInuse until the collector runs; the collector's goal is twice the live
	// heap, and on a loaded machine it runs late, so the bound is 16 times the buffer limit: still
	// far below the 100 MiB that went through, which is what an unbounded buffer would hold.
	assert.Less(t, peakGrowth, int64(16*limit))
	require.NoError(t, c.Close(ws.CloseNormalClosure, ""))
}
