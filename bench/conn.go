package bench

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plainws/plainws/ws"
)

// ReplayConn is an in-memory net.Conn that serves a fixed byte stream for
// ever and swallows what is written to it. Benchmarks read from it instead of
// a socket so that the figures measure a library's framing work, not the
// kernel's, and so that every library reads exactly the same bytes: each Read
// fills p completely from the stream (as a socket with data waiting would),
// wrapping around at its end.
//
// Before the stream it can play one side of the opening handshake (RFC 6455
// §4), so libraries that only build connections through their own handshake
// can be measured on it too: NewUpgradeServerConn answers the request a client
// writes, NewUpgradeClientConn serves a request to a server.
//
// Reads come from one goroutine at a time; writes may come from several.
type ReplayConn struct {
	loop []byte // served for ever, once the handshake bytes are gone
	pos  int    // next byte of loop to serve

	// hs is true while the handshake phase is on; the fields below it are
	// guarded by mu and only touched in that phase, so the steady state
	// costs one atomic load per call.
	hs       atomic.Bool
	mu       sync.Mutex
	pending  []byte        // bytes served before loop
	answer   bool          // answer a client's upgrade request written to us
	deflate  bool          // accept the client's permessage-deflate offer
	req      []byte        // the request so far
	answered chan struct{} // closed once pending holds the answer

	written   atomic.Int64
	closed    chan struct{}
	closeOnce sync.Once
}

// NewReplayConn returns a conn that serves loop for ever (or blocks until
// Close when loop is empty, for write-only benchmarks).
func NewReplayConn(loop []byte) *ReplayConn {
	return &ReplayConn{loop: loop, closed: make(chan struct{})}
}

// NewDiscardConn returns a conn that swallows every write and whose reads
// block until Close: the sink of the write benchmarks.
func NewDiscardConn() *ReplayConn { return NewReplayConn(nil) }

// NewUpgradeClientConn returns a conn that first serves a valid client
// upgrade request (RFC 6455 §4.1) for "/" on host "bench.invalid", then loop.
// It lets a library's own server upgrade run on an in-memory conn; the
// server's 101 response is swallowed like any other write.
func NewUpgradeClientConn(loop []byte) *ReplayConn {
	c := NewReplayConn(loop)
	c.pending = []byte(UpgradeRequest)
	c.hs.Store(true)
	return c
}

// NewUpgradeServerConn returns a conn that reads the client's upgrade request
// from what is written to it, answers with a 101 carrying the right
// Sec-WebSocket-Accept (RFC 6455 §4.2.2), then serves loop. Reads before the
// request is complete wait for it, since some clients read and write the
// handshake from different goroutines.
func NewUpgradeServerConn(loop []byte) *ReplayConn {
	c := NewReplayConn(loop)
	c.answer = true
	c.answered = make(chan struct{})
	c.hs.Store(true)
	return c
}

// NewDeflateServerConn is NewUpgradeServerConn for a client that offers
// permessage-deflate: it accepts the client's first offer as it stands (RFC
// 7692 §5, §7.1), so both ends agree on the parameters the client asked
// for (but for a client_max_window_bits without a value, see acceptOffer).
func NewDeflateServerConn(loop []byte) *ReplayConn {
	c := NewUpgradeServerConn(loop)
	c.deflate = true
	return c
}

// NewDeflateClientConn is NewUpgradeClientConn with a permessage-deflate
// offer (RFC 7692 §5) carrying params (e.g. "; server_no_context_takeover").
func NewDeflateClientConn(loop []byte, params string) *ReplayConn {
	c := NewUpgradeClientConn(loop)
	c.pending = []byte(strings.TrimSuffix(UpgradeRequest, "\r\n") + "Sec-WebSocket-Extensions: permessage-deflate" + params + "\r\n\r\n")
	return c
}

// UpgradeRequest is the client handshake NewUpgradeClientConn serves. Its key
// is the sample nonce of RFC 6455 §1.3.
const UpgradeRequest = "GET / HTTP/1.1\r\n" +
	"Host: bench.invalid\r\n" +
	"Upgrade: websocket\r\n" +
	"Connection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
	"Sec-WebSocket-Version: 13\r\n\r\n"

// Read serves the handshake bytes, then the loop.
func (c *ReplayConn) Read(p []byte) (int, error) {
	if c.hs.Load() {
		if n, ok, err := c.readHandshake(p); ok {
			return n, err
		}
	}
	if len(c.loop) == 0 {
		<-c.closed
		return 0, net.ErrClosed
	}
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	n := 0
	for n < len(p) {
		k := copy(p[n:], c.loop[c.pos:])
		n += k
		c.pos += k
		if c.pos == len(c.loop) {
			c.pos = 0
		}
	}
	return n, nil
}

// readHandshake serves pending bytes; ok is false once there are none left,
// which also ends the handshake phase.
func (c *ReplayConn) readHandshake(p []byte) (n int, ok bool, err error) {
	if c.answered != nil {
		select {
		case <-c.answered:
		case <-c.closed:
			return 0, true, net.ErrClosed
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) == 0 {
		c.hs.Store(false)
		return 0, false, nil
	}
	// Serve only the handshake bytes in this read, never the stream behind
	// them, so that an HTTP parser's buffer holds nothing past the head.
	n = copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, true, nil
}

// Write swallows p; in answer mode it first collects the upgrade request.
func (c *ReplayConn) Write(p []byte) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	if c.answer && c.hs.Load() {
		c.collectRequest(p)
	}
	c.written.Add(int64(len(p)))
	return len(p), nil
}

func (c *ReplayConn) collectRequest(p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.answered:
		return // already answered: p is a frame
	default:
	}
	c.req = append(c.req, p...)
	end := bytes.Index(c.req, []byte("\r\n\r\n"))
	if end < 0 {
		return
	}
	resp := UpgradeResponse(requestHeader(c.req[:end], "Sec-WebSocket-Key"))
	if offer, _, _ := strings.Cut(requestHeader(c.req[:end], "Sec-WebSocket-Extensions"), ","); c.deflate && offer != "" {
		resp = strings.TrimSuffix(resp, "\r\n") + "Sec-WebSocket-Extensions: " + acceptOffer(offer) + "\r\n\r\n"
	}
	c.pending = []byte(resp)
	c.req = nil
	close(c.answered)
}

// acceptOffer turns a permessage-deflate offer into the answer that accepts
// it as it stands, except a client_max_window_bits without a value: that only
// says the client could limit its window (RFC 7692 §7.1.2.2), and an answer
// carrying it must give a value, so the answer leaves it out.
func acceptOffer(offer string) string {
	var kept []string
	for p := range strings.SplitSeq(offer, ";") {
		if p = strings.TrimSpace(p); p != "" && !strings.EqualFold(p, "client_max_window_bits") {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, "; ")
}

// requestHeader finds a header's value in a request head.
func requestHeader(head []byte, key string) string {
	for line := range strings.SplitSeq(string(head), "\r\n") {
		name, value, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(name), key) {
			return strings.TrimSpace(value)
		}
	}
	return ""
}

// UpgradeResponse is the 101 answer to a request carrying key (RFC 6455
// §4.2.2 item 5): no subprotocol, no extension.
func UpgradeResponse(key string) string {
	return "HTTP/1.1 101 Switching Protocols\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + ws.AcceptKey(key) + "\r\n\r\n"
}

// Written returns how many bytes were written to c, handshake included.
func (c *ReplayConn) Written() int64 { return c.written.Load() }

// Close wakes blocked readers; later reads and writes fail.
func (c *ReplayConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return nil
}

var replayAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}

// LocalAddr returns a fixed loopback address.
func (c *ReplayConn) LocalAddr() net.Addr { return replayAddr }

// RemoteAddr returns a fixed loopback address.
func (c *ReplayConn) RemoteAddr() net.Addr { return replayAddr }

// SetDeadline does nothing: an in-memory conn never waits for a peer.
func (c *ReplayConn) SetDeadline(time.Time) error { return nil }

// SetReadDeadline does nothing, like SetDeadline.
func (c *ReplayConn) SetReadDeadline(time.Time) error { return nil }

// SetWriteDeadline does nothing, like SetDeadline.
func (c *ReplayConn) SetWriteDeadline(time.Time) error { return nil }

// HijackWriter is an http.ResponseWriter over a raw conn whose request was
// read by http.ReadRequest. It exists so that libraries whose server side
// only upgrades from net/http (gorilla, coder) can be benchmarked on a
// ReplayConn or a raw loopback conn without an http.Server in between.
type HijackWriter struct {
	Conn   net.Conn
	BR     *bufio.Reader
	header http.Header
	status int
}

// ServeUpgrade reads one HTTP request from nc and hands it to handler with a
// HijackWriter, as net/http would. It is how the benchmarks drive a
// library's net/http-based upgrade.
func ServeUpgrade(nc net.Conn, handler func(http.ResponseWriter, *http.Request)) error {
	br := bufio.NewReader(nc)
	r, err := http.ReadRequest(br)
	if err != nil {
		return err
	}
	handler(&HijackWriter{Conn: nc, BR: br}, r)
	return nil
}

// Header returns the response header map.
func (w *HijackWriter) Header() http.Header {
	if w.header == nil {
		w.header = http.Header{}
	}
	return w.header
}

// WriteHeader sends a status line and the headers: a refused upgrade.
func (w *HijackWriter) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	w.status = code
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 " + strconv.Itoa(code) + " " + http.StatusText(code) + "\r\n")
	_ = w.Header().Write(&b)
	b.WriteString("\r\n")
	_, _ = w.Conn.Write(b.Bytes())
}

// Write sends a body (only refusals write one).
func (w *HijackWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.Conn.Write(p)
}

// Hijack hands the conn over, with the reader that holds what follows the
// request head.
func (w *HijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.Conn, bufio.NewReadWriter(w.BR, bufio.NewWriter(w.Conn)), nil
}

var _ io.ReadWriteCloser = (*ReplayConn)(nil)
