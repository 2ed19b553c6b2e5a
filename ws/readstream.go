//go:build !js

package ws

import (
	"encoding/binary"
	"io"
)

// messageReader is the io.Reader NextReader hands out: the Conn itself under
// another type, so starting a message allocates nothing and the Conn holds
// no pointer to itself; the same reader is returned for every message, and
// it is valid until the next call to NextReader or ReadMessage.
//
// Every Read takes readMu and reads only what the Conn's frame state, under
// that lock, says is left of the open message: nothing is staged outside the
// lock, so no reader, stale or concurrent, can hold a slice of the read
// buffer after the buffer moved on or went back to its pool (readbuf.go).
// A reader kept past the next ReadMessage gets io.EOF, never that message's
// bytes (msgResume below); one kept past the next NextReader is the new
// message's reader, since it is the same value.
type messageReader Conn

// Read reads the open message's payload (after unmasking, decompressing and
// validating it) and returns io.EOF at its end, together with the last bytes
// when it can.
func (r *messageReader) Read(p []byte) (int, error) {
	c := (*Conn)(r)
	c.readMu.Lock()
	// The fast path calls no handler and cannot panic, so it unlocks
	// without a defer.
	if n, eof, ok := c.readBufferedLocked(p); ok {
		c.readMu.Unlock()
		if eof {
			return n, io.EOF
		}
		return n, nil
	}
	return c.readStreamWaitUnlock(p)
}

// readStreamWaitUnlock runs readStreamWaitLocked and releases readMu,
// deferred, since ping and close handlers run inside it.
func (c *Conn) readStreamWaitUnlock(p []byte) (int, error) {
	defer c.readMu.Unlock()
	return c.readStreamWaitLocked(p)
}

// readStreamWaitLocked is Read past its fast path: the frame-by-frame state
// machine, which may wait for the network and meet control frames.
func (c *Conn) readStreamWaitLocked(p []byte) (int, error) {
	if c.readErr != nil {
		return 0, c.readErr
	}
	// msgResume: the open message belongs to a ReadMessageInto that timed
	// out inside it, not to this reader.
	if c.msgOp == 0 || c.msgEOF || c.msgResume {
		return 0, io.EOF
	}
	return c.readMessageLocked(p)
}

// readBufferedLocked is Read's fast path: the open message is a plain
// (uncompressed) one whose current frame has payload left, and some of that
// payload is already in the read buffer. It copies — and, to a server,
// unmasks (RFC 6455 §5.3) — as much as fits into p in one pass, and reports
// eof when that ended the message. Text that must be validated (§8.1), a
// frame boundary, an empty buffer or a failed connection return ok == false
// and take the general path, which applies every rule.
func (c *Conn) readBufferedLocked(p []byte) (n int, eof, ok bool) {
	if c.readErr != nil || c.msgOp == 0 || c.msgEOF || c.msgResume || c.msgDeflt ||
		c.frameLeft <= 0 || (c.msgOp == OpText && c.validateUTF8) {
		return 0, false, false
	}
	b := c.rb.buffered()
	n = min(len(p), len(b))
	if int64(n) > c.frameLeft {
		n = int(c.frameLeft)
	}
	if n == 0 {
		return 0, false, false
	}
	if c.frameMskd {
		c.frameMask = maskCopy(p[:n], b[:n], c.frameMask)
	} else {
		copy(p[:n], b[:n])
	}
	c.rb.discard(n)
	c.frameLeft -= int64(n)
	c.msgLen += int64(n)
	if c.frameLeft == 0 && c.frameFin {
		c.msgEOF = true
		return n, true, true
	}
	return n, false, true
}

// NextReader waits for the next data message and returns its opcode (OpText
// or OpBinary) and a reader for its payload, which streams the message frame
// by frame without holding it in memory. Unread bytes of the previous message
// are discarded. Control frames that arrive meanwhile are answered here
// (RFC 6455 §5.5), so a program that only reads still answers pings and
// closes.
//
// Each NextReader and each Read takes readMu once, unlocking without a defer
// on the fast paths, and keeps no state outside it. What may run
// concurrently with a reader (a goroutine in NextReader, ReadMessage or the
// reader's Read): every write, WriteControl and Ping (the write locks);
// Close and CloseNow (atomics and channels; Close reads the peer's answer
// itself only when TryLock finds no reader); BytesReceived (an atomic); the
// Set* methods (atomic stores, from any goroutine, never waiting). A second
// concurrent reader is misuse, but readMu serialises it with the first, so
// the frame state stays consistent: the messages are split between the two,
// none is corrupted. A reading loop that owns the connection reads without
// the lock through OwnReads (readowner.go).
func (c *Conn) NextReader() (Opcode, io.Reader, error) {
	c.readMu.Lock()
	// The fast path calls no handler and cannot panic, so it unlocks
	// without a defer.
	if op, ok := c.openBufferedFrameLocked(); ok {
		c.readMu.Unlock()
		return op, (*messageReader)(c), nil
	}
	op, err := c.nextReaderWaitUnlock()
	if err != nil {
		return 0, nil, err
	}
	return op, (*messageReader)(c), nil
}

// nextReaderWaitUnlock runs nextReaderWaitLocked and releases readMu,
// deferred, since ping and close handlers run inside it.
func (c *Conn) nextReaderWaitUnlock() (Opcode, error) {
	defer c.readMu.Unlock()
	return c.nextReaderWaitLocked()
}

// nextReaderWaitLocked is NextReader past its fast path: it waits for data
// if there is none (at the top of the read call, see awaitBytesLocked),
// skips what is left of the previous message and reads frame by frame up to
// the next data message, whose opcode it returns.
func (c *Conn) nextReaderWaitLocked() (Opcode, error) {
	if c.idleLocked() {
		if err := c.awaitBytesLocked(); err != nil {
			return 0, err
		}
		if op, ok := c.openBufferedFrameLocked(); ok {
			return op, nil
		}
	}
	c.msgResume = false
	if err := c.startMessageLocked(); err != nil {
		return 0, err
	}
	return c.msgOp, nil
}

// openBufferedFrameLocked is NextReader's fast path: when no message is open
// and the read buffer starts with the whole header of a plain text or binary
// frame that fits the read limit, it consumes the header and opens the
// message, without the general path's ParseHeader and CheckHeader. The
// payload is left where it is, for Read (readBufferedLocked) to copy out;
// it may still be on its way. Any other header — a control frame, a
// continuation, RSV bits, a mask where none belongs, a 64-bit length with
// its top bit set, a length over the limit, an incomplete header — returns
// ok == false, and the general path applies every rule and reports every
// error; FuzzStreamReader holds the two paths to the reference decoder.
func (c *Conn) openBufferedFrameLocked() (Opcode, bool) {
	// readErr first: once the connection failed, the read buffer belongs
	// to the lingering close (closing.go).
	if c.readErr != nil || (c.msgOp != 0 && !c.msgEOF) || c.msgResume {
		return 0, false
	}
	b := c.rb.buffered()
	if len(b) < 2 {
		return 0, false
	}
	// RFC 6455 §5.2: RSV1-3 clear, opcode text (0x1) or binary (0x2); FIN
	// either way (a fragmented message goes on in readRawLocked).
	op := Opcode(b[0] & 0x7F)
	if op != OpText && op != OpBinary {
		return 0, false
	}
	fin := b[0]&0x80 != 0
	// RFC 6455 §5.1: frames to a server are masked, frames to a client are
	// not.
	masked := b[1]&0x80 != 0
	if masked != (c.role == RoleServer) {
		return 0, false
	}
	// RFC 6455 §5.2: a 7-bit length, or 126 and a 16-bit length, or 127 and
	// a 64-bit one whose most significant bit must be 0.
	n, length := 2, uint64(b[1]&0x7F)
	switch length {
	case 126:
		if len(b) < 4 {
			return 0, false
		}
		n, length = 4, uint64(binary.BigEndian.Uint16(b[2:4]))
	case 127:
		if len(b) < 10 {
			return 0, false
		}
		n, length = 10, binary.BigEndian.Uint64(b[2:10])
		if length>>63 != 0 {
			return 0, false
		}
	}
	var key uint32
	if masked {
		if len(b) < n+4 {
			return 0, false
		}
		key = binary.LittleEndian.Uint32(b[n : n+4]) // MaskKeyWord of the wire bytes
		n += 4
	}
	// The limit is checked on the declared length before anything of that
	// size is read, as nextDataFrameLocked does.
	if limit := c.readLimit.Load(); limit >= 0 && int64(length) > limit {
		return 0, false
	}
	c.rb.discard(n)
	c.msgOp, c.msgEOF, c.msgLen, c.msgDeflt = op, false, 0, false
	if op == OpText {
		c.utf8.Reset()
	}
	c.frameLeft, c.frameFin, c.frameMskd, c.frameMask = int64(length), fin, masked, key
	return op, true
}
