package ws

import (
	"errors"
	"time"
)

// errCloseSent tells writeCloseFrame's callers that a close frame already
// went out; it never reaches the user.
var errCloseSent = errors.New("ws: close frame already sent")

// writeCloseFrame sends a close frame with payload unless one was sent
// already. It bounds the write by the close timeout, which also unblocks a
// writer stuck on a peer that stopped reading, so closing never hangs.
// RFC 6455 §5.5.1: "the application MUST NOT send any more data frames after
// sending a Close frame" — closeSent enforces that for every writer.
func (c *Conn) writeCloseFrame(payload []byte) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.closeTimeout))
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.closeSent {
		return errCloseSent
	}
	if c.writeErr != nil {
		return c.writeErr
	}
	err := c.writeFrameLocked(true, OpClose, 0, payload)
	c.closeSent = true
	return err
}

// peerCloseLocked completes a closing handshake the peer started, or
// finishes ours, when its close frame arrives (RFC 6455 §5.5.1, §7.1.2–3).
func (c *Conn) peerCloseLocked(code StatusCode, reason string) error {
	c.peerClose = CloseError{Code: code, Reason: reason}
	c.closeOnce.Do(func() { close(c.peerClosed) })
	if c.closeHandler != nil {
		c.closeHandler(code, reason)
	}
	// §5.5.1: "If an endpoint receives a Close frame and did not
	// previously send a Close frame, the endpoint MUST send a Close frame in
	// response ... typically echoing the status code it received." The
	// reason is echoed too, so the peer's logs show its own words.
	var payload []byte
	if code != CloseNoStatusReceived {
		payload, _ = AppendClosePayload(c.ctrl[:0:len(c.ctrl)], code, reason)
	}
	_ = c.writeCloseFrame(payload)
	c.readErr = &c.peerClose
	c.awaitTCPCloseLocked()
	return c.readErr
}

// awaitTCPCloseLocked ends the TCP connection after both close frames have
// passed. RFC 6455 §7.1.1: "the underlying TCP connection, in most normal
// cases, SHOULD be closed first by the server"; the client waits for that,
// a bounded time, discarding anything the server still sends.
func (c *Conn) awaitTCPCloseLocked() {
	if c.role == RoleClient {
		_ = c.conn.SetReadDeadline(time.Now().Add(c.closeTimeout))
		for {
			if _, err := c.rb.read(c.ctrl[:]); err != nil {
				break
			}
		}
	}
	c.closeTCP()
}

// Close runs the closing handshake (RFC 6455 §7.1.2): it sends a close frame
// with code and reason, waits up to the close timeout for the peer's close
// frame (reading and discarding data meanwhile if no other goroutine is
// reading), then closes the TCP connection — at once on a server, after the
// server's TCP close on a client (§7.1.1). Code 0 sends a close frame without
// a body. It returns nil when the handshake completed, ErrCloseTimeout when
// the peer did not answer in time, and ErrClosed if the connection was
// already closing.
func (c *Conn) Close(code StatusCode, reason string) error {
	var buf [MaxControlPayload]byte
	payload, err := AppendClosePayload(buf[:0], code, reason)
	if err != nil {
		return err
	}
	if !c.closing.CompareAndSwap(false, true) {
		return ErrClosed
	}
	deadline := time.Now().Add(c.closeTimeout)
	if err := c.writeCloseFrame(payload); err != nil && err != errCloseSent {
		c.closeTCP()
		return err
	}
	_ = c.conn.SetReadDeadline(deadline)
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for {
		// If nobody is reading, read the peer's answer ourselves;
		// otherwise the reader will meet it and finish the handshake.
		if c.readMu.TryLock() {
			for c.readErr == nil {
				_ = c.startMessageLocked()
			}
			c.readMu.Unlock()
		}
		select {
		case <-c.tcpClosed:
			select {
			case <-c.peerClosed:
				return nil
			default:
				return ErrCloseTimeout
			}
		case <-timer.C:
			c.closeTCP()
			return ErrCloseTimeout
		case <-poll.C:
		}
	}
}

// CloseNow closes the TCP connection at once, without a closing handshake:
// for a peer that cannot be trusted to answer, or a process going down. Both
// readers and writers then get ErrClosed.
func (c *Conn) CloseNow() error {
	c.closing.Store(true)
	c.closeTCP()
	return nil
}
