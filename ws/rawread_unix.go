//go:build unix

package ws

import (
	"io"
	"net"
	"os"
	"syscall"
)

// rawReader lets a readBuffer wait for data without holding a buffer. A
// plain conn.Read must be handed its buffer before it blocks, so an idle
// connection would keep one for as long as the peer is silent. Through
// syscall.RawConn the runtime's poller waits for readability instead, and
// the buffer is taken from the pool only when the socket has bytes: the
// callback tries a non-blocking read, and on EAGAIN gives an empty buffer
// back before asking to be woken. Deadlines and Close work as for conn.Read
// (RawConn.Read waits through the same poller).
//
// Only *net.TCPConn and *net.UnixConn take this path: a wrapper type that
// merely embeds one may do something in its Read method that reading the
// descriptor directly would skip.
type rawReader struct {
	rc   syscall.RawConn
	conn net.Conn
	try  func(fd uintptr) bool // rb.tryRead, bound once
	err  error                 // what the last try ended with
}

func (r *rawReader) init(c net.Conn) {
	var sc syscall.Conn
	switch c := c.(type) {
	case *net.TCPConn:
		sc = c
	case *net.UnixConn:
		sc = c
	default:
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	r.rc, r.conn = rc, c
}

func (r *rawReader) ok() bool { return r.rc != nil }

// fill reads what the socket has into b, waiting for it if there is none.
func (r *rawReader) fill(b *readBuffer) error {
	if r.try == nil {
		r.try = b.tryRead
	}
	r.err = nil
	if err := r.rc.Read(r.try); err != nil {
		return err // a deadline (net.Error with Timeout) or the conn closed
	}
	return r.err
}

// tryRead is the RawConn callback: it returns false to wait for
// readability, true when it read something or failed.
func (b *readBuffer) tryRead(fd uintptr) bool {
	if b.buf == nil {
		b.acquire()
	}
	for {
		n, err := syscall.Read(int(fd), b.buf[b.w:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			b.release() // nothing buffered: wait without the buffer
			return false
		case err != nil:
			b.raw.err = b.raw.readError(err)
		case n == 0:
			b.raw.err = io.EOF
		default:
			b.w += n
			b.received.Add(int64(n))
			if b.grows {
				b.noteBurst(n)
			}
		}
		return true
	}
}

// readError dresses an errno as conn.Read would have. It is a function of
// its own to keep tryRead's frame, which is on the stack of every waiting
// reader, small.
//
//go:noinline
func (r *rawReader) readError(errno error) error {
	return &net.OpError{Op: "read", Net: r.conn.LocalAddr().Network(),
		Source: r.conn.LocalAddr(), Addr: r.conn.RemoteAddr(), Err: os.NewSyscallError("read", errno)}
}
