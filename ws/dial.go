//go:build !js

package ws

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Dialing defaults.
const (
	// DefaultHandshakeTimeout bounds TCP connect, proxy, TLS and upgrade
	// together when the Dialer sets no timeout of its own.
	DefaultHandshakeTimeout = 30 * time.Second
	// DefaultMaxHeadBytes bounds the handshake response (or request) head.
	DefaultMaxHeadBytes = 32 << 10
)

// ErrBadURL is returned for a URL that is not ws:// or wss:// (http:// and
// https:// are accepted as their WebSocket equivalents) or has no host.
var ErrBadURL = errors.New("ws: bad WebSocket URL")

// aLongTimeAgo is a deadline in the past: setting it wakes every blocked
// read and write at once, which is how a cancelled context reaches I/O.
var aLongTimeAgo = time.Unix(1, 0)

// Dialer opens client connections. The zero value is usable: no proxy, TLS
// with the system roots, the default timeouts and limits.
type Dialer struct {
	// Options are the connection's settings (limits, buffers, compression,
	// keepalive), the same as an Upgrader's.
	Options

	// NetDialContext, if set, opens the TCP (or other) connection, e.g. to
	// reach a Unix socket or to add instrumentation.
	NetDialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// LocalAddr binds the local end (Workerman's socket context bindto).
	// Ignored when NetDialContext is set.
	LocalAddr net.Addr
	// TLSConfig is used for wss:// and https:// proxies; nil means the
	// defaults. ServerName defaults to the URL's host, so SNI and
	// verification name the target even behind a proxy.
	TLSConfig *tls.Config
	// Proxy picks a proxy for a request, as http.Transport.Proxy does
	// (http.ProxyFromEnvironment, http.ProxyURL). Supported schemes: http,
	// https (HTTP CONNECT), socks5, socks5h (RFC 1928/1929). nil: direct.
	Proxy func(*http.Request) (*url.URL, error)
	// HandshakeTimeout bounds the whole dial; 0 means
	// DefaultHandshakeTimeout, negative means only the context bounds it.
	HandshakeTimeout time.Duration
	// Header holds extra request headers (Origin, Cookie, Authorization,
	// a Host override, …). Names or values that would break the request
	// are an error, never silently dropped.
	Header http.Header
	// Subprotocols are offered in Sec-WebSocket-Protocol (RFC 6455 §4.1).
	Subprotocols []string
	// MaxResponseHeadBytes bounds the response head; 0 means
	// DefaultMaxHeadBytes.
	MaxResponseHeadBytes int64
	// ProxyConnectHeader adds headers to an HTTP CONNECT request, e.g. a
	// Proxy-Authorization of a scheme other than Basic (Workerman's
	// proxyAuthorization); it replaces the URL's Basic credentials.
	ProxyConnectHeader http.Header
}

// The steps of a dial, named by DialError.Op.
const (
	OpConnect = "connect" // TCP to the server or the proxy
	OpProxy   = "proxy"   // the proxy tunnel
	OpTLS     = "tls"     // TLS to the server (or to an https proxy)
)

// DialError says which step of the transport half of a dial failed, so a
// caller can tell an unreachable host from a refused proxy or a bad
// certificate (Workerman reports all of them alike). Handshake failures are
// *HandshakeError instead.
type DialError struct {
	Op   string // OpConnect, OpProxy or OpTLS
	Addr string // the address dialled: the server's or the proxy's
	Err  error  // the cause: a *net.OpError, a *ProxyError, a TLS error or the context's error
}

// Error names the step and the address.
func (e *DialError) Error() string { return "ws: " + e.Op + " " + e.Addr + ": " + e.Err.Error() }

// Unwrap exposes the cause (a *net.OpError, *ProxyError, TLS error, or the
// context's error).
func (e *DialError) Unwrap() error { return e.Err }

// DefaultDialer is used by Dial. It takes proxies from the environment
// (HTTP_PROXY, HTTPS_PROXY, NO_PROXY), as net/http does.
var DefaultDialer = &Dialer{Proxy: http.ProxyFromEnvironment}

// Dial connects to a WebSocket server with DefaultDialer.
func Dial(ctx context.Context, rawURL string) (*Conn, *http.Response, error) {
	return DefaultDialer.Dial(ctx, rawURL)
}

// parseURL checks a WebSocket URL (RFC 6455 §3) and normalises http(s) to
// ws(s).
func parseURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	switch strings.ToLower(u.Scheme) {
	case "ws", "http":
		u.Scheme = "ws"
	case "wss", "https":
		u.Scheme = "wss"
	default:
		return nil, fmt.Errorf("%w: scheme %q (want ws or wss)", ErrBadURL, u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%w: no host in %q", ErrBadURL, rawURL)
	}
	// RFC 6455 §3: fragment identifiers "MUST NOT be used"; they are never
	// sent, so drop them rather than fail.
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}

// defaultPort is the port RFC 6455 §3 gives each scheme.
func defaultPort(u *url.URL) string {
	if u.Scheme == "wss" {
		return "443"
	}
	return "80"
}

// targetAddr is host:port of the server, with the default port filled in.
func targetAddr(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = defaultPort(u)
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// hostHeader is the Host value RFC 6455 §4.1 item 4 asks for: the host, and
// the port only when it is not the scheme's default. It names the target,
// never a proxy (Workerman bug B7).
func hostHeader(u *url.URL) string {
	if p := u.Port(); p != "" && p != defaultPort(u) {
		return u.Host
	}
	h := u.Hostname()
	if strings.Contains(h, ":") {
		return "[" + h + "]"
	}
	return h
}

func (d *Dialer) handshakeTimeout() time.Duration {
	if d.HandshakeTimeout == 0 {
		return DefaultHandshakeTimeout
	}
	return d.HandshakeTimeout
}

// Dial opens a connection to rawURL (ws:// or wss://): TCP, then the proxy
// tunnel if one is chosen, then TLS, then the opening handshake, all bound by
// ctx and the handshake timeout together. On a refused handshake the error is
// a *HandshakeError and the *http.Response is returned too.
func (d *Dialer) Dial(ctx context.Context, rawURL string) (*Conn, *http.Response, error) {
	u, err := parseURL(rawURL)
	if err != nil {
		return nil, nil, err
	}
	if t := d.handshakeTimeout(); t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	// Refuse a request that cannot be sent before opening anything.
	if _, err := checkRequestHeader(d.Header, d.Subprotocols); err != nil {
		return nil, nil, err
	}
	nc, err := d.dialNet(ctx, u)
	if err != nil {
		return nil, nil, err
	}
	return d.over(ctx, nc, u, false)
}

// DialNet does the transport half of Dial — TCP, proxy tunnel, TLS for
// wss:// — and returns the connection ready for Handshake. It exists for
// callers that must act between the two halves, as Workerman's onConnect
// does (it fires when the transport is up, before the upgrade).
func (d *Dialer) DialNet(ctx context.Context, rawURL string) (net.Conn, error) {
	u, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if t := d.handshakeTimeout(); t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	return d.dialNet(ctx, u)
}

// dialNet opens TCP to the target or its proxy and sets up the tunnel and
// TLS, with I/O bound to ctx.
func (d *Dialer) dialNet(ctx context.Context, u *url.URL) (net.Conn, error) {
	target := targetAddr(u)
	var proxyURL *url.URL
	if d.Proxy != nil {
		// Proxy functions expect http(s) URLs, as net/http passes them.
		pu := *u
		pu.Scheme = map[string]string{"ws": "http", "wss": "https"}[u.Scheme]
		var err error
		if proxyURL, err = d.Proxy(&http.Request{URL: &pu, Header: http.Header{}}); err != nil {
			return nil, fmt.Errorf("ws: choosing a proxy: %w", err)
		}
	}
	addr := target
	if proxyURL != nil {
		var err error
		if addr, err = proxyAddr(proxyURL); err != nil {
			return nil, err
		}
	}
	nc, err := d.dialTCP(ctx, addr)
	if err != nil {
		return nil, &DialError{Op: OpConnect, Addr: addr, Err: err}
	}
	raw := nc
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(aLongTimeAgo) })
	nc, err = d.secure(ctx, nc, u, proxyURL, target, addr)
	if !stop() && err == nil {
		err = &DialError{Op: OpTLS, Addr: addr, Err: ctx.Err()}
	}
	if err != nil {
		_ = raw.Close()
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%w)", ctxErr, err)
		}
		return nil, err
	}
	// The deadline was never touched unless the context fired (stop()
	// returned true), so there is nothing to reset.
	return nc, nil
}

// secure runs the proxy tunnel (over TLS for an https proxy) and TLS to
// the target for wss://.
func (d *Dialer) secure(ctx context.Context, nc net.Conn, u *url.URL, proxyURL *url.URL, target, addr string) (net.Conn, error) {
	if proxyURL != nil {
		if strings.EqualFold(proxyURL.Scheme, "https") {
			tc, err := d.tlsClient(ctx, nc, proxyURL.Hostname())
			if err != nil {
				return nil, &DialError{Op: OpTLS, Addr: addr, Err: fmt.Errorf("to the proxy: %w", err)}
			}
			nc = tc
		}
		var err error
		if nc, err = proxyHandshake(ctx, nc, proxyURL, target, d.ProxyConnectHeader); err != nil {
			return nil, &DialError{Op: OpProxy, Addr: addr, Err: err}
		}
	}
	if u.Scheme == "wss" {
		tc, err := d.tlsClient(ctx, nc, u.Hostname())
		if err != nil {
			return nil, &DialError{Op: OpTLS, Addr: target, Err: err}
		}
		nc = tc
	}
	return nc, nil
}

// Handshake runs the client's opening handshake for rawURL over nc, a
// connection the caller has already made (and secured, for wss), e.g. by
// DialNet. ctx and the handshake timeout bound it. On failure nc is left
// open: it is the caller's to close.
func (d *Dialer) Handshake(ctx context.Context, nc net.Conn, rawURL string) (*Conn, *http.Response, error) {
	u, err := parseURL(rawURL)
	if err != nil {
		return nil, nil, err
	}
	if t := d.handshakeTimeout(); t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	return d.over(ctx, nc, u, true)
}

// over binds nc's deadline to ctx and runs the handshake. On failure it
// closes nc unless the caller owns it (callerOwned: Handshake leaves the
// caller's conn to the caller); an expired context is reported as such
// rather than as the I/O error it caused.
func (d *Dialer) over(ctx context.Context, nc net.Conn, u *url.URL, callerOwned bool) (*Conn, *http.Response, error) {
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(aLongTimeAgo) })
	c, resp, err := d.handshake(nc, u)
	if !stop() && err == nil {
		err = ctx.Err() // the context fired while we finished
	}
	if err != nil {
		if callerOwned {
			_ = nc.SetDeadline(time.Time{}) // hand it back usable
		} else {
			_ = nc.Close()
		}
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%w)", ctxErr, err)
		}
		return nil, resp, err
	}
	return c, resp, nil
}

func (d *Dialer) dialTCP(ctx context.Context, addr string) (net.Conn, error) {
	if d.NetDialContext != nil {
		return d.NetDialContext(ctx, "tcp", addr)
	}
	nd := net.Dialer{LocalAddr: d.LocalAddr}
	return nd.DialContext(ctx, "tcp", addr)
}

func (d *Dialer) tlsClient(ctx context.Context, nc net.Conn, serverName string) (*tls.Conn, error) {
	cfg := d.TLSConfig.Clone()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = serverName
	}
	// Only HTTP/1.1 can carry the upgrade (RFC 6455 §4.1); ALPN must not
	// pick h2.
	if len(cfg.NextProtos) == 0 {
		cfg.NextProtos = []string{"http/1.1"}
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return tc, nil
}

// handshake writes the upgrade request and checks the answer (RFC 6455
// §4.1). The bytes after the 101 head stay in the reader and become the first
// frames, delivered at once (Workerman bug B1).
func (d *Dialer) handshake(nc net.Conn, u *url.URL) (*Conn, *http.Response, error) {
	var offer string
	if d.Compression != nil {
		var err error
		if offer, err = d.Compression.clientOffer(); err != nil {
			return nil, nil, err
		}
	}
	reqBytes, creq, err := writeClientRequest(make([]byte, 0, 512), u, hostHeader(u), d.Header, d.Subprotocols, offer)
	if err != nil {
		return nil, nil, err
	}
	if _, err := nc.Write(reqBytes); err != nil {
		return nil, nil, fmt.Errorf("ws: sending the handshake: %w", err)
	}
	limit := d.MaxResponseHeadBytes
	if limit <= 0 {
		limit = DefaultMaxHeadBytes
	}
	head := &headLimitReader{r: nc, remaining: limit}
	br := newBufReader(head, d.ReadBufferSize)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet, URL: u})
	if err != nil {
		if errors.Is(err, ErrHeadTooLarge) {
			return nil, nil, &HandshakeError{Err: ErrHeadTooLarge, Detail: fmt.Sprintf("response head over %d bytes", limit)}
		}
		if isIOError(err) {
			return nil, nil, fmt.Errorf("ws: reading the handshake response: %w", err)
		}
		return nil, nil, &HandshakeError{Err: ErrMalformedHead, Detail: err.Error()}
	}
	protocol, exts, err := checkServerResponse(resp, creq)
	if err != nil {
		if he, ok := err.(*HandshakeError); ok && resp.StatusCode != http.StatusSwitchingProtocols {
			he.Body = readBodySnippet(resp)
		}
		return nil, resp, err
	}
	var ds *deflateState
	if d.Compression != nil && len(exts) > 0 {
		if ds, err = d.Compression.clientAccept(exts, RoleClient); err != nil {
			return nil, resp, &HandshakeError{StatusCode: resp.StatusCode, Status: resp.Status, Header: resp.Header, Err: ErrBadExtension, Detail: err.Error()}
		}
	}
	c := NewConn(nc, br, RoleClient, protocol, &d.Options)
	c.countHandshake(len(reqBytes), head.headBytes(limit, br))
	c.compression = ds
	return c, resp, nil
}
