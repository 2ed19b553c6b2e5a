package asyncconn

import (
	"net/http"
	"runtime/debug"

	"github.com/plainws/plainws/ws"
)

// Everything in this file runs on the loop goroutine. The connection's goroutines queue events with
// Loop.Dispatch (the reader, which then waits when the loop falls behind: backpressure down to
// the server through TCP) or Loop.Post (Send and the writer, which must never block); the loop
// runs them in the order they were queued, so each connection's callbacks come in the order their
// events happened.
//
// An event of an attempt the program has closed (Close, Destroy) or replaced (ReConnect) is
// dropped, except its OnClose (and, after Close, the server's OnWebSocketClose), so that no
// message of an old connection reaches the program after it moved on.

// call runs a callback. A panic goes to ErrorHandler when set, else to the loop's panic handler;
// either way the bookkeeping around the callback is not skipped and the loop goes on.
func (c *Conn) call(fn func()) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		stack := debug.Stack()
		h := c.ErrorHandler
		if h == nil {
			c.loop.handlePanic(v, stack)
			return
		}
		defer func() {
			if v2 := recover(); v2 != nil {
				c.loop.handlePanic(v2, debug.Stack())
			}
		}()
		h(c, v)
	}()
	fn()
}

// liveLocked reports whether events of a should still reach the program. c.mu must be held.
func (c *Conn) liveLocked(a *attempt) bool {
	return a == c.cur && !a.quietLocked()
}

func (c *Conn) live(a *attempt) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.liveLocked(a)
}

// readerEvent runs an event read from the connection, or holds it while receiving is paused (and
// behind events already held, to keep their order).
//
// Waiting buffer events run first: Workerman fires OnBufferFull inside send(), before the next
// message is read, so the common pattern of calling PauseRecv in OnBufferFull must stop the next
// message here too, not after every message already queued on the loop.
func (c *Conn) readerEvent(a *attempt, fn func()) {
	c.runBufferEvents(-1)
	c.mu.Lock()
	if a.paused || len(a.held) > 0 {
		a.held = append(a.held, fn)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	fn()
}

// replay runs held events until none is left or receiving is paused again.
func (c *Conn) replay(a *attempt) {
	for {
		c.runBufferEvents(-1) // may pause again, as in readerEvent
		c.mu.Lock()
		if a.paused || len(a.held) == 0 {
			c.mu.Unlock()
			return
		}
		fn := a.held[0]
		a.held[0] = nil
		a.held = a.held[1:]
		if len(a.held) == 0 {
			a.held = nil
		}
		c.mu.Unlock()
		fn()
	}
}

// markClosing is the loop's part of flushBeforeClose: everything read before the close has run,
// so from now on Send is refused (ErrNotOpen).
func (c *Conn) markClosing(a *attempt, done chan struct{}) {
	c.mu.Lock()
	a.closing = true
	c.mu.Unlock()
	close(done)
}

func (c *Conn) deliverConnect(a *attempt) {
	c.mu.Lock()
	if !c.liveLocked(a) {
		c.mu.Unlock()
		return
	}
	c.status = StatusEstablished
	c.mu.Unlock()
	if f := c.OnConnect; f != nil {
		c.call(func() { f(c) })
	}
}

func (c *Conn) deliverUpgraded(a *attempt, resp *http.Response) {
	c.mu.Lock()
	if !c.liveLocked(a) {
		c.mu.Unlock()
		return
	}
	c.failures = 0 // a successful upgrade resets the reconnect backoff
	c.mu.Unlock()
	if f := c.OnWebSocketConnect; f != nil {
		c.call(func() { f(c, resp) })
	}
}

func (c *Conn) deliverMessage(a *attempt, op ws.Opcode, data []byte) {
	c.mu.Lock()
	a.inflight -= len(data)
	a.notifyLocked()
	live := c.liveLocked(a)
	c.mu.Unlock()
	if !live {
		return
	}
	f := c.OnMessage
	if f == nil {
		return
	}
	c.msgType = op
	c.call(func() { f(c, data) })
	c.msgType = 0
}

func (c *Conn) deliverPing(a *attempt, payload []byte) {
	c.mu.Lock()
	if !c.liveLocked(a) {
		c.mu.Unlock()
		return
	}
	f := c.OnWebSocketPing
	if f == nil {
		// RFC 6455 §5.5.2: answer with a pong carrying identical application data.
		c.queueControlLocked(a, ws.OpPong, payload)
	}
	c.mu.Unlock()
	if f != nil {
		c.call(func() { f(c, payload) })
	}
}

func (c *Conn) deliverPong(a *attempt, payload []byte) {
	if !c.live(a) {
		return
	}
	if f := c.OnWebSocketPong; f != nil {
		c.call(func() { f(c, payload) })
	}
}

func (c *Conn) deliverWSClose(a *attempt, code ws.StatusCode, reason string) {
	c.mu.Lock()
	ok := a == c.cur && !a.detached // after Close, the server's answer is still reported
	c.mu.Unlock()
	if !ok {
		return
	}
	if f := c.OnWebSocketClose; f != nil {
		c.call(func() { f(c, code, reason) })
	}
}

// deliverEnd reports the end of an attempt: OnError first if it failed (Workerman's emitError,
// with the status CLOSING), then OnClose (with the status CLOSED), then AutoReconnect.
func (c *Conn) deliverEnd(a *attempt, code ErrorCode, err error) {
	c.mu.Lock()
	paused := a.paused
	c.mu.Unlock()
	if !paused {
		c.replay(a) // events read before the end still come first
	}
	c.mu.Lock()
	a.held = nil
	report := code != 0 && !a.quietLocked()
	quiet := a.quietLocked()
	var lost *LostError
	if a.lostMsgs > 0 && !a.destroyed && !a.detached {
		// Destroy drops the buffer on purpose, and a replaced attempt's program moved on; any
		// other loss is reported, after Close too, whose promise was to send the buffer first.
		lost = &LostError{Messages: a.lostMsgs, Bytes: a.lostBytes, Err: a.lostErr}
		if code == SendFail {
			// The write that failed ended the connection: one OnError(SendFail) says both.
			report, err = false, lost
		}
	}
	if err != nil {
		c.lastErr = err
	}
	if a == c.cur {
		c.cur = nil
		c.localAddr = ""
		if report || lost != nil {
			c.status = StatusClosing
		} else {
			c.status = StatusClosed
		}
	}
	if a == c.closingAtt {
		c.closingAtt = nil
		c.localAddr = ""
		if c.reconnPending {
			c.armReconnectLocked()
		}
	}
	c.mu.Unlock()

	if lost != nil {
		c.mu.Lock()
		c.lastErr = lost
		c.mu.Unlock()
		if f := c.OnError; f != nil {
			c.call(func() { f(c, SendFail, lost.Error()) })
		}
		c.mu.Lock()
		if err != nil {
			c.lastErr = err
		}
		c.mu.Unlock()
	}
	if report {
		if f := c.OnError; f != nil {
			c.call(func() { f(c, code, err.Error()) })
		}
	}
	if report || lost != nil {
		c.mu.Lock()
		if c.cur == nil && c.status == StatusClosing {
			c.status = StatusClosed
		}
		c.mu.Unlock()
	}
	if f := c.OnClose; f != nil {
		c.call(func() { f(c) })
	}

	if quiet || !c.AutoReconnect {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.explicitClose && c.cur == nil && c.closingAtt == nil && !c.reconnPending && c.status == StatusClosed {
		c.reconnectLocked(c.policyDelayLocked())
	}
}

func (c *Conn) deliverSendFail(a *attempt) {
	if a != nil {
		c.mu.Lock()
		gone := a.ended && a != c.cur
		c.mu.Unlock()
		if gone {
			return
		}
	}
	if f := c.OnError; f != nil {
		c.call(func() { f(c, SendFail, ErrSendBufferFull.Error()) })
	}
}

func (c *Conn) deliverBufferFull(a *attempt) {
	if f := c.OnBufferFull; f != nil {
		c.call(func() { f(c) })
	}
}

func (c *Conn) deliverBufferDrain(a *attempt) {
	if !c.live(a) {
		return
	}
	if f := c.OnBufferDrain; f != nil {
		c.call(func() { f(c) })
	}
}
