package asyncconn

import (
	"time"
)

// This file holds the flow control between an attempt's three parties — the reader goroutine,
// the loop and the writer goroutine — and the rule that nothing the program sent is lost in
// silence when the connection closes.
//
// Reading ahead. The reader hands each message to the loop and reads on. Left alone it would run
// ahead of a slow loop (holding every message read and not yet delivered) and of a slow writer
// (an echo client's replies piling up in the send buffer until they are dropped). So before each
// read it waits for room (waitRoom): while the messages in flight to the loop and the send buffer
// together are past MaxSendBufferSize, it does not read, and TCP's own flow control pushes back on
// the server; so an echo of every message in flight is always accepted. One exception keeps this from ever deadlocking: when the writer has been stuck in one
// write for stuckWrite, the server is not reading what we send — typically because it is itself
// blocked writing to us — and waiting for it would wait for ever; reading then goes on, and the
// send buffer takes what it can, as in Workerman.
//
// Closing. A close that this end did not ask for starts on the reader: the server's close frame
// (answered by package ws) or a protocol violation (failed by package ws with a close frame). RFC
// 6455 §5.5.1 allows no data after our close frame, so before package ws writes it the reader
// runs flushBeforeClose: first the loop runs everything already read (so OnMessage sees the
// message that came before a violation, and its echo is queued), then Send is refused, then the
// writer drains the queue; all of it bounded by CloseTimeout. What could not go out is counted,
// and reported as OnError(SendFail) before OnClose (deliverEnd).

// stuckWrite is how long one write may block before the reader stops waiting for the writer: long
// enough that a server which reads, on a loaded machine, is not taken for one that does not.
const stuckWrite = 500 * time.Millisecond

// notifyLocked wakes the goroutines waiting for the attempt's state to change (waitRoom,
// flushBeforeClose). It costs nothing while nobody waits. c.mu must be held.
func (a *attempt) notifyLocked() {
	if a.wake != nil {
		close(a.wake)
		a.wake = nil
	}
}

// waitChangeLocked waits, with c.mu released, until notifyLocked, the attempt's end, or d has
// passed. c.mu must be held; it is held again on return.
func (a *attempt) waitChangeLocked(d time.Duration) {
	if a.wake == nil {
		a.wake = make(chan struct{})
	}
	ch, abort := a.wake, a.abortedLocked()
	a.c.mu.Unlock()
	t := time.NewTimer(d)
	select {
	case <-ch:
	case <-abort:
	case <-t.C:
	}
	t.Stop()
	a.c.mu.Lock()
}

// sendLimit is MaxSendBufferSize resolved. c.mu must be held.
func (c *Conn) sendLimitLocked() int {
	if c.MaxSendBufferSize <= 0 {
		return DefaultMaxSendBufferSize
	}
	return c.MaxSendBufferSize
}

// waitRoom blocks the reader while reading more would only pile up work: while the messages read
// and not yet delivered, or the frames waiting to be sent, are past MaxSendBufferSize (and, for
// the send buffer, the writer is not stuck, see the file comment). It reports whether the attempt
// goes on.
func (a *attempt) waitRoom() bool {
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for !a.aborted {
		limit := c.sendLimitLocked()
		// Together: then the echo of everything in flight still fits in the send buffer.
		if a.inflight+a.q.bytes+a.q.ctrlBytes < limit {
			return true
		}
		if a.inflight < limit {
			// The send buffer is what is full: wait for the writer, unless it is not running
			// or stuck (see the file comment).
			if !a.writing || a.q.closed {
				return true
			}
			if a.writeSince != 0 && time.Since(time.Unix(0, a.writeSince)) >= stuckWrite {
				return true
			}
		}
		a.waitChangeLocked(stuckWrite)
	}
	return false
}

// flushBeforeClose runs on the reader before package ws writes a close frame of its own accord
// (see the file comment), bounded by the close timeout. barrier is a loop event that sets
// a.closing once everything read before it has run.
func (a *attempt) flushBeforeClose(barrier func(done chan struct{})) {
	c := a.c
	deadline := time.Now().Add(a.closeWait)
	done := make(chan struct{})
	if a.readerEvent(func() { barrier(done) }) {
		c.mu.Lock()
		abort := a.abortedLocked()
		c.mu.Unlock()
		t := time.NewTimer(a.closeWait)
		select {
		case <-done:
		case <-abort:
		case <-c.loop.Done():
		case <-t.C:
		}
		t.Stop()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	a.closing = true // from now on Send says ErrNotOpen
	for !a.aborted && !a.q.closed && (a.q.hasFrames() || a.flushing) {
		left := time.Until(deadline)
		if left <= 0 {
			return // the rest is counted as lost when the attempt ends
		}
		a.waitChangeLocked(left)
	}
}

// bufferEvent is an OnBufferFull (full) or OnBufferDrain waiting for the loop.
type bufferEvent struct {
	a    *attempt
	full bool
}

// postBufferEventLocked queues a buffer event. The events wait in c.bufEvents, in the order the
// buffer changed, and each posted callback runs the oldest one still waiting; readerEvent runs
// all of them ahead of a received message (see there), so each runs exactly once and in order.
// c.mu must be held.
func (c *Conn) postBufferEventLocked(a *attempt, full bool) {
	c.bufEvents = append(c.bufEvents, bufferEvent{a: a, full: full})
	c.loop.Post(func() { c.runBufferEvents(1) })
}

// runBufferEvents runs up to n waiting buffer events (n < 0: all of them), on the loop.
func (c *Conn) runBufferEvents(n int) {
	for ; n != 0; n-- {
		c.mu.Lock()
		if len(c.bufEvents) == 0 {
			c.mu.Unlock()
			return
		}
		ev := c.bufEvents[0]
		c.bufEvents[0] = bufferEvent{}
		c.bufEvents = c.bufEvents[1:]
		if len(c.bufEvents) == 0 {
			c.bufEvents = nil
		}
		c.mu.Unlock()
		if ev.full {
			c.deliverBufferFull(ev.a)
		} else {
			c.deliverBufferDrain(ev.a)
		}
	}
}
