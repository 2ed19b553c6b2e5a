//go:build !js

package ws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Proxy tunnels, client side. The Dialer chooses a proxy with Dialer.Proxy
// (http.ProxyFromEnvironment reads HTTP_PROXY, HTTPS_PROXY and NO_PROXY;
// http.ProxyURL names one), dials it, binds the connection's deadline to its
// context and calls proxyHandshake, which picks the protocol by the proxy
// URL's scheme:
//
//	http, https      HTTP CONNECT, RFC 9110 §9.3.6                 proxy_connect.go
//	socks5, socks5h  SOCKS5, RFC 1928, credentials per RFC 1929    proxy_socks5.go
//
// This file holds what both protocols share: the errors, the proxy's
// address and credentials, the target's checks and the dispatch. Nothing
// here starts a goroutine.

// Sentinel errors for proxy tunnels. Every failure of proxyHandshake and
// proxyAddr is a *ProxyError; its chain holds exactly one of these, so a
// caller can tell "fix your configuration" from "fix your credentials" from
// "the proxy said no" from "the proxy is broken" with errors.Is. I/O failures
// (a reset, the dial context's deadline) are wrapped as they are, together
// with the context's error when the context ended.
var (
	// ErrProxyScheme reports a proxy URL whose scheme is not http, https,
	// socks5 or socks5h; a typo there must not silently bypass the proxy.
	ErrProxyScheme = errors.New("ws: unsupported proxy scheme")
	// ErrProxyAddr reports a proxy URL without a usable host and port, or a
	// target the tunnel protocol cannot carry (a name longer than 255 bytes,
	// an IPv6 zone, a non-numeric port, control characters).
	ErrProxyAddr = errors.New("ws: invalid proxy or target address")
	// ErrProxyAuth reports that the proxy requires credentials we did not
	// send, rejected the ones we sent, or that the URL's credentials cannot
	// be encoded for the proxy's protocol.
	ErrProxyAuth = errors.New("ws: proxy authentication required or rejected")
	// ErrProxyRefused reports that the proxy understood the request and
	// declined to open the tunnel (an HTTP status other than 2xx and 407, a
	// SOCKS5 reply other than "succeeded"). StatusCode or Reply of the
	// ProxyError says why.
	ErrProxyRefused = errors.New("ws: proxy refused the tunnel")
	// ErrProxyReply reports a reply that breaks the proxy protocol: a
	// garbage status line, a wrong version byte, a method we did not offer,
	// an unknown address type, an oversized head, or a connection closed
	// before the reply was complete (then io.ErrUnexpectedEOF is in the
	// chain as well).
	ErrProxyReply = errors.New("ws: malformed proxy reply")
)

// ProxyError is the error of every failed proxy step. It exists so that a
// caller can read what the proxy answered (StatusCode, Reply) with
// errors.As, and match the cause (ErrProxyAuth, ErrProxyRefused, ...) with
// errors.Is, without parsing text. Proxy never contains the password.
type ProxyError struct {
	// Proxy is the proxy URL with its password redacted, e.g.
	// "socks5://user:xxxxx@127.0.0.1:1080".
	Proxy string
	// Op is the step that failed: "address", "connect", "greeting" or
	// "auth" ("greeting" and "auth" exist for SOCKS5 only).
	Op string
	// Target is the host:port the tunnel was meant to reach; empty for
	// failures that happen before a target is involved.
	Target string
	// StatusCode is the HTTP status of a CONNECT reply, 0 when there was
	// none.
	StatusCode int
	// Reply is the REP byte of a failed SOCKS5 reply (RFC 1928 §6), 0 when
	// there was none.
	Reply byte
	// Err is the cause; it wraps one of the ErrProxy sentinels or an I/O
	// error.
	Err error
}

// Error says which proxy, which step and which target failed, and why.
func (e *ProxyError) Error() string {
	var b strings.Builder
	b.WriteString("ws: proxy ")
	b.WriteString(e.Proxy)
	b.WriteString(": ")
	b.WriteString(e.Op)
	if e.Target != "" {
		b.WriteString(" ")
		b.WriteString(e.Target)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap exposes the cause to errors.Is and errors.As.
func (e *ProxyError) Unwrap() error { return e.Err }

// Default proxy ports per scheme: 80 and 443 are the http and https ports
// (RFC 9110 §4.2.1, §4.2.2), 1080 is SOCKS's (RFC 1928 §3).
const (
	proxyPortHTTP   = "80"
	proxyPortHTTPS  = "443"
	proxyPortSOCKS5 = "1080"
)

// proxyHandshake negotiates a tunnel to target ("host:port", host may be a
// name, IPv4 or [IPv6]) over conn, which is connected to the proxy described
// by proxy. It returns the conn to use for the tunnel: conn itself, or a
// wrapper that first yields bytes the proxy sent after its reply, so no byte
// of the target's stream is lost.
//
// ctx is only consulted to name the cause when I/O fails: the caller bounds
// the I/O by binding conn's deadline to ctx. On failure conn is closed and
// the error is a *ProxyError.
func proxyHandshake(ctx context.Context, conn net.Conn, proxy *url.URL, target string, connectHeader http.Header) (net.Conn, error) {
	tunnel, err := proxyNegotiate(ctx, conn, proxy, target, connectHeader)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return tunnel, nil
}

func proxyNegotiate(ctx context.Context, conn net.Conn, proxy *url.URL, target string, connectHeader http.Header) (net.Conn, error) {
	perr := &ProxyError{Proxy: proxyRedacted(proxy), Op: "connect", Target: target}
	if proxy == nil {
		perr.Op = "address"
		perr.Err = fmt.Errorf("no proxy URL: %w", ErrProxyScheme)
		return nil, perr
	}
	scheme := strings.ToLower(proxy.Scheme)
	switch scheme {
	case "http", "https", "socks5", "socks5h":
	default:
		perr.Op = "address"
		perr.Err = fmt.Errorf("%q: %w", proxy.Scheme, ErrProxyScheme)
		return nil, perr
	}
	if err := ctx.Err(); err != nil {
		perr.Err = err
		return nil, perr
	}
	host, port, err := proxySplitTarget(target)
	if err != nil {
		perr.Err = err
		return nil, perr
	}
	user, pass, hasCreds := proxyCredentials(proxy)
	if scheme == "http" || scheme == "https" {
		// TLS to an https proxy is the Dialer's job; over that TLS
		// connection the tunnel is the same HTTP CONNECT.
		return proxyHTTPConnect(ctx, conn, perr, host, port, user, pass, hasCreds, connectHeader)
	}
	// socks5 and socks5h both hand names to the proxy unresolved (ATYP
	// X'03'): resolution happens where the proxy is, as socks5h promises,
	// and socks5 does the same rather than leak DNS queries locally.
	if err := proxySOCKS5(ctx, conn, perr, host, port, user, pass, hasCreds); err != nil {
		return nil, err
	}
	return conn, nil
}

// proxyAddr returns the host:port to dial for proxy, applying the scheme's
// default port (http: 80, https: 443, socks5/socks5h: 1080). Unsupported
// schemes fail with ErrProxyScheme, a missing host or a bad port with
// ErrProxyAddr, both inside a *ProxyError.
func proxyAddr(proxy *url.URL) (string, error) {
	perr := &ProxyError{Proxy: proxyRedacted(proxy), Op: "address"}
	if proxy == nil {
		perr.Err = fmt.Errorf("no proxy URL: %w", ErrProxyScheme)
		return "", perr
	}
	var port string
	switch strings.ToLower(proxy.Scheme) {
	case "http":
		port = proxyPortHTTP
	case "https":
		port = proxyPortHTTPS
	case "socks5", "socks5h":
		port = proxyPortSOCKS5
	default:
		perr.Err = fmt.Errorf("%q: %w", proxy.Scheme, ErrProxyScheme)
		return "", perr
	}
	host := proxy.Hostname()
	if host == "" {
		perr.Err = fmt.Errorf("proxy URL has no host: %w", ErrProxyAddr)
		return "", perr
	}
	if p := proxy.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			perr.Err = fmt.Errorf("proxy port %q: %w", p, ErrProxyAddr)
			return "", perr
		}
		port = p
	}
	return net.JoinHostPort(host, port), nil
}

// proxyRedacted renders the proxy for error messages: scheme, user and
// host only, the password replaced, so errors can be logged safely.
func proxyRedacted(proxy *url.URL) string {
	if proxy == nil {
		return "<nil>"
	}
	u := url.URL{Scheme: proxy.Scheme, User: proxy.User, Host: proxy.Host}
	return u.Redacted()
}

// proxyCredentials returns the URL's user and password (url.Parse has
// already percent-decoded them) and whether there are any: a URL with an
// empty user info ("socks5://@host") counts as none.
func proxyCredentials(proxy *url.URL) (user, pass string, ok bool) {
	if proxy.User == nil {
		return "", "", false
	}
	user = proxy.User.Username()
	pass, _ = proxy.User.Password()
	return user, pass, user != "" || pass != ""
}

// proxySplitTarget splits target into a host (IPv6 brackets removed) and a
// port, and checks that both can be written into a request line or a SOCKS
// request.
func proxySplitTarget(target string) (host string, port uint16, err error) {
	h, p, err := net.SplitHostPort(target)
	if err != nil {
		return "", 0, fmt.Errorf("target %q: %w: %w", target, ErrProxyAddr, err)
	}
	if h == "" {
		return "", 0, fmt.Errorf("target %q has no host: %w", target, ErrProxyAddr)
	}
	// The host lands in a request line and a header field (RFC 9112 §3.2.3)
	// where whitespace and control characters would split or forge the
	// message; no valid name or address literal contains them.
	for i := 0; i < len(h); i++ {
		if c := h[i]; c <= ' ' || c == 0x7f {
			return "", 0, fmt.Errorf("target host %q contains a control or space character: %w", h, ErrProxyAddr)
		}
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return "", 0, fmt.Errorf("target port %q is not a number in 1..65535: %w", p, ErrProxyAddr)
	}
	return h, uint16(n), nil
}

// proxyIOErr names the cause of a failed read or write: a connection closed
// in the middle of a reply is a malformed reply; any other failure keeps its
// error, joined with the context's when the context is why the deadline
// fired.
func proxyIOErr(ctx context.Context, what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s: proxy closed the connection: %w: %w", what, ErrProxyReply, io.ErrUnexpectedEOF)
	}
	cerr := ctx.Err()
	if cerr == nil && errors.Is(err, os.ErrDeadlineExceeded) {
		// The deadline bound to ctx can fire a moment before ctx's own
		// timer marks it done; a passed context deadline is the cause.
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			cerr = context.DeadlineExceeded
		}
	}
	if cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%s: %w: %w", what, cerr, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
