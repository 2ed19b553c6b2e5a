//go:build !js

package ws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// ErrAbandoned is wrapped by the error of a context-bound read that was
// cancelled inside a message: the rest of the message was never read, so
// this end gave up on the connection (the peer got a close frame with
// CloseGoingAway). It also wraps the context's error.
var ErrAbandoned = errors.New("ws: read cancelled inside a message; connection closed")

// The context-aware calls below cost one context.AfterFunc per call and no
// goroutine: when the context ends, the connection's read (or write)
// deadline is set in the past, which wakes the blocked system call at once,
// and afterwards the deadline the program last set with SetReadDeadline (or
// SetWriteDeadline) is put back. A deadline set by another goroutine while
// such a call runs is therefore overwritten when it returns: use either
// contexts or deadlines for one direction at a time. The deadline-based API
// is the allocation-free one, for hot paths.

// pastDeadline wakes a blocked read or write at once.
var pastDeadline = time.Unix(1, 0)

// watchCtx arms ctx: once it is done, set moves the deadline to the past.
// disarm reports whether that happened; when it did, it has finished.
func watchCtx(ctx context.Context, set func(time.Time) error) (disarm func() bool) {
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = set(pastDeadline)
		close(fired)
	})
	return func() bool {
		if stop() {
			return false
		}
		<-fired
		return true
	}
}

// restoreDeadline puts back the deadline the program set last (0: none),
// unless the connection is closing and its own deadlines are in force.
func (c *Conn) restoreDeadline(set func(time.Time) error, saved int64) {
	if c.closing.Load() {
		return
	}
	var t time.Time
	if saved != 0 {
		t = time.Unix(0, saved)
	}
	_ = set(t)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// insideMessage reports whether a message has been started and not read to
// its end, i.e. whether a read that stops now leaves the stream mid-message.
func (c *Conn) insideMessage() bool {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	return c.readErr == nil && c.msgOp != 0 && !c.msgEOF
}

// abandon fails the connection for a read cancelled inside a message.
func (c *Conn) abandon(cause error) error {
	err := fmt.Errorf("%w: %w", ErrAbandoned, cause)
	c.readMu.Lock()
	if c.readErr == nil {
		c.readErr = err
	}
	c.readMu.Unlock()
	c.giveUp(err, CloseGoingAway)
	return err
}

// readCancelled turns the outcome of a read whose context ended into the
// error to report: ctx.Err() between messages (the connection stays usable,
// as after a read deadline), an ErrAbandoned failure inside one.
func (c *Conn) readCancelled(ctx context.Context, err error) error {
	c.restoreDeadline(c.conn.SetReadDeadline, c.savedDeadline(false))
	if err == nil || !isTimeout(err) {
		return err
	}
	if c.insideMessage() {
		return c.abandon(ctx.Err())
	}
	return ctx.Err()
}

// ReadMessageContext is ReadMessageInto bounded by ctx. When ctx ends before
// the message has begun, it returns ctx.Err() and the connection stays
// usable, as after a read deadline. When ctx ends inside a message, the
// bytes read so far are returned with an error wrapping ErrAbandoned and
// ctx.Err(), and the connection is closed: a program that gives up on a
// message half-way has lost its place in the stream. (With a read deadline
// instead, a message can be resumed: see ReadMessageInto.)
//
// The context works through the read deadline, with no goroutine per call:
// when ctx ends, the deadline is moved to the past, which wakes the read at
// once; when the call returns, the deadline last set with SetReadDeadline is
// put back. A SetReadDeadline made by another goroutine during the call is
// therefore undone when it returns: use either contexts or deadlines for
// reading, not both at once. WriteMessageContext does the same with the
// write deadline.
func (c *Conn) ReadMessageContext(ctx context.Context, buf []byte) (Opcode, []byte, error) {
	if ctx.Done() == nil {
		return c.ReadMessageInto(buf)
	}
	if err := ctx.Err(); err != nil {
		return 0, buf[:0], err
	}
	disarm := watchCtx(ctx, c.conn.SetReadDeadline)
	op, msg, err := c.ReadMessageInto(buf)
	if disarm() {
		err = c.readCancelled(ctx, err)
	}
	return op, msg, err
}

// NextReaderContext is NextReader bounded by ctx: ctx covers the wait for
// the next message to begin, not the reads from the returned reader (which
// obey SetReadDeadline). Cancelled while waiting, it returns ctx.Err() and
// the connection stays usable; cancelled while skipping the unread rest of
// the previous message, it fails the connection as ReadMessageContext does.
func (c *Conn) NextReaderContext(ctx context.Context) (Opcode, io.Reader, error) {
	if ctx.Done() == nil {
		return c.NextReader()
	}
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	disarm := watchCtx(ctx, c.conn.SetReadDeadline)
	op, r, err := c.NextReader()
	if disarm() {
		if err = c.readCancelled(ctx, err); err != nil {
			return 0, nil, err
		}
	}
	return op, r, err
}

// lockCtx takes mu, giving up when ctx ends. Waiting polls, since a
// sync.Mutex cannot be selected on; it is used only where the lock is held
// by a writer that is itself blocked, so the 1 ms step costs nothing.
func lockCtx(ctx context.Context, try func() bool) error {
	if try() {
		return nil
	}
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if try() {
				return nil
			}
		}
	}
}

// WriteMessageContext is WriteMessage bounded by ctx. Waiting for another
// writer to finish is cancellable and harmless: it returns ctx.Err() and
// nothing was sent. Once the frame is being written, cancelling fails the
// connection for writing (a frame cut short cannot be resumed; RFC 6455
// §5.2 has no way to abort one), and every later write reports it.
func (c *Conn) WriteMessageContext(ctx context.Context, op Opcode, p []byte) error {
	if ctx.Done() == nil {
		return c.WriteMessage(op, p)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if op != OpText && op != OpBinary {
		return fmt.Errorf("%w: WriteMessage with %s", ErrBadOpcode, op)
	}
	if c.compression == nil {
		if err := lockCtx(ctx, c.writeMu.TryLock); err != nil {
			return err
		}
		if !c.streaming {
			disarm := watchCtx(ctx, c.conn.SetWriteDeadline)
			err := c.writeFrameChecked(true, op, 0, p)
			err = c.writeCancelled(ctx, disarm, err)
			c.writeMu.Unlock()
			return err
		}
		c.writeMu.Unlock()
	}
	// A streamed message is open, or the message may be compressed: data
	// messages take msgMu first, as WriteMessage does.
	if err := lockCtx(ctx, c.msgMu.TryLock); err != nil {
		return err
	}
	defer c.msgMu.Unlock()
	disarm := watchCtx(ctx, c.conn.SetWriteDeadline)
	var err error
	if c.compression != nil && c.compression.shouldCompress(len(p)) {
		err = c.compression.writeMessage(c, op, p)
	} else {
		err = c.writeFrame(true, op, 0, p)
	}
	return c.writeCancelled(ctx, disarm, err)
}

// writeCancelled is the error of a write whose context may have ended.
func (c *Conn) writeCancelled(ctx context.Context, disarm func() bool, err error) error {
	if !disarm() {
		return err
	}
	c.restoreDeadline(c.conn.SetWriteDeadline, c.savedDeadline(true))
	if err != nil && isTimeout(err) {
		return fmt.Errorf("ws: write cancelled: %w (the connection can no longer send: %w)", ctx.Err(), err)
	}
	return err
}

// CloseContext is Close with ctx bounding the closing handshake as well as
// CloseTimeout: when ctx ends first, the TCP connection is closed at once
// and the error wraps ctx.Err().
func (c *Conn) CloseContext(ctx context.Context, code StatusCode, reason string) error {
	if ctx.Done() == nil {
		return c.Close(code, reason)
	}
	if err := ctx.Err(); err != nil {
		_ = c.CloseNow()
		return err
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		c.closeTCP()
		close(fired)
	})
	err := c.Close(code, reason)
	if !stop() {
		<-fired
		if err != nil {
			return fmt.Errorf("ws: close: %w (%w)", ctx.Err(), err)
		}
	}
	return err
}
