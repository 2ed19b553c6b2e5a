//go:build !js

package ws

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// h2Stream is a net.Conn over one HTTP/2 stream opened by an extended
// CONNECT (RFC 8441 §5): after the 2xx, the stream's DATA frames carry the
// WebSocket bytes both ways, so the framing of RFC 6455 runs on top of it
// unchanged. It reads the peer's half (the request body on a server, the
// response body on a client) and writes ours (the ResponseWriter, flushed per
// write, or the request body's pipe).
//
// The end of a stream follows RFC 9113 §8.5 (RFC 7540 §8.3), which RFC 8441
// applies to the tunnel: an END_STREAM is the TCP FIN, a RST_STREAM the TCP
// reset. Reading the peer's END_STREAM yields io.EOF, so the Conn sees the
// peer's TCP close. Close ends our half in the way the side can
// (h2Half.finish): a client sends END_STREAM; a server stops reading, and its
// END_STREAM goes out when the handler returns, since net/http ends a
// response no other way. A write in progress when Close is called, or one
// stuck past its deadline, is aborted with a RST_STREAM.
//
// Deadlines behave as on TCP, which net/http's do not: its read deadline
// breaks the request body for good (a Conn whose read timed out must stay
// usable), and its write deadline resets the stream when it fires even with no
// write in progress (the Conn leaves its close-frame deadline armed). So
// reads go through a pump goroutine and wait for it under a deadline of our
// own, and writes arm a timer only while they run.
type h2Stream struct {
	half          h2Half
	local, remote net.Addr

	done      chan struct{} // closed by Close
	closeOnce sync.Once

	// The read side: pump hands over what it read in chunks; taken tells
	// it the last chunk was consumed and its buffer may be reused.
	rmu       sync.Mutex // one Read at a time
	pumpOnce  sync.Once
	chunks    chan h2Chunk
	taken     chan struct{}
	pending   []byte
	rerr      error
	rdeadline h2Deadline
	peerEnded atomic.Bool // pump read the peer's END_STREAM (io.EOF)

	// The write side.
	wmu       sync.Mutex // one write at a time
	smu       sync.Mutex // guards the fields below
	writing   bool
	wdeadline time.Time
	wtimer    *time.Timer
	wgen      uint64 // tells a stale timer from the current one
	werr      error  // sticky: set by a failed or aborted write
	closed    bool
}

// h2Half is what differs between the two ends of a stream.
type h2Half struct {
	body   io.ReadCloser                  // the peer's half
	send   func(p []byte) (int, error)    // writes and flushes p
	abort  func()                         // resets the stream, unblocking send
	finish func(peerEnded bool)           // ends our half, on Close
	guard  func(f func() error) (e error) // runs a call into net/http (see h2GuardHandler)
}

// h2Chunk is one read of the peer's half.
type h2Chunk struct {
	b   []byte
	err error
}

// h2ChunkSize is the pump's buffer: an HTTP/2 DATA frame's payload at the
// default SETTINGS_MAX_FRAME_SIZE (RFC 9113 §6.5.2) is 16 KiB; half of
// that keeps the buffer, held for the stream's life, small.
const h2ChunkSize = 8 << 10

// errH2Deadline is the error of a read or write past its deadline: like a
// TCP conn's, it is os.ErrDeadlineExceeded, a net.Error whose Timeout is
// true.
var errH2Deadline = os.ErrDeadlineExceeded

func newH2Stream(half h2Half, local, remote net.Addr) *h2Stream {
	if half.guard == nil {
		half.guard = func(f func() error) error { return f() }
	}
	return &h2Stream{
		half:   half,
		local:  local,
		remote: remote,
		done:   make(chan struct{}),
		chunks: make(chan h2Chunk),
		taken:  make(chan struct{}, 1),
	}
}

// pump reads the peer's half into a buffer of its own and hands each read
// over to Read, so that a Read can give up at its deadline while the read
// underneath goes on.
func (s *h2Stream) pump() {
	buf := make([]byte, h2ChunkSize)
	for {
		n, err := s.half.body.Read(buf)
		if n == 0 && err == nil {
			continue
		}
		if err == io.EOF {
			s.peerEnded.Store(true)
		}
		select {
		case s.chunks <- h2Chunk{buf[:n], err}:
		case <-s.done:
			return
		}
		if err != nil {
			return
		}
		select {
		case <-s.taken:
		case <-s.done:
			return
		}
	}
}

// Read reads the peer's half of the stream: io.EOF after its END_STREAM,
// errH2Deadline past the read deadline (the stream stays usable),
// net.ErrClosed after Close.
func (s *h2Stream) Read(p []byte) (int, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	select {
	case <-s.done:
		return 0, net.ErrClosed
	case <-s.rdeadline.wait():
		return 0, errH2Deadline
	default:
	}
	if len(s.pending) == 0 && s.rerr == nil {
		s.pumpOnce.Do(func() { go s.pump() })
		select {
		case c := <-s.chunks:
			s.pending, s.rerr = c.b, c.err
		case <-s.rdeadline.wait():
			return 0, errH2Deadline
		case <-s.done:
			return 0, net.ErrClosed
		}
	}
	if len(s.pending) > 0 {
		n := copy(p, s.pending)
		s.pending = s.pending[n:]
		if len(s.pending) == 0 && s.rerr == nil {
			s.taken <- struct{}{}
		}
		return n, nil
	}
	return 0, s.rerr
}

// Write sends p on our half and flushes it, so that every frame leaves as it
// is written. It fails with errH2Deadline past the write deadline; a write
// the deadline interrupts resets the stream (part of a frame may have gone
// out, as on TCP, and the Conn fails for writing either way).
func (s *h2Stream) Write(p []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.smu.Lock()
	switch {
	case s.closed:
		s.smu.Unlock()
		return 0, net.ErrClosed
	case s.werr != nil:
		err := s.werr
		s.smu.Unlock()
		return 0, err
	case !s.wdeadline.IsZero() && !time.Now().Before(s.wdeadline):
		s.smu.Unlock()
		return 0, errH2Deadline
	}
	s.writing = true
	s.armLocked()
	s.smu.Unlock()

	var n int
	err := s.half.guard(func() (err error) {
		n, err = s.half.send(p)
		return err
	})

	s.smu.Lock()
	s.writing = false
	s.disarmLocked()
	if err != nil {
		if s.werr == nil {
			s.werr = fmt.Errorf("ws: HTTP/2 stream: %w", err)
		}
		err = s.werr
	}
	s.smu.Unlock()
	return n, err
}

// armLocked starts the timer of a write in progress; smu is held.
func (s *h2Stream) armLocked() {
	s.disarmLocked()
	if s.wdeadline.IsZero() {
		return
	}
	gen := s.wgen
	s.wtimer = time.AfterFunc(time.Until(s.wdeadline), func() { s.writeTimeout(gen) })
}

// disarmLocked stops the write timer; smu is held.
func (s *h2Stream) disarmLocked() {
	s.wgen++
	if s.wtimer != nil {
		s.wtimer.Stop()
		s.wtimer = nil
	}
}

// writeTimeout aborts the write in progress when its deadline passes.
func (s *h2Stream) writeTimeout(gen uint64) {
	s.smu.Lock()
	if gen != s.wgen || !s.writing {
		s.smu.Unlock()
		return
	}
	s.werr = errH2Deadline
	s.smu.Unlock()
	_ = s.half.guard(func() error { s.half.abort(); return nil })
}

// SetWriteDeadline bounds the writes in progress and to come.
func (s *h2Stream) SetWriteDeadline(t time.Time) error {
	s.smu.Lock()
	s.wdeadline = t
	if s.writing {
		s.armLocked() // a deadline already past fires at once
	}
	s.smu.Unlock()
	return nil
}

// SetReadDeadline bounds the reads in progress and to come; a read that
// times out leaves the stream usable.
func (s *h2Stream) SetReadDeadline(t time.Time) error {
	s.rdeadline.set(t)
	return nil
}

// SetDeadline sets both deadlines.
func (s *h2Stream) SetDeadline(t time.Time) error {
	_ = s.SetReadDeadline(t)
	return s.SetWriteDeadline(t)
}

// Close ends our use of the stream: reads and writes fail with
// net.ErrClosed, a write in progress is aborted with a RST_STREAM, the
// peer's half is no longer read, and our half ends (h2Half.finish). Once the
// peer has ended its half, the body is left alone: closing a client's
// response body resets the stream (RST_STREAM CANCEL), which is right for an
// abort but not after a clean end, where our END_STREAM must go out instead.
func (s *h2Stream) Close() error {
	s.closeOnce.Do(func() {
		s.smu.Lock()
		s.closed = true
		writing := s.writing
		s.disarmLocked()
		s.smu.Unlock()
		close(s.done)
		if writing {
			_ = s.half.guard(func() error { s.half.abort(); return nil })
		}
		if !s.peerEnded.Load() {
			_ = s.half.body.Close()
		}
		if s.half.finish != nil {
			s.half.finish(s.peerEnded.Load())
		}
	})
	return nil
}

// LocalAddr is the address of the HTTP/2 connection's local end.
func (s *h2Stream) LocalAddr() net.Addr { return s.local }

// RemoteAddr is the address of the HTTP/2 connection's peer.
func (s *h2Stream) RemoteAddr() net.Addr { return s.remote }

// h2Addr turns net/http's "host:port" strings into a net.Addr: a
// *net.TCPAddr when it parses as one.
func h2Addr(hostport string) net.Addr {
	if ap, err := netip.ParseAddrPort(hostport); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return h2AddrString(hostport)
}

// h2AddrString is an address net/http gave as a string that is not IP:port.
type h2AddrString string

func (a h2AddrString) Network() string { return "tcp" }
func (a h2AddrString) String() string  { return string(a) }

// h2Deadline is a deadline that Read can wait on: wait returns a channel
// closed once the deadline has passed.
type h2Deadline struct {
	mu    sync.Mutex
	ch    chan struct{}
	fired bool
	gen   uint64
	timer *time.Timer
}

func (d *h2Deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if d.ch == nil || d.fired {
		d.ch, d.fired = make(chan struct{}), false
	}
	if t.IsZero() {
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		close(d.ch)
		d.fired = true
		return
	}
	gen := d.gen
	d.timer = time.AfterFunc(dur, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if gen == d.gen && !d.fired {
			close(d.ch)
			d.fired = true
		}
	})
}

func (d *h2Deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ch == nil {
		d.ch = make(chan struct{})
	}
	return d.ch
}

// errH2HandlerDone is what a write reports when the handler that upgraded
// the stream has returned: net/http has ended the stream and forbids any
// further use of the ResponseWriter.
var errH2HandlerDone = fmt.Errorf("ws: HTTP/2 handler returned while its Conn was in use: %w", net.ErrClosed)

// h2GuardHandler runs a call into a ResponseWriter and turns the panic
// net/http raises once the handler has returned ("Write called after Handler
// finished") into errH2HandlerDone. It is a safety net for a documented
// misuse (Upgrader.Upgrade: on HTTP/2 the handler must not return while
// the Conn is in use), not a way to make it work.
func h2GuardHandler(f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = errH2HandlerDone
		}
	}()
	return f()
}
