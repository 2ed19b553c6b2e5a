//go:build !js

package ws

import "fmt"

// Message is one entry of WriteMessages: a data message (OpText or OpBinary,
// sent as one frame) or a ping or pong (OpPing, OpPong).
type Message struct {
	Op   Opcode
	Data []byte
}

// WriteMessages sends msgs in order, each as WriteMessage (data) or
// WriteControl (ping, pong) would, but gathered into as few socket writes as
// it can: small frames are built side by side in one pooled buffer of
// 64 KiB and leave together, so a queue of a thousand chat-sized messages
// costs a handful of system calls instead of a thousand. It exists for
// programs and layers that keep a send queue of their own (package asyncconn
// does): draining the whole queue in one call per wake-up lets the writer
// keep up with a reader that takes many frames per read.
//
// It returns how many messages were sent completely. On an error the ones
// from index n on were not sent, although the one at n may have left in
// part, which is why a write error is sticky for the connection. Every
// entry is checked before anything is sent, so a bad opcode or an oversized
// control payload sends nothing. With permessage-deflate negotiated, data
// messages are compressed one by one as WriteMessage does, without
// gathering. Close frames are not accepted: use Close or WriteControl.
func (c *Conn) WriteMessages(msgs []Message) (int, error) {
	for i, m := range msgs {
		switch {
		case m.Op == OpText || m.Op == OpBinary:
		case m.Op == OpPing || m.Op == OpPong:
			if len(m.Data) > MaxControlPayload {
				return 0, fmt.Errorf("%w: message %d: %d bytes", ErrControlTooLong, i, len(m.Data))
			}
		default:
			return 0, fmt.Errorf("%w: WriteMessages with %s", ErrBadOpcode, m.Op)
		}
	}
	if c.compression != nil {
		return c.writeEach(msgs)
	}
	c.writeMu.Lock()
	if c.streaming {
		// A streamed message is open: data must wait for it, frame by
		// frame, as WriteMessage does.
		c.writeMu.Unlock()
		return c.writeEach(msgs)
	}
	defer c.writeMu.Unlock()
	if c.writeErr != nil {
		return 0, c.writeErr
	}
	if c.closeSent {
		return 0, ErrClosed
	}
	pooled := framePool.Get().(*[]byte)
	defer framePool.Put(pooled)
	buf := (*pooled)[:0]
	sent, gathered := 0, 0 // sent: complete on the wire; gathered: in buf
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		n, err := c.conn.Write(buf)
		c.sent.Add(int64(n))
		buf = buf[:0]
		if err != nil {
			c.writeErr = fmt.Errorf("ws: write: %w", err)
			c.closeTCP()
			return c.writeErr
		}
		sent += gathered
		gathered = 0
		return nil
	}
	masked := c.role == RoleClient
	for _, m := range msgs {
		size := MaxHeaderSize + len(m.Data)
		if len(buf)+size > cap(buf) {
			if err := flush(); err != nil {
				return sent, err
			}
		}
		if size > cap(buf) {
			// Too large to gather: on its own, the way WriteMessage
			// sends it (writev or pooled pieces).
			if err := c.writeFrameLocked(true, m.Op, 0, m.Data); err != nil {
				return sent, err
			}
			sent++
			continue
		}
		var key uint32
		if masked {
			key = c.keys.next() // RFC 6455 §5.3: a fresh key per frame
		}
		var hdr [MaxHeaderSize]byte
		hn := putHeader(&hdr, true, 0, m.Op, masked, key, int64(len(m.Data)))
		buf = append(buf, hdr[:hn]...)
		start := len(buf)
		buf = buf[:start+len(m.Data)]
		if masked {
			maskCopy(buf[start:], m.Data, key)
		} else {
			copy(buf[start:], m.Data)
		}
		gathered++
	}
	if err := flush(); err != nil {
		return sent, err
	}
	return sent, nil
}

// writeEach is WriteMessages one message at a time, for the cases that
// cannot gather (compression, an open streamed message).
func (c *Conn) writeEach(msgs []Message) (int, error) {
	for i, m := range msgs {
		var err error
		if m.Op.IsControl() {
			err = c.WriteControl(m.Op, m.Data)
		} else {
			err = c.WriteMessage(m.Op, m.Data)
		}
		if err != nil {
			return i, err
		}
	}
	return len(msgs), nil
}
