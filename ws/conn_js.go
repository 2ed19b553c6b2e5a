//go:build js

package ws

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall/js"
	"time"
	"unicode/utf8"
)

// jsOpen is the readyState of an open WebSocket object (WHATWG WebSockets
// Standard).
const jsOpen = 1

// sendHighWater is how many bytes the browser may hold unsent before a
// write waits for them to drain. WebSocket.send never blocks and queues
// without bound; waiting here gives a fast writer the backpressure a TCP
// write would.
const sendHighWater = 1 << 20

var (
	jsUint8Array = js.Global().Get("Uint8Array")
	jsArray      = js.Global().Get("Array")
	jsObject     = js.Global().Get("Object")
)

// errNoPing is what the ping and pong calls return: the browser answers the
// peer's pings itself and offers scripts no way to send either.
var errNoPing = fmt.Errorf("ws: the browser's WebSocket API sends no pings or pongs: %w", errors.ErrUnsupported)

// Conn is a client connection over the host's WebSocket object. One
// goroutine may read while any number write; Close and CloseNow may be
// called from any goroutine.
//
// What differs from the native Conn, because the browser's API decides:
// messages travel whole (no fragments: NextReader reads a message already
// in memory, NextWriter gathers one before sending it); pings, pongs and
// the peer's close frame are answered by the browser, and WritePing,
// WritePong and Ping return an error wrapping errors.ErrUnsupported; Close
// may send only 1000 or 3000–4999; the read limit is enforced by this
// package after the browser received the message; the browser validates
// UTF-8 and fails the connection itself on bad text (RFC 6455 §8.1).
type Conn struct {
	ws           js.Value
	funcs        []js.Func
	releaseOnce  sync.Once
	failOnce     sync.Once
	subprotocol  string
	extensions   string
	closeTimeout time.Duration
	readLimit    atomic.Int64

	opened chan struct{} // closed by the open event
	failed chan struct{} // closed by the first error event
	closed chan struct{} // closed by the close event, after the fields below
	// What the close event said, set before closed is closed.
	closeCode  StatusCode
	closeWhy   string
	closeClean bool

	// mu guards the queue of messages the browser handed over (their
	// event.data, still in JavaScript memory) and the read deadline.
	mu       sync.Mutex
	queue    []js.Value
	arrived  chan struct{} // capacity 1: the queue grew or the deadline moved
	deadline time.Time

	readMu  sync.Mutex
	readErr error // sticky: a failure, or the end of the connection
	owned   bool  // a ReadOwner holds readMu (readowner_js.go)

	writeMu       sync.Mutex
	writeDeadline atomic.Int64 // Unix nanoseconds; 0: none

	// closing is set once this end started closing (Close, CloseNow, a
	// failure); stopped is closed then, to wake a waiting reader.
	closing  atomic.Bool
	stopOnce sync.Once
	stopped  chan struct{}
}

// newConn creates the WebSocket object and its event handlers. The handlers
// never block: JavaScript waits for them, so they only queue and signal.
func newConn(url string, protocols []string, opts *Options) (*Conn, error) {
	c := &Conn{
		closeTimeout: opts.closeTimeout(),
		opened:       make(chan struct{}),
		failed:       make(chan struct{}),
		closed:       make(chan struct{}),
		arrived:      make(chan struct{}, 1),
		stopped:      make(chan struct{}),
	}
	c.readLimit.Store(opts.readLimit())
	jsWebSocket := js.Global().Get("WebSocket")
	if jsWebSocket.Type() != js.TypeFunction {
		return nil, fmt.Errorf("ws: the host has no WebSocket (Node 20 needs --experimental-websocket): %w", errors.ErrUnsupported)
	}
	protos := jsArray.New(len(protocols))
	for i, p := range protocols {
		protos.SetIndex(i, p)
	}
	if err := jsTry(func() { c.ws = jsWebSocket.New(url, protos) }); err != nil {
		return nil, err
	}
	// Binary messages as ArrayBuffers: one copy into Go at read time, no
	// Blob to read asynchronously.
	c.ws.Set("binaryType", "arraybuffer")
	c.on("open", func(js.Value) {
		c.subprotocol = c.ws.Get("protocol").String()
		c.extensions = c.ws.Get("extensions").String()
		close(c.opened)
	})
	// An error event says nothing (the browser hides the cause). The
	// standard follows it with a close event, but Node's undici 6 fires
	// none after a refused handshake, so a dial waits for either.
	c.on("error", func(js.Value) {
		c.failOnce.Do(func() { close(c.failed) })
	})
	c.on("message", func(ev js.Value) {
		c.mu.Lock()
		c.queue = append(c.queue, ev.Get("data"))
		c.mu.Unlock()
		c.signal()
	})
	c.on("close", func(ev js.Value) {
		c.closeCode = StatusCode(ev.Get("code").Int())
		c.closeWhy = ev.Get("reason").String()
		c.closeClean = ev.Get("wasClean").Bool()
		close(c.closed)
		// The close event is the last one a WebSocket fires; its
		// handlers can go, but not from inside one of them.
		go c.release()
	})
	return c, nil
}

// on installs a handler for a WebSocket event.
func (c *Conn) on(event string, h func(ev js.Value)) {
	f := js.FuncOf(func(_ js.Value, args []js.Value) any {
		h(args[0])
		return nil
	})
	c.funcs = append(c.funcs, f)
	c.ws.Set("on"+event, f)
}

// release detaches and frees the event handlers, once: after the close
// event, or when a dial gives up (the browser may still fire events then,
// but no handler is left to receive them).
func (c *Conn) release() {
	c.releaseOnce.Do(func() {
		for _, ev := range []string{"open", "error", "message", "close"} {
			c.ws.Set("on"+ev, js.Null())
		}
		for _, f := range c.funcs {
			f.Release()
		}
		c.funcs = nil
	})
}

func (c *Conn) signal() {
	select {
	case c.arrived <- struct{}{}:
	default:
	}
}

func (c *Conn) stop() {
	c.closing.Store(true)
	c.stopOnce.Do(func() { close(c.stopped) })
}

// abort closes the socket without a code (the only close the browser allows
// on a connection that is not open yet, and the one that says nothing).
func (c *Conn) abort() {
	c.stop()
	_ = jsTry(func() { c.ws.Call("close") })
}

// closedErr is what the close event means for a caller: the peer's close
// code and reason (RFC 6455 §7.1.5, §7.1.6), or ErrAbnormalClosure when the
// browser saw no close frame (1006).
func (c *Conn) closedErr() error {
	if c.closeCode == CloseAbnormalClosure {
		return fmt.Errorf("%w: the browser reports 1006 (it does not say why)", ErrAbnormalClosure)
	}
	return &CloseError{Code: c.closeCode, Reason: c.closeWhy}
}

// response is what the browser tells of the handshake's response.
func (c *Conn) response() *http.Response {
	h := http.Header{}
	if c.subprotocol != "" {
		h.Set("Sec-WebSocket-Protocol", c.subprotocol)
	}
	if c.extensions != "" {
		h.Set("Sec-WebSocket-Extensions", c.extensions)
	}
	return &http.Response{
		Status:     "101 Switching Protocols",
		StatusCode: http.StatusSwitchingProtocols,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Body:       http.NoBody,
	}
}

// Subprotocol returns the subprotocol the server chose, or "".
func (c *Conn) Subprotocol() string { return c.subprotocol }

// Role returns RoleClient: the browser only dials.
func (c *Conn) Role() Role { return RoleClient }

// SetReadLimit changes the largest message accepted (see Options.ReadLimit).
func (c *Conn) SetReadLimit(n int64) {
	o := Options{ReadLimit: n}
	c.readLimit.Store(o.readLimit())
}

// SetReadDeadline sets the deadline for reads; a zero t means none. A read
// that times out returns an error wrapping os.ErrDeadlineExceeded and leaves
// the connection usable: messages are whole, so nothing is lost.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	c.signal()
	return nil
}

// SetWriteDeadline bounds how long a write waits for the browser's send
// buffer to drain below 1 MiB, a write already waiting included; the
// message itself is queued at once. A zero t means no deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	c.writeDeadline.Store(ns)
	return nil
}

// ReadMessage reads one whole message into a new slice.
func (c *Conn) ReadMessage() (Opcode, []byte, error) {
	return c.ReadMessageInto(nil)
}

// ReadMessageInto reads one whole message, appending its payload to buf[:0]
// and growing it only when it is too small, so a caller that passes the
// previous result back reads binary messages without allocating.
func (c *Conn) ReadMessageInto(buf []byte) (Opcode, []byte, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	return c.readMessageIntoLocked(buf)
}

// readMessageIntoLocked is ReadMessageInto with readMu held (by the call, or
// by a ReadOwner).
func (c *Conn) readMessageIntoLocked(buf []byte) (Opcode, []byte, error) {
	if c.readErr != nil {
		return 0, buf[:0], c.readErr
	}
	data, err := c.nextLocked()
	if err != nil {
		return 0, buf[:0], err
	}
	return c.decodeLocked(data, buf)
}

// NextReader waits for the next message and returns its opcode and a reader
// over its payload. The browser delivers messages whole, so the payload is
// in memory already; NextReader exists so that code written for the native
// build compiles and works.
func (c *Conn) NextReader() (Opcode, io.Reader, error) {
	op, p, err := c.ReadMessage()
	if err != nil {
		return 0, nil, err
	}
	return op, bytes.NewReader(p), nil
}

// nextLocked waits for the next message's data, the end of the connection,
// or the read deadline.
func (c *Conn) nextLocked() (js.Value, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if c.closing.Load() {
			c.readErr = ErrClosed
			return js.Undefined(), c.readErr
		}
		c.mu.Lock()
		if len(c.queue) > 0 {
			data := c.queue[0]
			c.queue[0] = js.Undefined()
			c.queue = c.queue[1:]
			c.mu.Unlock()
			return data, nil
		}
		deadline := c.deadline
		c.mu.Unlock()
		select {
		case <-c.closed:
			// The close event comes after every message event, so the
			// queue is final: drain it first.
			c.mu.Lock()
			empty := len(c.queue) == 0
			c.mu.Unlock()
			if !empty {
				continue
			}
			c.readErr = c.closedErr()
			return js.Undefined(), c.readErr
		default:
		}
		var expired <-chan time.Time
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return js.Undefined(), fmt.Errorf("ws: read: %w", os.ErrDeadlineExceeded)
			}
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			expired = timer.C
		}
		select {
		case <-c.arrived:
		case <-c.closed:
		case <-c.stopped:
		case <-expired:
		}
	}
}

// decodeLocked copies a message from JavaScript into buf, after checking it
// against the read limit.
func (c *Conn) decodeLocked(data js.Value, buf []byte) (Opcode, []byte, error) {
	limit := c.readLimit.Load()
	if data.Type() == js.TypeString {
		// length counts UTF-16 code units, each at least one byte of
		// UTF-8, so a string longer than the limit is refused before it
		// is copied. syscall/js reads no property of a primitive string:
		// Object(data) is its wrapper, which has them.
		if limit >= 0 {
			if n := int64(jsObject.New(data).Get("length").Int()); n > limit {
				return 0, buf[:0], c.failLimitLocked("a text message of at least %d bytes, limit %d", n, limit)
			}
		}
		s := data.String()
		if n := int64(len(s)); limit >= 0 && n > limit {
			return 0, buf[:0], c.failLimitLocked("a %d-byte text message, limit %d", n, limit)
		}
		return OpText, append(buf[:0], s...), nil
	}
	n := data.Get("byteLength").Int()
	if limit >= 0 && int64(n) > limit {
		return 0, buf[:0], c.failLimitLocked("a %d-byte binary message, limit %d", n, limit)
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	js.CopyBytesToGo(buf, jsUint8Array.New(data))
	return OpBinary, buf, nil
}

// failLimitLocked fails the connection for a message over the read limit:
// the 1009 of RFC 6455 §7.4.1, which the browser will not send for us (see
// Options.ReadLimit).
func (c *Conn) failLimitLocked(format string, n, limit any) error {
	c.readErr = protocolErr(CloseMessageTooBig, ErrReadLimit, format, n, limit)
	c.abort()
	return c.readErr
}

// WriteMessage sends p as one text or binary message. p is copied before
// WriteMessage returns. Text must be UTF-8 (RFC 6455 §5.6): the browser
// would replace what is not, so it is refused with ErrInvalidUTF8 instead.
// The browser queues the message; WriteMessage then waits while more than
// 1 MiB is queued, until the write deadline if one is set.
func (c *Conn) WriteMessage(op Opcode, p []byte) error {
	switch op {
	case OpText:
		if !utf8.Valid(p) {
			return fmt.Errorf("%w: WriteMessage with OpText", ErrInvalidUTF8)
		}
		return c.send(js.ValueOf(string(p)))
	case OpBinary:
		u8 := jsUint8Array.New(len(p))
		js.CopyBytesToJS(u8, p)
		return c.send(u8)
	}
	return fmt.Errorf("%w: WriteMessage with %s", ErrBadOpcode, op)
}

// WriteText sends s as a text message. It is WriteMessage for strings.
func (c *Conn) WriteText(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: WriteText", ErrInvalidUTF8)
	}
	return c.send(js.ValueOf(s))
}

// WriteControl exists for the native build's callers: the browser sends no
// pings or pongs on a script's behalf, and closes only through Close.
func (c *Conn) WriteControl(op Opcode, _ []byte) error {
	if !op.IsControl() || op.IsReserved() {
		return fmt.Errorf("%w: WriteControl with %s", ErrBadOpcode, op)
	}
	if op == OpClose {
		return fmt.Errorf("ws: use Close to close in the browser: %w", errors.ErrUnsupported)
	}
	return errNoPing
}

// WritePing returns an error wrapping errors.ErrUnsupported: the browser
// sends no pings for scripts (it answers the peer's pings by itself).
func (c *Conn) WritePing([]byte) error { return errNoPing }

// WritePong returns an error wrapping errors.ErrUnsupported, as WritePing.
func (c *Conn) WritePong([]byte) error { return errNoPing }

// Ping returns an error wrapping errors.ErrUnsupported, as WritePing.
func (c *Conn) Ping(context.Context, []byte) (time.Duration, error) { return 0, errNoPing }

// send hands one message to the browser and waits for its send buffer to
// drain below sendHighWater.
func (c *Conn) send(v js.Value) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.writableLocked(); err != nil {
		return err
	}
	if err := jsTry(func() { c.ws.Call("send", v) }); err != nil {
		return err
	}
	wait := time.Millisecond
	for c.ws.Get("bufferedAmount").Int() > sendHighWater {
		if dl := c.writeDeadline.Load(); dl != 0 && time.Now().UnixNano() > dl {
			return fmt.Errorf("ws: write: %w", os.ErrDeadlineExceeded)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-c.closed:
			t.Stop()
			return c.writableLocked()
		case <-c.stopped:
			t.Stop()
			return ErrClosed
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
	return nil
}

// writableLocked says whether a message may be sent: the browser silently
// drops what is sent on a closing connection, so that is an error here.
func (c *Conn) writableLocked() error {
	if c.closing.Load() {
		return ErrClosed
	}
	select {
	case <-c.closed:
		return c.closedErr()
	default:
	}
	if c.ws.Get("readyState").Int() != jsOpen {
		return ErrClosed
	}
	return nil
}

// Close runs the closing handshake (RFC 6455 §7.1.2) through the browser:
// it sends a close frame with code and reason and waits up to the close
// timeout for the peer's. The browser lets scripts send only 1000
// (CloseNormalClosure) and 3000–4999, with a reason of at most 123 bytes;
// other codes are refused with an error wrapping ErrInvalidClosePayload.
// Code 0 sends a close frame without a body. It returns nil when the
// handshake completed, ErrCloseTimeout when the peer did not answer in time
// (the browser then ends the connection on its own schedule), and ErrClosed
// if the connection was already closing or closed.
func (c *Conn) Close(code StatusCode, reason string) error {
	switch {
	case code == 0 && reason != "":
		return fmt.Errorf("%w: a reason needs a status code", ErrInvalidClosePayload)
	case code != 0 && code != CloseNormalClosure && (code < 3000 || code > 4999):
		return fmt.Errorf("%w: the browser sends only 1000 and 3000–4999, not %d", ErrInvalidClosePayload, uint16(code))
	case len(reason) > MaxCloseReason:
		return fmt.Errorf("%w: %d-byte reason, at most %d", ErrInvalidClosePayload, len(reason), MaxCloseReason)
	case !utf8.ValidString(reason):
		return fmt.Errorf("%w: close reason", ErrInvalidUTF8)
	}
	select {
	case <-c.closed:
		return ErrClosed
	default:
	}
	if !c.closing.CompareAndSwap(false, true) {
		return ErrClosed
	}
	c.stop()
	var err error
	if code == 0 {
		err = jsTry(func() { c.ws.Call("close") })
	} else {
		err = jsTry(func() { c.ws.Call("close", int(code), reason) })
	}
	if err != nil {
		return err
	}
	timer := time.NewTimer(c.closeTimeout)
	defer timer.Stop()
	select {
	case <-c.closed:
		if c.closeClean {
			return nil
		}
		return ErrCloseTimeout
	case <-timer.C:
		return ErrCloseTimeout
	}
}

// CloseNow ends the connection without waiting: the browser is told to
// close (without a code; scripts cannot drop a WebSocket without a close
// frame), and readers and writers get ErrClosed at once.
func (c *Conn) CloseNow() error {
	c.abort()
	return nil
}

// MessageWriter collects one message for NextWriter. The browser sends only
// whole messages, so it sends nothing before Close.
type MessageWriter struct {
	c    *Conn
	op   Opcode
	buf  []byte
	done bool
}

// NextWriter returns a writer for one message of type op (OpText or
// OpBinary). The browser's API has no fragments (RFC 6455 §5.4 is its
// business): the payload is gathered in memory and sent as one message by
// Close, which returns WriteMessage's error.
func (c *Conn) NextWriter(op Opcode) (*MessageWriter, error) {
	if op != OpText && op != OpBinary {
		return nil, fmt.Errorf("%w: NextWriter with %s", ErrBadOpcode, op)
	}
	c.writeMu.Lock()
	err := c.writableLocked()
	c.writeMu.Unlock()
	if err != nil {
		return nil, err
	}
	return &MessageWriter{c: c, op: op}, nil
}

// Write appends p to the message.
func (w *MessageWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("%w: message writer already closed", ErrClosed)
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// Close sends the message.
func (w *MessageWriter) Close() error {
	if w.done {
		return fmt.Errorf("%w: message writer already closed", ErrClosed)
	}
	w.done = true
	err := w.c.WriteMessage(w.op, w.buf)
	w.buf = nil
	return err
}
