package ws

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
)

// ErrBadOpcode is returned when a write names an opcode that does not fit
// the call (a control opcode for a message, a data opcode for WriteControl).
var ErrBadOpcode = errors.New("ws: opcode not allowed here")

// maxPooledFrame bounds the one-shot buffers used to send a large masked
// frame in a single write; bigger payloads go out in pieces of this size.
const maxPooledFrame = 1 << 20

// framePool holds buffers for large masked frames, so a client sends header
// and payload in one write without allocating per message.
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// WriteMessage sends p as one text or binary message in a single frame
// (compressed when permessage-deflate was negotiated and p is over the
// threshold). p is never modified: masking works on a copy. Safe for
// concurrent use; messages never interleave.
func (c *Conn) WriteMessage(op Opcode, p []byte) error {
	if op != OpText && op != OpBinary {
		return fmt.Errorf("%w: WriteMessage with %s", ErrBadOpcode, op)
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
	if c.writeErr != nil {
		return c.writeErr
	}
	if c.closeSent {
		return ErrClosed
	}
	return c.writeFrameLocked(fin, op, rsv, p)
}

// writeFrameLocked puts one frame on the wire: header and payload leave in
// one write when they fit, masked with a fresh key on the client side
// (RFC 6455 §5.3: "The masking key ... MUST be unpredictable"). Any write
// error is sticky, since part of a frame may have been sent.
func (c *Conn) writeFrameLocked(fin bool, op Opcode, rsv byte, p []byte) error {
	h := Header{Fin: fin, Rsv: rsv, Opcode: op, Length: int64(len(p))}
	var err error
	if c.role == RoleClient {
		// RFC 6455 §5.1: "a client MUST mask all frames that it sends".
		key := c.keys.next()
		h.Masked = true
		binary.LittleEndian.PutUint32(h.Mask[:], key)
		err = c.writeMasked(h, key, p)
	} else {
		buf := AppendHeader(c.wbuf[:0], h)
		if len(p) <= cap(buf)-len(buf) {
			_, err = c.conn.Write(append(buf, p...))
		} else {
			// Large server frames go out with writev, without copying.
			c.iovArr = [2][]byte{buf, p}
			c.iov = c.iovArr[:]
			_, err = c.iov.WriteTo(c.conn)
			c.iovArr[1] = nil // do not keep the caller's slice alive
		}
	}
	if err != nil {
		c.writeErr = fmt.Errorf("ws: write: %w", err)
		c.closeTCP()
		return c.writeErr
	}
	return nil
}

// writeMasked copies the payload into a buffer while masking it (the caller's
// slice stays as it was) and writes header and payload together.
func (c *Conn) writeMasked(h Header, key uint32, p []byte) error {
	buf := AppendHeader(c.wbuf[:0], h)
	if len(p) <= cap(buf)-len(buf) {
		start := len(buf)
		buf = append(buf, p...)
		Mask(buf[start:], key)
		_, err := c.conn.Write(buf)
		return err
	}
	pooled := framePool.Get().(*[]byte)
	defer framePool.Put(pooled)
	big := append((*pooled)[:0], buf...)
	for len(p) > 0 {
		n := min(len(p), maxPooledFrame-len(big))
		start := len(big)
		big = append(big, p[:n]...)
		key = Mask(big[start:], key)
		p = p[n:]
		if _, err := c.conn.Write(big); err != nil {
			*pooled = big[:0]
			return err
		}
		big = big[:0]
	}
	*pooled = big[:0]
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
	mw := &c.mw
	mw.op, mw.active = op, true
	mw.deflt = c.compression != nil && c.compression.streamCompress()
	if mw.buf == nil {
		mw.buf = make([]byte, 0, cap(c.wbuf))
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

func (mw *messageWriter) write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if len(mw.buf) == cap(mw.buf) {
			if err := mw.flush(false, 0); err != nil {
				return n, err
			}
		}
		k := copy(mw.buf[len(mw.buf):cap(mw.buf)], p)
		mw.buf = mw.buf[:len(mw.buf)+k]
		p = p[k:]
		n += k
	}
	return n, nil
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
	defer mw.c.msgMu.Unlock()
	if mw.deflt {
		return mw.c.compression.writerClose()
	}
	return mw.flush(true, 0)
}
