package asyncconn

import (
	"container/heap"
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// onLoop runs fn on the loop and waits for it, so a test can act from the loop goroutine.
func onLoop(t *testing.T, l *Loop, fn func()) {
	t.Helper()
	done := make(chan struct{})
	require.True(t, l.Post(func() {
		defer close(done)
		fn()
	}))
	waitClosed(t, done, "a callback on the loop")
}

// afterTimers waits until a one-shot timer added now with delay d has run. Timers due earlier have
// run by then, because timers run in order of due time.
func afterTimers(t *testing.T, l *Loop, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	require.NotZero(t, l.Delay(d, func() { close(done) }))
	waitClosed(t, done, "a sentinel timer")
}

func TestDelayRunsOnceOnTheLoop(t *testing.T) {
	l := startLoop(t)
	var mu sync.Mutex
	runs := 0
	fired := make(chan struct{}, 4)
	id := l.Delay(5*time.Millisecond, func() {
		mu.Lock()
		runs++
		mu.Unlock()
		fired <- struct{}{}
	})
	require.NotZero(t, id)
	select {
	case <-fired:
	case <-time.After(waitLimit):
		require.FailNow(t, "one-shot timer never ran")
	}
	afterTimers(t, l, 30*time.Millisecond) // long after a second run would have been due
	mu.Lock()
	assert.Equal(t, 1, runs)
	mu.Unlock()
	assert.False(t, l.Del(id), "a fired one-shot timer is no longer pending")
}

func TestTimersRunInDueOrder(t *testing.T) {
	l := startLoop(t)
	var got []string // touched only on the loop goroutine
	onLoop(t, l, func() {
		l.Delay(30*time.Millisecond, func() { got = append(got, "30ms") })
		l.Delay(10*time.Millisecond, func() { got = append(got, "10ms") })
		l.Delay(20*time.Millisecond, func() { got = append(got, "20ms") })
	})
	afterTimers(t, l, 40*time.Millisecond)
	onLoop(t, l, func() {
		assert.Equal(t, []string{"10ms", "20ms", "30ms"}, got)
	})
}

func TestTimersDueTogetherRunInOrderAdded(t *testing.T) {
	l := NewLoop()
	var got []int
	const n = 50
	// Added before Run, so all of them are due when the first round reaches its timers.
	for i := range n {
		require.NotZero(t, l.Delay(0, func() { got = append(got, i) }))
	}
	l.Start()
	t.Cleanup(l.Stop)
	afterTimers(t, l, time.Millisecond)
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	onLoop(t, l, func() { assert.Equal(t, want, got) })
}

func TestTimersWithEqualDueTimeUseAddOrder(t *testing.T) {
	// Force identical due times to check the tie-break itself, independent of clock resolution.
	l := NewLoop()
	var got []int
	var ids []TimerID
	for i := range 5 {
		ids = append(ids, l.Delay(time.Hour, func() { got = append(got, i) }))
	}
	l.mu.Lock()
	when := time.Now()
	slices.Reverse(l.timers) // the worst order for the tie-break to repair
	for i, tm := range l.timers {
		tm.when = when
		tm.index = i
	}
	heap.Init(&l.timers)
	l.mu.Unlock()
	l.Start()
	t.Cleanup(l.Stop)
	afterTimers(t, l, time.Millisecond)
	onLoop(t, l, func() { assert.Equal(t, []int{0, 1, 2, 3, 4}, got) })
	for _, id := range ids {
		assert.False(t, l.Del(id))
	}
}

func TestTimersRunAfterCallbacksQueuedBeforeThem(t *testing.T) {
	// One round: the callbacks queued at its start, then the timers due at its start.
	l := NewLoop()
	var got []string
	l.Delay(0, func() { got = append(got, "timer") })
	l.Post(func() {
		got = append(got, "post1")
		l.Post(func() { got = append(got, "post from round 1") })
	})
	l.Post(func() { got = append(got, "post2") })
	l.Start()
	t.Cleanup(l.Stop)
	flush(t, l)
	onLoop(t, l, func() {
		assert.Equal(t, []string{"post1", "post2", "timer", "post from round 1"}, got)
	})
}

func TestRepeatRunsUntilDeletedFromItsOwnCallback(t *testing.T) {
	l := startLoop(t)
	const stopAt = 5
	runs := 0
	var id TimerID
	delResult := make(chan bool, 1)
	onLoop(t, l, func() {
		id = l.Repeat(2*time.Millisecond, func() {
			runs++
			if runs == stopAt {
				delResult <- l.Del(id)
			}
		})
		assert.NotZero(t, id)
	})
	select {
	case ok := <-delResult:
		assert.True(t, ok, "Del from a repeating timer's callback reports it pending")
	case <-time.After(waitLimit):
		require.FailNow(t, "repeating timer did not reach its run count")
	}
	afterTimers(t, l, 20*time.Millisecond) // ten more intervals
	onLoop(t, l, func() { assert.Equal(t, stopAt, runs) })
	assert.False(t, l.Del(id))
}

func TestDelInsideOneShotCallbackReportsNotPending(t *testing.T) {
	l := startLoop(t)
	var id TimerID
	res := make(chan bool, 1)
	onLoop(t, l, func() {
		id = l.Delay(0, func() { res <- l.Del(id) })
	})
	select {
	case ok := <-res:
		assert.False(t, ok)
	case <-time.After(waitLimit):
		require.FailNow(t, "timer never ran")
	}
}

func TestRepeatIsFixedDelay(t *testing.T) {
	// The next run is scheduled at dispatch time + interval, before the callback runs; a slow callback
	// therefore gets no burst of catch-up runs. Only lower bounds are asserted, which no scheduling
	// delay can break: between the starts of two runs there is always at least one interval.
	l := startLoop(t)
	const interval = 10 * time.Millisecond
	var starts []time.Time
	done := make(chan struct{})
	var id TimerID
	onLoop(t, l, func() {
		id = l.Repeat(interval, func() {
			starts = append(starts, time.Now())
			if len(starts) == 1 {
				time.Sleep(6 * interval) // a slow callback: five intervals are missed
			}
			if len(starts) == 4 {
				l.Del(id)
				close(done)
			}
		})
	})
	waitClosed(t, done, "four runs")
	onLoop(t, l, func() {
		require.Len(t, starts, 4)
		// A fixed-rate timer would make up the five missed periods with runs 2, 3, 4 back to back.
		for i := 1; i < len(starts); i++ {
			assert.GreaterOrEqual(t, starts[i].Sub(starts[i-1]), interval, "run %d started early", i)
		}
	})
}

func TestSubSecondRepeat(t *testing.T) {
	l := startLoop(t)
	ticks := make(chan struct{}, 100)
	id := l.Repeat(3*time.Millisecond, func() {
		select {
		case ticks <- struct{}{}:
		default:
		}
	})
	require.NotZero(t, id)
	for i := range 5 {
		select {
		case <-ticks:
		case <-time.After(waitLimit):
			require.FailNow(t, "sub-second repeat stalled", "after %d ticks", i)
		}
	}
	assert.True(t, l.Del(id))
}

func TestDelBeforeDueCancels(t *testing.T) {
	l := startLoop(t)
	ran := false
	var id TimerID
	onLoop(t, l, func() {
		id = l.Delay(5*time.Millisecond, func() { ran = true })
	})
	assert.True(t, l.Del(id), "a pending timer is deleted")
	assert.False(t, l.Del(id), "a second Del finds nothing")
	afterTimers(t, l, 20*time.Millisecond)
	onLoop(t, l, func() { assert.False(t, ran) })
	assert.False(t, l.Del(0))
	assert.False(t, l.Del(TimerID(1<<60)))
}

func TestDelAll(t *testing.T) {
	l := startLoop(t)
	ran := 0
	onLoop(t, l, func() {
		l.Delay(2*time.Millisecond, func() { ran++ })
		l.Repeat(time.Millisecond, func() { ran++ })
		l.Add(3*time.Millisecond, func() { ran++ }, false)
		l.DelAll()
	})
	afterTimers(t, l, 20*time.Millisecond)
	onLoop(t, l, func() { assert.Zero(t, ran) })

	// DelAll from a timer callback cancels the timers due in the same round after it.
	deleted := make(chan struct{})
	onLoop(t, l, func() {
		l.Delay(0, func() {
			l.DelAll()
			close(deleted)
		})
		l.Delay(0, func() { ran++ })
		l.Repeat(0, func() { ran++ })
	})
	waitClosed(t, deleted, "the DelAll timer")
	afterTimers(t, l, 10*time.Millisecond)
	onLoop(t, l, func() { assert.Zero(t, ran) })
}

func TestAddRejectsBadArguments(t *testing.T) {
	l := startLoop(t)
	assert.Zero(t, l.Add(-time.Nanosecond, func() {}, false), "negative interval")
	assert.Zero(t, l.Repeat(-time.Second, func() {}))
	assert.Zero(t, l.Delay(time.Second, nil), "nil callback")
	a := l.Delay(time.Hour, func() {})
	b := l.Repeat(time.Hour, func() {})
	assert.NotZero(t, a)
	assert.NotZero(t, b)
	assert.NotEqual(t, a, b)
	l.Stop()
	waitClosed(t, l.Done(), "Done")
	assert.Zero(t, l.Delay(0, func() {}), "a stopped loop schedules nothing")
	assert.False(t, l.Del(a), "Stop discards pending timers")
}

func TestTimersNeverRunAfterStop(t *testing.T) {
	l := NewLoop()
	var got []string
	// Both due in the same round; the first stops the loop, so the second must never run.
	l.Delay(0, func() {
		got = append(got, "stopper")
		l.Stop()
	})
	l.Delay(0, func() { got = append(got, "after stop") })
	l.Delay(time.Millisecond, func() { got = append(got, "later") })
	require.NoError(t, l.Run(context.Background()))
	assert.Equal(t, []string{"stopper"}, got)
}

func TestPendingTimersDiscardedByExternalStop(t *testing.T) {
	l := startLoop(t)
	fired := make(chan struct{}, 1)
	id := l.Delay(20*time.Millisecond, func() { fired <- struct{}{} })
	require.NotZero(t, id)
	l.Stop()
	waitClosed(t, l.Done(), "Done")
	assert.False(t, l.Del(id))
	select {
	case <-fired:
		require.FailNow(t, "a timer ran after Stop")
	case <-time.After(60 * time.Millisecond): // three times its delay
	}
}

func TestTimersAddedBeforeRunFireOnceStarted(t *testing.T) {
	l := NewLoop()
	fired := make(chan struct{})
	require.NotZero(t, l.Delay(time.Millisecond, func() { close(fired) }))
	l.Start()
	t.Cleanup(l.Stop)
	waitClosed(t, fired, "a timer added before Start")
}

func TestAddFromOtherGoroutineWakesSleepingLoop(t *testing.T) {
	l := startLoop(t)
	// The loop sleeps until an hour-long timer; an earlier one added from outside must still fire.
	require.NotZero(t, l.Delay(time.Hour, func() {}))
	flush(t, l)
	fired := make(chan struct{})
	require.NotZero(t, l.Delay(2*time.Millisecond, func() { close(fired) }))
	waitClosed(t, fired, "the earlier timer")
}

func TestTimerPanicKeepsRepeating(t *testing.T) {
	l := startLoop(t)
	panics := make(chan any, 10)
	l.SetPanicHandler(func(v any, _ []byte) {
		select {
		case panics <- v:
		default:
		}
	})
	runs := 0
	done := make(chan struct{})
	var id TimerID
	onLoop(t, l, func() {
		id = l.Repeat(time.Millisecond, func() {
			runs++
			if runs == 3 {
				l.Del(id)
				close(done)
				return
			}
			panic(runs)
		})
	})
	waitClosed(t, done, "the third run after two panics")
	assert.Equal(t, 1, <-panics)
	assert.Equal(t, 2, <-panics)
}

func TestAddAndDelFromManyGoroutines(t *testing.T) {
	l := startLoop(t)
	var wg sync.WaitGroup
	fired := 0 // touched only on the loop goroutine
	for range 8 {
		wg.Go(func() {
			for range 200 {
				id := l.Delay(time.Hour, func() { fired++ })
				assert.NotZero(t, id)
				assert.True(t, l.Del(id))
				assert.NotZero(t, l.Delay(0, func() { fired++ }))
			}
		})
	}
	wg.Wait()
	afterTimers(t, l, time.Millisecond)
	onLoop(t, l, func() { assert.Equal(t, 8*200, fired) })
	l.mu.Lock()
	assert.Empty(t, l.timers)
	assert.Empty(t, l.timerByID)
	l.mu.Unlock()
}

func TestZeroIntervalRepeatRunsOncePerRound(t *testing.T) {
	// A zero-interval repeat must not starve posted callbacks: each round runs the callbacks queued
	// when it began, then the timer once.
	l := startLoop(t)
	var got []string // touched only on the loop goroutine
	done := make(chan struct{})
	var id TimerID
	var post func(k int)
	post = func(k int) {
		got = append(got, "P"+strconv.Itoa(k))
		if k == 5 {
			l.Del(id)
			close(done)
			return
		}
		l.Post(func() { post(k + 1) })
	}
	require.True(t, l.Post(func() {
		id = l.Repeat(0, func() { got = append(got, "T") })
		l.Post(func() { post(1) })
	}))
	waitClosed(t, done, "the posted chain")
	onLoop(t, l, func() {
		assert.Equal(t, []string{"T", "P1", "T", "P2", "T", "P3", "T", "P4", "T", "P5"}, got)
	})
}
