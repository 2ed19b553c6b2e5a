package asyncconn

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plainws/plainws/ws"
)

// Defaults of the settings, Workerman's where Workerman has one.
const (
	// DefaultMaxSendBufferSize is Workerman's TcpConnection::$defaultMaxSendBufferSize (1 MiB).
	DefaultMaxSendBufferSize = 1 << 20
	// DefaultMaxPackageSize is Workerman's TcpConnection::$defaultMaxPackageSize (10 MiB).
	DefaultMaxPackageSize = 10 << 20
	// DefaultConnectTimeout bounds TCP, proxy, TLS and the upgrade together. Workerman has no such
	// timeout (bug B18), so a silent server would hold a connection attempt forever.
	DefaultConnectTimeout = 30 * time.Second
	// DefaultReadBufferSize is the read buffer a Conn asks of package ws: package ws's own
	// default. On a plain TCP connection (ws://, with or without a proxy) package ws holds it
	// only while bytes are waiting, so an idle connection keeps none; under TLS it is kept.
	DefaultReadBufferSize = ws.DefaultBufferSize
	// DefaultWriteBufferSize is the write buffer a Conn asks of package ws, small for the same
	// reason: a bigger message is masked in a buffer package ws shares between connections.
	DefaultWriteBufferSize = 256
)

// nextID hands out connection IDs; Workerman's ids also start at 1 and are never reused.
var nextID atomic.Uint64

// Conn is a WebSocket client connection in the style of Workerman's AsyncTcpConnection with the
// ws protocol: create it with New, set its exported fields and callbacks, then call Connect. Every
// callback runs on the Conn's Loop, one at a time, so callbacks need no locks between themselves
// or with other callbacks and timers of the same Loop.
//
// The exported fields are settings (Workerman's public properties). Set them before Connect or
// from callbacks of the Conn's Loop; an attempt reads them when it starts, so a change applies to
// the next Connect or ReConnect. Do not change them from other goroutines while the Conn is in use.
// The methods are safe for concurrent use.
type Conn struct {
	// Transport is Workerman's $transport: "tcp" (the default, plain ws://) or "ssl" to run TLS
	// under a ws:// URL, as Workerman requires for wss. "tls" is accepted as a synonym. A wss://
	// URL always uses TLS.
	Transport string
	// Headers are added to the upgrade request (Workerman's $headers), e.g. Cookie or
	// Authorization. A Host header replaces the default one. Headers that would break the request
	// (CR, LF, or headers the handshake owns) fail the attempt with HandshakeFail instead of being
	// dropped silently as in Workerman.
	Headers http.Header
	// WebsocketType selects the frame type of Send: BinaryTypeBlob (text, the default) or
	// BinaryTypeArrayBuffer (binary).
	WebsocketType BinaryType
	// WebsocketOrigin, if not empty, is sent as the Origin header.
	WebsocketOrigin string
	// WebsocketClientProtocol, if not empty, is the comma-separated list of subprotocols offered in
	// Sec-WebSocket-Protocol. Unlike Workerman, the server's choice is checked (RFC 6455 §4.1).
	WebsocketClientProtocol string
	// WebsocketPingInterval, if positive, sends a ping every interval once the upgrade is done,
	// whether or not other traffic flows, as Workerman's websocketPingInterval does (there in
	// seconds; here a time.Duration, so sub-second intervals work).
	WebsocketPingInterval time.Duration
	// PongTimeout, if positive, fails a connection with OnError(PingTimeout) and OnClose when
	// nothing at all (pong, ping or message) arrives from the server within PongTimeout after one of
	// our pings. Off by default; it needs WebsocketPingInterval. Workerman has no such check.
	PongTimeout time.Duration
	// MaxSendBufferSize bounds the bytes (frames as they go on the wire) waiting to be sent: at
	// this size OnBufferFull fires, and further sends are dropped with OnError(SendFail) until the
	// buffer drains. 0 or less means DefaultMaxSendBufferSize.
	MaxSendBufferSize int
	// MaxPackageSize bounds one received message (its payload, after decompression). A longer
	// message fails the connection with close code 1009 and OnError(ProtocolFail). 0 or less means
	// DefaultMaxPackageSize.
	MaxPackageSize int64
	// ProxySocks5 is a SOCKS5 proxy, "host:port" (or a socks5:// or socks5h:// URL). The target
	// host name is sent to the proxy to resolve, as Workerman does. It wins over ProxyHTTP.
	ProxySocks5 string
	// ProxySocks5Username is the user name for the SOCKS5 proxy (RFC 1929 username/password
	// authentication); empty means no authentication unless ProxySocks5Password is set.
	ProxySocks5Username string
	// ProxySocks5Password is the password that goes with ProxySocks5Username.
	ProxySocks5Password string
	// ProxyHTTP is an HTTP proxy used with CONNECT, "host:port" (or an http:// or https:// URL).
	ProxyHTTP string
	// ProxyAuthorization is the Proxy-Authorization value for ProxyHTTP, sent as it is, e.g.
	// "Basic dTpw" or a scheme of the proxy's own; header injection (CR, LF) fails the attempt.
	ProxyAuthorization string
	// BindTo is the local "ip:port" to bind before connecting (Workerman's socket context
	// ['socket' => ['bindto' => ...]]); port 0 picks any. Empty means the system's choice.
	BindTo string
	// TLSConfig configures TLS for wss:// and Transport "ssl". nil means the defaults: the system
	// roots, and verification of the URL's host name (PHP's verify_peer defaults). ServerName
	// defaults to the URL's host, also behind a proxy.
	TLSConfig *tls.Config
	// Compression, if not nil, offers permessage-deflate (RFC 7692) through package ws.
	Compression *ws.CompressionOptions
	// ConnectTimeout bounds TCP, proxy, TLS and the upgrade together; 0 means
	// DefaultConnectTimeout, a negative value means no timeout.
	ConnectTimeout time.Duration
	// CloseTimeout bounds each half of the closing handshake and the flush of the send buffer
	// that Close waits for; 0 means ws.DefaultCloseTimeout.
	CloseTimeout time.Duration
	// ReadBufferSize sizes package ws's read buffer; 0 means DefaultReadBufferSize.
	ReadBufferSize int
	// WriteBufferSize sizes package ws's write buffer; 0 means DefaultWriteBufferSize.
	WriteBufferSize int
	// ReconnectPolicy gives the delay of ReConnect with a negative delay and of AutoReconnect;
	// nil means DefaultBackoff.
	ReconnectPolicy *Backoff
	// AutoReconnect, if true, reconnects after every close the program did not ask for (not
	// Close, Destroy or ReConnect), with the delay ReconnectPolicy gives, unless OnClose already
	// called ReConnect, Connect or Close. Off by default, as in Workerman, where the program calls
	// reConnect in onClose.
	AutoReconnect bool
	// Context is free storage for the program (Workerman's $connection->context). The Conn never
	// touches it, so it survives reconnects.
	Context any

	// OnConnect runs when the transport is up: TCP, the proxy tunnel and TLS. The upgrade request
	// is then on its way; messages sent now are queued and go out after the upgrade.
	OnConnect func(c *Conn)
	// OnWebSocketConnect runs when the server has accepted the upgrade, with its 101 response.
	OnWebSocketConnect func(c *Conn, resp *http.Response)
	// OnMessage runs for every complete message. data belongs to the callback (it may keep it);
	// MessageType tells text from binary during the call.
	OnMessage func(c *Conn, data []byte)
	// OnError runs when the connection fails, with one of the ErrorCode values and a message;
	// LastError returns the Go error. OnClose follows, except for SendFail on a full buffer.
	OnError func(c *Conn, code ErrorCode, msg string)
	// OnClose runs once for every connection attempt, however it ended: after a failure (following
	// OnError), a close by either side, Destroy, or a ReConnect. It is the place to call ReConnect.
	OnClose func(c *Conn)
	// OnBufferFull runs when the send buffer reaches MaxSendBufferSize.
	OnBufferFull func(c *Conn)
	// OnBufferDrain runs when the send buffer has emptied after OnBufferFull.
	OnBufferDrain func(c *Conn)
	// OnWebSocketPing runs for every ping from the server. When it is set, no pong is sent
	// automatically: call Pong. When it is nil, each ping is answered with an identical pong.
	OnWebSocketPing func(c *Conn, payload []byte)
	// OnWebSocketPong runs for every pong from the server.
	OnWebSocketPong func(c *Conn, payload []byte)
	// OnWebSocketClose runs when the server's close frame arrives, with its code and reason
	// (ws.CloseNoStatusReceived if it had none). The closing handshake completes after the callback
	// returns, whether or not it is set (RFC 6455 §5.5.1); OnClose follows.
	OnWebSocketClose func(c *Conn, code ws.StatusCode, reason string)
	// ErrorHandler receives a panic from any callback of this Conn (Workerman's errorHandler). When
	// nil, the panic goes to the Loop's panic handler. Either way the loop keeps running.
	ErrorHandler func(c *Conn, v any)

	loop *Loop
	id   uint64
	url  *url.URL // the URL given to New, without fragment and user info

	bytesRead, bytesWritten atomic.Int64

	mu            sync.Mutex
	status        Status
	cur           *attempt   // the attempt Send and the callbacks belong to, nil if none
	closingAtt    *attempt   // an attempt ReConnect detached that has not delivered OnClose yet
	pendingQ      *sendQueue // messages sent while no attempt runs (before Connect, during ReConnect)
	reconnPending bool       // a ReConnect waits for its delay (or for closingAtt to end)
	reconnDelay   time.Duration
	reconnTimer   TimerID
	reconnGen     uint64 // tells the current reconnect timer from replaced ones
	explicitClose bool   // Close or Destroy was called and no Connect or ReConnect since
	failures      int    // reconnects by policy since the last successful upgrade
	lastErr       error
	remoteAddr    string // the last peer address, kept after a close like Workerman's
	localAddr     string // the local address while connected, "" otherwise

	bufEvents []bufferEvent // OnBufferFull and OnBufferDrain waiting for the loop, in order (flow.go)

	msgType ws.Opcode // the type of the message OnMessage is delivering; loop goroutine only
}

// New returns a Conn for rawURL on loop l, like `new AsyncTcpConnection("ws://host:port/path")`.
// A nil l means Default(). The URL must be ws:// or wss:// with a host; a missing port is 80, or
// 443 with TLS. New does not connect: set the fields, then call Connect.
//
// Unlike Workerman, wss:// works (it is ws:// with Transport "ssl"), and user info in the URL is
// refused instead of dropped silently, because credentials would otherwise never be sent.
func New(l *Loop, rawURL string) (*Conn, error) {
	if l == nil {
		l = Default()
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("asyncconn: %w: %w", ws.ErrBadURL, err)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return nil, fmt.Errorf("asyncconn: %w: scheme %q (want ws or wss)", ws.ErrBadURL, u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("asyncconn: %w: no host in %q", ws.ErrBadURL, rawURL)
	}
	if u.User != nil {
		return nil, fmt.Errorf("asyncconn: %w: user info in the URL is not sent; use Headers", ws.ErrBadURL)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return nil, fmt.Errorf("asyncconn: %w: port %q", ws.ErrBadURL, p)
		}
	}
	// RFC 6455 §3: fragment identifiers are not used in WebSocket URIs; they are never sent.
	u.Fragment, u.RawFragment = "", ""
	c := &Conn{
		Transport:         "tcp",
		WebsocketType:     BinaryTypeBlob,
		MaxSendBufferSize: DefaultMaxSendBufferSize,
		MaxPackageSize:    DefaultMaxPackageSize,
		loop:              l,
		id:                nextID.Add(1),
		url:               u,
		status:            StatusInitial,
	}
	return c, nil
}

// ID returns the connection's ID, unique in the process and kept across reconnects, like
// Workerman's $id, so it can key maps of connections.
func (c *Conn) ID() uint64 { return c.id }

// Loop returns the Loop that runs the Conn's callbacks.
func (c *Conn) Loop() *Loop { return c.loop }

// Status returns the current status (Workerman's getStatus()).
func (c *Conn) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// LastError returns the Go error behind the last OnError, or the one that ended the last
// connection attempt: a *ws.HandshakeError (with StatusCode, Header and Body) after
// HandshakeFail, a *ws.ProtocolError after ProtocolFail, a *ws.CloseError after the server
// closed normally, and so on. It is nil until something went wrong or ended.
func (c *Conn) LastError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastErr
}

// MessageType returns ws.OpText or ws.OpBinary during OnMessage, and 0 elsewhere. Workerman
// hands onMessage a string and no type; this is how Go code can tell them apart.
func (c *Conn) MessageType() ws.Opcode { return c.msgType }

// RemoteHost returns the host of the URL (Workerman's getRemoteHost), without IPv6 brackets.
func (c *Conn) RemoteHost() string { return c.url.Hostname() }

// RemoteURI returns the path and query of the URL (Workerman's getRemoteURI), "/" at least.
func (c *Conn) RemoteURI() string { return c.url.RequestURI() }

// RemoteAddress returns "ip:port" of the peer while or after connecting — the proxy's behind a
// proxy, as in Workerman — and "host:port" from the URL before the first connection.
func (c *Conn) RemoteAddress() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.remoteAddr != "" {
		return c.remoteAddr
	}
	return net.JoinHostPort(c.url.Hostname(), c.portLocked())
}

// RemoteIP returns the host part of RemoteAddress.
func (c *Conn) RemoteIP() string { h, _ := splitHostPort(c.RemoteAddress()); return h }

// RemotePort returns the port of RemoteAddress.
func (c *Conn) RemotePort() int { _, p := splitHostPort(c.RemoteAddress()); return p }

// LocalAddress returns the local "ip:port" while the transport is up, and "" otherwise.
func (c *Conn) LocalAddress() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.localAddr
}

// LocalIP returns the host part of LocalAddress, or "".
func (c *Conn) LocalIP() string { h, _ := splitHostPort(c.LocalAddress()); return h }

// LocalPort returns the port of LocalAddress, or 0.
func (c *Conn) LocalPort() int { _, p := splitHostPort(c.LocalAddress()); return p }

// IsIPv6 reports whether the remote IP is an IPv6 address (Workerman's isIpV6).
func (c *Conn) IsIPv6() bool { return strings.Contains(c.RemoteIP(), ":") }

// IsIPv4 reports whether the remote IP is not an IPv6 address (Workerman's isIpV4).
func (c *Conn) IsIPv4() bool { return !c.IsIPv6() }

// BytesRead returns the bytes received over all connections of this Conn, like Workerman's
// $bytesRead, which is never reset either. It counts the WebSocket stream, handshake included, as
// it is inside TLS (decrypted), as Workerman does.
func (c *Conn) BytesRead() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.bytesRead.Load()
	for _, a := range c.liveAttemptsLocked() {
		n += a.wsc.BytesReceived()
	}
	return n
}

// BytesWritten returns the bytes sent over all connections of this Conn, counted like BytesRead
// (before encryption).
func (c *Conn) BytesWritten() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.bytesWritten.Load()
	for _, a := range c.liveAttemptsLocked() {
		n += a.wsc.BytesSent()
	}
	return n
}

// liveAttemptsLocked returns the upgraded attempts whose byte counters are not yet in the Conn's
// totals (finish adds them). c.mu must be held.
func (c *Conn) liveAttemptsLocked() []*attempt {
	var live []*attempt
	for _, a := range []*attempt{c.cur, c.closingAtt} {
		if a != nil && a.wsc != nil && !a.counted {
			live = append(live, a)
		}
	}
	return live
}

// SendBufferSize returns the bytes waiting to be sent, counted as frames on the wire (Workerman's
// getSendBufferQueueSize, which however leaves out what waits for the upgrade; this does not).
func (c *Conn) SendBufferSize() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.cur != nil:
		return c.cur.q.bytes
	case c.pendingQ != nil:
		return c.pendingQ.bytes
	}
	return 0
}

// String describes the connection for logs.
func (c *Conn) String() string {
	return fmt.Sprintf("asyncconn.Conn#%d(%s, %s)", c.id, c.url.Redacted(), c.Status())
}

// useTLS reports whether the next attempt runs TLS, and whether Transport is valid.
func (c *Conn) useTLS() (bool, error) {
	if c.url.Scheme == "wss" {
		return true, nil
	}
	switch strings.ToLower(c.Transport) {
	case "", "tcp":
		return false, nil
	case "ssl", "tls":
		return true, nil
	}
	return false, fmt.Errorf("%w %q (want \"tcp\" or \"ssl\")", ErrBadTransport, c.Transport)
}

// portLocked is the URL's port, or the default for the transport (decided at connect time, as in
// Workerman, so Transport may be set after New). RFC 6455 §3: port 80 for ws, 443 for wss.
func (c *Conn) portLocked() string {
	if p := c.url.Port(); p != "" {
		return p
	}
	if tlsOn, _ := c.useTLS(); tlsOn {
		return "443"
	}
	return "80"
}

// splitHostPort splits "host:port", returning "" and 0 for what is missing.
func splitHostPort(addr string) (string, int) {
	if addr == "" {
		return "", 0
	}
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	n, _ := strconv.Atoi(p)
	return h, n
}
