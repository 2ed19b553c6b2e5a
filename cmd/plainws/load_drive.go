package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plainws/plainws/asyncconn"
	"github.com/plainws/plainws/ws"
)

// maxErrorSamples bounds the error messages a run keeps to show.
const maxErrorSamples = 5

// loadShard is the statistics of one loop. Its loop's callbacks update it and
// the progress reporter reads it, hence the mutex (never contended for long).
type loadShard struct {
	loop *asyncconn.Loop
	buf  []byte // the message being built; Send copies it

	mu         sync.Mutex
	open       int // connections upgraded and not closed
	opened     int // connections ever upgraded
	sent       uint64
	received   uint64
	inflight   int64 // sent and not echoed, on open connections
	errors     uint64
	samples    []string
	total      histogram // round trips of the whole run
	interval   histogram // round trips since the last progress line
	intervalRx uint64
}

// errorLocked counts an error and keeps its message if fewer than
// maxErrorSamples are kept. s.mu must be held.
func (s *loadShard) errorLocked(format string, a ...any) {
	s.errors++
	if len(s.samples) < maxErrorSamples {
		s.samples = append(s.samples, fmt.Sprintf(format, a...))
	}
}

// loadConn is one connection's state; only its loop touches it.
type loadConn struct {
	r        *loadRun
	shard    *loadShard
	c        *asyncconn.Conn
	phase    time.Duration // offset of its first message, to spread the sends
	open     bool          // opened and OnClose has not run
	settled  bool          // the connect attempt succeeded or failed
	failed   bool          // OnError ran
	sending  bool
	timer    asyncconn.TimerID
	sent     uint64
	received uint64
}

// loadRun is one run of the generator.
type loadRun struct {
	cfg      *loadConfig
	base     time.Time     // the clock of the timestamps in messages
	interval time.Duration // timer period of each connection
	burst    uint64        // most messages one timer tick may send to catch up
	shards   []*loadShard
	conns    []*loadConn
	closing  atomic.Bool // we are closing: OnClose is expected

	connectSlots chan struct{} // bounds attempts in flight while opening
	settled      sync.WaitGroup
	ended        sync.WaitGroup

	mu        sync.Mutex
	sendStart time.Time // set when sending starts
	sendOver  bool      // sending has stopped
}

// newLoadRun prepares the loops and the send timing of a run: the timer
// period, and the burst a late tick may send to catch up.
func newLoadRun(cfg *loadConfig) *loadRun {
	r := &loadRun{cfg: cfg, base: time.Now(), connectSlots: make(chan struct{}, cfg.connecting)}
	r.interval = max(time.Duration(float64(time.Second)/cfg.rate), time.Millisecond)
	r.burst = max(16, 2*uint64(math.Ceil(cfg.rate*r.interval.Seconds())))
	for range cfg.loops {
		sh := &loadShard{loop: asyncconn.NewLoop(), buf: make([]byte, cfg.size)}
		for i := loadHeader; i < len(sh.buf); i++ {
			sh.buf[i] = byte(i)
		}
		r.shards = append(r.shards, sh)
	}
	return r
}

// run drives the phases: open, send, drain, close. It always returns a summary.
func (r *loadRun) run(ctx context.Context, stderr io.Writer) *loadSummary {
	cfg := r.cfg
	for _, sh := range r.shards {
		sh.loop.SetPanicHandler(func(v any, stack []byte) {
			sh.mu.Lock()
			sh.errorLocked("panic: %v", v)
			sh.mu.Unlock()
		})
		sh.loop.Start()
	}
	defer func() {
		for _, sh := range r.shards {
			sh.loop.Stop()
			<-sh.loop.Done()
		}
	}()

	progressDone := make(chan struct{})
	var progressWG sync.WaitGroup
	if !cfg.quiet {
		progressWG.Add(1)
		go func() { defer progressWG.Done(); r.progress(stderr, progressDone) }()
	}
	defer func() { close(progressDone); progressWG.Wait() }()

	// Phase 1: open every connection, a bounded number at a time.
	start := time.Now()
	for i := range cfg.conns {
		sh := r.shards[i%len(r.shards)]
		lc := &loadConn{r: r, shard: sh}
		lc.phase = time.Duration(float64(r.interval) * float64(i) / float64(cfg.conns))
		c, err := asyncconn.New(sh.loop, cfg.url) // the URL was checked: cannot fail
		if err != nil {
			sh.mu.Lock()
			sh.errorLocked("%v", err)
			sh.mu.Unlock()
			continue
		}
		lc.c = c
		r.setup(lc)
		r.conns = append(r.conns, lc)
	}
	r.settled.Add(len(r.conns))
	r.ended.Add(len(r.conns))
	launched := 0
launch:
	for _, lc := range r.conns {
		select {
		case r.connectSlots <- struct{}{}:
		case <-ctx.Done():
			break launch
		}
		lc.c.Connect()
		launched++
	}
	for range len(r.conns) - launched {
		r.settled.Done()
		r.ended.Done()
	}
	waitCtx(ctx, &r.settled)
	connectTime := time.Since(start)

	// Phase 2: send for the duration, unless interrupted or nothing opened.
	var sendTime time.Duration
	if ctx.Err() == nil && r.snapshot().opened > 0 {
		t0 := time.Now()
		r.mu.Lock()
		r.sendStart = t0
		r.mu.Unlock()
		r.onLoops(func(lc *loadConn) { lc.startSending(t0) })
		select {
		case <-time.After(cfg.dur):
		case <-ctx.Done():
		}
		r.mu.Lock()
		r.sendOver = true
		r.mu.Unlock()
		r.onLoops(func(lc *loadConn) { lc.stopSending() })
		sendTime = time.Since(t0)

		// Phase 3: wait, bounded, for the echoes still in flight.
		deadline := time.Now().Add(cfg.wait)
		for r.snapshot().inflight > 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}

	// Phase 4: close every connection with the closing handshake.
	// RFC 6455 §7.4.1: 1000 for a run that is over, 1001 (going away) when interrupted.
	code := ws.CloseNormalClosure
	if ctx.Err() != nil {
		code = ws.CloseGoingAway
	}
	r.closing.Store(true)
	for _, lc := range r.conns[:launched] {
		_ = lc.c.Close(code, "")
	}
	closeWait := ws.DefaultCloseTimeout + 2*time.Second
	if !waitTimeout(&r.ended, closeWait) {
		for _, lc := range r.conns[:launched] {
			lc.c.Destroy()
		}
		sh := r.shards[0]
		sh.mu.Lock()
		sh.errorLocked("connections did not close within %v", closeWait)
		sh.mu.Unlock()
		waitTimeout(&r.ended, 2*time.Second)
	}

	return newSummary(cfg, r.collect(withTotal), connectTime, sendTime, ctx.Err() != nil)
}

// setup installs the callbacks of one connection.
func (r *loadRun) setup(lc *loadConn) {
	c, sh := lc.c, lc.shard
	r.cfg.setupConn(c)
	c.OnWebSocketConnect = func(*asyncconn.Conn, *http.Response) {
		lc.open = true
		sh.mu.Lock()
		sh.open++
		sh.opened++
		sh.mu.Unlock()
		lc.settle()
		r.mu.Lock()
		t0, over := r.sendStart, r.sendOver
		r.mu.Unlock()
		if !t0.IsZero() && !over {
			// Opened after the connect phase gave up on it: it takes part from now on.
			lc.startSending(t0)
		}
	}
	c.OnMessage = func(_ *asyncconn.Conn, data []byte) {
		now := time.Since(r.base)
		sh.mu.Lock()
		defer sh.mu.Unlock()
		if len(data) != r.cfg.size {
			sh.errorLocked("connection %d: echo of %d bytes, want %d", c.ID(), len(data), r.cfg.size)
			return
		}
		seq := binary.BigEndian.Uint64(data)
		if seq != lc.received || seq >= lc.sent {
			sh.errorLocked("connection %d: echo of message %d, want %d", c.ID(), seq, lc.received)
			return
		}
		lc.received++
		sh.received++
		sh.intervalRx++
		sh.inflight--
		rtt := int64(now) - int64(binary.BigEndian.Uint64(data[8:]))
		sh.total.record(rtt)
		sh.interval.record(rtt)
	}
	c.OnError = func(_ *asyncconn.Conn, code asyncconn.ErrorCode, msg string) {
		lc.failed = true
		sh.mu.Lock()
		sh.errorLocked("connection %d: %v: %s", c.ID(), code, msg)
		sh.mu.Unlock()
	}
	c.OnClose = func(*asyncconn.Conn) {
		lc.stopSending()
		sh.mu.Lock()
		if lc.open {
			lc.open = false
			sh.open--
			sh.inflight -= int64(lc.sent - lc.received) // they will never come back
		}
		if !lc.failed && !r.closing.Load() {
			sh.errorLocked("connection %d closed unexpectedly: %v", c.ID(), c.LastError())
		}
		sh.mu.Unlock()
		lc.settle()
		r.ended.Done()
	}
}

// settle marks the connect attempt as decided, once.
func (lc *loadConn) settle() {
	if lc.settled {
		return
	}
	lc.settled = true
	<-lc.r.connectSlots
	lc.r.settled.Done()
}

// startSending arms the connection's send timer; it runs on the loop.
func (lc *loadConn) startSending(t0 time.Time) {
	if !lc.open || lc.sending {
		return
	}
	lc.sending = true
	first := max(time.Until(t0.Add(lc.phase)), 0)
	lc.timer = lc.c.Loop().Delay(first, func() {
		if !lc.sending {
			return
		}
		lc.timer = lc.c.Loop().Repeat(lc.r.interval, func() { lc.tick(t0) })
		lc.tick(t0)
	})
}

// stopSending deletes the send timer; it runs on the loop.
func (lc *loadConn) stopSending() {
	lc.sending = false
	if lc.timer != 0 {
		lc.c.Loop().Del(lc.timer)
		lc.timer = 0
	}
}

// tick sends the messages due by now: the timer runs late when the loop is
// busy, so the count comes from the clock, not from the number of ticks.
func (lc *loadConn) tick(t0 time.Time) {
	if !lc.sending || !lc.open {
		return
	}
	elapsed := time.Since(t0) - lc.phase
	due := uint64(elapsed.Seconds()*lc.r.cfg.rate) + 1
	if due <= lc.sent {
		return
	}
	n := min(due-lc.sent, lc.r.burst)
	sh := lc.shard
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for range n {
		binary.BigEndian.PutUint64(sh.buf, lc.sent)
		binary.BigEndian.PutUint64(sh.buf[8:], uint64(time.Since(lc.r.base)))
		// A full buffer is reported by OnError(SendFail); a closed connection by OnClose.
		if lc.c.Send(sh.buf) != nil {
			return
		}
		lc.sent++
		sh.sent++
		sh.inflight++
	}
}

// onLoops runs fn for every connection on its own loop and waits until all
// have run, so that a phase change is complete when it returns.
func (r *loadRun) onLoops(fn func(*loadConn)) {
	var wg sync.WaitGroup
	for _, sh := range r.shards {
		wg.Add(1)
		ok := sh.loop.Post(func() {
			defer wg.Done()
			for _, lc := range r.conns {
				if lc.shard == sh {
					fn(lc)
				}
			}
		})
		if !ok {
			wg.Done()
		}
	}
	wg.Wait()
}

// loadSnapshot is the sum of the shards at one moment.
type loadSnapshot struct {
	open, opened           int
	sent, received, errors uint64
	inflight               int64
	total, interval        histogram
	intervalRx             uint64
	samples                []string
}

// What collect merges besides the counters: the histograms are 57 KiB
// each, so the loops that poll every few milliseconds leave them out.
const (
	withTotal    = 1 << iota // the run's round-trip histogram
	withInterval             // the interval's histogram, which is then reset
)

// snapshot sums the shards' counters.
func (r *loadRun) snapshot() *loadSnapshot {
	return r.collect(0)
}

// collect sums the shards: the counters, and the histograms what asks for.
func (r *loadRun) collect(what int) *loadSnapshot {
	s := &loadSnapshot{}
	for _, sh := range r.shards {
		sh.mu.Lock()
		s.open += sh.open
		s.opened += sh.opened
		s.sent += sh.sent
		s.received += sh.received
		s.errors += sh.errors
		s.inflight += sh.inflight
		if what&withTotal != 0 {
			s.total.merge(&sh.total)
		}
		if what&withInterval != 0 {
			s.interval.merge(&sh.interval)
		}
		s.intervalRx += sh.intervalRx
		for _, m := range sh.samples {
			if len(s.samples) < maxErrorSamples {
				s.samples = append(s.samples, m)
			}
		}
		if what&withInterval != 0 {
			sh.interval.reset()
			sh.intervalRx = 0
		}
		sh.mu.Unlock()
	}
	return s
}

// waitCtx waits for wg or for ctx to end.
func waitCtx(ctx context.Context, wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// waitTimeout waits for wg at most d and reports whether it finished.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}
