//go:build !js

package ws

import (
	"bufio"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for a Conn. They protect a program from a hostile peer without
// any setting (DESIGN.md principle 4).
const (
	// DefaultReadLimit bounds one message: 16 MiB, above Workerman's 10 MiB
	// maxPackageSize and far below what would hurt a process.
	DefaultReadLimit = 16 << 20
	// DefaultCloseTimeout bounds each half of the closing handshake.
	DefaultCloseTimeout = 5 * time.Second
	// DefaultBufferSize is the read and write buffer size. A read buffer
	// left at the default grows to 64 KiB while the peer keeps it full
	// (Options.ReadBufferSize).
	DefaultBufferSize = 4096
	// minReadBuffer lets the reader peek at a whole control frame (14 + 125
	// bytes) before consuming it, so a read deadline never leaves one half
	// read.
	minReadBuffer = 256
	// minWriteBuffer is the smallest fragment a streamed message is cut into.
	minWriteBuffer = 128
	// smallFrame is the size of the array inside each Conn in which small
	// frames are built: big enough for chat-sized messages, small enough
	// that an idle connection holds no write buffer to speak of.
	smallFrame = 256
)

// Options are the per-connection settings shared by Dialer and Upgrader. The
// zero value gives the safe defaults.
type Options struct {
	// ReadBufferSize sizes the read buffer and WriteBufferSize the fragments
	// of a streamed message (NextWriter); 0 means DefaultBufferSize. The read
	// buffer is rounded up to a power of two (so that it can be pooled); on
	// a *net.TCPConn or *net.UnixConn it is held only while there are bytes
	// to read, so a connection waiting for its peer holds none (other conns,
	// TLS among them, keep theirs). On those two, a read buffer left at the
	// default also grows to 64 KiB while the peer sends faster than the
	// program reads (a read fills it), and is back at the default after a
	// short read: a stream of small frames then costs a sixteenth of the
	// read system calls. A size set here is kept as it is. Whole messages
	// need no write buffer: small frames are built inside the Conn, large
	// ones in pooled buffers or sent with writev.
	ReadBufferSize, WriteBufferSize int
	// ReadLimit is the largest message accepted, counted after
	// decompression; 0 means DefaultReadLimit, a negative value means no
	// limit. A longer message fails the connection with 1009.
	ReadLimit int64
	// SkipUTF8Validation turns off the RFC 6455 §8.1 check of text
	// messages, for peers that are trusted and text that is large.
	SkipUTF8Validation bool
	// CloseTimeout bounds waiting for the peer during the closing
	// handshake; 0 means DefaultCloseTimeout.
	CloseTimeout time.Duration
	// Compression enables permessage-deflate (RFC 7692) when not nil.
	Compression *CompressionOptions

	// IdleTimeout, when positive, fails the connection once nothing at all
	// (no frame, no byte) has arrived from the peer for this long: after
	// between IdleTimeout and 1.25 × IdleTimeout of silence the peer gets a
	// close frame with CloseGoingAway, the TCP connection is closed, and
	// the reader returns a *TimeoutError wrapping ErrIdleTimeout. Off by
	// default: RFC 6455 lets a connection stay silent for ever, and many
	// do. A server that must not keep dead clients' goroutines and buffers
	// sets it, or PingInterval, or both.
	IdleTimeout time.Duration
	// PingInterval, when positive, sends a ping every interval, whatever
	// other traffic flows (which also keeps NAT and proxy mappings alive),
	// and fails the connection like IdleTimeout does, with ErrPongTimeout,
	// when nothing arrives within PongTimeout after a ping. Any byte from
	// the peer counts as the answer, not only the pong: a busy peer's pong
	// may wait behind a long message. The pongs are read, like every
	// frame, by the goroutine that reads messages: a connection nobody
	// reads fails after its first ping. Off by default.
	PingInterval time.Duration
	// PongTimeout bounds the wait after each keepalive ping; 0 means
	// PingInterval (something must come back before the next ping is due),
	// a negative value sends the pings without ever failing on their
	// account (a heartbeat for NATs and proxies only; IdleTimeout still
	// applies).
	PongTimeout time.Duration
	// PingPayload is the application data of keepalive pings (at most 125
	// bytes); empty by default.
	PingPayload []byte
}

// pongTimeout is PongTimeout resolved: negative means no pong check.
func (o *Options) pongTimeout() time.Duration {
	if o.PongTimeout != 0 {
		return o.PongTimeout
	}
	return o.PingInterval
}

func (o *Options) readLimit() int64 {
	switch {
	case o.ReadLimit == 0:
		return DefaultReadLimit
	case o.ReadLimit < 0:
		return -1
	}
	return o.ReadLimit
}

func (o *Options) closeTimeout() time.Duration {
	if o.CloseTimeout <= 0 {
		return DefaultCloseTimeout
	}
	return o.CloseTimeout
}

func bufSize(n, min int) int {
	if n <= 0 {
		n = DefaultBufferSize
	}
	if n < min {
		n = min
	}
	return n
}

// Conn is one WebSocket connection, in either role. One goroutine may read
// (NextReader, ReadMessage; or, without the read lock, through the ReadOwner
// of OwnReads) while any number write: messages never interleave on the
// wire, and control frames may pass between the fragments of a streamed
// message (RFC 6455 §5.4). Close, CloseNow and the setters may be called
// from any goroutine.
//
// A connection waiting for its peer holds little: the Conn itself (416
// bytes on 64-bit platforms) and, on a *net.TCPConn or *net.UnixConn, no
// read buffer (readbuf.go). Whatever a connection needs only while it acts
// lives outside the Conn, made or borrowed when it is first needed: the
// array small frames are built in and the masking key generator by the
// first frame written (kept from then on: lending them per frame would add
// a pool's Get and Put to every write), control-frame payloads in pooled
// buffers for the length of one frame (they are rare), the channel that
// wakes Close and Ping by the first of them, and the handlers, the Ping
// waiters, the streaming writer, the saved deadlines and the peer's close
// frame when first set, called or received. bench/idle.go measures the
// whole (with the goroutine, the TCP conn and what the runtime and net keep
// for it, about 3.2 KiB, of which the Conn is 416 bytes).
type Conn struct {
	conn         net.Conn
	rb           readBuffer
	subprotocol  string
	readLimit    atomic.Int64 // SetReadLimit stores it from any goroutine; a read loads it once per check
	closeTimeout time.Duration
	role         Role
	validateUTF8 bool

	// Read state, guarded by readMu. (The fields smaller than a word, of
	// this and the other groups, sit together here, so that padding does
	// not push the Conn into a larger allocation class.)
	frameFin  bool
	frameMskd bool
	msgOp     Opcode // opcode of the open message, 0 if none
	msgEOF    bool   // the open message has been read to its end
	msgDeflt  bool   // the open message is compressed (RFC 7692 §6)
	msgResume bool   // ReadMessageInto timed out inside the open message
	frameMask uint32 // rotating masking key of the current frame
	utf8      UTF8Validator
	streaming bool        // a NextWriter message is open; guarded by writeMu
	closeSent bool        // guarded by writeMu
	owned     bool        // a ReadOwner holds readMu (readowner.go); guarded by readMu
	tcpDone   atomic.Bool // closeTCP has begun
	closing   atomic.Bool // Close has begun
	lingering atomic.Bool // a failed conn waits for the peer to take its close frame
	readMu    sync.Mutex
	readErr   error                 // sticky; a timeout is not stored
	frameLeft int64                 // payload bytes of the current data frame not yet read
	msgLen    int64                 // bytes of the open message delivered so far
	hooks     atomic.Pointer[hooks] // the Set*Handler functions, copied on write; nil until one is set

	// Write state. msgMu serialises data messages; writeMu serialises
	// frames, so that control frames can pass between the fragments of a
	// message that holds msgMu.
	msgMu    sync.Mutex
	writeMu  sync.Mutex
	frames   *frameScratch  // made by the first frame written; guarded by writeMu
	fragSize int            // payload per fragment of a streamed message
	keys     maskKeySource  // guarded by writeMu
	writeErr error          // sticky, guarded by writeMu
	sent     atomic.Int64   // bytes written to conn (BytesSent)
	mw       *messageWriter // made by the first NextWriter; guarded by msgMu

	// Closing state (closing.go).
	tcpWait     atomic.Pointer[chan struct{}] // closed by closeTCP; made by the first waiter (tcpClosedChan)
	peerClose   atomic.Pointer[CloseError]    // the peer's close frame, once read
	compression *deflateState

	// Silent peers (keepalive.go, ping.go).
	keepalive *keepalive                   // nil unless IdleTimeout or PingInterval
	localErr  atomic.Pointer[localFailure] // why this end gave up, if it did (giveUp)
	pongs     atomic.Pointer[pongWaiters]  // Ping calls waiting for their pong; nil before the first

	// The deadlines the program set last, for the context-bound calls to
	// put back after borrowing the deadline (context.go); nil until a
	// deadline is set.
	deadlines atomic.Pointer[deadlines]
}

// deadlines are the read and write deadlines the program set last, in Unix
// nanoseconds (0: none). A Conn makes them on the first SetReadDeadline or
// SetWriteDeadline that sets one: many programs never do.
type deadlines struct{ read, write atomic.Int64 }

// setDeadline records t, in the read or the write half of c.deadlines.
func (c *Conn) setDeadline(write bool, t time.Time) {
	ns := unixNano(t)
	d := c.deadlines.Load()
	if d == nil {
		if ns == 0 {
			return
		}
		c.deadlines.CompareAndSwap(nil, new(deadlines))
		d = c.deadlines.Load()
	}
	if write {
		d.write.Store(ns)
	} else {
		d.read.Store(ns)
	}
}

// savedDeadline returns what setDeadline recorded last, 0 if nothing.
func (c *Conn) savedDeadline(write bool) int64 {
	d := c.deadlines.Load()
	switch {
	case d == nil:
		return 0
	case write:
		return d.write.Load()
	}
	return d.read.Load()
}

// hooks are the functions a program may set to observe control frames and
// failures. Few programs set any, so a Conn holds only a pointer to them,
// made by the first Set*Handler call that sets one. A hooks value is never
// changed once stored: a setter stores a changed copy (setHook), so the
// setters take no lock and never wait for a read in progress, and a reader
// loads the pointer (a plain load on amd64, a load-acquire on arm64) when it
// dispatches a frame.
type hooks struct {
	ping  func(payload []byte)
	pong  func(payload []byte)
	close func(code StatusCode, reason string)
	fail  func(err *ProtocolError)
}

// setHook stores a copy of c's hooks with change applied. Concurrent setters
// retry on the compare-and-swap, so none loses another's function. Restoring
// a default on a Conn that never set a function makes nothing.
func (c *Conn) setHook(restore bool, change func(*hooks)) {
	for {
		old := c.hooks.Load()
		if old == nil && restore {
			return
		}
		h := new(hooks)
		if old != nil {
			*h = *old
		}
		change(h)
		if c.hooks.CompareAndSwap(old, h) {
			return
		}
	}
}

// NewConn wraps a net.Conn on which the opening handshake has already taken
// place (by this package or by other means). br, if not nil, is the reader
// the handshake was read through: the bytes it holds that followed the
// handshake are the first frames. NewConn copies them out and never reads br
// again. It lets a caller run RFC 6455 framing over a transport it set up
// itself.
func NewConn(c net.Conn, br *bufio.Reader, role Role, subprotocol string, opts *Options) *Conn {
	if opts == nil {
		opts = &Options{}
	}
	var pending []byte
	if br != nil && br.Buffered() > 0 {
		pending, _ = br.Peek(br.Buffered())
	}
	wc := &Conn{
		conn:         c,
		role:         role,
		subprotocol:  subprotocol,
		validateUTF8: !opts.SkipUTF8Validation,
		closeTimeout: opts.closeTimeout(),
		fragSize:     bufSize(opts.WriteBufferSize, minWriteBuffer),
	}
	wc.readLimit.Store(opts.readLimit())
	wc.rb.init(c, opts.ReadBufferSize, pending)
	wc.startKeepalive(opts)
	return wc
}

// Subprotocol returns the subprotocol chosen in the opening handshake
// (RFC 6455 §4.1 item 6, §4.2.2), or "".
func (c *Conn) Subprotocol() string { return c.subprotocol }

// Role returns which end of the connection this is.
func (c *Conn) Role() Role { return c.role }

// BytesReceived returns how many bytes were read from the network
// connection: every frame as it came off the wire, and on a Conn from Dial
// or UpgradeConn the opening handshake's response or request head too. It
// is what a program meters traffic with (Workerman's $bytesRead), and
// counting it here rather than in a wrapper around the net.Conn keeps the
// TCP fast paths (rawread_unix.go) usable. Safe to call from any goroutine.
func (c *Conn) BytesReceived() int64 { return c.rb.received.Load() }

// BytesSent returns how many bytes were written to the network connection:
// every frame, and on a Conn from Dial or an Upgrader the opening
// handshake's request or response. Safe to call from any goroutine.
func (c *Conn) BytesSent() int64 { return c.sent.Load() }

// countHandshake adds the opening handshake's bytes to the counters: the
// head sent and, on top of the frames that arrived with it (NewConn counts
// those), the head received.
func (c *Conn) countHandshake(sent, received int) {
	c.sent.Add(int64(sent))
	c.rb.received.Add(int64(received))
}

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// RemoteAddr returns the remote network address (the proxy's, behind one).
func (c *Conn) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }

// NetConn returns the underlying connection. Reading or writing it directly
// corrupts the WebSocket stream; it is there for socket options and for
// inspecting TLS state.
func (c *Conn) NetConn() net.Conn { return c.conn }

// SetReadDeadline sets the deadline for reads. Unlike some peers' readers, a
// read that times out leaves the connection usable: the frame state is kept
// exactly, and a later read continues where it stopped.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.setDeadline(false, t)
	return c.conn.SetReadDeadline(t)
}

// SetWriteDeadline sets the deadline for writes. A write that times out may
// have sent part of a frame, so it fails the connection for writing.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.setDeadline(true, t)
	return c.conn.SetWriteDeadline(t)
}

// unixNano is t for the deadline store, 0 for the zero time (no deadline).
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// SetReadLimit changes the largest message accepted (see Options.ReadLimit).
// It may be called from any goroutine and never waits: a read in progress
// checks the new limit from the next frame header on.
func (c *Conn) SetReadLimit(n int64) {
	c.readLimit.Store((&Options{ReadLimit: n}).readLimit())
}

// SetPingHandler replaces the default answer to a ping (a pong with the same
// payload, RFC 6455 §5.5.2). The handler runs on the reading goroutine; the
// payload is valid only during the call. A handler that still wants to answer
// calls WritePong. nil restores the default.
func (c *Conn) SetPingHandler(h func(payload []byte)) {
	c.setHook(h == nil, func(k *hooks) { k.ping = h })
}

// SetPongHandler sets a function called for every pong received (RFC 6455
// §5.5.3: unsolicited pongs are allowed and need no answer). The payload is
// valid only during the call.
func (c *Conn) SetPongHandler(h func(payload []byte)) {
	c.setHook(h == nil, func(k *hooks) { k.pong = h })
}

// SetCloseHandler sets a function called when the peer's close frame arrives,
// before it is answered. It observes; the closing handshake completes either
// way, as RFC 6455 §5.5.1 requires. Messages written while it runs still go
// out ahead of the answering close frame.
func (c *Conn) SetCloseHandler(h func(code StatusCode, reason string)) {
	c.setHook(h == nil, func(k *hooks) { k.close = h })
}

// SetFailHandler sets a function called when the reader is about to fail the
// connection over what the peer sent (RFC 6455 §7.1.7: a *ProtocolError, whose
// Code the close frame will carry), before that close frame goes out. It
// exists for layers that queue writes on goroutines of their own: §5.5.1
// allows no data frame after a close frame, so what such a layer accepted
// before the failure must be written from the handler (or while it runs),
// or it is lost. The handler runs on the reading goroutine, which it
// blocks, and must return in bounded time; reads are not possible from it.
// It is not called when the connection ends for a reason of this end's (a
// keepalive timeout, Close, CloseNow) or when the peer closed first.
func (c *Conn) SetFailHandler(h func(err *ProtocolError)) {
	c.setHook(h == nil, func(k *hooks) { k.fail = h })
}
