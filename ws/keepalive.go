//go:build !js

package ws

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Errors of a connection that this end gave up on because the peer went
// quiet. The reader gets one of them (wrapped in a *TimeoutError); the peer
// got a close frame with CloseGoingAway, if it could still take one.
var (
	// ErrIdleTimeout: nothing at all arrived for Options.IdleTimeout.
	ErrIdleTimeout = errors.New("ws: peer idle for too long")
	// ErrPongTimeout: after a keepalive ping, nothing (no pong, no other
	// frame) arrived within Options.PongTimeout.
	ErrPongTimeout = errors.New("ws: no pong from peer")
)

// TimeoutError reports that this end failed the connection because the
// peer sent nothing for After. Err is ErrIdleTimeout or ErrPongTimeout, and
// Code the close code sent (CloseGoingAway). It is not a net.Error: unlike a
// read deadline, it ends the connection for good.
type TimeoutError struct {
	Err   error         // ErrIdleTimeout or ErrPongTimeout
	After time.Duration // the silence that was not tolerated
	Code  StatusCode    // the code of the close frame sent
}

// Error says what timed out and after how long.
func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%v: nothing received for %v (sent close %d)", e.Err, e.After, e.Code)
}

// Unwrap exposes the sentinel for errors.Is.
func (e *TimeoutError) Unwrap() error { return e.Err }

// keepalive watches a connection for a silent peer: Options.IdleTimeout
// (nothing received for a while) and Options.PingInterval/PongTimeout (a
// ping every interval, and something back soon after each). It needs no
// goroutine and costs the read path nothing: one timer per connection wakes
// it, and it learns whether the peer sent anything from the byte counter
// the read buffer keeps anyway (readBuffer.received).
type keepalive struct {
	c            *Conn
	idle         time.Duration
	interval     time.Duration
	pongTimeout  time.Duration
	payload      []byte // of the keepalive pings
	mu           sync.Mutex
	timer        *time.Timer
	stopped      bool
	lastRecv     int64     // the byte count the last tick saw
	lastRecvAt   time.Time // when a tick first saw it
	nextIdle     time.Time // the next idle check
	nextPing     time.Time
	awaiting     bool      // a ping went out and nothing came back yet
	pingRecv     int64     // the byte count when it went out
	pingDeadline time.Time // when to give up on it
}

// startKeepalive arms the timer when opts ask for idle detection or pings.
func (c *Conn) startKeepalive(opts *Options) {
	if opts.IdleTimeout <= 0 && opts.PingInterval <= 0 {
		return
	}
	now := time.Now()
	k := &keepalive{c: c, idle: opts.IdleTimeout, interval: opts.PingInterval,
		pongTimeout: opts.pongTimeout(), payload: opts.PingPayload, lastRecvAt: now}
	if k.idle > 0 {
		k.nextIdle = now.Add(k.idleStep())
	}
	if k.interval > 0 {
		k.nextPing = now.Add(k.interval)
	}
	c.keepalive = k
	k.mu.Lock()
	k.timer = time.AfterFunc(k.nextWake(now), k.tick)
	k.mu.Unlock()
}

// idleStep is how often silence is checked for: a quarter of the timeout,
// so the connection fails after between IdleTimeout and 1.25 × IdleTimeout
// without a byte. The counter is only read at these checks, so each one
// knows "something arrived since the last check", not exactly when.
func (k *keepalive) idleStep() time.Duration { return max(k.idle/4, time.Millisecond) }

// nextWake is how long until the earliest pending check.
func (k *keepalive) nextWake(now time.Time) time.Duration {
	var next time.Time
	for _, t := range []time.Time{k.nextIdle, k.nextPing, k.pingDeadline} {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	return max(next.Sub(now), 0)
}

// tick runs on the timer's goroutine. It may send a ping, which can block
// behind a peer that does not read; the next tick is armed first, so the
// pong timeout still fires and, by closing the connection, unblocks it.
func (k *keepalive) tick() {
	c := k.c
	k.mu.Lock()
	if k.stopped {
		k.mu.Unlock()
		return
	}
	now := time.Now()
	recv := c.rb.received.Load()
	if recv != k.lastRecv {
		k.lastRecv, k.lastRecvAt = recv, now
	}
	if k.awaiting && recv != k.pingRecv {
		// Anything from the peer answers the ping: a busy peer may
		// send its pong behind a long message.
		k.awaiting, k.pingDeadline = false, time.Time{}
	}
	var fail *TimeoutError
	switch {
	case k.idle > 0 && now.Sub(k.lastRecvAt) >= k.idle:
		fail = &TimeoutError{Err: ErrIdleTimeout, After: k.idle, Code: CloseGoingAway}
	case k.awaiting && !now.Before(k.pingDeadline):
		fail = &TimeoutError{Err: ErrPongTimeout, After: k.pongTimeout, Code: CloseGoingAway}
	}
	if fail != nil {
		k.stopped = true
		k.mu.Unlock()
		c.giveUp(fail, fail.Code)
		return
	}
	if k.idle > 0 && !now.Before(k.nextIdle) {
		k.nextIdle = now.Add(k.idleStep())
	}
	ping := k.interval > 0 && !now.Before(k.nextPing)
	if ping {
		k.nextPing = now.Add(k.interval)
		if !k.awaiting && k.pongTimeout > 0 {
			k.awaiting, k.pingRecv, k.pingDeadline = true, recv, now.Add(k.pongTimeout)
		}
	}
	k.timer.Reset(k.nextWake(now))
	k.mu.Unlock()
	if ping {
		// A ping that cannot be sent means the connection is failing;
		// the reader reports why.
		_ = c.WriteControl(OpPing, k.payload)
	}
}

// stop disarms the timer; called when the TCP connection closes.
func (k *keepalive) stop() {
	k.mu.Lock()
	k.stopped = true
	if k.timer != nil {
		k.timer.Stop()
	}
	k.mu.Unlock()
}

// localFailure is why this end gave up on a connection (giveUp): what
// every later read, Ping and the reader's pending call report.
type localFailure struct{ err error }

// giveUp fails the connection from outside the read path, for a reason of
// this end's (a silent peer, a read abandoned inside a message): it sends a
// close frame with code if none went out yet and no writer is in the way,
// and closes the TCP connection, which wakes a blocked reader and a blocked
// writer; the reader then returns err, and writers ErrClosed. No closing
// handshake is waited for: a peer this quiet would not answer one. A writer
// holding the frame lock is most likely blocked on that same peer, which is
// not reading; waiting for it would only delay the close, so the close
// frame is then left out.
func (c *Conn) giveUp(err error, code StatusCode) {
	if !c.closing.CompareAndSwap(false, true) {
		return // Close or CloseNow got there first
	}
	c.localErr.Store(&localFailure{err: err})
	if c.writeMu.TryLock() {
		payload, _ := AppendClosePayload(nil, code, "")
		_ = c.conn.SetWriteDeadline(time.Now().Add(c.closeTimeout))
		_ = c.writeCloseFrameLocked(payload)
		c.writeMu.Unlock()
	}
	c.closeTCP()
}

// pongWaiter is one Ping call waiting for its pong.
type pongWaiter struct {
	payload string
	sent    time.Time
	rtt     chan time.Duration // buffered: the reader never blocks on it
}

// pongWaiters matches pongs to Ping calls.
type pongWaiters struct {
	mu      sync.Mutex
	waiting []*pongWaiter
}

// arrived hands a pong to every Ping waiting with the same payload. All of
// them, not only the first: RFC 6455 §5.5.3 lets a peer answer only the
// most recent of several pings, and that pong then answers the earlier ones
// too.
func (w *pongWaiters) arrived(payload []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.waiting) == 0 {
		return
	}
	now := time.Now()
	kept := w.waiting[:0]
	for _, pw := range w.waiting {
		if pw.payload == string(payload) {
			pw.rtt <- now.Sub(pw.sent)
			continue
		}
		kept = append(kept, pw)
	}
	clear(w.waiting[len(kept):])
	w.waiting = kept
}

func (w *pongWaiters) add(pw *pongWaiter) {
	w.mu.Lock()
	w.waiting = append(w.waiting, pw)
	w.mu.Unlock()
}

func (w *pongWaiters) remove(pw *pongWaiter) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, x := range w.waiting {
		if x == pw {
			w.waiting = slices.Delete(w.waiting, i, i+1)
			return
		}
	}
}
