//go:build !js

package ws

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"unicode/utf8"
)

// ReadMessage reads one whole message into a new slice.
func (c *Conn) ReadMessage() (Opcode, []byte, error) {
	return c.ReadMessageInto(nil)
}

// ReadMessageInto reads one whole message, appending its payload to
// buf[:0] and growing it only when it is too small, so a caller that passes
// the previous result back reads without allocating. The read limit bounds how
// far it grows. If the read deadline expires mid-message, it returns the bytes
// read so far with the timeout error; passing them back in the next call
// resumes the same message.
func (c *Conn) ReadMessageInto(buf []byte) (Opcode, []byte, error) {
	c.readMu.Lock()
	// The fast path calls no handler and cannot panic, so it unlocks
	// without a defer.
	if op, msg, ok := c.readBufferedFrameLocked(buf); ok {
		c.readMu.Unlock()
		return op, msg, nil
	}
	return c.readMessageWaitUnlock(buf)
}

// readMessageWaitUnlock runs readMessageWaitLocked and releases readMu,
// deferred, since ping and close handlers run inside it.
func (c *Conn) readMessageWaitUnlock(buf []byte) (Opcode, []byte, error) {
	defer c.readMu.Unlock()
	return c.readMessageWaitLocked(buf)
}

// readMessageWaitLocked is ReadMessageInto past its fast path: it waits for
// data if there is none and reads the message frame by frame.
func (c *Conn) readMessageWaitLocked(buf []byte) (Opcode, []byte, error) {
	if c.idleLocked() {
		if err := c.awaitBytesLocked(); err != nil {
			return 0, buf[:0], err
		}
		// What arrives after a wait is most often one whole message.
		if op, msg, ok := c.readBufferedFrameLocked(buf); ok {
			return op, msg, nil
		}
	}
	return c.readMessageIntoLocked(buf)
}

// idleLocked reports whether the reader sits between messages with nothing
// buffered: the state of a connection whose peer is silent.
func (c *Conn) idleLocked() bool {
	return c.readErr == nil && c.rb.r == c.rb.w && !c.msgResume && (c.msgOp == 0 || c.msgEOF)
}

// awaitBytesLocked waits until the peer sends something. The reading
// goroutine of an idle connection spends its life here, so it is called
// from the top of the read calls, where the stack is shallowest: the wait
// then fits in a goroutine's smallest stack (bench/README.md, idle memory).
// A timeout changes nothing and may be retried.
func (c *Conn) awaitBytesLocked() error {
	if err := c.rb.fill(); err != nil {
		return c.readFailedLocked(err)
	}
	return nil
}

// readMessageIntoLocked is ReadMessageInto's general path, frame by frame.
func (c *Conn) readMessageIntoLocked(buf []byte) (Opcode, []byte, error) {
	if c.msgResume && c.msgOp != 0 && !c.msgEOF && c.readErr == nil {
		// The last call timed out mid-message and returned what it had;
		// buf is that, and reading goes on after it.
		c.msgResume = false
	} else {
		c.msgResume = false
		if err := c.startMessageLocked(); err != nil {
			return 0, buf[:0], err
		}
		buf = buf[:0]
	}
	for {
		if len(buf) == cap(buf) && !c.msgDeflt {
			// Before growing, learn whether the message has ended or how
			// long its next frame is: an exact fit must not allocate.
			if _, err := c.readMessageLocked(buf[len(buf):]); err != nil {
				if err == io.EOF {
					return c.msgOp, buf, nil
				}
				c.msgResume = c.readErr == nil
				return c.msgOp, buf, err
			}
		}
		if len(buf) == cap(buf) {
			// Exactly the growth asked for: append's rounding (×1.25
			// past the size classes) would overshoot, and on a 16 MiB
			// message the overshoot and the copy it is made from were
			// 12 MiB of peak memory (bench/README.md, fragment echo).
			grown := make([]byte, len(buf), len(buf)+c.growthLocked(len(buf)))
			copy(grown, buf)
			buf = grown
		}
		n, err := c.readMessageLocked(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return c.msgOp, buf, nil
		}
		if err != nil {
			c.msgResume = c.readErr == nil // a timeout: resumable
			return c.msgOp, buf, err
		}
	}
}

// minGrowth is the first step of a message buffer that must grow: a whole
// read buffer's worth, so a small message needs one allocation.
const minGrowth = DefaultBufferSize

// growthLocked is how many bytes a full message buffer of length n grows
// by. It follows what has arrived, never what the peer declared: a frame
// header may announce 16 MiB and then send nothing, and reserving the
// declared length at once would let a few such headers hold the process's
// memory for bytes that never come (the bug class of trusting a length
// before its bytes exist). The buffer at least doubles, so a message of L
// bytes takes O(log L) steps and about 2L bytes of copying; it takes in at
// once whatever is already buffered, and in the message's final frame it
// never grows past what that frame still declares, so the last step of a
// long message fits it exactly.
//
// Near the read limit, a message whose end is not yet in sight (RFC 6455
// §5.4 gives no total length for a fragmented message) goes to the limit in
// one step: from a quarter of it, doubling would reach the limit in at most
// two more steps, and every step leaves the buffer it copied from as garbage
// the collector has not reclaimed when the next one is allocated. One step
// instead of two cuts the peak of a message that nearly fills the limit from
// about twice the limit to 1.5 times it (bench/README.md, fragment echo), at
// the price of a buffer up to four times what has arrived, never more than the
// limit a server already accepts per connection.
func (c *Conn) growthLocked(n int) int {
	grow := max(n, minGrowth, len(c.rb.buffered()))
	knownRest := !c.msgDeflt && c.frameFin && c.frameLeft > 0
	if knownRest && int64(grow) > c.frameLeft {
		// In the final frame the declared rest is an upper bound: the
		// message cannot need more, so the last step fits exactly.
		grow = int(c.frameLeft)
	}
	limit := c.readLimit.Load()
	if !knownRest && limit > 0 && int64(n) >= limit/4 {
		if room := limit - int64(n); room > int64(grow) && room <= math.MaxInt {
			grow = int(room)
		}
	}
	if limit >= 0 {
		// Never past the read limit: the message cannot get longer.
		if room := limit - int64(n); room > 0 && int64(grow) > room {
			grow = int(room)
		}
	}
	return max(grow, 1)
}

// readBufferedFrameLocked is ReadMessageInto's fast path: when no message is
// open and a whole unfragmented data frame already sits in the read buffer,
// it is checked, copied and unmasked in one step, without the frame-by-frame
// state machine. Anything unusual — a control frame, a fragment, RSV bits, a
// frame not yet complete, a mask where none belongs, text that is not UTF-8,
// a length over the limit — returns ok == false and takes the general path,
// which applies every rule and reports every error; the fuzz targets hold the
// two paths to the same reference decoder.
//
// The header is decoded here rather than by ParseHeader because only one
// shape of it is accepted, and testing for that shape is cheaper than
// decoding every field: this is where the time of a small read goes.
func (c *Conn) readBufferedFrameLocked(buf []byte) (Opcode, []byte, bool) {
	// readErr first: once the connection failed, the read buffer belongs
	// to the lingering close (closing.go).
	if c.readErr != nil || (c.msgOp != 0 && !c.msgEOF) || c.msgResume {
		return 0, nil, false
	}
	b := c.rb.buffered()
	if len(b) < 2 {
		return 0, nil, false
	}
	// RFC 6455 §5.2: FIN set, RSV1-3 clear, opcode text (0x1) or binary
	// (0x2) — a whole message in one frame, with no extension bits.
	op := Opcode(b[0] & 0x0F)
	if b[0] != 0x80|byte(OpText) && b[0] != 0x80|byte(OpBinary) {
		return 0, nil, false
	}
	// RFC 6455 §5.1: frames to a server are masked, frames to a client are
	// not.
	masked := b[1]&0x80 != 0
	if masked != (c.role == RoleServer) {
		return 0, nil, false
	}
	// RFC 6455 §5.2: a 7-bit length, or 126 and a 16-bit length, or 127 and
	// a 64-bit one. A 64-bit length is only taken here when the whole frame
	// is buffered, which rules out the top bit ParseHeader rejects.
	n, length := 2, uint64(b[1]&0x7F)
	switch length {
	case 126:
		if len(b) < 4 {
			return 0, nil, false
		}
		n, length = 4, uint64(binary.BigEndian.Uint16(b[2:4]))
	case 127:
		if len(b) < 10 {
			return 0, nil, false
		}
		n, length = 10, binary.BigEndian.Uint64(b[2:10])
	}
	var key uint32
	if masked {
		if len(b) < n+4 {
			return 0, nil, false
		}
		key = binary.LittleEndian.Uint32(b[n : n+4]) // MaskKeyWord of the wire bytes
		n += 4
	}
	if limit := c.readLimit.Load(); length > uint64(len(b)-n) || (limit >= 0 && int64(length) > limit) {
		return 0, nil, false
	}
	end := n + int(length)
	if int(length) > cap(buf) {
		buf = make([]byte, length) // at most the read buffer's size
	}
	buf = buf[:length]
	if masked {
		maskCopy(buf, b[n:end], key) // unmasked on the way: one pass, not two
	} else {
		copy(buf, b[n:end])
	}
	// RFC 6455 §8.1: a text message is checked whole; a bad one goes the
	// general way, which fails the connection with 1007.
	if op == OpText && c.validateUTF8 && !utf8.Valid(buf) {
		return 0, nil, false
	}
	c.rb.discard(end)
	return op, buf, true
}

// startMessageLocked skips what is left of the current message and reads
// frames up to the first frame of the next data message.
func (c *Conn) startMessageLocked() error {
	if c.readErr != nil {
		return c.readErr
	}
	for c.msgOp != 0 && !c.msgEOF {
		buf := getCtrl()
		_, err := c.readMessageLocked(buf[:])
		putCtrl(buf)
		if err != nil && err != io.EOF {
			return err
		}
	}
	c.msgOp, c.msgEOF = 0, false
	return c.nextDataFrameLocked()
}

// readMessageLocked reads payload of the open message into p: raw bytes, or
// inflated ones for a compressed message (RFC 7692 §7.2.2). It applies the
// read limit to the bytes delivered and validates text as it streams, so bad
// UTF-8 fails at the read that contains it, even mid-fragment (§8.1).
func (c *Conn) readMessageLocked(p []byte) (int, error) {
	var n int
	var err error
	if c.msgDeflt {
		n, err = c.compression.read(c, p)
	} else {
		n, err = c.readRawLocked(p)
	}
	if n > 0 {
		c.msgLen += int64(n)
		if limit := c.readLimit.Load(); c.msgDeflt && limit >= 0 && c.msgLen > limit {
			// RFC 7692 §7.2.2 with our limit: the inflated size counts, so
			// a small frame that inflates past it is stopped here, before
			// more than the limit is ever held.
			return 0, c.failLocked(protocolErr(CloseMessageTooBig, ErrReadLimit, "inflated message over %d bytes", limit))
		}
		if c.msgOp == OpText && c.validateUTF8 && !c.utf8.Write(p[:n]) {
			return 0, c.failLocked(protocolErr(CloseInvalidFramePayloadData, ErrInvalidUTF8, "text message"))
		}
	}
	if err == io.EOF {
		c.msgEOF = true
		// RFC 6455 §8.1: the whole message, not only each piece, must be
		// UTF-8; a sequence cut off at the end fails it.
		if c.msgOp == OpText && c.validateUTF8 && !c.utf8.Complete() {
			return n, c.failLocked(protocolErr(CloseInvalidFramePayloadData, ErrInvalidUTF8, "text message ends inside a character"))
		}
	}
	return n, err
}

// readRawLocked reads payload bytes of the open message across its frames,
// unmasking them, and returns io.EOF after the final frame — together with
// the last bytes when they end it, as io.Reader allows, which spares a
// streaming reader one more call (and lock) per message.
func (c *Conn) readRawLocked(p []byte) (int, error) {
	for c.frameLeft == 0 {
		if c.frameFin {
			return 0, io.EOF
		}
		if err := c.nextDataFrameLocked(); err != nil {
			return 0, err
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > c.frameLeft {
		p = p[:c.frameLeft]
	}
	n, err := c.rb.read(p)
	if n > 0 {
		if c.frameMskd {
			c.frameMask = Mask(p[:n], c.frameMask)
		}
		c.frameLeft -= int64(n)
	}
	if err != nil {
		return n, c.readFailedLocked(err)
	}
	if c.frameLeft == 0 && c.frameFin {
		return n, io.EOF
	}
	return n, nil
}

// nextDataFrameLocked reads frame headers, handling every control frame it
// meets, until it has consumed the header of a data frame that fits the
// message state; the payload is left for readRawLocked.
func (c *Conn) nextDataFrameLocked() error {
	if c.readErr != nil {
		return c.readErr
	}
	for {
		if _, err := c.rb.peek(2); err != nil {
			return c.readFailedLocked(err)
		}
		h, n, err := ParseHeader(c.rb.buffered())
		if err == ErrShortHeader { // the sentinel itself, never wrapped: no errors.Is on the hot path
			var b []byte
			if b, err = c.rb.peek(n); err != nil {
				return c.readFailedLocked(err)
			}
			h, n, err = ParseHeader(b)
		}
		if err != nil {
			// The only parse error left is a 64-bit length with its top
			// bit set (§5.2).
			c.frameLeft = -1 // the frame's end is unknown
			return c.failLocked(protocolErr(CloseProtocolError, err, "frame header"))
		}
		var allowed byte
		if c.compression != nil {
			allowed = Rsv1
		}
		if err := CheckHeader(h, c.role, allowed); err != nil {
			return c.failFrameLocked(err.(*ProtocolError), n, h.Length)
		}
		if h.Opcode.IsControl() {
			// Peek at the whole control frame before consuming any of it,
			// so a read deadline can never leave it half read.
			total := n + int(h.Length)
			b, err := c.rb.peek(total)
			if err != nil {
				return c.readFailedLocked(err)
			}
			buf := getCtrl()
			payload := buf[:h.Length]
			copy(payload, b[n:total])
			c.rb.discard(total)
			if h.Masked {
				Mask(payload, MaskKeyWord(h.Mask))
			}
			err = c.handleControlLocked(h.Opcode, payload)
			putCtrl(buf)
			if err != nil {
				return err
			}
			continue
		}
		// RFC 6455 §5.4: fragments of one message arrive in order, started
		// by a text or binary frame and continued by continuation frames;
		// "a message MUST NOT be interleaved with another" data message.
		if h.Opcode == OpContinuation {
			if c.msgOp == 0 {
				return c.failFrameLocked(protocolErr(CloseProtocolError, ErrUnexpectedContinuation, ""), n, h.Length)
			}
		} else if c.msgOp != 0 {
			return c.failFrameLocked(protocolErr(CloseProtocolError, ErrMessageInterrupted, "%s frame", h.Opcode), n, h.Length)
		}
		if h.Opcode != OpContinuation {
			c.msgOp, c.msgEOF, c.msgLen = h.Opcode, false, 0
			c.msgDeflt = h.Rsv&Rsv1 != 0
			c.utf8.Reset()
			if c.msgDeflt {
				c.compression.startMessage()
			}
		}
		// The limit is checked on the declared length before anything of
		// that size is read or allocated; compressed messages are checked
		// on their inflated size instead.
		if limit := c.readLimit.Load(); !c.msgDeflt && limit >= 0 && h.Length > limit-c.msgLen {
			return c.failFrameLocked(protocolErr(CloseMessageTooBig, ErrReadLimit, "message over %d bytes", limit), n, h.Length)
		}
		c.rb.discard(n)
		c.frameLeft, c.frameFin = h.Length, h.Fin
		c.frameMskd, c.frameMask = h.Masked, MaskKeyWord(h.Mask)
		return nil
	}
}

// handleControlLocked acts on a control frame (RFC 6455 §5.5).
func (c *Conn) handleControlLocked(op Opcode, payload []byte) error {
	switch op {
	case OpPing:
		// §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a
		// Pong frame in response ... [with] identical Application data".
		if h := c.hooks.Load(); h != nil && h.ping != nil {
			h.ping(payload)
			return nil
		}
		// A pong that cannot be sent (the close was sent, or the conn is
		// broken) is not the reader's failure; the next read reports it.
		_ = c.WriteControl(OpPong, payload)
	case OpPong:
		// §5.5.3: a pong needs no answer. It may be the one a Ping call
		// waits for.
		if w := c.pongs.Load(); w != nil {
			w.arrived(payload)
		}
		if h := c.hooks.Load(); h != nil && h.pong != nil {
			h.pong(payload)
		}
	case OpClose:
		code, reason, err := ParseClosePayload(payload)
		if err != nil {
			return c.failLocked(err.(*ProtocolError))
		}
		return c.peerCloseLocked(code, reason)
	}
	return nil
}

// readFailedLocked classifies an error from the network. A timeout leaves
// the state intact and is returned as is, so the caller may read again. Any
// other error ends reading for good.
func (c *Conn) readFailedLocked(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && !c.closing.Load() {
		return err
	}
	if lf := c.localErr.Load(); lf != nil {
		// This end gave up on a silent peer (keepalive.go).
		c.readErr = lf.err
		c.closeTCP()
		return c.readErr
	}
	switch ce := c.peerClose.Load(); {
	case ce != nil:
		c.readErr = ce
	case c.tcpDone.Load():
		c.readErr = ErrClosed
	default:
		if c.closing.Load() {
			c.readErr = fmt.Errorf("%w: %w", ErrCloseTimeout, err)
		} else {
			// RFC 6455 §7.1.5: without a close frame the close code is
			// 1006, abnormal closure.
			c.readErr = fmt.Errorf("%w: %w", ErrAbnormalClosure, err)
		}
	}
	c.closeTCP()
	return c.readErr
}

// failLocked fails the WebSocket connection (RFC 6455 §7.1.7): it makes the
// error sticky for readers, sends a close frame with the error's code if
// none was sent yet, and then closes the TCP connection — not at once but
// after a lingering read (closing.go), so the peer reads that close frame
// instead of a reset. c.frameLeft must say how far the stream is from the
// next frame header (failFrameLocked), or be -1 if that is unknown.
func (c *Conn) failLocked(perr *ProtocolError) error {
	c.readErr = perr
	if h := c.hooks.Load(); h != nil && h.fail != nil && !c.closing.Load() {
		h.fail(perr)
	}
	buf := getCtrl()
	payload, _ := AppendClosePayload(buf[:0], perr.Code, "")
	err := c.writeCloseFrame(payload)
	putCtrl(buf)
	if err != nil {
		// Our close went out before (or cannot go out): nothing to
		// protect by lingering.
		c.closeTCP()
		return perr
	}
	c.lingering.Store(true) // before the read returns: CloseNow must see it
	go c.lingerClose(c.frameLeft)
	return perr
}

// failFrameLocked fails the connection over a frame whose header (n bytes,
// announcing length bytes of payload) was parsed but not consumed: the
// lingering read skips the whole frame to find the next header.
func (c *Conn) failFrameLocked(perr *ProtocolError, n int, length int64) error {
	c.frameLeft = -1
	if length <= maxFrameSkip {
		c.frameLeft = int64(n) + length
	}
	return c.failLocked(perr)
}

// maxFrameSkip is the longest payload the lingering read skips frame-wise;
// a longer one (a hostile 2^62-byte length) is not waited out.
const maxFrameSkip = 1 << 40
