package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plainws/plainws/asyncconn"
	"github.com/plainws/plainws/ws"
)

const loadUsage = `Usage: plainws load [flags] URL

Opens -c connections to URL on -loops asyncconn event loops (Workerman's worker
count) and sends -rate binary messages of -size bytes per second on each for -d.
Each message carries a sequence number and a timestamp; the echo of every message
is matched to measure the round-trip time. Point it at an echo server such as
"plainws serve".

A progress line goes to standard error every second; the summary goes to standard
output (as JSON with -json). At the end sending stops, echoes still in flight are
awaited for up to -wait, then every connection is closed with 1000. Ctrl-C ends
the run early the same way (closing with 1001). Exit status: 0 if every
connection opened and no error happened and no echo was lost, 1 otherwise, 2 on
bad usage.

Flags:
`

// loadHeader is the part of each message the generator reads back: a sequence
// number and the send time (nanoseconds since the run's start).
const loadHeader = 16

// loadConfig holds the flags of plainws load.
type loadConfig struct {
	url         string
	conns       int
	size        int
	rate        float64
	dur         time.Duration
	loops       int
	jsonOut     bool
	quiet       bool
	timeout     time.Duration
	wait        time.Duration
	connecting  int
	stderrIsTTY bool
}

// errLoadFailed reports a run that finished with errors, lost echoes or
// connections that never opened: exit 1.
var errLoadFailed = errors.New("load test failed")

func loadCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg loadConfig
	fs := newFlagSet("load", loadUsage, stderr)
	fs.IntVar(&cfg.conns, "c", 100, "number of connections")
	fs.IntVar(&cfg.size, "size", 64, fmt.Sprintf("message size in bytes (at least %d)", loadHeader))
	fs.Float64Var(&cfg.rate, "rate", 10, "messages per second on each connection")
	fs.DurationVar(&cfg.dur, "d", 10*time.Second, "how long to send, once the connections are open")
	fs.IntVar(&cfg.loops, "loops", runtime.NumCPU(), "number of event loops (like Workerman's worker count)")
	fs.BoolVar(&cfg.jsonOut, "json", false, "print the summary as JSON")
	fs.BoolVar(&cfg.quiet, "quiet", false, "no progress line on standard error")
	fs.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "connect timeout of each connection (TCP and upgrade)")
	fs.DurationVar(&cfg.wait, "wait", 5*time.Second, "after sending stops, wait this long for echoes in flight")
	fs.IntVar(&cfg.connecting, "connecting", 256, "connection attempts in flight at once while opening")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	bad := func(format string, a ...any) error {
		fs.Usage()
		return fmt.Errorf("%w: "+format, append([]any{errUsage}, a...)...)
	}
	switch {
	case fs.NArg() != 1:
		return bad("want exactly one URL")
	case cfg.conns < 1:
		return bad("-c must be at least 1")
	case cfg.size < loadHeader || cfg.size > 16<<20:
		return bad("-size must be between %d and %d", loadHeader, 16<<20)
	case !(cfg.rate > 0) || math.IsInf(cfg.rate, 0) || cfg.rate > 1e6:
		return bad("-rate must be above 0 and at most 1e6")
	case cfg.dur <= 0:
		return bad("-d must be positive")
	case cfg.loops < 1:
		return bad("-loops must be at least 1")
	case cfg.timeout <= 0 || cfg.wait < 0:
		return bad("-timeout must be positive and -wait not negative")
	case cfg.connecting < 1:
		return bad("-connecting must be at least 1")
	}
	cfg.url = fs.Arg(0)
	// Check the URL once, so that a typo is a usage error rather than N failures.
	if _, err := asyncconn.New(asyncconn.NewLoop(), cfg.url); err != nil {
		return bad("%v", err)
	}
	cfg.stderrIsTTY = isTerminal(stderr)

	// Every connection is a descriptor: take all the process may have.
	if limit, err := raiseFileLimit(); err != nil {
		fmt.Fprintf(stderr, "* cannot raise the open file limit: %v\n", err)
	} else if limit > 0 && limit < uint64(cfg.conns)+64 {
		fmt.Fprintf(stderr, "* warning: the open file limit (%d) is too low for %d connections\n", limit, cfg.conns)
	}

	r := newLoadRun(&cfg)
	sum := r.run(ctx, stderr)
	if cfg.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sum); err != nil {
			return err
		}
	} else {
		sum.print(stdout)
	}
	for _, e := range sum.ErrorSamples {
		fmt.Fprintf(stderr, "* error: %s\n", e)
	}
	if sum.Errors > 0 || sum.Lost > 0 || sum.Connections < sum.Target {
		return fmt.Errorf("%w: %d of %d connections opened, %d errors, %d echoes lost",
			errLoadFailed, sum.Connections, sum.Target, sum.Errors, sum.Lost)
	}
	return nil
}

// isTerminal reports whether w is a character device, where the progress line
// can overwrite itself.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// loadSummary is the result of a run; its JSON names are the -json output.
type loadSummary struct {
	URL          string   `json:"url"`
	Target       int      `json:"target_connections"`
	Connections  int      `json:"connections"` // connections that opened
	Loops        int      `json:"loops"`
	Size         int      `json:"size"`
	Rate         float64  `json:"rate"`
	Sent         uint64   `json:"sent"`
	Received     uint64   `json:"received"`
	Lost         uint64   `json:"lost"`
	Errors       uint64   `json:"errors"`
	ConnectS     float64  `json:"connect_s"`
	DurationS    float64  `json:"duration_s"`
	MsgsPerS     float64  `json:"msgs_per_s"`
	RTTP50ms     float64  `json:"rtt_p50_ms"`
	RTTP99ms     float64  `json:"rtt_p99_ms"`
	RTTMaxms     float64  `json:"rtt_max_ms"`
	Interrupted  bool     `json:"interrupted"`
	ErrorSamples []string `json:"error_samples,omitempty"`
}

func (s *loadSummary) print(w io.Writer) {
	fmt.Fprintf(w, "plainws load %s\n", s.URL)
	fmt.Fprintf(w, "  connections  %d of %d opened in %.2fs, on %d loops\n", s.Connections, s.Target, s.ConnectS, s.Loops)
	fmt.Fprintf(w, "  messages     %d bytes at %g/s per connection for %.2fs\n", s.Size, s.Rate, s.DurationS)
	fmt.Fprintf(w, "  sent         %d\n  received     %d (%.0f msgs/s)\n  lost         %d\n  errors       %d\n",
		s.Sent, s.Received, s.MsgsPerS, s.Lost, s.Errors)
	fmt.Fprintf(w, "  round trip   p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", s.RTTP50ms, s.RTTP99ms, s.RTTMaxms)
	if s.Interrupted {
		fmt.Fprintln(w, "  interrupted")
	}
}

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

	snap := r.snapshot()
	sum := &loadSummary{
		URL: cfg.url, Target: cfg.conns, Connections: snap.opened, Loops: cfg.loops, Size: cfg.size, Rate: cfg.rate,
		Sent: snap.sent, Received: snap.received, Errors: snap.errors,
		ConnectS: connectTime.Seconds(), DurationS: sendTime.Seconds(),
		RTTP50ms: ms(snap.total.quantile(0.50)), RTTP99ms: ms(snap.total.quantile(0.99)), RTTMaxms: ms(snap.total.max),
		Interrupted: ctx.Err() != nil, ErrorSamples: snap.samples,
	}
	if snap.sent > snap.received {
		sum.Lost = snap.sent - snap.received
	}
	if sendTime > 0 {
		sum.MsgsPerS = float64(snap.received) / sendTime.Seconds()
	}
	return sum
}

// setup installs the callbacks of one connection.
func (r *loadRun) setup(lc *loadConn) {
	c, sh := lc.c, lc.shard
	c.WebsocketType = asyncconn.BinaryTypeArrayBuffer
	c.ConnectTimeout = r.cfg.timeout
	c.Headers = http.Header{"User-Agent": {"plainws-load"}}
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

// snapshot sums the shards. It does not reset the interval statistics.
func (r *loadRun) snapshot() *loadSnapshot {
	return r.collect(false)
}

func (r *loadRun) collect(resetInterval bool) *loadSnapshot {
	s := &loadSnapshot{}
	for _, sh := range r.shards {
		sh.mu.Lock()
		s.open += sh.open
		s.opened += sh.opened
		s.sent += sh.sent
		s.received += sh.received
		s.errors += sh.errors
		s.inflight += sh.inflight
		s.total.merge(&sh.total)
		s.interval.merge(&sh.interval)
		s.intervalRx += sh.intervalRx
		for _, m := range sh.samples {
			if len(s.samples) < maxErrorSamples {
				s.samples = append(s.samples, m)
			}
		}
		if resetInterval {
			sh.interval.reset()
			sh.intervalRx = 0
		}
		sh.mu.Unlock()
	}
	return s
}

// progress prints a line a second until done is closed.
func (r *loadRun) progress(w io.Writer, done <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	start, last := time.Now(), time.Now()
	for {
		select {
		case <-done:
			if r.cfg.stderrIsTTY {
				fmt.Fprintln(w)
			}
			return
		case now := <-t.C:
			s := r.collect(true)
			secs := now.Sub(last).Seconds()
			last = now
			line := fmt.Sprintf("[%4.0fs] conns %d/%d  echoes/s %.0f  rtt p50 %.2fms p99 %.2fms max %.2fms  errors %d",
				now.Sub(start).Seconds(), s.open, r.cfg.conns, float64(s.intervalRx)/secs,
				ms(s.interval.quantile(0.5)), ms(s.interval.quantile(0.99)), ms(s.interval.max), s.errors)
			if r.cfg.stderrIsTTY {
				fmt.Fprintf(w, "\r\033[K%s", line)
			} else {
				fmt.Fprintln(w, line)
			}
		}
	}
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

// ms converts nanoseconds to milliseconds.
func ms(ns int64) float64 { return float64(ns) / 1e6 }

// histogram counts non-negative values (nanoseconds) in logarithmic buckets
// with 16 linear steps per power of two, like an HDR histogram with a
// precision of one part in 16: its size is fixed (960 counters) however many
// samples it takes, and a quantile is off by at most 6.25%. The maximum is
// kept exactly.
type histogram struct {
	counts [histBuckets]uint64
	n      uint64
	max    int64
}

const (
	histSubBits = 4
	histSub     = 1 << histSubBits // linear steps per power of two
	histBuckets = (64 - histSubBits) * histSub
)

// histBucket returns the bucket of v: values below 2·histSub have a bucket of
// their own; above, a bucket is 1/histSub of its power of two wide.
func histBucket(v int64) int {
	if v < 2*histSub {
		return int(max(v, 0))
	}
	shift := bits.Len64(uint64(v)) - histSubBits - 1
	return shift*histSub + int(uint64(v)>>shift)
}

// histUpper returns the largest value of bucket b.
func histUpper(b int) int64 {
	if b < 2*histSub {
		return int64(b)
	}
	shift := b/histSub - 1
	top := int64(b%histSub + histSub)
	return (top+1)<<shift - 1
}

func (h *histogram) record(v int64) {
	v = max(v, 0)
	h.counts[histBucket(v)]++
	h.n++
	h.max = max(h.max, v)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

func (h *histogram) reset() { *h = histogram{} }

// quantile returns the value at or below which a fraction q of the samples
// lie (the upper end of its bucket, but never above the maximum), or 0 when
// the histogram is empty.
func (h *histogram) quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(histUpper(b), h.max)
		}
	}
	return h.max
}
