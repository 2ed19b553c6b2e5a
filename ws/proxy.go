package ws

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Proxy tunnels, client side: HTTP CONNECT (RFC 9110 §9.3.6) for http and
// https proxies, SOCKS5 (RFC 1928) with username/password authentication
// (RFC 1929) for socks5 and socks5h proxies. The Dialer dials the proxy,
// binds the connection's deadline to its context and calls proxyHandshake;
// nothing here starts a goroutine.

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

// proxyHTTPHeadMax bounds the head of a CONNECT reply (status line and
// fields, interim 1xx heads included): a proxy that never ends its head gets
// an error, not our memory.
const proxyHTTPHeadMax = 8 << 10

// SOCKS5 and RFC 1929 wire constants.
const (
	socksVersion5        = 0x05 // RFC 1928 §3: VER is X'05'
	socksMethodNoAuth    = 0x00 // RFC 1928 §3: NO AUTHENTICATION REQUIRED
	socksMethodUserPass  = 0x02 // RFC 1928 §3: USERNAME/PASSWORD
	socksMethodNone      = 0xFF // RFC 1928 §3: NO ACCEPTABLE METHODS
	socksCmdConnect      = 0x01 // RFC 1928 §4: CONNECT
	socksAtypIPv4        = 0x01 // RFC 1928 §5
	socksAtypDomain      = 0x03 // RFC 1928 §5
	socksAtypIPv6        = 0x04 // RFC 1928 §5
	socksUserPassVersion = 0x01 // RFC 1929 §2: subnegotiation VER is X'01'
	socksReplySucceeded  = 0x00 // RFC 1928 §6
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

// ---------------------------------------------------------------------------
// HTTP CONNECT

// proxyHTTPConnect asks an HTTP proxy for a tunnel (RFC 9110 §9.3.6) and
// reads its reply head.
func proxyHTTPConnect(ctx context.Context, conn net.Conn, perr *ProxyError, host string, port uint16, user, pass string, hasCreds bool, connectHeader http.Header) (net.Conn, error) {
	// RFC 9112 §3.2.3: the request-target of CONNECT is the authority-form,
	// host:port with an IPv6 literal in brackets; RFC 9110 §7.2: Host
	// carries the same authority.
	authority := net.JoinHostPort(host, strconv.Itoa(int(port)))
	var req strings.Builder
	req.WriteString("CONNECT ")
	req.WriteString(authority)
	req.WriteString(" HTTP/1.1\r\nHost: ")
	req.WriteString(authority)
	req.WriteString("\r\n")
	// The caller's own headers (Dialer.ProxyConnectHeader), e.g. a
	// Proxy-Authorization of a scheme other than Basic; one given there
	// replaces the Basic credentials of the URL.
	for name, vals := range connectHeader {
		if !isToken(name) {
			perr.Err = fmt.Errorf("%w: CONNECT header name %q", ErrBadHeader, name)
			return nil, perr
		}
		if strings.EqualFold(name, "Proxy-Authorization") {
			hasCreds = false
		}
		for _, v := range vals {
			if err := checkHeaderValue(name, v); err != nil {
				perr.Err = err
				return nil, perr
			}
			req.WriteString(name + ": " + v + "\r\n")
		}
	}
	if hasCreds {
		// RFC 7617 §2: a user-id containing a colon cannot be sent in Basic
		// credentials, because the colon separates it from the password.
		if strings.IndexByte(user, ':') >= 0 {
			perr.Err = fmt.Errorf("user name contains ':' and cannot be sent with Basic authentication: %w", ErrProxyAuth)
			return nil, perr
		}
		for _, s := range [...]string{user, pass} {
			for i := 0; i < len(s); i++ {
				if c := s[i]; c < ' ' || c == 0x7f {
					perr.Err = fmt.Errorf("credentials contain a control character: %w", ErrProxyAuth)
					return nil, perr
				}
			}
		}
		// RFC 9110 §11.7.2 and RFC 7617 §2: Proxy-Authorization: Basic with
		// base64(user ":" password).
		req.WriteString("Proxy-Authorization: Basic ")
		req.WriteString(base64.StdEncoding.EncodeToString([]byte(user + ":" + pass)))
		req.WriteString("\r\n")
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(conn, req.String()); err != nil {
		perr.Err = proxyIOErr(ctx, "writing CONNECT", err)
		return nil, perr
	}
	code, reason, rest, err := proxyReadHTTPReply(conn)
	if err != nil {
		if !errors.Is(err, ErrProxyReply) {
			err = proxyIOErr(ctx, "reading CONNECT reply", err)
		}
		perr.StatusCode = code
		perr.Err = err
		return nil, perr
	}
	perr.StatusCode = code
	switch {
	case code >= 200 && code <= 299:
		// RFC 9110 §9.3.6: any 2xx means the tunnel is up; the client MUST
		// ignore Content-Length and Transfer-Encoding in it, so the bytes
		// after the head belong to the target.
		if len(rest) > 0 {
			return &proxyPrefixConn{Conn: conn, pending: rest}, nil
		}
		return conn, nil
	case code == 407:
		// RFC 9110 §15.5.8: 407 Proxy Authentication Required.
		if hasCreds {
			perr.Err = fmt.Errorf("%d %s (credentials rejected): %w", code, reason, ErrProxyAuth)
		} else {
			perr.Err = fmt.Errorf("%d %s (no credentials in the proxy URL): %w", code, reason, ErrProxyAuth)
		}
		return nil, perr
	default:
		perr.Err = fmt.Errorf("%d %s: %w", code, reason, ErrProxyRefused)
		return nil, perr
	}
}

// proxyReadHTTPReply reads a CONNECT reply head of at most proxyHTTPHeadMax
// bytes, skipping interim 1xx heads, and returns the final status code, the
// reason phrase and the bytes that followed the head. Errors of the reply's
// form wrap ErrProxyReply; I/O errors are returned as they are (EOF
// included) for the caller to name.
func proxyReadHTTPReply(conn net.Conn) (code int, reason string, rest []byte, err error) {
	buf := make([]byte, proxyHTTPHeadMax)
	n := 0          // bytes in buf
	pos := 0        // start of the next unparsed line
	inHead := false // the status line of the current head has been parsed
	for {
		i := bytes.IndexByte(buf[pos:n], '\n')
		if i < 0 {
			if n == len(buf) {
				return code, "", nil, fmt.Errorf("reply head longer than %d bytes: %w", proxyHTTPHeadMax, ErrProxyReply)
			}
			m, rerr := conn.Read(buf[n:])
			n += m
			if rerr != nil && m == 0 {
				if errors.Is(rerr, io.EOF) {
					if n == 0 {
						return code, "", nil, fmt.Errorf("proxy closed the connection without a reply: %w: %w", ErrProxyReply, io.ErrUnexpectedEOF)
					}
					return code, "", nil, fmt.Errorf("reply head truncated after %d bytes: %w: %w", n, ErrProxyReply, io.ErrUnexpectedEOF)
				}
				return code, "", nil, rerr
			}
			continue
		}
		line := buf[pos : pos+i]
		pos += i + 1
		// RFC 9112 §2.2: lines end in CRLF; a recipient MAY accept a bare
		// LF, and does so here by dropping an optional CR.
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if !inHead {
			code, reason, err = proxyParseStatusLine(line)
			if err != nil {
				return 0, "", nil, err
			}
			inHead = true
			continue
		}
		if len(line) == 0 {
			// RFC 9110 §15.2: a client MUST be able to parse 1xx interim
			// responses before the final one; 101 cannot answer CONNECT.
			if code >= 100 && code <= 199 {
				if code == 101 {
					return code, reason, nil, fmt.Errorf("101 %s in reply to CONNECT: %w", reason, ErrProxyReply)
				}
				inHead = false
				continue
			}
			return code, reason, buf[pos:n:n], nil
		}
		if err := proxyCheckFieldLine(line); err != nil {
			return code, reason, nil, err
		}
	}
}

// proxyParseStatusLine parses "HTTP/1.x SP 3DIGIT SP reason" (RFC 9112 §4).
// The reason may be missing with or without its separating space, as many
// servers send it; the reason must be free of control characters because it
// ends up in error messages.
func proxyParseStatusLine(line []byte) (code int, reason string, err error) {
	s := string(line)
	bad := func(why string) (int, string, error) {
		if len(s) > 64 {
			s = s[:64] + "..."
		}
		return 0, "", fmt.Errorf("status line %q: %s: %w", s, why, ErrProxyReply)
	}
	// RFC 9112 §2.3: HTTP-version = "HTTP/" DIGIT "." DIGIT; a CONNECT
	// reply over HTTP/1 carries major version 1.
	if len(s) < len("HTTP/1.1 200") || !strings.HasPrefix(s, "HTTP/1.") || s[7] < '0' || s[7] > '9' || s[8] != ' ' {
		return bad("not an HTTP/1.x status line")
	}
	digits := s[9:12]
	for i := 0; i < 3; i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return bad("status code is not three digits")
		}
	}
	code, _ = strconv.Atoi(digits)
	// RFC 9110 §15: status codes are 100..599.
	if code < 100 || code > 599 {
		return bad("status code out of range")
	}
	tail := s[12:]
	if tail != "" {
		if tail[0] != ' ' {
			return bad("status code is not three digits")
		}
		tail = tail[1:]
	}
	// RFC 9112 §4: reason-phrase = *( HTAB / SP / VCHAR / obs-text ).
	for i := 0; i < len(tail); i++ {
		if c := tail[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return bad("control character in reason phrase")
		}
	}
	return code, tail, nil
}

// proxyCheckFieldLine rejects a header line that is not "name: value"
// (RFC 9110 §5.1, RFC 9112 §5): garbage in the head means we are not talking
// to an HTTP proxy. Continuation lines of the obsolete line folding (RFC 9112
// §5.2) are accepted; the client reads no field values.
func proxyCheckFieldLine(line []byte) error {
	if line[0] == ' ' || line[0] == '\t' {
		return nil
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return fmt.Errorf("header line without a field name and colon: %w", ErrProxyReply)
	}
	for _, c := range line[:colon] {
		if !proxyIsTokenChar(c) {
			return fmt.Errorf("invalid character %q in header field name: %w", c, ErrProxyReply)
		}
	}
	return nil
}

// proxyIsTokenChar reports whether c is a tchar (RFC 9110 §5.6.2).
func proxyIsTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// proxyPrefixConn is the tunnel when the proxy sent bytes of the target's
// stream in the same read as its reply head: Read yields those first, then
// reads the connection.
type proxyPrefixConn struct {
	net.Conn
	pending []byte
}

// Read drains the bytes that arrived with the proxy's reply before reading
// the connection, so the first frame or handshake byte is never lost.
func (c *proxyPrefixConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		if len(c.pending) == 0 {
			c.pending = nil
		}
		return n, nil
	}
	return c.Conn.Read(p)
}

// ---------------------------------------------------------------------------
// SOCKS5

// proxySOCKS5 runs the method negotiation (RFC 1928 §3), the optional
// username/password subnegotiation (RFC 1929 §2) and the CONNECT request
// (RFC 1928 §4–§6). It reads exactly the bytes of each reply, so no byte of
// the target's stream is consumed.
func proxySOCKS5(ctx context.Context, conn net.Conn, perr *ProxyError, host string, port uint16, user, pass string, hasCreds bool) error {
	fail := func(op string, err error) error {
		perr.Op = op
		perr.Err = err
		return perr
	}
	// Build the CONNECT request first so that a target SOCKS5 cannot carry
	// fails before a byte is sent.
	req, err := socksConnectRequest(host, port)
	if err != nil {
		return fail("connect", err)
	}
	// RFC 1929 §2: UNAME and PASSWD are 1 to 255 bytes each; check before
	// anything is sent.
	if hasCreds {
		if len(user) < 1 || len(user) > 255 {
			return fail("auth", fmt.Errorf("user name is %d bytes, RFC 1929 allows 1..255: %w", len(user), ErrProxyAuth))
		}
		if len(pass) < 1 || len(pass) > 255 {
			return fail("auth", fmt.Errorf("password is %d bytes, RFC 1929 allows 1..255: %w", len(pass), ErrProxyAuth))
		}
	}

	// RFC 1928 §3: VER, NMETHODS, METHODS. We offer "no authentication",
	// and username/password when the URL has credentials.
	greeting := []byte{socksVersion5, 1, socksMethodNoAuth}
	if hasCreds {
		greeting = []byte{socksVersion5, 2, socksMethodNoAuth, socksMethodUserPass}
	}
	if _, err := conn.Write(greeting); err != nil {
		return fail("greeting", proxyIOErr(ctx, "writing greeting", err))
	}
	var b [2]byte
	if _, err := io.ReadFull(conn, b[:]); err != nil {
		return fail("greeting", proxyIOErr(ctx, "reading method selection", err))
	}
	// RFC 1928 §3: the server answers VER (X'05') and METHOD.
	if b[0] != socksVersion5 {
		return fail("greeting", fmt.Errorf("method selection has version %d, want 5: %w", b[0], ErrProxyReply))
	}
	switch method := b[1]; {
	case method == socksMethodNone:
		// RFC 1928 §3: X'FF' means none of our methods is acceptable; the
		// client MUST close the connection (proxyHandshake does).
		if hasCreds {
			return fail("greeting", fmt.Errorf("no acceptable authentication methods: %w", ErrProxyAuth))
		}
		return fail("greeting", fmt.Errorf("no acceptable authentication methods (no credentials in the proxy URL): %w", ErrProxyAuth))
	case method == socksMethodNoAuth:
	case method == socksMethodUserPass && hasCreds:
		if err := socksUserPass(ctx, conn, user, pass); err != nil {
			return fail("auth", err)
		}
	default:
		return fail("greeting", fmt.Errorf("proxy selected method 0x%02x, which we did not offer: %w", method, ErrProxyReply))
	}

	if _, err := conn.Write(req); err != nil {
		return fail("connect", proxyIOErr(ctx, "writing CONNECT request", err))
	}
	return socksReadReply(ctx, conn, perr)
}

// socksConnectRequest builds VER CMD RSV ATYP DST.ADDR DST.PORT (RFC 1928
// §4) for host and port.
func socksConnectRequest(host string, port uint16) ([]byte, error) {
	req := make([]byte, 0, 4+1+255+2)
	req = append(req, socksVersion5, socksCmdConnect, 0x00) // RFC 1928 §4: RSV is X'00'
	if ip, err := netip.ParseAddr(host); err == nil {
		// RFC 1928 §5: IP literals go as X'01' (4 octets) or X'04' (16).
		if ip.Zone() != "" {
			return nil, fmt.Errorf("target %q has an IPv6 zone, which SOCKS5 cannot carry: %w", host, ErrProxyAddr)
		}
		if ip.Is4() {
			a := ip.As4()
			req = append(req, socksAtypIPv4)
			req = append(req, a[:]...)
		} else {
			a := ip.As16()
			req = append(req, socksAtypIPv6)
			req = append(req, a[:]...)
		}
	} else {
		// RFC 1928 §5: X'03', one length octet, then the name without a
		// terminating NUL; the length octet caps it at 255 bytes.
		if len(host) > 255 {
			return nil, fmt.Errorf("target name is %d bytes, SOCKS5 allows 255: %w", len(host), ErrProxyAddr)
		}
		req = append(req, socksAtypDomain, byte(len(host)))
		req = append(req, host...)
	}
	// RFC 1928 §4: DST.PORT in network octet order.
	return append(req, byte(port>>8), byte(port)), nil
}

// socksUserPass runs the RFC 1929 subnegotiation; lengths were checked by
// the caller.
func socksUserPass(ctx context.Context, conn net.Conn, user, pass string) error {
	// RFC 1929 §2: VER (X'01'), ULEN, UNAME, PLEN, PASSWD.
	msg := make([]byte, 0, 3+len(user)+len(pass))
	msg = append(msg, socksUserPassVersion, byte(len(user)))
	msg = append(msg, user...)
	msg = append(msg, byte(len(pass)))
	msg = append(msg, pass...)
	if _, err := conn.Write(msg); err != nil {
		return proxyIOErr(ctx, "writing credentials", err)
	}
	var b [2]byte
	if _, err := io.ReadFull(conn, b[:]); err != nil {
		return proxyIOErr(ctx, "reading authentication status", err)
	}
	// RFC 1929 §2: the response is VER STATUS, VER being the subnegotiation
	// version X'01'.
	if b[0] != socksUserPassVersion {
		return fmt.Errorf("authentication status has version %d, want 1: %w", b[0], ErrProxyReply)
	}
	// RFC 1929 §2: STATUS X'00' is success, anything else failure.
	if b[1] != 0x00 {
		return fmt.Errorf("credentials rejected (status 0x%02x): %w", b[1], ErrProxyAuth)
	}
	return nil
}

// socksReadReply reads VER REP RSV ATYP BND.ADDR BND.PORT (RFC 1928 §6),
// exactly as many bytes as the reply has.
func socksReadReply(ctx context.Context, conn net.Conn, perr *ProxyError) error {
	fail := func(err error) error {
		perr.Op = "connect"
		perr.Err = err
		return perr
	}
	// VER and REP first: a server that refuses may close right after them,
	// and REP is what the caller needs to see.
	var b [2]byte
	if _, err := io.ReadFull(conn, b[:]); err != nil {
		return fail(proxyIOErr(ctx, "reading CONNECT reply", err))
	}
	if b[0] != socksVersion5 {
		return fail(fmt.Errorf("reply has version %d, want 5: %w", b[0], ErrProxyReply))
	}
	if rep := b[1]; rep != socksReplySucceeded {
		perr.Reply = rep
		return fail(fmt.Errorf("reply 0x%02x (%s): %w", rep, socksReplyText(rep), ErrProxyRefused))
	}
	if _, err := io.ReadFull(conn, b[:]); err != nil {
		return fail(proxyIOErr(ctx, "reading CONNECT reply", err))
	}
	// RFC 1928 §6: fields marked RESERVED (RSV) must be set to X'00'.
	if b[0] != 0x00 {
		return fail(fmt.Errorf("reply RSV is 0x%02x, want 0: %w", b[0], ErrProxyReply))
	}
	// RFC 1928 §5, §6: BND.ADDR is 4 octets for X'01', 16 for X'04', a
	// length octet and that many for X'03'; BND.PORT is 2 octets.
	var addrLen int
	switch b[1] {
	case socksAtypIPv4:
		addrLen = 4
	case socksAtypIPv6:
		addrLen = 16
	case socksAtypDomain:
		var l [1]byte
		if _, err := io.ReadFull(conn, l[:]); err != nil {
			return fail(proxyIOErr(ctx, "reading CONNECT reply", err))
		}
		addrLen = int(l[0])
	default:
		return fail(fmt.Errorf("reply has address type 0x%02x: %w", b[1], ErrProxyReply))
	}
	var rest [255 + 2]byte
	if _, err := io.ReadFull(conn, rest[:addrLen+2]); err != nil {
		return fail(proxyIOErr(ctx, "reading CONNECT reply", err))
	}
	return nil
}

// socksReplyText is the meaning RFC 1928 §6 gives a REP byte.
func socksReplyText(rep byte) string {
	switch rep {
	case 0x00:
		return "succeeded"
	case 0x01:
		return "general SOCKS server failure"
	case 0x02:
		return "connection not allowed by ruleset"
	case 0x03:
		return "network unreachable"
	case 0x04:
		return "host unreachable"
	case 0x05:
		return "connection refused"
	case 0x06:
		return "TTL expired"
	case 0x07:
		return "command not supported"
	case 0x08:
		return "address type not supported"
	default:
		return "unassigned"
	}
}
