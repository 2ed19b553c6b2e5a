//go:build js

package ws

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"syscall/js"
	"time"
)

// Defaults of the browser client. They have the values, and the meaning, of
// their namesakes in the native build.
const (
	// DefaultHandshakeTimeout bounds a dial when the Dialer sets no
	// timeout of its own.
	DefaultHandshakeTimeout = 30 * time.Second
	// DefaultReadLimit bounds one message: 16 MiB.
	DefaultReadLimit = 16 << 20
	// DefaultCloseTimeout bounds waiting for the peer's close frame.
	DefaultCloseTimeout = 5 * time.Second
)

var (
	// ErrBadURL is returned for a URL that is not ws:// or wss:// (http://
	// and https:// are accepted as their WebSocket equivalents) or has no
	// host.
	ErrBadURL = errors.New("ws: bad WebSocket URL")
	// ErrBadOpcode is returned when a write names an opcode that does not
	// fit the call (WriteMessage with a control opcode, …).
	ErrBadOpcode = errors.New("ws: opcode not allowed here")
)

// Options are the connection settings the browser client honours; the
// browser's WebSocket API leaves the rest (buffer sizes, keepalive pings,
// UTF-8 validation, which the browser always does) to the browser.
type Options struct {
	// ReadLimit is the largest message accepted; 0 means DefaultReadLimit,
	// a negative value means no limit. The browser has already received a
	// longer message whole when it is seen (the API hands over messages,
	// not frames), so the limit protects the Go heap, not the browser's:
	// the message is dropped without being copied into Go, and the
	// connection is failed with a *ProtocolError wrapping ErrReadLimit
	// whose Code is CloseMessageTooBig (1009). The browser may not send
	// 1009 (scripts may close only with 1000 or 3000–4999), so the peer
	// gets a close frame without a status code, which it reads as 1005.
	ReadLimit int64
	// CloseTimeout bounds how long Close waits for the peer's close frame;
	// 0 means DefaultCloseTimeout.
	CloseTimeout time.Duration
	// Compression is accepted and ignored: the browser negotiates
	// permessage-deflate (or not) by itself, with parameters a script
	// cannot choose. Response.Header of a dial shows what it agreed.
	Compression *CompressionOptions
}

// CompressionOptions has the fields of the native build so that code that
// sets them compiles for the browser; the browser ignores them all (see
// Options.Compression).
type CompressionOptions struct {
	Level                   int
	Threshold               int
	ServerNoContextTakeover bool
	ClientNoContextTakeover bool
	ServerMaxWindowBits     int
	ClientMaxWindowBits     int
}

func (o *Options) readLimit() int64 {
	switch {
	case o.ReadLimit == 0:
		return DefaultReadLimit
	case o.ReadLimit < 0:
		return -1
	}
	return o.ReadLimit
}

func (o *Options) closeTimeout() time.Duration {
	if o.CloseTimeout <= 0 {
		return DefaultCloseTimeout
	}
	return o.CloseTimeout
}

// Dialer opens connections through the host's WebSocket object, the only
// way a program in a browser (or in Node) can open one. The zero value is
// usable.
//
// The browser owns the handshake, so the fields of the native Dialer that
// shape it do not exist here: no request headers (the browser sends its own
// Origin, cookies and User-Agent; RFC 6455 §4.1 leaves a script only the URL
// and the subprotocols), no proxy settings (the browser's apply), no TLS
// configuration (wss:// uses the browser's certificate checks), and no
// NetDialContext or LocalAddr.
type Dialer struct {
	// Options are the connection's settings.
	Options
	// Subprotocols are offered in Sec-WebSocket-Protocol (RFC 6455 §4.1).
	// The browser rejects names that are not tokens, and duplicates.
	Subprotocols []string
	// HandshakeTimeout bounds the dial; 0 means DefaultHandshakeTimeout,
	// negative means only the context bounds it.
	HandshakeTimeout time.Duration
}

// DefaultDialer is used by Dial.
var DefaultDialer = &Dialer{}

// Dial connects to a WebSocket server with DefaultDialer.
func Dial(ctx context.Context, rawURL string) (*Conn, *http.Response, error) {
	return DefaultDialer.Dial(ctx, rawURL)
}

func (d *Dialer) handshakeTimeout() time.Duration {
	if d.HandshakeTimeout == 0 {
		return DefaultHandshakeTimeout
	}
	return d.HandshakeTimeout
}

// Dial opens a WebSocket connection to rawURL (ws://, wss://, or http:// and
// https:// for them) and waits until it is open or the browser gives up. If
// ctx or the handshake timeout ends first, the browser is told to abandon
// the attempt and the error wraps ctx's.
//
// A failed dial does not say why: a refused connection, a server that
// answered with something other than 101, and a bad certificate all look
// alike to a script (the browser hides them on purpose), so the error wraps
// ErrAbnormalClosure, the 1006 the browser reports.
//
// The response is not the server's: the browser exposes only the status
// (always 101 here) and the Sec-WebSocket-Protocol and
// Sec-WebSocket-Extensions values it agreed, which are all that it holds.
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
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("ws: dial %s: %w", u.Redacted(), err)
	}
	c, err := newConn(u.String(), d.Subprotocols, &d.Options)
	if err != nil {
		return nil, nil, fmt.Errorf("ws: dial %s: %w", u.Redacted(), err)
	}
	select {
	case <-c.opened:
	case <-c.closed:
		return nil, nil, fmt.Errorf("ws: dial %s: %w", u.Redacted(), c.closedErr())
	case <-c.failed:
		c.abort()
		c.release()
		return nil, nil, fmt.Errorf("ws: dial %s: %w: the browser reports an error (it does not say which)", u.Redacted(), ErrAbnormalClosure)
	case <-ctx.Done():
		// An abandoned attempt is closed without a code: the browser
		// allows no other close before the connection opened.
		c.abort()
		c.release()
		return nil, nil, fmt.Errorf("ws: dial %s: %w", u.Redacted(), ctx.Err())
	}
	return c, c.response(), nil
}

// parseURL checks a WebSocket URL (RFC 6455 §3) and normalises http(s) to
// ws(s), as the native dialer does, so that both builds accept the same
// URLs.
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
	// RFC 6455 §3: fragment identifiers "MUST NOT be used"; the browser
	// throws on them, so drop them, as the native dialer does.
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}

// jsTry runs f, turning a JavaScript exception thrown inside it (which
// syscall/js raises as a panic with a js.Error) into an error.
func jsTry(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			jerr, ok := r.(js.Error)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("ws: the browser refused: %w", jerr)
		}
	}()
	f()
	return nil
}
