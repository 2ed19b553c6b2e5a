package asyncconn

import (
	"bytes"
	"context"
	"log"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// waitLimit bounds every wait in these tests. It is generous on purpose: the tests assert order and
// counts, never how fast something happens.
const waitLimit = 5 * time.Second

// startLoop returns a running loop that is stopped, and waited for, when the test ends.
func startLoop(t *testing.T) *Loop {
	t.Helper()
	l := NewLoop()
	l.Start()
	t.Cleanup(func() {
		l.Stop()
		select {
		case <-l.Done():
		case <-time.After(waitLimit):
			t.Error("loop did not stop")
		}
	})
	return l
}

// waitClosed fails the test if ch is not closed within waitLimit.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitLimit):
		require.FailNow(t, "timed out waiting for "+what)
	}
}

// flush waits until every callback posted to l before it has run.
func flush(t *testing.T, l *Loop) {
	t.Helper()
	done := make(chan struct{})
	require.True(t, l.Post(func() { close(done) }))
	waitClosed(t, done, "the loop to run posted callbacks")
}

func TestPostRunsInFIFOOrder(t *testing.T) {
	l := startLoop(t)
	var got []int // touched only on the loop goroutine
	const n = 1000
	for i := range n {
		require.True(t, l.Post(func() { got = append(got, i) }))
	}
	flush(t, l)
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	assert.Equal(t, want, got)
}

func TestPostKeepsPerGoroutineOrder(t *testing.T) {
	l := startLoop(t)
	const producers, each = 8, 500
	last := make([]int, producers) // touched only on the loop goroutine
	for i := range last {
		last[i] = -1
	}
	outOfOrder, total := 0, 0
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range each {
				assert.True(t, l.Post(func() {
					if i != last[p]+1 {
						outOfOrder++
					}
					last[p] = i
					total++
				}))
			}
		})
	}
	wg.Wait()
	flush(t, l)
	assert.Zero(t, outOfOrder, "callbacks of one goroutine ran out of order")
	assert.Equal(t, producers*each, total)
	for p := range producers {
		assert.Equal(t, each-1, last[p])
	}
}

func TestCallbacksNeverOverlap(t *testing.T) {
	// Many goroutines post, dispatch and add timers; the counter is incremented without a lock.
	// Under -race any concurrent execution is reported; without it, the active gauge catches it.
	l := startLoop(t)
	var active atomic.Int32
	overlaps := 0
	counter := 0
	body := func() {
		if active.Add(1) != 1 {
			overlaps++
		}
		counter++
		active.Add(-1)
	}
	const producers, each = 8, 300
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range each {
				switch (p + i) % 3 {
				case 0:
					assert.True(t, l.Post(body))
				case 1:
					assert.NoError(t, l.Dispatch(context.Background(), body))
				default:
					assert.NotZero(t, l.Delay(0, body))
				}
			}
		})
	}
	wg.Wait()
	// Timers added with Delay(0) are due by now; a later timer runs after all of them.
	done := make(chan struct{})
	require.NotZero(t, l.Delay(time.Millisecond, func() { close(done) }))
	waitClosed(t, done, "all callbacks")
	flush(t, l)
	assert.Zero(t, overlaps)
	assert.Equal(t, producers*each, counter)
}

func TestPostBeforeRunRunsOnceStarted(t *testing.T) {
	l := NewLoop()
	var got []string
	require.True(t, l.Post(func() { got = append(got, "a") }))
	require.True(t, l.Post(func() { got = append(got, "b") }))
	assert.Equal(t, 2, l.Len())
	l.Start()
	t.Cleanup(l.Stop)
	flush(t, l)
	assert.Equal(t, []string{"a", "b"}, got)
	assert.Zero(t, l.Len())
}

func TestPostRejectsNilAndStoppedLoop(t *testing.T) {
	l := startLoop(t)
	assert.False(t, l.Post(nil))
	l.Stop()
	waitClosed(t, l.Done(), "Done")
	ran := false
	assert.False(t, l.Post(func() { ran = true }))
	assert.False(t, ran)
}

func TestPostStopsAtMaxQueued(t *testing.T) {
	l := NewLoop() // not running, so nothing drains the queue
	t.Cleanup(l.Stop)
	noop := func() {}
	for range MaxQueued {
		if !l.Post(noop) {
			require.FailNow(t, "Post failed below MaxQueued", "len=%d", l.Len())
		}
	}
	assert.False(t, l.Post(noop), "Post must refuse work beyond MaxQueued")
	assert.Equal(t, MaxQueued, l.Len())
}

// stall blocks the loop inside a callback until the returned release function is called.
func stall(t *testing.T, l *Loop) (release func()) {
	t.Helper()
	entered := make(chan struct{})
	gate := make(chan struct{})
	require.True(t, l.Post(func() {
		close(entered)
		<-gate
	}))
	waitClosed(t, entered, "the stalling callback")
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	return release
}

func TestDispatchBlocksWhileQueueIsFullAndResumes(t *testing.T) {
	l := startLoop(t)
	release := stall(t, l)

	var producerReturned atomic.Bool
	firstSawProducerReturned := make(chan bool, 1)
	var order []int // touched only on the loop goroutine
	for i := range DispatchHighWater {
		require.NoError(t, l.Dispatch(context.Background(), func() {
			if i == 0 {
				firstSawProducerReturned <- producerReturned.Load()
			}
			order = append(order, i)
		}))
	}
	assert.Equal(t, DispatchHighWater, l.Len())

	// The queue is at the high-water mark: a further Dispatch must wait, here until its context ends,
	// and its callback must never run.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := l.Dispatch(ctx, func() { order = append(order, -1) })
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// A producer without a deadline waits until the loop has drained the queue, then goes on.
	producerDone := make(chan struct{})
	go func() {
		defer close(producerDone)
		assert.NoError(t, l.Dispatch(context.Background(), func() { order = append(order, DispatchHighWater) }))
		producerReturned.Store(true)
	}()
	// Wait until the producer is blocked inside Dispatch.
	deadline := time.Now().Add(waitLimit)
	for waiters := 0; waiters != 1; {
		l.mu.Lock()
		waiters = l.dispatchWaiters
		l.mu.Unlock()
		select {
		case <-producerDone:
			require.FailNow(t, "Dispatch returned while the loop was stalled with a full queue")
		default:
		}
		require.True(t, time.Now().Before(deadline), "the producer never blocked")
		runtime.Gosched()
	}

	release()
	waitClosed(t, producerDone, "the blocked producer to resume")
	flush(t, l)
	// When the loop resumed, the queue was still above the low-water mark, so the producer was
	// still held back.
	assert.False(t, <-firstSawProducerReturned)
	want := make([]int, DispatchHighWater+1)
	for i := range want {
		want[i] = i
	}
	assert.Equal(t, want, order)
}

func TestDispatchReturnsErrStoppedWhenLoopStopsWhileBlocked(t *testing.T) {
	l := startLoop(t)
	release := stall(t, l)
	for range DispatchHighWater {
		require.NoError(t, l.Dispatch(context.Background(), func() {}))
	}
	errc := make(chan error, 1)
	go func() { errc <- l.Dispatch(context.Background(), func() {}) }()
	l.Stop()
	select {
	case err := <-errc:
		assert.ErrorIs(t, err, ErrStopped)
	case <-time.After(waitLimit):
		require.FailNow(t, "Dispatch stayed blocked after Stop")
	}
	release()
	waitClosed(t, l.Done(), "Done")
}

func TestDispatchErrors(t *testing.T) {
	l := startLoop(t)
	assert.ErrorIs(t, l.Dispatch(context.Background(), nil), ErrNilFunc)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	assert.ErrorIs(t, l.Dispatch(ctx, func() { ran = true }), context.Canceled)

	l.Stop()
	waitClosed(t, l.Done(), "Done")
	assert.ErrorIs(t, l.Dispatch(context.Background(), func() { ran = true }), ErrStopped)
	assert.False(t, ran)
}

func TestDispatchWithNilContextQueues(t *testing.T) {
	l := startLoop(t)
	ran := make(chan struct{})
	// A nil context is a caller bug, but it must not panic.
	//lint:ignore SA1012 this test passes nil on purpose: it checks that Dispatch survives it.
	require.NoError(t, l.Dispatch(nil, func() { close(ran) }))
	waitClosed(t, ran, "the dispatched callback")
}

func TestStopFromCallbackSkipsQueuedWork(t *testing.T) {
	l := NewLoop()
	var got []string
	l.Post(func() { got = append(got, "first") })
	l.Post(func() {
		got = append(got, "stopper")
		l.Stop()
		got = append(got, "stopper continues") // Stop does not interrupt the running callback
	})
	l.Post(func() { got = append(got, "never") })
	require.NotZero(t, l.Delay(0, func() { got = append(got, "timer never") }))

	err := l.Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []string{"first", "stopper", "stopper continues"}, got)
	waitClosed(t, l.Done(), "Done")
	assert.Zero(t, l.Len(), "queued callbacks are released after Stop")
	assert.False(t, l.Post(func() {}))
	assert.Zero(t, l.Delay(0, func() {}))
}

func TestStopIsIdempotentAndConcurrent(t *testing.T) {
	l := startLoop(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			l.Stop()
			l.Stop()
		})
	}
	wg.Wait()
	waitClosed(t, l.Done(), "Done")
	l.Stop()
}

func TestStopBeforeRun(t *testing.T) {
	l := NewLoop()
	ran := false
	l.Post(func() { ran = true })
	l.Stop()
	waitClosed(t, l.Done(), "Done after Stop before Run")
	assert.NoError(t, l.Run(context.Background()))
	assert.False(t, ran)
}

func TestRunTwiceFails(t *testing.T) {
	l := NewLoop()
	errc := make(chan error, 1)
	go func() { errc <- l.Run(context.Background()) }()
	flush(t, l) // the first Run is running
	assert.ErrorIs(t, l.Run(context.Background()), ErrLoopReused)
	l.Stop()
	assert.NoError(t, <-errc)
	assert.ErrorIs(t, l.Run(context.Background()), ErrLoopReused, "a stopped loop does not run again")
}

func TestRunEndsWithContext(t *testing.T) {
	l := NewLoop()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- l.Run(ctx) }()
	flush(t, l)
	cancel()
	select {
	case err := <-errc:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(waitLimit):
		require.FailNow(t, "Run did not end with its context")
	}
	waitClosed(t, l.Done(), "Done")
	assert.False(t, l.Post(func() {}))
}

func TestRunWithDoneContextRunsNothing(t *testing.T) {
	l := NewLoop()
	ran := false
	l.Post(func() { ran = true })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, l.Run(ctx), context.Canceled)
	assert.False(t, ran)
	waitClosed(t, l.Done(), "Done")
}

func TestBusyLoopStillStops(t *testing.T) {
	// A callback that re-posts itself forever must not keep Stop or the context from ending Run.
	for _, viaContext := range []bool{false, true} {
		l := NewLoop()
		ctx, cancel := context.WithCancel(context.Background())
		var spin func()
		var spins atomic.Int64
		spin = func() {
			spins.Add(1)
			l.Post(spin)
		}
		l.Post(spin)
		errc := make(chan error, 1)
		go func() { errc <- l.Run(ctx) }()
		for spins.Load() < 100 {
			runtime.Gosched()
		}
		if viaContext {
			cancel()
		} else {
			l.Stop()
		}
		select {
		case err := <-errc:
			if viaContext {
				assert.ErrorIs(t, err, context.Canceled)
			} else {
				assert.NoError(t, err)
			}
		case <-time.After(waitLimit):
			require.FailNow(t, "busy loop did not stop", "viaContext=%v", viaContext)
		}
		cancel()
	}
}

func TestRunWithNilContext(t *testing.T) {
	l := NewLoop()
	l.Post(l.Stop)
	// A nil context is a caller bug, but it must not panic.
	//lint:ignore SA1012 this test passes nil on purpose: it checks that Run survives it.
	assert.NoError(t, l.Run(nil))
}

func TestPanicIsRecoveredAndLoopKeepsRunning(t *testing.T) {
	l := startLoop(t)
	type report struct {
		v     any
		stack []byte
	}
	reports := make(chan report, 2)
	l.SetPanicHandler(func(v any, stack []byte) { reports <- report{v, stack} })

	require.True(t, l.Post(func() { panic("boom") }))
	var nilErr error
	require.True(t, l.Post(func() { _ = nilErr.Error() })) // a runtime error panic
	flush(t, l)

	r := <-reports
	assert.Equal(t, "boom", r.v)
	assert.Contains(t, string(r.stack), "TestPanicIsRecoveredAndLoopKeepsRunning")
	r = <-reports
	var rtErr runtime.Error
	assert.ErrorAs(t, r.v.(error), &rtErr)
}

func TestPanicHandlerPanicIsContained(t *testing.T) {
	l := startLoop(t)
	var buf bytes.Buffer
	var mu sync.Mutex
	restore := captureLog(&buf, &mu)
	defer restore()

	l.SetPanicHandler(func(any, []byte) { panic("handler broke") })
	require.True(t, l.Post(func() { panic("first") }))
	flush(t, l) // the loop survived both panics

	mu.Lock()
	out := buf.String()
	mu.Unlock()
	assert.Contains(t, out, "handler broke")
	assert.Contains(t, out, "first")
}

func TestDefaultPanicHandlerLogsValueAndStack(t *testing.T) {
	l := startLoop(t)
	var buf bytes.Buffer
	var mu sync.Mutex
	restore := captureLog(&buf, &mu)
	defer restore()

	l.SetPanicHandler(func(any, []byte) {})
	l.SetPanicHandler(nil) // back to the default
	require.True(t, l.Post(func() { panic("logged value") }))
	flush(t, l)

	mu.Lock()
	out := buf.String()
	mu.Unlock()
	assert.Contains(t, out, "logged value")
	assert.Contains(t, out, "goroutine ", "the stack is logged")
}

// lockedWriter serializes writes to a buffer that the test also reads.
type lockedWriter struct {
	buf *bytes.Buffer
	mu  *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

// captureLog sends the standard logger to buf until restore is called.
func captureLog(buf *bytes.Buffer, mu *sync.Mutex) (restore func()) {
	prev := log.Writer()
	log.SetOutput(lockedWriter{buf, mu})
	return func() { log.SetOutput(prev) }
}

func TestGoexitInCallbackStopsLoop(t *testing.T) {
	l := NewLoop()
	l.Start()
	require.True(t, l.Post(runtime.Goexit))
	waitClosed(t, l.Done(), "Done after Goexit")
	assert.False(t, l.Post(func() {}))
}

// goroutinesSettleTo waits (briefly, retrying) for the goroutine count to fall to at most n.
func goroutinesSettleTo(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		got := runtime.NumGoroutine()
		if got <= n {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			require.FailNow(t, "goroutines leaked", "have %d, want <= %d\n%s", got, n, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNoGoroutineLeakAfterStop(t *testing.T) {
	before := runtime.NumGoroutine()
	loops := make([]*Loop, 5)
	for i := range loops {
		l := NewLoop()
		l.Start()
		loops[i] = l
		l.Post(func() {})
		l.Repeat(time.Millisecond, func() {})
		l.Delay(time.Hour, func() {})
		ctx, cancel := context.WithCancel(context.Background())
		go func() { _ = l.Dispatch(ctx, func() {}) }()
		defer cancel()
	}
	// A loop run with a context that is never cancelled must not leave its context watcher behind.
	ctxLoop := NewLoop()
	ctxLoopErr := make(chan error, 1)
	go func() { ctxLoopErr <- ctxLoop.Run(context.Background()) }()
	flush(t, ctxLoop)
	for _, l := range loops {
		flush(t, l)
		l.Stop()
		waitClosed(t, l.Done(), "Done")
	}
	ctxLoop.Stop()
	require.NoError(t, <-ctxLoopErr)
	goroutinesSettleTo(t, before)
}

func TestRunAllContextReturnsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	l := Default()
	ran := make(chan struct{})
	require.True(t, l.Post(func() { close(ran) }))
	waitClosed(t, ran, "a callback on the default loop")

	errc := make(chan error, 1)
	go func() { errc <- RunAllContext(ctx) }()
	cancel()
	select {
	case err := <-errc:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(waitLimit):
		require.FailNow(t, "RunAllContext did not return after cancel")
	}
	// RunAllContext stopped the default loop and waited for it.
	select {
	case <-l.Done():
	default:
		require.FailNow(t, "the default loop is still running after RunAllContext returned")
	}
	// The next Default() is a fresh, running loop.
	l2 := Default()
	assert.NotSame(t, l, l2)
	flush(t, l2)
}

func TestDefaultIsShared(t *testing.T) {
	assert.Same(t, Default(), Default())
}

func TestRunAllReturnsWhenLoopStops(t *testing.T) {
	l := NewLoop()
	l.Start()
	gate := make(chan struct{})
	require.True(t, l.Post(func() {
		<-gate
		l.Stop()
	}))
	errc := make(chan error, 1)
	go func() { errc <- runAll(context.Background(), l, make(chan os.Signal)) }()
	close(gate)
	select {
	case err := <-errc:
		assert.NoError(t, err)
	case <-time.After(waitLimit):
		require.FailNow(t, "runAll did not return after the loop stopped")
	}
}

func TestRunAllStopsOnSignal(t *testing.T) {
	l := NewLoop()
	l.Start()
	sig := make(chan os.Signal, 1)
	errc := make(chan error, 1)
	go func() { errc <- runAll(context.Background(), l, sig) }()
	sig <- os.Interrupt
	select {
	case err := <-errc:
		assert.NoError(t, err)
	case <-time.After(waitLimit):
		require.FailNow(t, "runAll did not return after a signal")
	}
	select {
	case <-l.Done():
	default:
		require.FailNow(t, "runAll returned before the loop stopped")
	}
}

func TestRunAllStopsOnRealSIGTERM(t *testing.T) {
	// Catch SIGTERM ourselves too, so a signal sent before RunAllContext has registered its handler
	// cannot kill the test binary; keep signalling until RunAllContext returns.
	guard := make(chan os.Signal, 16)
	signal.Notify(guard, syscall.SIGTERM)
	defer signal.Stop(guard)

	errc := make(chan error, 1)
	go func() { errc <- RunAllContext(context.Background()) }()
	self, err := os.FindProcess(os.Getpid())
	require.NoError(t, err)
	deadline := time.After(waitLimit)
	for {
		require.NoError(t, self.Signal(syscall.SIGTERM))
		select {
		case err := <-errc:
			assert.NoError(t, err)
			return
		case <-deadline:
			require.FailNow(t, "RunAllContext ignored SIGTERM")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestDispatchWaitsUntilLowWaterMark(t *testing.T) {
	// Once the high-water mark is hit, Dispatch callers wait until the queue has drained to half of
	// it, not merely below it, so that producers resume in bursts instead of one slot at a time.
	l := startLoop(t)
	release := stall(t, l)
	inSecond := make(chan struct{})
	gate := make(chan struct{})
	for i := range DispatchHighWater {
		require.NoError(t, l.Dispatch(context.Background(), func() {
			if i == 1 {
				close(inSecond)
				<-gate // stall again with DispatchHighWater-2 items queued
			}
		}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, l.Dispatch(ctx, func() {}), context.DeadlineExceeded) // holds back producers
	release()
	waitClosed(t, inSecond, "the second queued callback")
	require.Equal(t, DispatchHighWater-2, l.Len())

	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	assert.ErrorIs(t, l.Dispatch(ctx2, func() {}), context.DeadlineExceeded,
		"below the high-water mark but above the low-water mark, Dispatch still waits")
	close(gate)
	require.NoError(t, l.Dispatch(context.Background(), func() {}))
	assert.LessOrEqual(t, l.Len(), DispatchHighWater/2+1)
}
