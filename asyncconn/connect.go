package asyncconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/plainws/plainws/ws"
)

// config is what one connection attempt needs, copied from the Conn's fields when the attempt
// starts, so that the attempt's goroutines never read fields the program may be changing.
type config struct {
	plainURL  string // ws://host:port/path: the transport half, never TLS (we run TLS ourselves)
	wsURL     string // ws:// or wss://host:port/path: the URL of the upgrade request
	tls       *tls.Config
	dialer    ws.Dialer
	timeout   time.Duration // ConnectTimeout, resolved
	closeWait time.Duration // CloseTimeout, resolved
	err       error         // a setting that cannot work: reported as ConnectFail
}

// newConfigLocked snapshots the settings for an attempt. c.mu must be held.
func (c *Conn) newConfigLocked() *config {
	cfg := &config{}
	tlsOn, err := c.useTLS()
	if err != nil {
		cfg.err = err
		return cfg
	}
	hostPort := net.JoinHostPort(c.url.Hostname(), c.portLocked())
	rest := c.url.RequestURI()
	cfg.plainURL = "ws://" + hostPort + rest
	cfg.wsURL = cfg.plainURL
	if tlsOn {
		cfg.wsURL = "wss://" + hostPort + rest
		cfg.tls = c.TLSConfig.Clone()
		if cfg.tls == nil {
			cfg.tls = &tls.Config{}
		}
		if cfg.tls.ServerName == "" {
			// SNI and verification name the target, also behind a proxy.
			cfg.tls.ServerName = c.url.Hostname()
		}
		if len(cfg.tls.NextProtos) == 0 {
			// RFC 6455 §4.1: the upgrade is an HTTP/1.1 request; ALPN must not pick h2.
			cfg.tls.NextProtos = []string{"http/1.1"}
		}
	}

	d := &cfg.dialer
	d.ReadBufferSize = orDefault(c.ReadBufferSize, DefaultReadBufferSize)
	d.WriteBufferSize = orDefault(c.WriteBufferSize, DefaultWriteBufferSize)
	d.ReadLimit = c.MaxPackageSize
	if d.ReadLimit <= 0 {
		d.ReadLimit = DefaultMaxPackageSize
	}
	d.CloseTimeout = c.CloseTimeout
	d.Compression = c.Compression
	d.HandshakeTimeout = -1 // the attempt's context bounds the whole connect instead
	// The heartbeat is package ws's keepalive: a ping every interval, whatever else flows, and,
	// with PongTimeout, a failure when nothing at all comes back in time.
	d.PingInterval = c.WebsocketPingInterval
	d.PongTimeout = -1
	if c.PongTimeout > 0 {
		d.PongTimeout = c.PongTimeout
	}
	cfg.closeWait = c.CloseTimeout
	if cfg.closeWait <= 0 {
		cfg.closeWait = ws.DefaultCloseTimeout
	}
	cfg.timeout = c.ConnectTimeout
	if cfg.timeout == 0 {
		cfg.timeout = DefaultConnectTimeout
	}

	d.Header = c.Headers.Clone()
	if c.WebsocketOrigin != "" {
		if d.Header == nil {
			d.Header = http.Header{}
		}
		d.Header.Set("Origin", c.WebsocketOrigin)
	}
	for p := range strings.SplitSeq(c.WebsocketClientProtocol, ",") {
		if p = strings.TrimSpace(p); p != "" {
			d.Subprotocols = append(d.Subprotocols, p)
		}
	}
	if c.BindTo != "" {
		addr, err := net.ResolveTCPAddr("tcp", c.BindTo)
		if err != nil {
			cfg.err = fmt.Errorf("asyncconn: BindTo %q: %w", c.BindTo, err)
			return cfg
		}
		d.LocalAddr = addr
	}
	proxy, err := c.proxyURL()
	if err != nil {
		cfg.err = err
		return cfg
	}
	if proxy != nil {
		d.Proxy = http.ProxyURL(proxy)
		if c.ProxyHTTP != "" && c.ProxySocks5 == "" && c.ProxyAuthorization != "" {
			// Workerman sends proxyAuthorization as the raw header value,
			// whatever its scheme; so does ws's ProxyConnectHeader.
			d.ProxyConnectHeader = http.Header{"Proxy-Authorization": {c.ProxyAuthorization}}
		}
	}
	return cfg
}

func orDefault(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}

// proxyURL turns Workerman's proxy settings into the proxy URL package ws understands.
func (c *Conn) proxyURL() (*url.URL, error) {
	parse := func(s, scheme string) (*url.URL, error) {
		if !strings.Contains(s, "://") {
			s = scheme + "://" + s
		}
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("%w: proxy %q", ErrBadProxy, s)
		}
		return u, nil
	}
	switch {
	case c.ProxySocks5 != "":
		// Workerman always sends the host name to the proxy (ATYP 3): that is socks5h.
		u, err := parse(c.ProxySocks5, "socks5h")
		if err != nil {
			return nil, err
		}
		if c.ProxySocks5Username != "" || c.ProxySocks5Password != "" {
			u.User = url.UserPassword(c.ProxySocks5Username, c.ProxySocks5Password)
		}
		return u, nil
	case c.ProxyHTTP != "":
		u, err := parse(c.ProxyHTTP, "http")
		if err != nil {
			return nil, err
		}
		return u, nil
	}
	return nil, nil
}

// attempt is one connection attempt: dial, upgrade, and the life of the connection until OnClose.
// Every Connect and reconnect makes a new one, so that nothing of an old connection (its
// goroutines, its queued events, its send buffer) can leak into the next.
//
// One goroutine dials; once upgraded it hands over to a fresh reader goroutine (whose stack has
// not grown through DNS, TLS and HTTP parsing, so an idle connection keeps a small one). A writer
// goroutine exists only while there is something to send. Fields marked "mu" are guarded by c.mu;
// fields marked "loop" are touched on the loop goroutine only.
type attempt struct {
	c         *Conn
	cfg       *config // mu: the settings, dropped once the dial is over
	closeWait time.Duration
	q         *sendQueue
	abortCh   chan struct{}  // mu: closed by abortLocked; made only when someone waits (abortedLocked)
	wg        sync.WaitGroup // the writer goroutine
	hookPrev  *attempt       // loop's mu: the attempts a stopping loop aborts (Loop.attach)
	hookNext  *attempt       // loop's mu
	hooked    bool           // loop's mu

	aborted    bool               // mu: the attempt is being torn down
	dialCancel context.CancelFunc // mu: cancels the dial while it runs
	nc         net.Conn           // mu: the transport during the upgrade
	wsc        *ws.Conn           // mu: set once upgraded
	writing    bool               // mu: the writer goroutine runs
	paused     bool               // mu: PauseRecv
	resume     chan struct{}      // mu: closed by ResumeRecv
	held       []func()           // mu: reader events held while paused, in order
	localClose bool               // mu: Close or Destroy was called for this attempt
	detached   bool               // mu: ReConnect replaced this attempt
	ended      bool               // mu: the reader has finished
	failCode   ErrorCode          // mu: a failure found outside the reader (the writer)
	failErr    error              // mu
	destroyed  bool               // mu: Destroy dropped the send buffer on purpose
	closing    bool               // mu: a close the program did not ask for began: Send is refused
	flushing   bool               // mu: the writer is inside WriteMessages
	writeSince int64              // mu: when that write began, in Unix nanoseconds; 0 if none
	inflight   int                // mu: bytes of messages read and not yet delivered by the loop
	wake       chan struct{}      // mu: closed by notifyLocked; nil while nobody waits
	lostMsgs   int                // mu: accepted messages that were never sent
	lostBytes  int                // mu: their payload bytes
	lostErr    error              // mu: why the first of them could not be sent
	counted    bool               // mu: the byte counters were added to the Conn's totals
}

// startLocked begins a new attempt. c.mu must be held.
func (c *Conn) startLocked() {
	cfg := c.newConfigLocked()
	a := &attempt{c: c, cfg: cfg, closeWait: cfg.closeWait}
	a.q = c.pendingQ
	if a.q == nil {
		a.q = &sendQueue{}
	}
	c.pendingQ = nil
	c.cur = a
	c.status = StatusConnecting
	// A stopped loop ends its connections: nothing would ever run their callbacks.
	if !c.loop.attach(a) {
		a.abortLocked()
	}
	go a.dialThenRead()
}

// abort tears the attempt down: it cancels the dial or closes the connection, which ends the
// reader and the writer. It is idempotent.
func (a *attempt) abort() {
	a.c.mu.Lock()
	a.abortLocked()
	a.c.mu.Unlock()
}

// abortedLocked returns a channel closed once the attempt is aborted, made on first use: most
// attempts never need one, and an idle connection should not carry it. c.mu must be held.
func (a *attempt) abortedLocked() <-chan struct{} {
	if a.abortCh == nil {
		a.abortCh = make(chan struct{})
		if a.aborted {
			close(a.abortCh)
		}
	}
	return a.abortCh
}

// abortLocked is abort with c.mu held.
func (a *attempt) abortLocked() {
	if a.aborted {
		return
	}
	a.aborted = true
	if a.abortCh != nil {
		close(a.abortCh)
	}
	a.notifyLocked()
	if a.dialCancel != nil {
		a.dialCancel()
	}
	switch {
	case a.wsc != nil:
		_ = a.wsc.CloseNow()
	case a.nc != nil:
		_ = a.nc.Close()
	}
}

// quietLocked reports whether the attempt's events should no longer reach the program, because
// the program closed or replaced it. c.mu must be held.
func (a *attempt) quietLocked() bool { return a.localClose || a.detached }

// dispatch queues fn on the loop with backpressure. If the loop has stopped, the attempt is
// aborted and false is returned.
func (a *attempt) dispatch(fn func()) bool {
	if err := a.c.loop.Dispatch(context.Background(), fn); err != nil {
		a.abort()
		return false
	}
	return true
}

// readerEvent dispatches an event read from the connection; it is held while receiving is paused.
func (a *attempt) readerEvent(fn func()) bool {
	return a.dispatch(func() { a.c.readerEvent(a, fn) })
}

// dialThenRead is the attempt's first goroutine. After a successful upgrade it starts the reader
// and returns; otherwise it reports the failure itself.
func (a *attempt) dialThenRead() {
	wsc, resp, code, err := a.dial()
	if err != nil {
		a.finish(code, err)
		return
	}
	go a.read(wsc, resp)
}

// finish reports the end of the attempt to the loop (OnError if it failed, then OnClose) once
// everything of it has stopped.
func (a *attempt) finish(code ErrorCode, err error) {
	c := a.c
	c.mu.Lock()
	a.abortLocked() // closes the connection if it is still open, which also ends the writer
	a.ended = true
	if code == 0 && a.failCode != 0 {
		var ce *ws.CloseError
		if !errors.As(err, &ce) {
			code, err = a.failCode, a.failErr
		}
	}
	c.mu.Unlock()
	c.loop.detach(a)
	a.wg.Wait() // nothing of this attempt outlives its OnClose but this goroutine's return
	c.mu.Lock()
	// What is still queued was accepted by Send and will never be sent.
	n, b := a.q.dropRest()
	a.lostMsgs += n
	a.lostBytes += b
	if n > 0 && a.lostErr == nil {
		a.lostErr = err
	}
	if a.wsc != nil && !a.counted {
		a.counted = true
		c.bytesRead.Add(a.wsc.BytesReceived())
		c.bytesWritten.Add(a.wsc.BytesSent())
	}
	c.mu.Unlock()
	a.dispatch(func() { c.deliverEnd(a, code, err) })
}

// read is the reader goroutine: it delivers what the server sends until the connection ends.
func (a *attempt) read(wsc *ws.Conn, resp *http.Response) {
	c := a.c
	if !a.dispatch(func() { c.deliverUpgraded(a, resp) }) {
		a.finish(0, ErrNotOpen)
		return
	}
	for a.waitResumed() && a.waitRoom() {
		// A fresh slice per message, sized by the frame: the callback owns it, and an idle
		// connection keeps no read buffer of its own.
		op, data, err := wsc.ReadMessageInto(nil)
		if err != nil {
			var pe *ws.ProtocolError
			var te *ws.TimeoutError
			switch {
			case errors.As(err, &pe):
				a.finish(ProtocolFail, err)
			case errors.As(err, &te) && errors.Is(err, ws.ErrPongTimeout):
				a.finish(PingTimeout, err)
			default:
				a.finish(0, err)
			}
			return
		}
		c.mu.Lock()
		a.inflight += len(data)
		c.mu.Unlock()
		if !a.readerEvent(func() { c.deliverMessage(a, op, data) }) {
			break
		}
	}
	a.finish(0, ws.ErrClosed)
}

// dial makes the transport (TCP, proxy tunnel, TLS), reports OnConnect, and runs the upgrade, all
// within the connect timeout. On failure it returns the code to report with the error.
func (a *attempt) dial() (*ws.Conn, *http.Response, ErrorCode, error) {
	c := a.c
	c.mu.Lock()
	cfg := a.cfg
	c.mu.Unlock()
	if cfg.err != nil {
		return nil, nil, ConnectFail, cfg.err
	}
	var ctx context.Context
	var cancel context.CancelFunc
	if cfg.timeout > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), cfg.timeout)
	} else {
		ctx, cancel = context.WithCancel(context.Background())
	}
	defer cancel()
	c.mu.Lock()
	if a.aborted {
		c.mu.Unlock()
		return nil, nil, 0, ws.ErrClosed
	}
	a.dialCancel = cancel
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		a.dialCancel, a.nc, a.cfg = nil, nil, nil // an open connection keeps none of it
		c.mu.Unlock()
	}()

	// TCP and the proxy tunnel by package ws, then TLS here, so that a TLS failure can be told
	// from a connect failure (Workerman reports neither, B6).
	nc, err := cfg.dialer.DialNet(ctx, cfg.plainURL)
	if err != nil {
		return nil, nil, ConnectFail, err
	}
	if cfg.tls != nil {
		tc := tls.Client(nc, cfg.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			return nil, nil, TLSFail, fmt.Errorf("asyncconn: TLS handshake with %s: %w", cfg.tls.ServerName, err)
		}
		nc = tc
	}
	c.mu.Lock()
	if a.aborted {
		c.mu.Unlock()
		_ = nc.Close()
		return nil, nil, 0, ws.ErrClosed
	}
	a.nc = nc
	c.remoteAddr = nc.RemoteAddr().String()
	c.localAddr = nc.LocalAddr().String()
	c.mu.Unlock()
	if !a.dispatch(func() { c.deliverConnect(a) }) {
		return nil, nil, 0, ErrNotOpen
	}

	// The upgrade, with a fresh Sec-WebSocket-Key on every attempt. The transport goes to package
	// ws as it is: on a plain *net.TCPConn it then holds no read buffer while idle, and its byte
	// counters are what BytesRead and BytesWritten report.
	wsc, resp, err := cfg.dialer.Handshake(ctx, nc, cfg.wsURL)
	if err != nil {
		_ = nc.Close()
		return nil, nil, HandshakeFail, err
	}
	if resp.Body != nil {
		_ = resp.Body.Close()
	}
	a.installHandlers(wsc)
	c.mu.Lock()
	defer c.mu.Unlock()
	if a.aborted {
		_ = wsc.CloseNow()
		return nil, nil, 0, ws.ErrClosed
	}
	a.wsc = wsc
	c.kickLocked(a) // what was sent before the upgrade goes out now, in order
	return wsc, resp, 0, nil
}

// installHandlers routes the control frames package ws reads to the loop, and makes package ws
// wait for the send buffer before it writes a close frame of its own accord (flow.go).
func (a *attempt) installHandlers(wsc *ws.Conn) {
	c := a.c
	// Pings are answered on the loop (deliverPing), where OnWebSocketPing decides whether the
	// program answers them itself. Every ping queues its own pong; a flood of pings from a server
	// that does not read our pongs holds the reader back like a flood of messages does.
	wsc.SetPingHandler(func(p []byte) {
		a.waitRoom()
		payload := append([]byte{}, p...)
		a.readerEvent(func() { c.deliverPing(a, payload) })
	})
	wsc.SetPongHandler(func(p []byte) {
		payload := append([]byte{}, p...)
		a.readerEvent(func() { c.deliverPong(a, payload) })
	})
	// The reader waits for OnWebSocketClose to return, and then for the messages queued until
	// then, before package ws answers the close frame: so the callback runs first, what the
	// program sent goes out, and the handshake completes after it (RFC 6455 §5.5.1). When the
	// close frame answers our own Close there is nothing to answer, and no reason to wait (it may
	// also be read by ws.Conn.Close itself while receiving is paused and the event is held).
	wsc.SetCloseHandler(func(code ws.StatusCode, reason string) {
		c.mu.Lock()
		quiet := a.quietLocked()
		c.mu.Unlock()
		if quiet {
			a.readerEvent(func() { c.deliverWSClose(a, code, reason) })
			return
		}
		a.flushBeforeClose(func(done chan struct{}) {
			c.deliverWSClose(a, code, reason)
			c.markClosing(a, done)
		})
	})
	// A protocol violation: what was read before it is delivered, and what the program sent
	// until then goes out, before the close frame that fails the connection.
	wsc.SetFailHandler(func(*ws.ProtocolError) {
		a.flushBeforeClose(func(done chan struct{}) { c.markClosing(a, done) })
	})
}

// waitResumed blocks while receiving is paused and reports whether the attempt goes on.
func (a *attempt) waitResumed() bool {
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for a.paused && !a.aborted {
		ch, abort := a.resume, a.abortedLocked()
		c.mu.Unlock()
		select {
		case <-ch:
		case <-abort:
		}
		c.mu.Lock()
	}
	return !a.aborted
}
