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
	abortCh   chan struct{}  // closed by abortLocked
	wg        sync.WaitGroup // the writer goroutine
	unhook    func() bool    // removes the loop-stop hook

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
	failCode   ErrorCode          // mu: a failure found outside the reader (writer, pong timeout)
	failErr    error              // mu

	pingTimer TimerID // loop
	pongTimer TimerID // loop
}

// startLocked begins a new attempt. c.mu must be held.
func (c *Conn) startLocked() {
	cfg := c.newConfigLocked()
	a := &attempt{c: c, cfg: cfg, closeWait: cfg.closeWait, abortCh: make(chan struct{})}
	a.q = c.pendingQ
	if a.q == nil {
		a.q = &sendQueue{}
	}
	c.pendingQ = nil
	c.cur = a
	c.status = StatusConnecting
	// A stopped loop ends its connections: nothing would ever run their callbacks.
	a.unhook = context.AfterFunc(c.loop.stoppedContext(), a.abort)
	go a.dialThenRead()
}

// abort tears the attempt down: it cancels the dial or closes the connection, which ends the
// reader and the writer. It is idempotent.
func (a *attempt) abort() {
	a.c.mu.Lock()
	a.abortLocked()
	a.c.mu.Unlock()
}

// abortLocked is abort with c.mu held.
func (a *attempt) abortLocked() {
	if a.aborted {
		return
	}
	a.aborted = true
	close(a.abortCh)
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
	a.unhook()
	a.wg.Wait() // nothing of this attempt outlives its OnClose but this goroutine's return
	a.dispatch(func() { c.deliverEnd(a, code, err) })
}

// read is the reader goroutine: it delivers what the server sends until the connection ends.
func (a *attempt) read(wsc *ws.Conn, resp *http.Response) {
	c := a.c
	if !a.dispatch(func() { c.deliverUpgraded(a, resp) }) {
		a.finish(0, ErrNotOpen)
		return
	}
	for a.waitResumed() {
		// A fresh slice per message, sized by the frame: the callback owns it, and an idle
		// connection keeps no read buffer of its own.
		op, data, err := wsc.ReadMessageInto(nil)
		if err != nil {
			var pe *ws.ProtocolError
			if errors.As(err, &pe) {
				a.finish(ProtocolFail, err)
				return
			}
			a.finish(0, err)
			return
		}
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
	cc := &countingConn{Conn: nc, c: c}
	c.mu.Lock()
	if a.aborted {
		c.mu.Unlock()
		_ = cc.Close()
		return nil, nil, 0, ws.ErrClosed
	}
	a.nc = cc
	c.remoteAddr = nc.RemoteAddr().String()
	c.localAddr = nc.LocalAddr().String()
	c.mu.Unlock()
	if !a.dispatch(func() { c.deliverConnect(a) }) {
		return nil, nil, 0, ErrNotOpen
	}

	// The upgrade, with a fresh Sec-WebSocket-Key on every attempt.
	wsc, resp, err := cfg.dialer.Handshake(ctx, cc, cfg.wsURL)
	if err != nil {
		_ = cc.Close()
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

// installHandlers routes the control frames package ws reads to the loop.
func (a *attempt) installHandlers(wsc *ws.Conn) {
	c := a.c
	// Pings are answered on the loop (deliverPing), where OnWebSocketPing decides whether the
	// program answers them itself.
	wsc.SetPingHandler(func(p []byte) {
		payload := append([]byte{}, p...)
		a.readerEvent(func() { c.deliverPing(a, payload) })
	})
	wsc.SetPongHandler(func(p []byte) {
		payload := append([]byte{}, p...)
		a.readerEvent(func() { c.deliverPong(a, payload) })
	})
	// The reader waits for OnWebSocketClose to return before package ws answers the close frame,
	// so the callback runs first and the handshake completes after it (RFC 6455 §5.5.1). When the
	// close frame answers our own Close there is nothing to answer, and no reason to wait (it may
	// also be read by ws.Conn.Close itself while receiving is paused and the event is held).
	wsc.SetCloseHandler(func(code ws.StatusCode, reason string) {
		done := make(chan struct{})
		if !a.readerEvent(func() { c.deliverWSClose(a, code, reason, done) }) {
			return
		}
		c.mu.Lock()
		quiet := a.quietLocked()
		c.mu.Unlock()
		if quiet {
			return
		}
		select {
		case <-done:
		case <-a.abortCh:
		case <-c.loop.Done():
		}
	})
}

// waitResumed blocks while receiving is paused and reports whether the attempt goes on.
func (a *attempt) waitResumed() bool {
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for a.paused && !a.aborted {
		ch := a.resume
		c.mu.Unlock()
		select {
		case <-ch:
		case <-a.abortCh:
		}
		c.mu.Lock()
	}
	return !a.aborted
}
