//go:build !js

package ws

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Upgrader accepts WebSocket connections on the server side, from net/http
// (Upgrade) or from a raw net.Conn (UpgradeConn). The zero value accepts
// same-origin (or origin-less) requests with no subprotocol.
type Upgrader struct {
	// Options are the connection's settings (limits, buffers, compression,
	// keepalive), the same as a Dialer's.
	Options

	// Subprotocols lists the subprotocols the server speaks, in order of
	// preference; the first one the client offered is chosen (RFC 6455
	// §4.2.2 item 5.4).
	Subprotocols []string
	// SelectSubprotocol, if set, chooses instead of Subprotocols; it must
	// return one of offered or "".
	SelectSubprotocol func(r *http.Request, offered []string) string
	// CheckOrigin decides whether to accept a request's Origin (RFC 6455
	// §4.2.2 item 4, §10.2). nil means: accept requests without Origin
	// (non-browser clients) and those whose Origin host equals Host, which
	// stops cross-site WebSocket hijacking from browsers.
	CheckOrigin func(r *http.Request) bool
	// HandshakeTimeout bounds reading the request in UpgradeConn; 0 means
	// DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// MaxRequestHeadBytes bounds the request head in UpgradeConn; 0 means
	// DefaultMaxHeadBytes. (net/http's own limit applies in Upgrade.)
	MaxRequestHeadBytes int64
}

// sameOrigin is the default origin check.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(withoutDefaultPort(u.Host, u.Scheme), withoutDefaultPort(r.Host, u.Scheme))
}

// withoutDefaultPort drops ":80" or ":443" when it is the scheme's default,
// so that "h:80" and "h" compare equal.
func withoutDefaultPort(host, scheme string) string {
	h, port, err := net.SplitHostPort(host)
	if err != nil {
		return host
	}
	switch {
	case port == "80" && (scheme == "http" || scheme == "ws"),
		port == "443" && (scheme == "https" || scheme == "wss"):
		if strings.Contains(h, ":") {
			return "[" + h + "]"
		}
		return h
	}
	return host
}

// negotiation is the outcome of checking an upgrade request.
type negotiation struct {
	accept      string
	protocol    string
	extensions  string
	compression *deflateState
}

// check validates an upgrade request as RFC 6455 §4.2.1 requires and picks
// the subprotocol and extensions. On failure it returns the status to answer
// with and a *HandshakeError.
func (u *Upgrader) check(r *http.Request) (*negotiation, http.Header, *HandshakeError) {
	refuse := func(status int, h http.Header, sentinel error, format string, args ...any) (*negotiation, http.Header, *HandshakeError) {
		return refusal(r, status, h, sentinel, format, args...)
	}
	// §4.2.1 item 1: "An HTTP/1.1 or higher GET request".
	if r.Method != http.MethodGet {
		return refuse(http.StatusMethodNotAllowed, http.Header{"Allow": {"GET"}}, ErrBadRequest, "method %s", r.Method)
	}
	// HTTP/2 speaks RFC 8441's extended CONNECT instead (accept_h2.go);
	// here only HTTP/1.1 can be taken over.
	if r.ProtoMajor != 1 || r.ProtoMinor < 1 {
		return refuse(http.StatusBadRequest, nil, ErrBadRequest, "protocol %s", r.Proto)
	}
	// §4.2.1 item 2: a Host header field.
	if r.Host == "" {
		return refuse(http.StatusBadRequest, nil, ErrBadRequest, "no Host")
	}
	// §4.2.1 items 3–4: Upgrade containing "websocket", Connection
	// containing "Upgrade", both case-insensitive.
	if !headerHasToken(r.Header, "Upgrade", "websocket") {
		return refuse(http.StatusUpgradeRequired, http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}}, ErrBadUpgrade, "Upgrade: %q", r.Header.Get("Upgrade"))
	}
	if !headerHasToken(r.Header, "Connection", "upgrade") {
		return refuse(http.StatusBadRequest, nil, ErrBadUpgrade, "Connection: %q", r.Header.Get("Connection"))
	}
	// §4.2.1 item 6 and §4.4: only version 13; otherwise answer 426 with
	// the versions we speak.
	if v := r.Header.Values("Sec-WebSocket-Version"); len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
		return refuse(http.StatusUpgradeRequired, http.Header{"Sec-WebSocket-Version": {"13"}}, ErrBadVersion, "%q", v)
	}
	// §4.2.1 item 5: a key that "when decoded, is 16 bytes in length".
	keys := r.Header.Values("Sec-WebSocket-Key")
	if len(keys) != 1 {
		return refuse(http.StatusBadRequest, nil, ErrBadRequest, "%d Sec-WebSocket-Key headers", len(keys))
	}
	key := strings.TrimSpace(keys[0])
	if raw, err := base64.StdEncoding.DecodeString(key); err != nil || len(raw) != 16 {
		return refuse(http.StatusBadRequest, nil, ErrBadRequest, "Sec-WebSocket-Key %q", key)
	}
	return u.negotiate(r, &negotiation{accept: AcceptKey(key)})
}

// refusal is check's answer to a request it refuses: the status and extra
// headers to reply with, and the *HandshakeError to return.
func refusal(r *http.Request, status int, h http.Header, sentinel error, format string, args ...any) (*negotiation, http.Header, *HandshakeError) {
	return nil, h, &HandshakeError{StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), Header: r.Header, Err: sentinel, Detail: fmt.Sprintf(format, args...)}
}

// negotiate is the part of the handshake HTTP/1.1 and HTTP/2 (RFC 8441 §5)
// share: the origin check, then the subprotocol and the extensions, filled
// into n.
func (u *Upgrader) negotiate(r *http.Request, n *negotiation) (*negotiation, http.Header, *HandshakeError) {
	refuse := func(status int, h http.Header, sentinel error, format string, args ...any) (*negotiation, http.Header, *HandshakeError) {
		return refusal(r, status, h, sentinel, format, args...)
	}
	// §4.2.2 item 4 and §10.2: the origin check protects browsers' users.
	checkOrigin := u.CheckOrigin
	if checkOrigin == nil {
		checkOrigin = sameOrigin
	}
	if !checkOrigin(r) {
		return refuse(http.StatusForbidden, nil, ErrBadOrigin, "%q", r.Header.Get("Origin"))
	}
	// §4.2.2 item 5.4: at most one of the client's subprotocols.
	offered := headerTokens(r.Header, "Sec-WebSocket-Protocol")
	if len(offered) > 0 {
		if u.SelectSubprotocol != nil {
			n.protocol = u.SelectSubprotocol(r, offered)
			if n.protocol != "" && !slices.Contains(offered, n.protocol) {
				return refuse(http.StatusInternalServerError, nil, ErrBadSubprotocol, "SelectSubprotocol chose %q, not offered", n.protocol)
			}
		} else {
			for _, p := range u.Subprotocols {
				if slices.Contains(offered, p) {
					n.protocol = p
					break
				}
			}
		}
	}
	if u.Compression != nil {
		if offers := r.Header.Values("Sec-WebSocket-Extensions"); len(offers) > 0 {
			resp, ds, err := u.Compression.serverAccept(offers)
			if errors.Is(err, ErrCompressionOptions) {
				return refuse(http.StatusInternalServerError, nil, ErrCompressionOptions, "%v", err)
			}
			if err != nil {
				return refuse(http.StatusBadRequest, nil, ErrBadExtension, "%v", err)
			}
			n.extensions, n.compression = resp, ds
		}
	}
	return n, nil, nil
}

// appendResponse writes the 101 answer of RFC 6455 §4.2.2 item 5.
func appendResponse(buf []byte, n *negotiation, extra http.Header) []byte {
	buf = append(buf, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	buf = append(buf, n.accept...)
	buf = append(buf, "\r\n"...)
	if n.protocol != "" {
		buf = append(buf, "Sec-WebSocket-Protocol: "...)
		buf = append(buf, n.protocol...)
		buf = append(buf, "\r\n"...)
	}
	if n.extensions != "" {
		buf = append(buf, "Sec-WebSocket-Extensions: "...)
		buf = append(buf, n.extensions...)
		buf = append(buf, "\r\n"...)
	}
	for name, vals := range extra {
		for _, v := range vals {
			buf = append(buf, name...)
			buf = append(buf, ": "...)
			buf = append(buf, v...)
			buf = append(buf, "\r\n"...)
		}
	}
	return append(buf, "\r\n"...)
}

// checkResponseHeader refuses extra response headers that would break the
// response or contradict the ones the handshake owns.
func checkResponseHeader(h http.Header) error {
	for name, vals := range h {
		if !isToken(name) {
			return fmt.Errorf("%w: name %q", ErrBadHeader, name)
		}
		for _, o := range []string{"Upgrade", "Connection", "Sec-Websocket-Accept", "Sec-Websocket-Protocol", "Sec-Websocket-Extensions"} {
			if strings.EqualFold(name, o) {
				return fmt.Errorf("%w: %s is set by the library", ErrBadHeader, name)
			}
		}
		for _, v := range vals {
			if err := checkHeaderValue(name, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// Upgrade answers an upgrade request received by net/http and takes over
// the connection. responseHeader adds headers (e.g. Set-Cookie) to the 101.
// If the request is not a valid WebSocket upgrade, Upgrade replies with the
// fitting HTTP error (400, 403, 405, 426) and returns a *HandshakeError.
//
// An HTTP/2 CONNECT is taken as RFC 8441's extended CONNECT (upgradeH2): it
// is answered 200 and the Conn runs over the stream. Then the handler must
// not return while the Conn is in use, since returning ends the stream; see
// the package documentation, section HTTP/2, also for the GODEBUG setting
// net/http needs.
func (u *Upgrader) Upgrade(w http.ResponseWriter, r *http.Request, responseHeader http.Header) (*Conn, error) {
	if r.ProtoMajor == 2 && r.Method == http.MethodConnect {
		return u.upgradeH2(w, r, responseHeader) // RFC 8441, accept_h2.go
	}
	if err := checkResponseHeader(responseHeader); err != nil {
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return nil, err
	}
	n, h, herr := u.check(r)
	if herr != nil {
		for k, v := range h {
			w.Header()[k] = v
		}
		http.Error(w, herr.Error(), herr.StatusCode)
		return nil, herr
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "websocket: cannot take over the connection", http.StatusInternalServerError)
		return nil, fmt.Errorf("ws: hijack: %w", err)
	}
	// net/http sets deadlines of its own; the WebSocket starts with none.
	_ = nc.SetDeadline(time.Time{})
	resp := appendResponse(make([]byte, 0, 256), n, responseHeader)
	if _, err := nc.Write(resp); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("ws: writing the handshake response: %w", err)
	}
	// Bytes the client sent after its request were read into net/http's
	// buffer; they are our first frames. NewConn copies them out and never
	// reads the hijacked reader again. The request itself was read by
	// net/http, which does not say how long it was: only the response is
	// counted.
	c := NewConn(nc, brw.Reader, RoleServer, n.protocol, &u.Options)
	// After Hijack the reader and writer are ours, and net/http never uses
	// them again; but its per-connection state, which stays alive as long as
	// the handler runs (typically the life of the WebSocket), still points at
	// them: 8 KiB per idle connection that nothing reads. Emptying them lets
	// the buffers go (bench/README.md, idle server connection).
	*brw.Reader = bufio.Reader{}
	*brw.Writer = bufio.Writer{}
	c.countHandshake(len(resp), 0)
	c.compression = n.compression
	return c, nil
}

// UpgradeConn runs the server's opening handshake on a raw connection: it
// reads the request (bounded in size and by ctx and HandshakeTimeout),
// answers it, and returns the connection and the request. On a bad request
// it answers with an HTTP error, closes nc, and returns a *HandshakeError.
func (u *Upgrader) UpgradeConn(ctx context.Context, nc net.Conn, responseHeader http.Header) (*Conn, *http.Request, error) {
	if err := checkResponseHeader(responseHeader); err != nil {
		_ = nc.Close()
		return nil, nil, err
	}
	t := u.HandshakeTimeout
	if t == 0 {
		t = DefaultHandshakeTimeout
	}
	if t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(aLongTimeAgo) })
	c, r, err := u.upgradeConn(nc, responseHeader)
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		_ = nc.Close()
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%w)", ctxErr, err)
		}
		return nil, r, err
	}
	return c, r, nil
}

func (u *Upgrader) upgradeConn(nc net.Conn, responseHeader http.Header) (*Conn, *http.Request, error) {
	limit := u.MaxRequestHeadBytes
	if limit <= 0 {
		limit = DefaultMaxHeadBytes
	}
	head := &headLimitReader{r: nc, remaining: limit}
	br := newBufReader(head, u.ReadBufferSize)
	r, err := http.ReadRequest(br)
	if err != nil {
		if errors.Is(err, ErrHeadTooLarge) {
			writeHTTPError(nc, http.StatusRequestHeaderFieldsTooLarge, nil)
			return nil, nil, &HandshakeError{StatusCode: http.StatusRequestHeaderFieldsTooLarge, Status: "431 Request Header Fields Too Large", Err: ErrHeadTooLarge, Detail: fmt.Sprintf("request head over %d bytes", limit)}
		}
		if isIOError(err) {
			// The client went away or was too slow: nobody to answer.
			return nil, nil, fmt.Errorf("ws: reading the upgrade request: %w", err)
		}
		writeHTTPError(nc, http.StatusBadRequest, nil)
		return nil, nil, &HandshakeError{StatusCode: http.StatusBadRequest, Status: "400 Bad Request", Err: ErrMalformedHead, Detail: err.Error()}
	}
	n, h, herr := u.check(r)
	if herr != nil {
		writeHTTPError(nc, herr.StatusCode, h)
		return nil, r, herr
	}
	resp := appendResponse(make([]byte, 0, 256), n, responseHeader)
	if _, err := nc.Write(resp); err != nil {
		return nil, r, fmt.Errorf("ws: writing the handshake response: %w", err)
	}
	c := NewConn(nc, br, RoleServer, n.protocol, &u.Options)
	c.countHandshake(len(resp), head.headBytes(limit, br))
	c.compression = n.compression
	return c, r, nil
}

// writeHTTPError answers a refused raw upgrade, best effort.
func writeHTTPError(nc net.Conn, status int, h http.Header) {
	text := http.StatusText(status)
	var b strings.Builder
	b.WriteString("HTTP/1.1 " + strconv.Itoa(status) + " " + text + "\r\n")
	for k, vs := range h {
		for _, v := range vs {
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(text)+1) + "\r\n\r\n" + text + "\n")
	_, _ = nc.Write([]byte(b.String()))
}
