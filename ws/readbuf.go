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
//
// It is used only under the Conn's readMu. Errors are returned once, not
// kept: the Conn decides which are sticky (a timeout is not).
type readBuffer struct {
	src     io.Reader
	raw     rawReader // waits without a buffer; its conn is nil when src does not allow it
	buf     []byte    // nil while released to pool
	bufp    *[]byte   // the pool's handle of buf: putting it back allocates nothing
	r, w    int       // buf[r:w] is unread
	size    int       // len(buf) when held
	pool    *sync.Pool
	pending error // an error that came with data, returned by the next fill
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
	if b.size <= maxPooledRead {
		b.pool = &readPools[bits.Len(uint(b.size))-1]
	}
	b.raw.init(src)
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

// acquire takes a buffer from the pool.
func (b *readBuffer) acquire() {
	if b.pool != nil {
		if p, ok := b.pool.Get().(*[]byte); ok {
			b.buf, b.bufp = *p, p
			return
		}
	}
	b.buf = make([]byte, b.size)
	b.bufp = &b.buf
}

// release gives an empty buffer back to the pool. A buffer of another size
// (the oversized one from init) is left to the garbage collector.
func (b *readBuffer) release() {
	if b.buf == nil || b.r != b.w {
		return
	}
	if b.pool != nil && len(b.buf) == b.size {
		if b.bufp == &b.buf {
			// Made here, so its handle is our own field: the pool needs
			// one of its own, allocated once for the buffer's life.
			p := b.buf
			b.bufp = &p
		}
		b.pool.Put(b.bufp)
	}
	b.buf, b.bufp, b.r, b.w = nil, nil, 0, 0
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
		if len(p) >= b.size && b.pending == nil {
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
