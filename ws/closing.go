//go:build !js

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
	return c.writeCloseFrameLocked(payload)
}

// writeCloseFrameLocked is writeCloseFrame with writeMu held.
func (c *Conn) writeCloseFrameLocked(payload []byte) error {
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
	if lf := c.localErr.Load(); lf != nil {
		// This end gave up first (giveUp sent its close frame and is
		// closing TCP); a close frame that slipped in before TCP went down
		// is the peer's answer to that, not a close of its own: the
		// reader reports why we gave up, whichever it saw first.
		c.readErr = lf.err
		c.closeTCP()
		return lf.err
	}
	ce := &CloseError{Code: code, Reason: reason}
	c.peerClose.Store(ce)
	if h := c.hooks.Load(); h != nil && h.close != nil {
		h.close(code, reason)
	}
	// §5.5.1: "If an endpoint receives a Close frame and did not
	// previously send a Close frame, the endpoint MUST send a Close frame in
	// response ... typically echoing the status code it received." The
	// reason is echoed too, so the peer's logs show its own words.
	var payload []byte
	buf := getCtrl()
	if code != CloseNoStatusReceived {
		payload, _ = AppendClosePayload(buf[:0], code, reason)
	}
	_ = c.writeCloseFrame(payload)
	putCtrl(buf)
	c.readErr = ce
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
		buf := getCtrl()
		for {
			if _, err := c.rb.read(buf[:]); err != nil {
				break
			}
		}
		putCtrl(buf)
	}
	c.closeTCP()
}

// closeTCP closes the network connection once; later calls do nothing.
func (c *Conn) closeTCP() {
	// Signal first: a reader woken by the Close must already see that it
	// was ours, not the peer's.
	if !c.tcpDone.CompareAndSwap(false, true) {
		return
	}
	if ch := c.tcpWait.Swap(&closedChan); ch != nil {
		close(*ch)
	}
	if c.keepalive != nil {
		c.keepalive.stop()
	}
	_ = c.conn.Close()
}

// tcpClosedChan returns a channel closed once the network connection is
// closed, for Close and Ping to wait on. It is made by the first call, not
// by NewConn: an idle connection should not carry a channel (112 bytes) that
// only those two ever wait on; every other check reads tcpDone. Whichever
// of closeTCP and the first call swaps c.tcpWait first wins: closeTCP
// closes the channel it takes out, or leaves closedChan for later callers.
func (c *Conn) tcpClosedChan() <-chan struct{} {
	if p := c.tcpWait.Load(); p != nil {
		return *p
	}
	ch := make(chan struct{})
	if !c.tcpWait.CompareAndSwap(nil, &ch) {
		return *c.tcpWait.Load()
	}
	return ch
}

// closedChan is the channel tcpClosedChan returns after closeTCP: closed
// from the start.
var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// Close runs the closing handshake (RFC 6455 §7.1.2): it sends a close frame
// with code and reason, waits up to the close timeout for the peer's close
// frame (reading and discarding data meanwhile if no other goroutine is
// reading), then closes the TCP connection — at once on a server, after the
// server's TCP close on a client (§7.1.1). Code 0 sends a close frame without
// a body. It returns nil when the handshake completed, ErrCloseTimeout when
// the peer did not answer in time, and ErrClosed if the connection was
// already closing. While a ReadOwner holds the reads, Close leaves the
// peer's answer to the owner; the owning goroutine itself closes with
// ReadOwner.Close, or Close would wait out the close timeout for a read
// that cannot happen.
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
	tcpClosed := c.tcpClosedChan()
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
		case <-tcpClosed:
			if c.peerClose.Load() != nil {
				return nil
			}
			return ErrCloseTimeout
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
//
// On a connection that already failed (a *ProtocolError), the socket is
// closing by itself: after the close frame that failed it, it lingers a
// bounded time (at most CloseTimeout) so that frame reaches the peer rather
// than being destroyed by a reset (lingerClose). CloseNow leaves that to
// finish, so the common "defer c.CloseNow()" in a handler does not undo it.
func (c *Conn) CloseNow() error {
	c.closing.Store(true)
	if c.lingering.Load() {
		return nil
	}
	c.closeTCP()
	return nil
}

// lingerClose ends a connection this end failed (failLocked) without
// destroying the close frame it just sent. Closing the socket at once while
// the peer is still sending — the usual case when a message broke the read
// limit — leaves unread bytes in the kernel, which then answers with a TCP
// reset, and a reset makes the peer's kernel drop whatever it had not yet
// delivered, our close frame included: the peer sees 1006 instead of our
// code. So, as HTTP servers do with a lingering close, it half-closes our
// side (the close frame is the last thing we send, RFC 6455 §5.5.1), reads
// and discards what the peer still sends, and closes the socket when the
// peer's close frame arrives (a server, RFC 6455 §7.1.1: it closes TCP
// first), when the peer closes TCP, or after the close timeout.
//
// It runs on a goroutine of its own, so the read that failed returns at
// once. The sticky read error keeps every other reader away from the read
// buffer, which is this goroutine's from now on. skip is how many bytes
// remain to the next frame header, or -1 if the framing was lost: then it
// only waits for the TCP close.
func (c *Conn) lingerClose(skip int64) {
	defer c.closeTCP()
	if cw, ok := c.conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(c.closeTimeout))
	var scratch [512]byte
	for {
		if skip != 0 {
			p := scratch[:]
			if skip > 0 && skip < int64(len(p)) {
				p = p[:skip]
			}
			n, err := c.rb.read(p)
			if err != nil {
				return
			}
			if skip > 0 {
				skip -= int64(n)
			}
			continue
		}
		if _, err := c.rb.peek(2); err != nil {
			return
		}
		h, n, err := ParseHeader(c.rb.buffered())
		if err == ErrShortHeader {
			var b []byte
			if b, err = c.rb.peek(n); err != nil {
				return
			}
			h, n, err = ParseHeader(b)
		}
		if err != nil || h.Length > maxFrameSkip {
			skip = -1
			continue
		}
		if h.Opcode == OpClose && c.role == RoleServer && h.Length <= MaxControlPayload {
			// The peer's answer: the handshake is complete. Its
			// payload is read too, so that no byte is left unread in
			// the socket to turn our close into a reset.
			_, _ = c.rb.peek(n + int(h.Length))
			return
		}
		// A client waits for the server's TCP close, skipping even the
		// server's close frame.
		c.rb.discard(n)
		skip = h.Length
	}
}
