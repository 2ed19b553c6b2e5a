//go:build !js

package ws

import (
	"io"
	"math/bits"
	"net"
	"sync"
	"sync/atomic"
)

// readBuffer is a Conn's read buffer. It stands where a bufio.Reader would,
// for two reasons a reference implementation should be able to show:
//
//   - The frame parser works on the buffered bytes themselves (buffered,
//     discard), so reading a small frame is a header decode and a copy, with
//     no Peek/Discard/Buffered calls in between (bench/README.md, read 16 B).
//   - An idle connection holds no buffer. The buffer comes from a pool and
//     goes back to it whenever the reader must wait for the peer with nothing
//     buffered; on TCP and Unix sockets the wait itself happens without a
//     buffer (rawread_unix.go), so a goroutine blocked in ReadMessage on an
//     idle connection costs its stack and the Conn, not 4 KiB more.
//   - A busy connection reads in large pieces. On those sockets a buffer of
//     the default size grows to burstReadBuffer when a read fills it, and
//     is back at the default size after a short read (burstReadBuffer).
//
// It is used only under the Conn's readMu. Errors are returned once, not
// kept: the Conn decides which are sticky (a timeout is not).
type readBuffer struct {
	src     io.Reader
	raw     rawReader // waits without a buffer; its conn is nil when src does not allow it
	buf     []byte    // nil while released to pool
	bufp    *[]byte   // the pool's handle of buf: putting it back allocates nothing
	r, w    int       // buf[r:w] is unread
	size    int       // the size taken from the pool: len(buf), unless grown
	grows   bool      // may grow to burstReadBuffer (grow)
	burst   bool      // the peer is sending faster than we read: buffers are burstReadBuffer
	pending error     // an error that came with data, returned by the next fill
	// received counts every byte read from src (Conn.BytesReceived). It is
	// written under readMu, once per read from the network, and read from
	// any goroutine: the keepalive's timer tells from it whether the peer
	// sent anything.
	received atomic.Int64
}

// Read buffers are pooled by size class (powers of two from minReadBuffer to
// maxPooledRead), so that connections with the same ReadBufferSize share.
const (
	minReadClass  = 8 // 1 << 8 == minReadBuffer
	maxReadClass  = 20
	maxPooledRead = 1 << maxReadClass
)

var readPools [maxReadClass + 1]sync.Pool

// readPool returns the pool of buffers of n bytes, or nil when n is not one
// of the pooled sizes (the oversized buffer of init).
func readPool(n int) *sync.Pool {
	if n < minReadBuffer || n > maxPooledRead || n&(n-1) != 0 {
		return nil
	}
	return &readPools[bits.Len(uint(n))-1]
}

// burstReadBuffer is the size a read buffer of the default size grows to
// while the peer sends faster than the program reads. A read that fills the
// whole buffer says that more is waiting in the socket; with 16 times the
// room, a stream of small frames (a message cut into 256-byte fragments, a
// burst of small messages) takes 16 times fewer read system calls, which is
// most of what such a stream costs (bench/README.md, "Large messages"). A
// read that returns less than the default size ends the burst. Either way
// the buffer goes back to its pool whenever the reader must wait
// (rawread_unix.go), so an idle connection still holds none, and a busy one
// at most 64 KiB.
//
// Only buffers that can be given back while waiting grow (TCP and Unix
// sockets, read through syscall.RawConn), and only when the program left
// ReadBufferSize at 0: a size it chose is kept.
const burstReadBuffer = 64 << 10

// readBufferSize is the size a Conn's read buffer will have for a requested
// size: at least minReadBuffer (a whole control frame must fit, see
// nextDataFrameLocked), rounded up to a power of two so that it can be pooled.
func readBufferSize(n int) int {
	n = bufSize(n, minReadBuffer)
	if n > maxPooledRead {
		return n
	}
	return 1 << bits.Len(uint(n-1))
}

// init sets the buffer up for src. pending are bytes already read from src
// (after the handshake); they become the first bytes read.
func (b *readBuffer) init(src net.Conn, size int, pending []byte) {
	b.src = src
	b.size = readBufferSize(size)
	b.raw.init(src)
	b.grows = size <= 0 && b.raw.ok() && b.size < burstReadBuffer
	if len(pending) > b.size {
		// More frames came with the handshake than fit: keep them in a
		// buffer of their own, dropped (not pooled) once read.
		b.buf = make([]byte, len(pending))
	} else {
		// Taken now, not on the first read: the reading goroutine then
		// never allocates on its way to waiting, which keeps its stack at
		// the minimum.
		b.acquire()
	}
	b.w = copy(b.buf, pending)
	b.received.Store(int64(len(pending)))
}

// acquire takes a buffer from the pool: of the connection's size, or of
// burstReadBuffer during a burst.
func (b *readBuffer) acquire() {
	n := b.size
	if b.burst {
		n = burstReadBuffer
	}
	b.buf, b.bufp = takeReadBuffer(n)
}

// takeReadBuffer returns a buffer of n bytes and its pool handle, from the
// pool when there is one; a new buffer's handle is nil until it is first
// put back (putBack).
func takeReadBuffer(n int) ([]byte, *[]byte) {
	if pool := readPool(n); pool != nil {
		if p, ok := pool.Get().(*[]byte); ok {
			return *p, p
		}
	}
	return make([]byte, n), nil
}

// release gives an empty buffer back to the pool.
func (b *readBuffer) release() {
	if b.buf == nil || b.r != b.w {
		return
	}
	b.putBack()
	b.buf, b.bufp, b.r, b.w = nil, nil, 0, 0
}

// putBack gives buf to the pool of its size; a buffer whose length is not a
// pooled size (the oversized one from init, as a rule) is left to the
// garbage collector.
func (b *readBuffer) putBack() {
	pool := readPool(len(b.buf))
	if pool == nil {
		return
	}
	if b.bufp == nil {
		// Made by takeReadBuffer: the pool needs a handle of its own,
		// allocated once for the buffer's life.
		p := b.buf
		b.bufp = &p
	}
	pool.Put(b.bufp)
}

// grow moves the unread bytes into a buffer of burstReadBuffer bytes and
// gives the smaller one back to its pool; the caller has moved the unread
// bytes to the front.
func (b *readBuffer) grow() {
	nb, np := takeReadBuffer(burstReadBuffer)
	n := copy(nb, b.buf[:b.w])
	b.putBack()
	b.buf, b.bufp, b.r, b.w = nb, np, 0, n
}

// buffered returns the unread bytes without consuming them.
func (b *readBuffer) buffered() []byte { return b.buf[b.r:b.w] }

// discard consumes n buffered bytes; n must not exceed len(buffered()).
func (b *readBuffer) discard(n int) { b.r += n }

// fill reads at least one more byte into the buffer, first moving the unread
// bytes to its front. On a socket with nothing to read and nothing buffered,
// the buffer is released while waiting.
func (b *readBuffer) fill() error {
	if b.pending != nil {
		err := b.pending
		b.pending = nil
		return err
	}
	if b.r > 0 {
		b.w = copy(b.buf, b.buf[b.r:b.w])
		b.r = 0
	}
	if b.burst && len(b.buf) < burstReadBuffer {
		b.grow()
	}
	if b.buf != nil && b.w == len(b.buf) {
		return io.ErrShortBuffer // the caller asked for more than the buffer holds
	}
	if b.raw.ok() {
		return b.raw.fill(b)
	}
	if b.buf == nil {
		b.acquire()
	}
	// A conn that keeps returning no data and no error would spin the
	// reader for ever: io.ErrNoProgress after 100 such reads, as bufio does.
	for range 100 {
		n, err := b.src.Read(b.buf[b.w:])
		b.w += n
		if n > 0 {
			b.received.Add(int64(n))
			b.pending = err
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// peek returns the next n bytes without consuming them, reading as needed;
// n must not exceed the buffer size.
func (b *readBuffer) peek(n int) ([]byte, error) {
	for b.w-b.r < n {
		if err := b.fill(); err != nil {
			return nil, err
		}
	}
	return b.buf[b.r : b.r+n], nil
}

// read copies buffered bytes into p, reading from the connection when
// nothing is buffered. A read as large as the buffer goes straight into p,
// so big payloads are not copied twice.
func (b *readBuffer) read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if b.r == b.w {
		if len(p) >= max(b.size, len(b.buf)) && b.pending == nil {
			for range 100 {
				n, err := b.src.Read(p)
				if n > 0 {
					b.received.Add(int64(n))
					b.pending = err
					return n, nil
				}
				if err != nil {
					return 0, err
				}
			}
			return 0, io.ErrNoProgress
		}
		if err := b.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, b.buf[b.r:b.w])
	b.r += n
	return n, nil
}

// noteBurst follows a read of n bytes that left buf[:w] filled: one that
// filled the buffer to its end starts a burst (burstReadBuffer), one of less
// than the connection's size ends it.
func (b *readBuffer) noteBurst(n int) {
	switch {
	case b.w == len(b.buf):
		b.burst = true
	case n < b.size:
		b.burst = false
	}
}
