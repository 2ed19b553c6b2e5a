package asyncconn

import (
	"errors"
	"fmt"
	"time"

	"github.com/plainws/plainws/ws"
)

// outMsg is one queued data message.
type outMsg struct {
	op   ws.Opcode
	data []byte
	size int // bytes it counts for in the buffer: the frame as it goes on the wire
}

// sendQueue is a connection's send buffer (Workerman's sendBuffer and tmpWebsocketData in one). It
// is guarded by the Conn's mu. Data messages are bounded by MaxSendBufferSize. Pings and pongs
// wait in a queue of their own, ahead of the data, every one of them in order: each ping of the
// server gets its own pong (RFC 6455 §5.5.2), as Workerman answers each.
type sendQueue struct {
	msgs      []outMsg
	head      int
	bytes     int          // size of the queued messages plus those being written
	full      bool         // OnBufferFull fired and OnBufferDrain has not
	ctrl      []ws.Message // pings and pongs waiting, in the order they were queued
	ctrlBytes int          // their size on the wire
	closeReq  *closeReq    // Close was called: sent after the data queued before it
	closed    bool         // the close frame went out (or was tried): nothing more is sent
}

// closeReq is a closing handshake waiting for the writer.
type closeReq struct {
	code   ws.StatusCode
	reason string
}

func (q *sendQueue) push(m outMsg) {
	if q.head > 0 && q.head == len(q.msgs) {
		q.msgs, q.head = q.msgs[:0], 0
	}
	q.msgs = append(q.msgs, m)
	q.bytes += m.size
}

// hasWork reports whether the writer has something to do.
func (q *sendQueue) hasWork() bool {
	if q.closed {
		return false
	}
	return len(q.ctrl) > 0 || q.head < len(q.msgs) || q.closeReq != nil
}

// hasFrames reports whether pings, pongs or messages wait (a close request aside).
func (q *sendQueue) hasFrames() bool { return len(q.ctrl) > 0 || q.head < len(q.msgs) }

// lost counts the messages still queued, which will never be sent, and drops them.
func (q *sendQueue) dropRest() (msgs, bytes int) {
	for _, m := range q.msgs[q.head:] {
		msgs++
		bytes += len(m.data)
	}
	q.msgs, q.head, q.bytes = nil, 0, 0
	q.ctrl, q.ctrlBytes = nil, 0
	return msgs, bytes
}

// frameSize is how many bytes a client frame with n bytes of payload takes on the wire.
func frameSize(n int) int {
	return ws.Header{Length: int64(n), Masked: true}.Size() + n
}

// Send queues data as one message of the type WebsocketType selects (text by default), like
// Workerman's send(). It is safe from any goroutine and never blocks: the message is copied into
// the send buffer and written by the connection's writer.
//
// Before the upgrade completes (before Connect, in OnConnect, while a ReConnect waits) the message
// waits in the buffer and goes out after the upgrade, in the order of the Send calls.
//
// Send returns ErrSendBufferFull, and OnError(SendFail) follows, when MaxSendBufferSize bytes are
// already waiting; the message is dropped. The send that makes the buffer reach the limit is
// accepted and triggers OnBufferFull. Send returns ErrNotOpen while the connection is closing or
// closed, including the moment between its end and its OnClose (Workerman returns false then,
// without OnError), and once the server's close frame or a protocol violation has been read and
// every callback for what came before it has run.
//
// A message Send accepted goes out before any close frame of ours (RFC 6455 §5.5.1), also when the
// server closes or breaks the protocol first. If it cannot — the TCP connection broke, or the
// buffer did not drain within CloseTimeout — OnError(SendFail) reports it once, with a *LostError
// saying how many messages and bytes were lost, before OnClose.
func (c *Conn) Send(data []byte) error { return c.send(c.WebsocketType.opcode(), data, false) }

// SendString is Send for a string.
func (c *Conn) SendString(s string) error {
	return c.send(c.WebsocketType.opcode(), []byte(s), true)
}

// SendText is Send with a text frame, whatever WebsocketType says. RFC 6455 §5.6: text must be
// UTF-8; the receiver fails the connection otherwise, so it is the caller's duty.
func (c *Conn) SendText(s string) error { return c.send(ws.OpText, []byte(s), true) }

// SendBinary is Send with a binary frame, whatever WebsocketType says.
func (c *Conn) SendBinary(data []byte) error { return c.send(ws.OpBinary, data, false) }

// send queues one message; owned says data is a fresh copy the queue may keep.
func (c *Conn) send(op ws.Opcode, data []byte, owned bool) error {
	c.mu.Lock()
	var q *sendQueue
	a := c.cur
	switch {
	case a != nil && !a.localClose && !a.aborted && !a.closing:
		q = a.q
	case a == nil && c.status == StatusInitial:
		if c.pendingQ == nil {
			c.pendingQ = &sendQueue{}
		}
		q = c.pendingQ
	default:
		c.mu.Unlock()
		return ErrNotOpen
	}
	limit := c.MaxSendBufferSize
	if limit <= 0 {
		limit = DefaultMaxSendBufferSize
	}
	// Buffer events are queued under c.mu, so the loop sees them in the order the buffer changed
	// (the writer queues OnBufferDrain under c.mu too).
	if q.bytes >= limit {
		c.lastErr = ErrSendBufferFull
		c.loop.Post(func() { c.deliverSendFail(a) })
		c.mu.Unlock()
		return ErrSendBufferFull
	}
	if !owned {
		data = append([]byte{}, data...) // the caller may reuse data as soon as Send returns
	}
	q.push(outMsg{op: op, data: data, size: frameSize(len(data))})
	if q.bytes >= limit && !q.full {
		q.full = true
		c.postBufferEventLocked(a, true)
	}
	if a != nil {
		c.kickLocked(a)
	}
	c.mu.Unlock()
	return nil
}

// Ping queues a ping with payload (at most 125 bytes, RFC 6455 §5.5). Pings and pongs go out
// ahead of queued messages and never count against MaxSendBufferSize, so a full buffer cannot
// stop the heartbeat (Workerman bug B9).
func (c *Conn) Ping(payload []byte) error { return c.control(ws.OpPing, payload) }

// Pong queues a pong with payload, typically the payload OnWebSocketPing received (RFC 6455
// §5.5.2: the answer to a ping carries identical application data). Every pong queued is sent,
// in order.
func (c *Conn) Pong(payload []byte) error { return c.control(ws.OpPong, payload) }

func (c *Conn) control(op ws.Opcode, payload []byte) error {
	if len(payload) > ws.MaxControlPayload {
		return fmt.Errorf("asyncconn: %w: %d bytes", ws.ErrControlTooLong, len(payload))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.cur
	if a == nil || a.localClose || a.aborted || a.closing || a.wsc == nil {
		return ErrNotOpen
	}
	c.queueControlLocked(a, op, payload)
	return nil
}

// maxQueuedControl bounds the pings and pongs waiting to be sent, in frames. A server that
// floods pings while not reading our pongs cannot grow the queue past it: the reader stops
// reading while the writer catches up (waitRoom), and when the writer is stuck the oldest pongs
// give way, which RFC 6455 §5.5.3 allows ("only the most recently processed Ping frame").
const maxQueuedControl = 1024

// queueControlLocked queues a ping or pong and wakes the writer. c.mu must be held.
func (c *Conn) queueControlLocked(a *attempt, op ws.Opcode, payload []byte) {
	q := a.q
	if len(q.ctrl) >= maxQueuedControl {
		q.ctrlBytes -= frameSize(len(q.ctrl[0].Data))
		q.ctrl = q.ctrl[1:]
	}
	q.ctrl = append(q.ctrl, ws.Message{Op: op, Data: append([]byte{}, payload...)})
	q.ctrlBytes += frameSize(len(payload))
	c.kickLocked(a)
}

// kickLocked starts the writer goroutine if the connection is upgraded, there is something to
// send, and no writer runs. The writer exits when the queue is empty, so an idle connection has
// no writer goroutine. c.mu must be held.
func (c *Conn) kickLocked(a *attempt) {
	if a.wsc == nil || a.writing || a.ended || !a.q.hasWork() || a.aborted {
		return
	}
	a.writing = true
	a.wg.Add(1)
	go c.writeLoop(a)
}

// writeLoop writes until the queue is empty. Each round takes everything queued — the pings and
// pongs first, then the messages in order — and hands it to ws.Conn.WriteMessages, which gathers
// it into as few socket writes as it can; so the writer keeps up with a reader that takes many
// frames per read, and the buffer fills only when the socket refuses, as in Workerman, where
// send() writes at once. The close frame goes last, once nothing queued before it is left.
func (c *Conn) writeLoop(a *attempt) {
	defer a.wg.Done()
	var batch []ws.Message
	for {
		c.mu.Lock()
		if a.aborted || !a.q.hasWork() {
			a.writing = false
			a.notifyLocked()
			c.mu.Unlock()
			return
		}
		q, wsc := a.q, a.wsc
		if !q.hasFrames() {
			// Only the close frame is left: the closing handshake (RFC 6455 §7.1.2).
			cr := q.closeReq
			q.closeReq, q.closed = nil, true
			a.notifyLocked()
			c.mu.Unlock()
			_ = wsc.Close(cr.code, cr.reason)
			c.mu.Lock()
			a.writing = false
			// After the closing handshake the connection is over; make sure the reader sees it
			// even if the server never closes TCP.
			a.abortLocked()
			c.mu.Unlock()
			return
		}
		batch = batch[:0]
		batch = append(batch, q.ctrl...)
		nctrl := len(q.ctrl)
		q.ctrl, q.ctrlBytes = nil, 0
		dataBytes := 0
		for _, m := range q.msgs[q.head:] {
			batch = append(batch, ws.Message{Op: m.op, Data: m.data})
			dataBytes += m.size
		}
		q.msgs, q.head = nil, 0 // the writer owns them now; an idle connection keeps no queue memory
		a.flushing, a.writeSince = true, time.Now().UnixNano()
		c.mu.Unlock()

		n, err := wsc.WriteMessages(batch)

		c.mu.Lock()
		a.flushing, a.writeSince = false, 0
		q.bytes -= dataBytes
		if err != nil {
			for _, m := range batch[max(n, nctrl):] {
				a.lostMsgs++
				a.lostBytes += len(m.Data)
			}
			if a.lostErr == nil {
				a.lostErr = err
			}
		}
		clear(batch) // let the payloads go
		if q.bytes == 0 && q.full {
			q.full = false
			c.postBufferEventLocked(a, false)
		}
		a.notifyLocked()
		if err != nil {
			a.writing = false
			if !a.quietLocked() && !a.closing && !errors.Is(err, ws.ErrClosed) && a.failCode == 0 {
				// Workerman: a failed write is SEND_FAIL, then the connection is destroyed.
				a.failCode, a.failErr = SendFail, err
			}
			a.abortLocked()
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
}

// Close starts the closing handshake (RFC 6455 §7.1.2) with code and reason, after the messages
// already in the send buffer have gone out, and cancels a pending reconnect (which Workerman's
// close() does not, issue #253). OnClose follows once the server has answered, or CloseTimeout
// has passed; messages still queued then are reported lost (OnError(SendFail), *LostError). Messages that arrive meanwhile are dropped; OnWebSocketClose still reports the
// server's answer. Code 0 sends a close frame without a body.
//
// Before the upgrade completes, Close ends the attempt at once and drops the buffer, as Workerman
// does. With no connection attempt running, Close only cancels a pending reconnect and sets the
// status to StatusClosed; no OnClose fires then. Close returns an error only for a code or reason
// that may not be sent (RFC 6455 §7.4, §5.5: at most 123 bytes of UTF-8).
func (c *Conn) Close(code ws.StatusCode, reason string) error {
	if _, err := ws.AppendClosePayload(nil, code, reason); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.explicitClose = true
	c.cancelReconnectLocked()
	c.pendingQ = nil
	a := c.cur
	if a == nil {
		c.status = StatusClosed
		return nil
	}
	if a.localClose {
		return nil // already closing
	}
	a.localClose = true
	c.status = StatusClosing
	c.closeAttemptLocked(a, &closeReq{code: code, reason: reason})
	return nil
}

// closeAttemptLocked ends an attempt: with a closing handshake after its queued messages when it
// is upgraded and cr is not nil, at once otherwise. c.mu must be held.
func (c *Conn) closeAttemptLocked(a *attempt, cr *closeReq) {
	if a.wsc == nil || cr == nil {
		a.abortLocked()
		return
	}
	if a.q.closeReq == nil && !a.q.closed {
		a.q.closeReq = cr
		// A slow reader must not hold the close back for ever: the flush and the handshake
		// share the close timeout.
		_ = a.wsc.SetWriteDeadline(time.Now().Add(a.closeWait))
	}
	c.kickLocked(a)
}

// Destroy ends the connection at once, without a closing handshake, dropping the send buffer
// (Workerman's destroy()). It also cancels a pending reconnect. OnClose follows for a running
// attempt.
func (c *Conn) Destroy() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.explicitClose = true
	c.cancelReconnectLocked()
	c.pendingQ = nil
	if a := c.closingAtt; a != nil {
		a.destroyed = true
		a.abortLocked()
	}
	a := c.cur
	if a == nil {
		c.status = StatusClosed
		return
	}
	a.localClose, a.destroyed = true, true
	c.status = StatusClosing
	a.abortLocked()
}

// PauseRecv stops reading from the server until ResumeRecv (Workerman's pauseRecv), so that a
// program can push back on a fast server. From the moment it returns no OnMessage, OnWebSocketPing,
// OnWebSocketPong or OnWebSocketClose runs until ResumeRecv: what was already read is held, in
// order. While paused, pings are not answered and a close by the server is not noticed, as in
// Workerman. A reconnected connection starts unpaused.
func (c *Conn) PauseRecv() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a := c.cur; a != nil && !a.paused {
		a.paused = true
		a.resume = make(chan struct{})
	}
}

// ResumeRecv delivers what PauseRecv held, then resumes reading (Workerman's resumeRecv).
func (c *Conn) ResumeRecv() {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.cur
	if a == nil || !a.paused {
		return
	}
	a.paused = false
	if len(a.held) > 0 {
		// Queued before the reader wakes, so held events run before anything it reads next.
		c.loop.Post(func() { c.replay(a) })
	}
	close(a.resume)
}
