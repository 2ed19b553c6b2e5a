//go:build !js

package ws

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// websocketGUID is the fixed string RFC 6455 §1.3 appends to the key before
// hashing it into Sec-WebSocket-Accept.
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKey computes Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455
// §4.2.2 step 5.4): base64(SHA-1(key + GUID)). Both sides need it: the server
// to answer, the client to check the answer.
func AcceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte(websocketGUID))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// newChallengeKey returns a fresh Sec-WebSocket-Key. RFC 6455 §4.1: "a
// randomly selected 16-byte value that has been base64-encoded"; "The nonce
// MUST be selected randomly for each connection."
func newChallengeKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.StdEncoding.EncodeToString(b[:])
}

// Handshake failures. Every one reaches the caller inside a *HandshakeError,
// which also carries what the peer sent, so errors.Is names the cause and
// errors.As shows the details.
var (
	// ErrBadHandshake is matched by every *HandshakeError.
	ErrBadHandshake = errors.New("ws: bad handshake")
	// ErrBadStatus: the server answered with a status other than 101.
	ErrBadStatus = errors.New("ws: server did not switch protocols")
	// ErrBadUpgrade: Upgrade or Connection headers missing or wrong.
	ErrBadUpgrade = errors.New("ws: missing or wrong Upgrade/Connection header")
	// ErrBadAccept: Sec-WebSocket-Accept missing or wrong.
	ErrBadAccept = errors.New("ws: wrong Sec-WebSocket-Accept")
	// ErrBadSubprotocol: the server chose a subprotocol we did not offer.
	ErrBadSubprotocol = errors.New("ws: server chose a subprotocol that was not offered")
	// ErrBadExtension: the server answered with an extension we did not
	// offer or with parameters we did not allow.
	ErrBadExtension = errors.New("ws: server answered with an extension that was not offered")
	// ErrMalformedHead: what came back is not a well-formed HTTP response
	// (or request), e.g. a non-HTTP server on the port.
	ErrMalformedHead = errors.New("ws: malformed handshake head")
	// ErrHeadTooLarge: the response or request head exceeded its limit.
	ErrHeadTooLarge = errors.New("ws: handshake head too large")
	// ErrBadRequest: the client's upgrade request breaks RFC 6455 §4.2.1.
	ErrBadRequest = errors.New("ws: bad upgrade request")
	// ErrBadVersion: the client asked for a version other than 13.
	ErrBadVersion = errors.New("ws: unsupported Sec-WebSocket-Version")
	// ErrBadOrigin: the origin check refused the request.
	ErrBadOrigin = errors.New("ws: origin not allowed")
	// ErrBadHeader: a header name or value the caller supplied cannot be
	// sent (CR, LF or a non-token name), or one this package must own.
	ErrBadHeader = errors.New("ws: invalid request header")
)

// maxBodySnippet bounds how much of a refused handshake's body is kept.
const maxBodySnippet = 1024

// HandshakeError reports a failed opening handshake. On the client it holds
// the server's status, headers and the first bytes of its body, so that a 401
// or 403 can be told apart from a wrong accept key (Workerman only closes,
// issue #847). On the server StatusCode is the status we answered with.
type HandshakeError struct {
	// StatusCode is the HTTP status: the server's answer on the client (0
	// when no status line could be read), the one we answered on the server.
	StatusCode int
	// Status is the status line's code and text, e.g. "403 Forbidden".
	Status string
	// Header holds the response's fields on the client, the request's on
	// the server (nil when the head could not be parsed).
	Header http.Header
	Body   []byte // at most 1 KiB of the response body
	Err    error  // the specific sentinel (ErrBadStatus, ErrBadAccept, …)
	// Detail says what exactly was wrong, for people reading logs.
	Detail string
}

// Error says which rule failed and, for a refused status, what the server said.
func (e *HandshakeError) Error() string {
	var b strings.Builder
	b.WriteString(e.Err.Error())
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Status != "" {
		fmt.Fprintf(&b, " (status %q)", e.Status)
	}
	return b.String()
}

// Unwrap returns the specific cause and ErrBadHandshake, so both match.
func (e *HandshakeError) Unwrap() []error { return []error{e.Err, ErrBadHandshake} }

// headerHasToken reports whether any value of header name, read as a
// comma-separated list, contains token, compared case-insensitively (RFC
// 6455 §4.1 and §4.2.1 treat Upgrade and Connection that way).
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// headerTokens splits every value of header name into trimmed, non-empty
// comma-separated tokens.
func headerTokens(h http.Header, name string) []string {
	var out []string
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

// ownedHeaders are the request headers this package writes itself; a caller
// who sets one would produce an invalid or contradictory request.
var ownedHeaders = []string{"Upgrade", "Connection", "Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Extensions"}

// isToken reports whether s is an HTTP token (RFC 9110 §5.6.2), the only
// thing a header name may be.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7F || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

// checkHeaderValue refuses CR, LF and NUL, which would split the request
// (header injection). Workerman drops such headers silently; we say so.
func checkHeaderValue(name, v string) error {
	if strings.ContainsAny(v, "\r\n\x00") {
		return fmt.Errorf("%w: value of %q contains CR, LF or NUL", ErrBadHeader, name)
	}
	return nil
}

// checkRequestHeader validates the caller's extra headers and subprotocols
// before anything is dialled or sent, and returns the subprotocols offered
// (from the list, or else from a raw Sec-WebSocket-Protocol header).
func checkRequestHeader(extra http.Header, protocols []string) ([]string, error) {
	for name, vals := range extra {
		if !isToken(name) {
			return nil, fmt.Errorf("%w: name %q", ErrBadHeader, name)
		}
		for _, v := range vals {
			if err := checkHeaderValue(name, v); err != nil {
				return nil, err
			}
		}
		for _, o := range ownedHeaders {
			if strings.EqualFold(name, o) {
				return nil, fmt.Errorf("%w: %s is set by the library", ErrBadHeader, name)
			}
		}
	}
	fromHeader := headerTokens(extra, "Sec-WebSocket-Protocol")
	if len(protocols) == 0 {
		// A caller may also offer subprotocols as a raw header, as
		// Workerman's websocketClientProtocol does.
		protocols = fromHeader
	} else if len(fromHeader) > 0 {
		return nil, fmt.Errorf("%w: subprotocols given both as a list and as a header", ErrBadHeader)
	}
	// RFC 6455 §4.1 item 10: subprotocols are tokens and "MUST all be
	// unique strings".
	for i, p := range protocols {
		if !isToken(p) {
			return nil, fmt.Errorf("%w: subprotocol %q is not a token", ErrBadHeader, p)
		}
		if slices.Contains(protocols[:i], p) {
			return nil, fmt.Errorf("%w: subprotocol %q offered twice", ErrBadHeader, p)
		}
	}
	return protocols, nil
}

// isIOError reports whether err came from the connection (the peer went away,
// a deadline passed) rather than from what the peer sent.
func isIOError(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne)
}

// clientRequest is what the client puts on the wire, kept for checking the
// answer.
type clientRequest struct {
	key        string
	protocols  []string
	extensions string // the Sec-WebSocket-Extensions offer, "" if none
}

// writeClientRequest appends the opening handshake of RFC 6455 §4.1 to buf.
// host is the Host header value (with the port unless it is the scheme's
// default, §4.1 item 4); extra holds the caller's headers.
func writeClientRequest(buf []byte, u *url.URL, host string, extra http.Header, protocols []string, extOffer string) ([]byte, *clientRequest, error) {
	req := &clientRequest{key: newChallengeKey(), extensions: extOffer}
	// RFC 6455 §4.1 item 1–2: GET with the resource name (path and query).
	uri := u.RequestURI()
	if strings.ContainsAny(uri, " \r\n") {
		return buf, nil, fmt.Errorf("%w: request URI %q", ErrBadHeader, uri)
	}
	protocols, err := checkRequestHeader(extra, protocols)
	if err != nil {
		return buf, nil, err
	}
	for name, vals := range extra {
		if strings.EqualFold(name, "Host") && len(vals) > 0 && vals[0] != "" {
			host = vals[0] // a caller may address a virtual host, as Workerman allows
		}
	}
	req.protocols = protocols

	buf = append(buf, "GET "...)
	buf = append(buf, uri...)
	buf = append(buf, " HTTP/1.1\r\nHost: "...)
	buf = append(buf, host...)
	// RFC 6455 §4.1 items 5–9.
	buf = append(buf, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "...)
	buf = append(buf, req.key...)
	buf = append(buf, "\r\nSec-WebSocket-Version: 13\r\n"...)
	if len(protocols) > 0 && len(headerTokens(extra, "Sec-WebSocket-Protocol")) == 0 {
		buf = append(buf, "Sec-WebSocket-Protocol: "...)
		buf = append(buf, strings.Join(protocols, ", ")...)
		buf = append(buf, "\r\n"...)
	}
	if extOffer != "" {
		buf = append(buf, "Sec-WebSocket-Extensions: "...)
		buf = append(buf, extOffer...)
		buf = append(buf, "\r\n"...)
	}
	names := make([]string, 0, len(extra))
	for name := range extra {
		if !strings.EqualFold(name, "Host") {
			names = append(names, name)
		}
	}
	slices.Sort(names) // a stable order makes requests reproducible
	for _, name := range names {
		for _, v := range extra[name] {
			buf = append(buf, name...)
			buf = append(buf, ": "...)
			buf = append(buf, v...)
			buf = append(buf, "\r\n"...)
		}
	}
	buf = append(buf, "\r\n"...)
	return buf, req, nil
}

// checkServerResponse validates the server's answer against RFC 6455 §4.1
// ("the client MUST validate the server's response as follows") and returns
// the chosen subprotocol and extensions.
func checkServerResponse(resp *http.Response, req *clientRequest) (protocol string, extensions []string, err error) {
	fail := func(sentinel error, format string, args ...any) error {
		return &HandshakeError{
			StatusCode: resp.StatusCode, Status: resp.Status, Header: resp.Header,
			Err: sentinel, Detail: fmt.Sprintf(format, args...),
		}
	}
	// §4.1 item 1: "If the status code received from the server is not
	// 101, the client handles the response per HTTP procedures." We do not
	// follow redirects or retry authentication: the caller sees the status.
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return "", nil, fail(ErrBadStatus, "got %d", resp.StatusCode)
	}
	// §4.1 items 2–3: Upgrade must contain "websocket" and Connection
	// "Upgrade", both case-insensitively.
	if !headerHasToken(resp.Header, "Upgrade", "websocket") {
		return "", nil, fail(ErrBadUpgrade, "Upgrade: %q", resp.Header.Get("Upgrade"))
	}
	if !headerHasToken(resp.Header, "Connection", "upgrade") {
		return "", nil, fail(ErrBadUpgrade, "Connection: %q", resp.Header.Get("Connection"))
	}
	// §4.1 item 4: Sec-WebSocket-Accept must be base64(SHA-1(key+GUID)),
	// compared exactly (it is not a token list).
	accepts := resp.Header.Values("Sec-WebSocket-Accept")
	if want := AcceptKey(req.key); len(accepts) != 1 || strings.TrimSpace(accepts[0]) != want {
		return "", nil, fail(ErrBadAccept, "got %q, want %q", accepts, want)
	}
	// §4.1 item 6: a subprotocol "that was not present in the client's
	// handshake" fails the connection; so does more than one.
	protos := headerTokens(resp.Header, "Sec-WebSocket-Protocol")
	switch {
	case len(protos) > 1:
		return "", nil, fail(ErrBadSubprotocol, "several chosen: %q", protos)
	case len(protos) == 1:
		if !slices.Contains(req.protocols, protos[0]) {
			return "", nil, fail(ErrBadSubprotocol, "%q not in %q", protos[0], req.protocols)
		}
		protocol = protos[0]
	}
	// §4.1 item 5: an extension "not present in the client's handshake"
	// fails the connection. Which parameters are acceptable is the
	// extension's business (RFC 7692 §5); the caller checks that.
	extensions = resp.Header.Values("Sec-WebSocket-Extensions")
	if len(extensions) > 0 && req.extensions == "" {
		return "", nil, fail(ErrBadExtension, "%q", extensions)
	}
	return protocol, extensions, nil
}

// readBodySnippet keeps the first bytes of a refused handshake's body for the
// error, bounded so a hostile server cannot make us buffer much.
func readBodySnippet(resp *http.Response) []byte {
	if resp.Body == nil || resp.Body == http.NoBody {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxBodySnippet))
	return b
}

// headLimitReader caps how many bytes the handshake may read, so that a peer
// sending endless headers gets ErrHeadTooLarge, not our memory (Workerman bug
// B14). It is dropped with the handshake's reader: frames are read from the
// connection itself.
type headLimitReader struct {
	r         io.Reader
	remaining int64
}

// headBytes is how much of what l read belongs to the head: all of it but
// the frames still buffered behind the head in br.
func (l *headLimitReader) headBytes(limit int64, br *bufio.Reader) int {
	return int(limit-l.remaining) - br.Buffered()
}

// Read implements io.Reader with the cap.
func (l *headLimitReader) Read(p []byte) (int, error) {
	if l.remaining <= 0 {
		return 0, ErrHeadTooLarge
	}
	if int64(len(p)) > l.remaining {
		p = p[:l.remaining]
	}
	n, err := l.r.Read(p)
	l.remaining -= int64(n)
	return n, err
}

// newBufReader returns the reader a handshake head is read through. Bytes
// that follow the head stay in it until NewConn copies them out.
func newBufReader(r io.Reader, size int) *bufio.Reader {
	if size <= 0 {
		size = DefaultBufferSize
	}
	if size < minReadBuffer {
		size = minReadBuffer
	}
	return bufio.NewReaderSize(r, size)
}
