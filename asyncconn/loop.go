package asyncconn

import (
	"context"
	"errors"
	"log"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"
)

// DispatchHighWater is the number of queued callbacks at which Dispatch starts to block. It exists so
// that a producer goroutine fed by a fast peer (a connection's reader) cannot queue work faster than
// the loop runs it and grow memory without a bound: the producer waits, and its socket's TCP window
// pushes back on the peer. Once blocked, producers resume when the queue has drained to half of this.
const DispatchHighWater = 1024

// MaxQueued is the hard limit on callbacks waiting in one Loop's queue. Post never blocks, so without
// a limit a runaway poster could exhaust memory; at this limit Post reports failure instead. It is far
// above DispatchHighWater, so well-behaved programs never reach it.
const MaxQueued = 1 << 20

// ErrStopped is returned by Dispatch when the loop has been stopped (by Stop, by the end of Run's
// context, or before Run ever started), so a producer learns that its work will never run.
var ErrStopped = errors.New("asyncconn: loop stopped")

// ErrLoopReused is returned by Run when the Loop has already been run: a Loop runs once, because
// Stop discards its queue and timers for good, and a restarted loop would silently lose them.
var ErrLoopReused = errors.New("asyncconn: Loop.Run called more than once")

// ErrNilFunc is returned by Dispatch when fn is nil, so that a programming error surfaces at the
// call site instead of as a panic on the loop goroutine.
var ErrNilFunc = errors.New("asyncconn: nil callback")

// PanicHandler receives a panic recovered from a callback or timer run by a Loop: the value passed
// to panic and the stack of the loop goroutine at the time. It exists because a Workerman timer that
// throws does not stop the worker, and a Go program should not lose its whole loop (and every
// connection on it) to one faulty callback either.
type PanicHandler func(v any, stack []byte)

// Loop runs callbacks and timers one at a time, in order, on a single goroutine. It gives Go code
// the promise of Workerman's one-thread-per-worker model (docs/workerman.md §2): state touched only from
// callbacks of one Loop needs no locks. Several Loops may run side by side, like Workerman workers.
//
// One round of the loop mirrors one tick of Workerman's Select driver: first every callback that
// was queued when the round began (in FIFO order), then every timer due when the round began (in
// order of due time, ties in the order they were added). A callback posted during a round runs in
// the next round, so timers cannot be starved by a callback that keeps re-posting itself.
//
// The zero Loop is not usable; create one with NewLoop. All methods are safe for concurrent use.
type Loop struct {
	mu sync.Mutex

	queue fifo // callbacks waiting to run

	timers    timerHeap
	timerByID map[TimerID]*timer
	lastID    TimerID // last TimerID handed out; IDs start at 1 like Workerman's Select loop
	lastSeq   uint64  // insertion counter, breaks ties between timers due at the same instant

	ran      bool  // Run has been entered once
	stopped  bool  // no callback will start any more
	sleeping bool  // the loop goroutine is (about to be) blocked waiting for work
	stopErr  error // what Run returns: nil after Stop, ctx.Err() after the context ended
	finished bool  // stopped for good (finish ran): attach refuses

	attempts *attempt // connection attempts to abort when the loop finishes (attach)

	wake   chan struct{} // capacity 1; wakes a sleeping loop
	stopCh chan struct{} // closed by Stop; releases blocked Dispatch calls
	done   chan struct{} // closed when the loop has stopped for good

	space           chan struct{} // closed when the queue drains to the low-water mark; nil if no one waits
	dispatchWaiters int           // Dispatch calls blocked on space (read by tests)

	doneOnce sync.Once

	panicHandler PanicHandler
}

// NewLoop returns a Loop that is not yet running. Callbacks and timers may be added before it
// runs; they start when Run (or Start) is called, which lets a program set everything up first,
// as Workerman code does in onWorkerStart before Worker::runAll.
func NewLoop() *Loop {
	return &Loop{
		timerByID: make(map[TimerID]*timer),
		wake:      make(chan struct{}, 1),
		stopCh:    make(chan struct{}),
		done:      make(chan struct{}),
	}
}

// Run runs the loop on the calling goroutine until Stop is called or ctx is done, and returns nil
// after Stop or ctx.Err() when the context ended it. Either way the callback running at that moment
// finishes, and then queued callbacks and pending timers are discarded without running.
//
// Run blocks only while there is nothing to do: it sleeps on one time.Timer for the next due timer
// and wakes when work is posted, so an idle loop costs no CPU. A Loop runs once: a second call
// returns ErrLoopReused. If Stop was called before Run, Run returns nil at once. A nil ctx is
// treated as context.Background().
//
// If a callback calls runtime.Goexit (for example t.FailNow in a test), the loop stops as if Stop
// had been called, Done is closed, and Run does not return because its goroutine has exited.
func (l *Loop) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	l.mu.Lock()
	if l.ran {
		l.mu.Unlock()
		return ErrLoopReused
	}
	l.ran = true
	if l.stopped {
		l.mu.Unlock()
		l.finish()
		return nil
	}
	l.mu.Unlock()
	if err := ctx.Err(); err != nil {
		l.stop(err)
		l.finish()
		return err
	}

	// The context ends the loop exactly like Stop does: between two callbacks.
	unregister := context.AfterFunc(ctx, func() { l.stop(ctx.Err()) })
	defer unregister()
	defer l.finish() // also runs on runtime.Goexit from a callback

	tm := time.NewTimer(time.Hour)
	tm.Stop()
	defer tm.Stop()

	for round := uint64(1); ; round++ {
		// Phase 1: the callbacks queued when the round began, in FIFO order.
		l.mu.Lock()
		n := l.queue.len()
		l.mu.Unlock()
		for range n {
			l.mu.Lock()
			if l.stopped {
				err := l.stopErr
				l.mu.Unlock()
				return err
			}
			fn := l.queue.pop()
			l.signalSpaceLocked()
			l.mu.Unlock()
			l.call(fn)
		}

		// Phase 2: the timers due when the round began (Workerman runs due timers after I/O).
		now := time.Now()
		for {
			l.mu.Lock()
			if l.stopped {
				err := l.stopErr
				l.mu.Unlock()
				return err
			}
			fn, ok := l.popDueLocked(now, round)
			l.mu.Unlock()
			if !ok {
				break
			}
			l.call(fn)
		}

		// Phase 3: sleep until work is posted or the next timer is due.
		l.mu.Lock()
		if l.stopped {
			err := l.stopErr
			l.mu.Unlock()
			return err
		}
		if l.queue.len() > 0 {
			l.mu.Unlock()
			continue
		}
		var due <-chan time.Time
		if len(l.timers) > 0 {
			d := time.Until(l.timers[0].when)
			if d <= 0 {
				l.mu.Unlock()
				continue
			}
			// Since Go 1.23 Reset discards any value a previous firing left in tm.C.
			tm.Reset(d)
			due = tm.C
		}
		l.sleeping = true
		l.mu.Unlock()

		select {
		case <-l.wake:
		case <-due:
		}

		l.mu.Lock()
		l.sleeping = false
		l.mu.Unlock()
	}
}

// Start runs the loop in a new goroutine with context.Background(), for programs that drive the
// loop only through Post, timers and Stop. Use Done to wait for it to end.
func (l *Loop) Start() {
	go func() { _ = l.Run(context.Background()) }()
}

// Stop ends the loop after the callback running now, if any; queued callbacks and pending timers
// never run. It lets any goroutine, including a callback on the loop itself, shut the loop down.
// It does not wait: use Done for that (waiting on Done from a callback would deadlock). Stop is
// idempotent, and calling it before Run makes Run return nil at once.
func (l *Loop) Stop() {
	l.stop(nil)
}

// stop marks the loop stopped with the error Run should return, if it is not stopped already.
func (l *Loop) stop(err error) {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return
	}
	l.stopped = true
	l.stopErr = err
	close(l.stopCh)
	l.wakeLocked()
	running := l.ran
	l.mu.Unlock()
	if !running {
		// Nothing will ever run on this loop: it is already as finished as it will be.
		l.finish()
	}
}

// finish releases everything the loop holds and closes Done. It is safe to call more than once.
func (l *Loop) finish() {
	l.mu.Lock()
	if !l.stopped {
		l.stopped = true
		close(l.stopCh)
	}
	l.queue.reset()
	if l.space != nil {
		close(l.space)
		l.space = nil
	}
	l.clearTimersLocked()
	l.finished = true
	l.mu.Unlock()
	l.abortAttached()
	l.doneOnce.Do(func() { close(l.done) })
}

// attach registers a connection attempt to be aborted when the loop stops for good, so that a
// stopped loop also ends its connections' network I/O and goroutines. It reports false, and
// registers nothing, if the loop has already stopped. The attempts form a list through their own
// fields: an idle connection pays two pointers for it, not a context of its own.
func (l *Loop) attach(a *attempt) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.finished {
		return false
	}
	a.hookNext, a.hookPrev, a.hooked = l.attempts, nil, true
	if l.attempts != nil {
		l.attempts.hookPrev = a
	}
	l.attempts = a
	return true
}

// detach undoes attach; it does nothing for an attempt that is not registered.
func (l *Loop) detach(a *attempt) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !a.hooked {
		return
	}
	if a.hookPrev != nil {
		a.hookPrev.hookNext = a.hookNext
	} else {
		l.attempts = a.hookNext
	}
	if a.hookNext != nil {
		a.hookNext.hookPrev = a.hookPrev
	}
	a.hookPrev, a.hookNext, a.hooked = nil, nil, false
}

// abortAttached aborts every attached attempt, once the loop has stopped for good.
func (l *Loop) abortAttached() {
	l.mu.Lock()
	var all []*attempt
	for a := l.attempts; a != nil; a = a.hookNext {
		all = append(all, a)
	}
	for _, a := range all {
		a.hookPrev, a.hookNext, a.hooked = nil, nil, false
	}
	l.attempts = nil
	l.mu.Unlock()
	for _, a := range all {
		a.abort()
	}
}

// Done returns a channel that is closed once the loop has stopped for good: Run has returned (or
// its goroutine has exited), or Stop was called before Run started. After that no callback or
// timer of this loop will start again, so it is the point where owners may release resources.
func (l *Loop) Done() <-chan struct{} {
	return l.done
}

// Post queues fn to run on the loop goroutine after everything queued before it; callbacks posted
// by one goroutine run in the order it posted them. Post never blocks, so it is safe from the loop's
// own callbacks; producers outside the loop that may outpace it should use Dispatch instead.
//
// Post returns false, and fn will never run, if fn is nil, if the loop has stopped, or if MaxQueued
// callbacks are already waiting.
func (l *Loop) Post(fn func()) bool {
	if fn == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped || l.queue.len() >= MaxQueued {
		return false
	}
	l.queue.push(fn)
	l.wakeLocked()
	return true
}

// Dispatch queues fn like Post, but first waits while DispatchHighWater or more callbacks are
// queued, until the loop has run half of them (other Dispatch calls wait as well in the meantime). That wait is the backpressure that keeps a fast
// producer (a connection reading from a fast peer) from growing the queue without a bound.
//
// Dispatch returns nil once fn is queued, ctx.Err() if ctx ends first (also if ctx is already done
// on entry), ErrStopped if the loop stops first, and ErrNilFunc if fn is nil. A nil ctx is treated
// as context.Background().
//
// Dispatch must never be called from a callback running on the same loop: if the queue is full,
// the loop would wait for itself to drain the queue and never do so. Callbacks use Post.
func (l *Loop) Dispatch(ctx context.Context, fn func()) error {
	if fn == nil {
		return ErrNilFunc
	}
	if ctx == nil {
		ctx = context.Background()
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		l.mu.Lock()
		if l.stopped {
			l.mu.Unlock()
			return ErrStopped
		}
		// While producers are held back (space != nil), newcomers queue behind them instead of
		// taking the slots the loop frees one by one.
		if l.space == nil && l.queue.len() < DispatchHighWater {
			l.queue.push(fn)
			l.wakeLocked()
			l.mu.Unlock()
			return nil
		}
		if l.space == nil {
			l.space = make(chan struct{})
		}
		space := l.space
		l.dispatchWaiters++
		l.mu.Unlock()

		var err error
		select {
		case <-space:
		case <-l.stopCh:
			err = ErrStopped
		case <-ctx.Done():
			err = ctx.Err()
		}
		l.mu.Lock()
		l.dispatchWaiters--
		l.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// Len returns the number of callbacks queued and not yet started. It is a snapshot for monitoring
// and tests: other goroutines may change it at any moment.
func (l *Loop) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.queue.len()
}

// SetPanicHandler sets the function that receives panics recovered from this loop's callbacks and
// timers; nil restores the default, which logs the value and the stack with log.Printf. The loop
// keeps running after a panic either way, and a panic inside the handler itself is logged too.
// The handler runs on the loop goroutine, so it must not block for long.
func (l *Loop) SetPanicHandler(h PanicHandler) {
	l.mu.Lock()
	l.panicHandler = h
	l.mu.Unlock()
}

// wakeLocked wakes the loop goroutine if it is sleeping. l.mu must be held.
func (l *Loop) wakeLocked() {
	if !l.sleeping {
		return
	}
	l.sleeping = false
	select {
	case l.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// signalSpaceLocked releases Dispatch callers once the queue has drained to the low-water mark.
// l.mu must be held.
func (l *Loop) signalSpaceLocked() {
	if l.space != nil && l.queue.len() <= DispatchHighWater/2 {
		close(l.space)
		l.space = nil
	}
}

// call runs fn, recovering any panic and handing it to the panic handler.
func (l *Loop) call(fn func()) {
	defer func() {
		if v := recover(); v != nil {
			l.handlePanic(v, debug.Stack())
		}
	}()
	fn()
}

// handlePanic passes a recovered panic to the loop's handler, falling back to the log if the
// handler is unset or panics itself.
func (l *Loop) handlePanic(v any, stack []byte) {
	l.mu.Lock()
	h := l.panicHandler
	l.mu.Unlock()
	if h == nil {
		defaultPanicHandler(v, stack)
		return
	}
	defer func() {
		if v2 := recover(); v2 != nil {
			log.Printf("asyncconn: panic in panic handler: %v (handling panic: %v)\n%s", v2, v, debug.Stack())
		}
	}()
	h(v, stack)
}

// defaultPanicHandler logs a recovered panic with its stack.
func defaultPanicHandler(v any, stack []byte) {
	log.Printf("asyncconn: recovered panic in loop callback: %v\n%s", v, stack)
}

// fifo is a growable ring buffer of callbacks.
type fifo struct {
	buf  []func()
	head int
	n    int
}

func (q *fifo) len() int { return q.n }

func (q *fifo) push(fn func()) {
	if q.n == len(q.buf) {
		size := 2 * len(q.buf)
		if size == 0 {
			size = 64
		}
		buf := make([]func(), size)
		k := copy(buf, q.buf[q.head:])
		copy(buf[k:], q.buf[:q.head])
		q.buf, q.head = buf, 0
	}
	q.buf[(q.head+q.n)%len(q.buf)] = fn
	q.n++
}

func (q *fifo) pop() func() {
	fn := q.buf[q.head]
	q.buf[q.head] = nil // let the closure be collected
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	if q.n == 0 {
		q.head = 0
		if len(q.buf) > 4096 {
			q.buf = nil // give back the memory of a past burst
		}
	}
	return fn
}

func (q *fifo) reset() {
	*q = fifo{}
}

var (
	defaultMu   sync.Mutex
	defaultLoop *Loop
)

// Default returns the package's shared Loop, creating and starting it on first use. It plays the
// part of Workerman's one global event loop per worker, for programs that need only one. If the
// previous default loop has stopped (after RunAll, or a Stop), Default replaces it with a new,
// running one, so code that fetches Default() after a shutdown does not post into a dead loop.
func Default() *Loop {
	defaultMu.Lock()
	defer defaultMu.Unlock()
	if defaultLoop != nil {
		defaultLoop.mu.Lock()
		stopped := defaultLoop.stopped
		defaultLoop.mu.Unlock()
		if !stopped {
			return defaultLoop
		}
	}
	defaultLoop = NewLoop()
	defaultLoop.Start()
	return defaultLoop
}

// RunAll is the counterpart of Workerman's Worker::runAll(): it keeps the program running on
// Default() until SIGINT or SIGTERM arrives (or the loop is stopped), then stops the loop, waits for
// the running callback to finish, and returns nil.
func RunAll() error {
	return RunAllContext(context.Background())
}

// RunAllContext is RunAll that also ends when ctx is done, for programs (and tests) that manage
// shutdown themselves; it then returns ctx.Err(). A nil ctx is treated as context.Background().
func RunAllContext(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	return runAll(ctx, Default(), sig)
}

// runAll waits for a signal, the end of ctx, or the end of l, then stops l and waits for it.
func runAll(ctx context.Context, l *Loop, sig <-chan os.Signal) error {
	var err error
	select {
	case <-sig:
	case <-ctx.Done():
		err = ctx.Err()
	case <-l.Done():
		return nil
	}
	l.Stop()
	<-l.Done()
	return err
}
