//go:build !js

package ws

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// NetConn returns a net.Conn that carries a byte stream over c, for running
// a protocol that expects a socket (HTTP, gRPC, SSH, a database driver)
// through a WebSocket, e.g. past a proxy that lets only WebSockets through.
//
//   - Read returns the payloads of the data messages received, back to back,
//     whatever their type, as one stream: message boundaries are not kept.
//   - Write sends each call as one message of type op (OpText or OpBinary;
//     with OpText the bytes must be UTF-8, RFC 6455 §8.1). An empty Write
//     sends nothing.
//   - SetDeadline, SetReadDeadline and SetWriteDeadline are c's; a read that
//     times out leaves the stream where it was.
//   - Close runs the closing handshake with CloseNormalClosure (RFC 6455
//     §7.1.2); the peer's close with CloseNormalClosure (or CloseGoingAway)
//     reads as io.EOF, any other close as the *CloseError.
//   - When ctx ends, the connection is closed at once (CloseNow).
//
// The net.Conn owns c: do not read from c directly while using it. It is
// safe for concurrent use, as net.Conn requires.
func NetConn(ctx context.Context, c *Conn, op Opcode) net.Conn {
	nc := &netConn{c: c, op: op}
	if ctx.Done() != nil {
		nc.stop = context.AfterFunc(ctx, func() { _ = c.CloseNow() })
	}
	return nc
}

// netConn is NetConn's net.Conn.
type netConn struct {
	c    *Conn
	op   Opcode
	stop func() bool

	readMu sync.Mutex
	r      io.Reader // the message being read, nil between messages
	eof    error     // the error that ended the stream, sticky

	closeOnce sync.Once
	closeErr  error
}

// Read reads from the current message and moves on to the next one when it
// ends, never returning 0 bytes without an error.
func (nc *netConn) Read(p []byte) (int, error) {
	nc.readMu.Lock()
	defer nc.readMu.Unlock()
	if nc.eof != nil {
		return 0, nc.eof
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if nc.r == nil {
			_, r, err := nc.c.NextReader()
			if err != nil {
				if isTimeout(err) {
					return 0, err // the stream is intact: the next Read goes on
				}
				nc.eof = streamEnd(err)
				return 0, nc.eof
			}
			nc.r = r
		}
		n, err := nc.r.Read(p)
		if err == io.EOF {
			nc.r = nil
			if n > 0 {
				return n, nil
			}
			continue // an empty message, or the end of one: on to the next
		}
		if err != nil && !isTimeout(err) {
			nc.eof = streamEnd(err)
			if n > 0 {
				return n, nil
			}
			return 0, nc.eof
		}
		return n, err
	}
}

// streamEnd maps the error that ended reading to what a stream reader
// expects: io.EOF for a normal close by the peer.
func streamEnd(err error) error {
	var ce *CloseError
	if errors.As(err, &ce) && (ce.Code == CloseNormalClosure || ce.Code == CloseGoingAway) {
		return io.EOF
	}
	return err
}

// Write sends p as one message.
func (nc *netConn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := nc.c.WriteMessage(nc.op, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close runs the closing handshake once; later calls return its result.
func (nc *netConn) Close() error {
	nc.closeOnce.Do(func() {
		if nc.stop != nil {
			nc.stop()
		}
		nc.closeErr = nc.c.Close(CloseNormalClosure, "")
		if errors.Is(nc.closeErr, ErrClosed) {
			nc.closeErr = nil // the peer, or ctx, closed it already
		}
	})
	return nc.closeErr
}

func (nc *netConn) LocalAddr() net.Addr  { return nc.c.LocalAddr() }
func (nc *netConn) RemoteAddr() net.Addr { return nc.c.RemoteAddr() }

func (nc *netConn) SetDeadline(t time.Time) error {
	if err := nc.c.SetReadDeadline(t); err != nil {
		return err
	}
	return nc.c.SetWriteDeadline(t)
}

func (nc *netConn) SetReadDeadline(t time.Time) error  { return nc.c.SetReadDeadline(t) }
func (nc *netConn) SetWriteDeadline(t time.Time) error { return nc.c.SetWriteDeadline(t) }
