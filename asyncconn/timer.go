package asyncconn

import (
	"container/heap"
	"time"
)

// TimerID identifies a timer of one Loop, so that it can be deleted later, as Workerman's
// Timer::add returns an int for Timer::del. IDs start at 1 and are never reused within a Loop;
// 0 is never a live timer and is what Add returns when it schedules nothing.
type TimerID uint64

// timer is one scheduled callback.
type timer struct {
	id         TimerID
	when       time.Time // next due time, on the monotonic clock
	interval   time.Duration
	fn         func()
	persistent bool
	seq        uint64 // order of Add, to run timers due at the same instant in that order
	round      uint64 // last loop round that ran it, so a zero-interval repeat runs once a round
	index      int    // position in the heap, for heap.Fix and heap.Remove
}

// timerHeap is a min-heap of timers ordered by due time, then by the order they were added.
type timerHeap []*timer

func (h timerHeap) Len() int { return len(h) }

func (h timerHeap) Less(i, j int) bool {
	if !h[i].when.Equal(h[j].when) {
		return h[i].when.Before(h[j].when)
	}
	return h[i].seq < h[j].seq
}

func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *timerHeap) Push(x any) {
	t := x.(*timer)
	t.index = len(*h)
	*h = append(*h, t)
}

func (h *timerHeap) Pop() any {
	old := *h
	n := len(old) - 1
	t := old[n]
	old[n] = nil
	t.index = -1
	*h = old[:n]
	return t
}

// Add schedules fn to run on the loop after interval, like Workerman's Timer::add: once if
// persistent is false, and otherwise again and again until Del. Sub-second intervals work; time is
// measured on the monotonic clock, so changing the wall clock does not move timers (it does in
// Workerman).
//
// A repeating timer is fixed-delay, as in Workerman's Select loop: when it is dispatched, its next
// run is set to that moment plus interval, before fn runs. A slow fn therefore delays later runs
// and never causes a burst of catch-up runs. A zero interval runs fn once per loop round, between
// posted callbacks, which keeps the loop busy until the timer is deleted.
//
// Add returns 0 and schedules nothing if interval is negative (Workerman throws), if fn is nil, or
// if the loop has stopped. It is safe from any goroutine. The callback runs on the loop goroutine;
// a panic in it goes to the panic handler and a repeating timer keeps repeating.
func (l *Loop) Add(interval time.Duration, fn func(), persistent bool) TimerID {
	if interval < 0 || fn == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return 0
	}
	l.lastID++
	l.lastSeq++
	t := &timer{
		id:         l.lastID,
		when:       time.Now().Add(interval),
		interval:   interval,
		fn:         fn,
		persistent: persistent,
		seq:        l.lastSeq,
	}
	heap.Push(&l.timers, t)
	l.timerByID[t.id] = t
	if t.index == 0 {
		// The loop may be sleeping until a later timer: make it recompute its deadline.
		l.wakeLocked()
	}
	return t.id
}

// Repeat schedules fn to run every interval until Del, like Workerman's Timer::repeat. It is
// Add(interval, fn, true).
func (l *Loop) Repeat(interval time.Duration, fn func()) TimerID {
	return l.Add(interval, fn, true)
}

// Delay schedules fn to run once after d, like Workerman's Timer::delay. It is Add(d, fn, false).
func (l *Loop) Delay(d time.Duration, fn func()) TimerID {
	return l.Add(d, fn, false)
}

// Del cancels a timer, like Workerman's Timer::del, and reports whether it was still pending. From
// a timer's own callback it stops a repeating timer (and returns true) or does nothing for a one-shot
// timer (false: it is already running). It is safe from any goroutine; called from outside the loop
// it cannot cancel a run that the loop has already begun.
func (l *Loop) Del(id TimerID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.timerByID[id]
	if !ok {
		return false
	}
	delete(l.timerByID, id)
	heap.Remove(&l.timers, t.index)
	return true
}

// DelAll cancels every pending timer of the loop, like Workerman's Timer::delAll. Callbacks queued
// with Post are not affected.
func (l *Loop) DelAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.clearTimersLocked()
}

// clearTimersLocked drops every timer. l.mu must be held.
func (l *Loop) clearTimersLocked() {
	for i := range l.timers {
		l.timers[i] = nil
	}
	l.timers = nil
	clear(l.timerByID)
}

// popDueLocked takes the earliest timer if it was due at now and has not run in this round,
// reschedules it if it repeats (fixed delay from this moment, before its callback runs) or forgets
// it otherwise, and returns its callback. l.mu must be held.
func (l *Loop) popDueLocked(now time.Time, round uint64) (func(), bool) {
	if len(l.timers) == 0 {
		return nil, false
	}
	t := l.timers[0]
	if t.when.After(now) || t.round == round {
		return nil, false
	}
	if t.persistent {
		t.when = time.Now().Add(t.interval)
		t.round = round
		heap.Fix(&l.timers, 0)
	} else {
		heap.Pop(&l.timers)
		delete(l.timerByID, t.id)
	}
	return t.fn, true
}
