package asyncconn

import (
	"context"
	"testing"
	"time"
)

// benchLoop returns a running loop that is stopped when the benchmark ends.
func benchLoop(b *testing.B) *Loop {
	b.Helper()
	l := NewLoop()
	l.Start()
	b.Cleanup(func() {
		l.Stop()
		<-l.Done()
	})
	return l
}

// drain waits until everything posted to l so far has run.
func drain(b *testing.B, l *Loop) {
	b.Helper()
	done := make(chan struct{})
	for !l.Post(func() { close(done) }) {
		select {
		case <-l.Done():
			b.Fatal("loop stopped")
		case <-time.After(time.Millisecond): // the queue is at MaxQueued: let the loop catch up
		}
	}
	<-done
}

// BenchmarkPost measures posting from one goroutine and running the callbacks on the loop.
func BenchmarkPost(b *testing.B) {
	l := benchLoop(b)
	n := 0
	fn := func() { n++ }
	b.ReportAllocs()
	for b.Loop() {
		for !l.Post(fn) { // only at MaxQueued, if the loop falls that far behind
			drain(b, l)
		}
	}
	drain(b, l)
}

// BenchmarkPostParallel measures many goroutines posting to one loop at once.
func BenchmarkPostParallel(b *testing.B) {
	l := benchLoop(b)
	n := 0
	fn := func() { n++ }
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			for !l.Post(fn) {
				time.Sleep(time.Millisecond)
			}
		}
	})
	drain(b, l)
}

// BenchmarkDispatch measures a producer that respects the high-water mark.
func BenchmarkDispatch(b *testing.B) {
	l := benchLoop(b)
	n := 0
	fn := func() { n++ }
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Dispatch(ctx, fn); err != nil {
			b.Fatal(err)
		}
	}
	drain(b, l)
}

// BenchmarkTimerAddDel measures scheduling and cancelling a timer on a running loop with 1000
// other timers pending.
func BenchmarkTimerAddDel(b *testing.B) {
	l := benchLoop(b)
	fn := func() {}
	for range 1000 {
		l.Delay(time.Hour, fn)
	}
	b.ReportAllocs()
	for b.Loop() {
		id := l.Delay(time.Hour, fn)
		if !l.Del(id) {
			b.Fatal("Del failed")
		}
	}
}
