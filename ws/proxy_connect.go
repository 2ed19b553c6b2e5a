//go:build !js

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
	"strconv"
	"strings"
)

// HTTP CONNECT tunnels (RFC 9110 §9.3.6) for http and https proxies: the
// request with Basic Proxy-Authorization or the Dialer's ProxyConnectHeader,
// and the reply head, read within a bound and checked field by field.

// proxyHTTPHeadMax bounds the head of a CONNECT reply (status line and
// fields, interim 1xx heads included): a proxy that never ends its head gets
// an error, not our memory.
const proxyHTTPHeadMax = 8 << 10

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
