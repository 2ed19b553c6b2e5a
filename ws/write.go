//go:build !js

package ws

import (
	"errors"
	"fmt"
	"sync"
)

// ErrBadOpcode is returned when a write names an opcode that does not fit
// the call (a control opcode for a message, a data opcode for WriteControl).
var ErrBadOpcode = errors.New("ws: opcode not allowed here")

// pooledFrame is the payload size of the pooled buffers that carry large
// masked frames: a message up to 64 KiB leaves in one write, a larger one in
// 64 KiB pieces up to bigPooledMin.
const pooledFrame = 64 << 10

// pooledPayload is where the payload starts in a pooled buffer; the header
// is right-aligned just before it. A buffer this large is page-aligned, and
// so is the caller's payload when it is a large allocation of its own. Were
// the masked copy written 14 bytes past the source's page offset (the header
// at the start of the buffer), every load would falsely wait on the store
// made 14 bytes earlier (the CPU compares only the low 12 address bits: "4K
// aliasing"), and a 1 MiB frame took about 1.5 times as long. Half a
// page apart, the stores trail the loads by far more than are ever in
// flight. The span of 2 KiB + 64 KiB rounds up to the same 72 KiB of pages as
// the 64 KiB + 14 B it replaces.
const pooledPayload = 2048

// framePool holds fixed-size buffers for large masked frames, so a client
// sends header and payload together without allocating per message, and an
// idle connection holds no write buffer at all.
var framePool = sync.Pool{New: func() any { b := make([]byte, pooledPayload+pooledFrame); return &b }}

// bigPooledFrame is the piece size for frames of bigPooledMin bytes or more,
// taken from bigFramePool. A quarter of the writes of 64 KiB pieces: a 1 MiB
// masked message echoed over loopback took 0.68-0.84 times as long with it
// (bench/README.md, large messages), while at 16 MiB, where the socket
// buffers are the bottleneck, the two were level. Smaller frames keep the
// 64 KiB buffers, so a program that never sends half a megabyte never holds
// a 256 KiB one.
const (
	bigPooledFrame = 256 << 10
	bigPooledMin   = 512 << 10
)

// bigFramePool is framePool for frames of bigPooledMin bytes or more.
var bigFramePool = sync.Pool{New: func() any { b := make([]byte, pooledPayload+bigPooledFrame); return &b }}

// framePiece returns the pool writePooled draws from for a payload of n
// bytes, and the size of the pieces it leaves in.
func framePiece(n int) (*sync.Pool, int) {
	if n >= bigPooledMin {
		return &bigFramePool, bigPooledFrame
	}
	return &framePool, pooledFrame
}

// WriteMessage sends p as one text or binary message in a single frame
// (compressed when permessage-deflate was negotiated and p is over the
// threshold). p is never modified: masking works on a copy. Safe for
// concurrent use; messages never interleave.
func (c *Conn) WriteMessage(op Opcode, p []byte) error {
	if op != OpText && op != OpBinary {
		return fmt.Errorf("%w: WriteMessage with %s", ErrBadOpcode, op)
	}
	if c.compression == nil {
		// Fast path: one frame needs only the frame lock, unless a
		// streamed message is open, whose fragments it must not split.
		c.writeMu.Lock()
		if !c.streaming {
			err := c.writeFrameChecked(true, op, 0, p)
			c.writeMu.Unlock()
			return err
		}
		c.writeMu.Unlock()
	}
	c.msgMu.Lock()
	defer c.msgMu.Unlock()
	if c.compression != nil && c.compression.shouldCompress(len(p)) {
		return c.compression.writeMessage(c, op, p)
	}
	return c.writeFrame(true, op, 0, p)
}

// WriteText sends s as a text message. It is WriteMessage for strings.
func (c *Conn) WriteText(s string) error { return c.WriteMessage(OpText, []byte(s)) }

// WriteControl sends a ping, pong or close frame. Control frames take only
// the frame lock, so they may pass between the fragments of a message being
// streamed (RFC 6455 §5.4). The payload is at most 125 bytes (§5.5). A close
// frame sent here does not start the closing handshake's wait; use Close.
func (c *Conn) WriteControl(op Opcode, payload []byte) error {
	if !op.IsControl() || op.IsReserved() {
		return fmt.Errorf("%w: WriteControl with %s", ErrBadOpcode, op)
	}
	if len(payload) > MaxControlPayload {
		return fmt.Errorf("%w: %d bytes", ErrControlTooLong, len(payload))
	}
	if op == OpClose {
		if _, _, err := ParseClosePayload(payload); err != nil {
			return err
		}
		err := c.writeCloseFrame(payload)
		if err == errCloseSent {
			return ErrClosed
		}
		return err
	}
	return c.writeFrame(true, op, 0, payload)
}

// WritePing sends a ping (RFC 6455 §5.5.2); the pong comes to the pong handler.
func (c *Conn) WritePing(payload []byte) error { return c.WriteControl(OpPing, payload) }

// WritePong sends a pong (RFC 6455 §5.5.3), e.g. from a custom ping handler.
func (c *Conn) WritePong(payload []byte) error { return c.WriteControl(OpPong, payload) }

// writeFrame sends one frame under the frame lock.
func (c *Conn) writeFrame(fin bool, op Opcode, rsv byte, p []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	return c.writeFrameChecked(fin, op, rsv, p)
}

// writeFrameChecked sends one frame unless the connection can no longer
// send; writeMu must be held.
func (c *Conn) writeFrameChecked(fin bool, op Opcode, rsv byte, p []byte) error {
	if c.writeErr != nil {
		return c.writeErr
	}
	if c.closeSent {
		return ErrClosed
	}
	return c.writeFrameLocked(fin, op, rsv, p)
}

// writeFrameLocked puts one frame on the wire: header and payload leave in
// one write, masked with a fresh key on the client side (RFC 6455 §5.3: "The
// masking key ... MUST be unpredictable"). Small frames are built in a
// fixed array inside the Conn; large server frames go out with writev and no
// copy; large client frames are masked while being copied into a pooled
// buffer, never in the caller's slice. Any write error is sticky, since part
// of a frame may have been sent.
func (c *Conn) writeFrameLocked(fin bool, op Opcode, rsv byte, p []byte) error {
	masked := c.role == RoleClient
	var key uint32
	if masked {
		// RFC 6455 §5.1: "a client MUST mask all frames that it sends".
		key = c.keys.next()
	}
	var err error
	fs := c.framesLocked()
	n := putHeader((*[MaxHeaderSize]byte)(fs.small[:MaxHeaderSize]), fin, rsv, op, masked, key, int64(len(p)))
	hdr := fs.small[:n]
	switch {
	case len(hdr)+len(p) <= len(fs.small):
		buf := fs.small[:len(hdr)+len(p)]
		if masked {
			maskCopy(buf[len(hdr):], p, key)
		} else {
			copy(buf[len(hdr):], p)
		}
		var n int
		n, err = c.conn.Write(buf)
		c.sent.Add(int64(n))
	case !masked && len(p) > writevMin:
		fs.iovArr = [2][]byte{hdr, p}
		fs.iov = fs.iovArr[:]
		var n int64
		n, err = fs.iov.WriteTo(c.conn)
		c.sent.Add(n)
		fs.iovArr[1] = nil // do not keep the caller's slice alive
	default:
		err = c.writePooled(hdr, masked, key, p)
	}
	if err != nil {
		c.writeErr = fmt.Errorf("ws: write: %w", err)
		c.closeTCP()
		return c.writeErr
	}
	return nil
}

// writevMin is the payload size from which an unmasked frame leaves with
// writev (header and payload as two buffers, no copy) rather than copied
// behind its header in a pooled buffer. Below it the copy is the cheaper of
// the two: on loopback TCP a writev of header + 1 KiB cost about twice a
// write of the same bytes (bench/README.md, pipelined 1 KiB), while copying
// 16 KiB takes under a microsecond.
const writevMin = 16 << 10

// writePooled sends a frame too large for the Conn's small array: header
// and payload are copied (a client's masked on the way, in one pass) into a
// pooled buffer and leave in one write per piece (framePiece: 64 KiB, or
// 256 KiB from 512 KiB up). Every piece's payload starts at pooledPayload
// and the pieces are a whole number of pages, so the source and the copy
// keep the same page offsets from the first piece to the last.
func (c *Conn) writePooled(hdr []byte, masked bool, key uint32, p []byte) error {
	pool, piece := framePiece(len(p))
	pooled := pool.Get().(*[]byte)
	defer pool.Put(pooled)
	buf := (*pooled)[:pooledPayload+piece]
	start := pooledPayload - copy(buf[pooledPayload-len(hdr):pooledPayload], hdr)
	for len(p) > 0 {
		k := min(len(p), piece)
		if masked {
			key = maskCopy(buf[pooledPayload:pooledPayload+k], p[:k], key)
		} else {
			copy(buf[pooledPayload:pooledPayload+k], p[:k])
		}
		n, err := c.conn.Write(buf[start : pooledPayload+k])
		c.sent.Add(int64(n))
		if err != nil {
			return err
		}
		p = p[k:]
		start = pooledPayload
	}
	return nil
}

// messageWriter streams one message as fragments (RFC 6455 §5.4). It lives
// in the Conn, so NextWriter allocates nothing after the first message.
type messageWriter struct {
	c      *Conn
	op     Opcode // opcode of the next frame: the message's, then continuation
	buf    []byte
	active bool
	deflt  bool
}

// NextWriter starts a message of type op and returns a writer that sends it
// as fragments of up to the write buffer size; Close sends the final
// fragment. Until then other data messages wait, while control frames (e.g.
// the pong to a ping) still pass. The writer must be closed.
func (c *Conn) NextWriter(op Opcode) (*MessageWriter, error) {
	if op != OpText && op != OpBinary {
		return nil, fmt.Errorf("%w: NextWriter with %s", ErrBadOpcode, op)
	}
	c.msgMu.Lock()
	c.writeMu.Lock()
	c.streaming = true
	c.writeMu.Unlock()
	if c.mw == nil {
		c.mw = &messageWriter{c: c}
	}
	mw := c.mw
	mw.op, mw.active = op, true
	mw.deflt = c.compression != nil && c.compression.streamCompress()
	if mw.buf == nil {
		mw.buf = make([]byte, 0, c.fragSize)
	}
	if mw.deflt {
		c.compression.startWriter(c, op)
	}
	return (*MessageWriter)(mw), nil
}

// MessageWriter is the io.WriteCloser returned by NextWriter.
type MessageWriter messageWriter

// Write buffers p and sends full buffers as fragments.
func (w *MessageWriter) Write(p []byte) (int, error) {
	mw := (*messageWriter)(w)
	if !mw.active {
		return 0, fmt.Errorf("%w: message writer already closed", ErrClosed)
	}
	if mw.deflt {
		return mw.c.compression.writerWrite(p)
	}
	return mw.write(p)
}

// write buffers p and sends every full fragment that more bytes follow; the
// last fragment stays buffered, since only Close knows it is the final one
// (RFC 6455 §5.4: FIN is set on the last frame). Whole fragments inside p
// leave straight from p, gathered by sendFragments, without passing through
// the buffer.
func (mw *messageWriter) write(p []byte) (int, error) {
	n := 0
	frag := cap(mw.buf)
	for len(p) > 0 {
		if len(mw.buf) == frag {
			if err := mw.flush(false, 0); err != nil {
				return n, err
			}
		}
		if len(mw.buf) == 0 && len(p) > frag {
			// Whole fragments, all but the last one p completes.
			k := (len(p) - 1) / frag * frag
			err := mw.c.sendFragments(mw.op, p[:k], frag)
			mw.op = OpContinuation
			if err != nil {
				return n, err
			}
			p = p[k:]
			n += k
		}
		k := copy(mw.buf[len(mw.buf):frag], p)
		mw.buf = mw.buf[:len(mw.buf)+k]
		p = p[k:]
		n += k
	}
	return n, nil
}

// gatherMax is the largest fragment sendFragments gathers with others into
// one write; larger ones leave one per write, as a single frame would
// (writev for a server, a pooled masked copy for a client), since a
// system call per 16 KiB or more costs little next to the copy.
const gatherMax = writevMin

// sendFragments sends p as len(p)/frag non-final fragments of frag bytes,
// the first with opcode op and the rest as continuations (RFC 6455 §5.4).
// Small fragments are built side by side in a pooled buffer (a client's
// masked with a fresh key each, §5.3) and leave up to 64 KiB per write: a
// 1 MiB message cut into 256-byte fragments costs 17 system calls instead
// of 4096. The frame lock is taken per write, so control frames may still
// pass between the fragments (§5.4).
func (c *Conn) sendFragments(op Opcode, p []byte, frag int) error {
	if frag > gatherMax {
		for ; len(p) > 0; p = p[frag:] {
			if err := c.writeFrame(false, op, 0, p[:frag]); err != nil {
				return err
			}
			op = OpContinuation
		}
		return nil
	}
	pooled := framePool.Get().(*[]byte)
	defer framePool.Put(pooled)
	masked := c.role == RoleClient
	for len(p) > 0 {
		c.writeMu.Lock()
		if err := c.writeOpen(); err != nil {
			c.writeMu.Unlock()
			return err
		}
		buf := (*pooled)[:0]
		for len(p) > 0 && len(buf)+MaxHeaderSize+frag <= cap(buf) {
			var key uint32
			if masked {
				key = c.keys.next()
			}
			hn := putHeader((*[MaxHeaderSize]byte)(buf[len(buf):len(buf)+MaxHeaderSize]), false, 0, op, masked, key, int64(frag))
			start := len(buf) + hn
			buf = buf[:start+frag]
			if masked {
				maskCopy(buf[start:], p[:frag], key)
			} else {
				copy(buf[start:], p[:frag])
			}
			op = OpContinuation
			p = p[frag:]
		}
		err := c.writeAllLocked(buf)
		c.writeMu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// writeOpen reports why the connection can no longer send, or nil;
// writeMu must be held.
func (c *Conn) writeOpen() error {
	if c.writeErr != nil {
		return c.writeErr
	}
	if c.closeSent {
		return ErrClosed
	}
	return nil
}

// writeAllLocked writes buf, whole frames, to the socket; writeMu must be
// held. An error is sticky and closes the TCP connection, since part of a
// frame may have been sent.
func (c *Conn) writeAllLocked(buf []byte) error {
	n, err := c.conn.Write(buf)
	c.sent.Add(int64(n))
	if err != nil {
		c.writeErr = fmt.Errorf("ws: write: %w", err)
		c.closeTCP()
		return c.writeErr
	}
	return nil
}

// flush sends the buffered bytes as one fragment.
func (mw *messageWriter) flush(fin bool, rsv byte) error {
	err := mw.c.writeFrame(fin, mw.op, rsv, mw.buf)
	mw.op = OpContinuation
	mw.buf = mw.buf[:0]
	return err
}

// Close sends the final fragment and lets the next message go.
func (w *MessageWriter) Close() error {
	mw := (*messageWriter)(w)
	if !mw.active {
		return fmt.Errorf("%w: message writer already closed", ErrClosed)
	}
	mw.active = false
	defer func() {
		mw.c.writeMu.Lock()
		mw.c.streaming = false
		mw.c.writeMu.Unlock()
		mw.c.msgMu.Unlock()
	}()
	if mw.deflt {
		return mw.c.compression.writerClose()
	}
	return mw.flush(true, 0)
}
