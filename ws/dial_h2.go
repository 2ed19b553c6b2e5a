//go:build !js

package ws

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strings"
)

// ErrNotHTTP2 is returned by DialH2 when the server answered over HTTP/1,
// where an extended CONNECT means nothing (RFC 8441 is HTTP/2 only).
var ErrNotHTTP2 = errors.New("ws: the server did not answer over HTTP/2")

// DialH2 opens a WebSocket over an HTTP/2 stream (RFC 8441): it connects
// as Dial does (NetDialContext, Proxy, TLSConfig with ALPN "h2" for wss://),
// hands the connection to tr's HTTP/2 transport, and sends an extended
// CONNECT with :protocol "websocket"; once the server answers 2xx, the Conn
// runs over the stream — the request body one way, the response body the
// other. Other requests through tr to the same server may share the
// connection. tr nil means http.DefaultTransport.
//
// rawURL is wss:// (TLS, ALPN h2) or ws:// (HTTP/2 without TLS, "h2c", with
// prior knowledge). Header, Subprotocols, Compression, Options and
// HandshakeTimeout apply as in Dial; redirects are not followed: the caller
// sees the 3xx.
//
// Why not http.Client: http.Transport refuses any request whose header names
// are not tokens before it picks a protocol, and the extended CONNECT needs
// the pseudo-header ":protocol" in Request.Header. net/http's HTTP/2
// transport itself accepts it (and waits for the server's SETTINGS to allow
// it, RFC 8441 §3); it is reachable through tr.TLSNextProto, the exported
// hand-off of a connection to HTTP/2: the "h2" entry for TLS, and for h2c
// the "unencrypted_http2" entry net/http has used internally since Go 1.24
// (if a later Go drops it, DialH2 of a ws:// URL fails with ErrNotHTTP2;
// wss:// does not depend on it). No client-side GODEBUG is needed.
//
// Closing follows RFC 9113 §8.5 as RFC 8441 applies it: a clean close, after
// the server's END_STREAM, ends our half with END_STREAM; CloseNow before
// that resets the stream (RST_STREAM CANCEL). BytesSent and BytesReceived
// count frames only.
func (d *Dialer) DialH2(ctx context.Context, rawURL string, tr *http.Transport) (*Conn, *http.Response, error) {
	u, err := parseURL(rawURL)
	if err != nil {
		return nil, nil, err
	}
	target := *u
	target.Scheme = map[string]string{"ws": "http", "wss": "https"}[u.Scheme]
	if tr == nil {
		dt, ok := http.DefaultTransport.(*http.Transport)
		if !ok {
			return nil, nil, errors.New("ws: DialH2: http.DefaultTransport is not an *http.Transport; pass one")
		}
		tr = dt
	}
	protocols, err := checkRequestHeader(d.Header, d.Subprotocols)
	if err != nil {
		return nil, nil, err
	}
	var offer string
	if d.Compression != nil {
		if offer, err = d.Compression.clientOffer(); err != nil {
			return nil, nil, err
		}
	}
	hctx := ctx
	if t := d.handshakeTimeout(); t > 0 {
		var cancel context.CancelFunc
		hctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	rt, err := d.h2RoundTripper(hctx, u, tr)
	if err != nil {
		return nil, nil, err
	}
	// The request's context lives as long as the stream: ctx and the
	// handshake timeout bound only the handshake.
	sctx, cancelStream := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(hctx, cancelStream)
	var local, remote net.Addr
	sctx = httptrace.WithClientTrace(sctx, &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) {
		local, remote = ci.Conn.LocalAddr(), ci.Conn.RemoteAddr()
	}})
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(sctx, http.MethodConnect, target.String(), pr)
	if err != nil {
		cancelStream()
		return nil, nil, fmt.Errorf("ws: DialH2: %w", err)
	}
	req.Header = d.Header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	// RFC 8441 §4–§5: the extended CONNECT with :protocol, the version and
	// the offers as in RFC 6455 §4.1, and no Sec-WebSocket-Key.
	req.Header[":protocol"] = []string{"websocket"}
	req.Header.Set("Sec-WebSocket-Version", "13")
	if len(protocols) > 0 {
		req.Header.Set("Sec-WebSocket-Protocol", strings.Join(protocols, ", "))
	}
	if offer != "" {
		req.Header.Set("Sec-WebSocket-Extensions", offer)
	}
	resp, err := rt.RoundTrip(req)
	handshakeLive := stop()
	if err == nil && !handshakeLive {
		err = hctx.Err()
		_ = resp.Body.Close()
	}
	if err != nil {
		cancelStream()
		_ = pw.Close()
		if ctxErr := hctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%w)", ctxErr, err)
		}
		return nil, nil, fmt.Errorf("ws: HTTP/2 extended CONNECT to %s: %w", target.Host, err)
	}
	protocol, ds, err := d.checkH2Response(resp, protocols, offer)
	if err != nil {
		_ = resp.Body.Close()
		cancelStream()
		_ = pw.Close()
		return nil, resp, err
	}
	if local == nil {
		local = h2AddrString("")
	}
	if remote == nil {
		remote = h2AddrString(target.Host)
	}
	s := newH2Stream(h2Half{
		body: resp.Body,
		send: pw.Write,
		// Failing the request body makes the transport reset the stream
		// (RST_STREAM CANCEL), which unblocks a write waiting for flow
		// control.
		abort: func() {
			_ = pw.CloseWithError(errH2Deadline)
			cancelStream()
		},
		// END_STREAM on our half. Before the server's END_STREAM this is
		// an abort: cancelling the request resets the stream (Close has
		// closed the response body, which does the same); after it,
		// nothing must overtake our END_STREAM, and the transport
		// forgets the stream once both halves have ended.
		finish: func(peerEnded bool) {
			_ = pw.Close()
			if !peerEnded {
				cancelStream()
			}
		},
	}, local, remote)
	c := NewConn(s, nil, RoleClient, protocol, &d.Options)
	c.compression = ds
	return c, resp, nil
}

// checkH2Response validates the server's answer to an extended CONNECT:
// RFC 8441 §5 keeps RFC 6455 §4.1's checks of the subprotocol and the
// extensions, and replaces the 101 with a 2xx and no Sec-WebSocket-Accept.
func (d *Dialer) checkH2Response(resp *http.Response, protocols []string, offer string) (string, *deflateState, error) {
	fail := func(sentinel error, format string, args ...any) error {
		return &HandshakeError{
			StatusCode: resp.StatusCode, Status: resp.Status, Header: resp.Header,
			Err: sentinel, Detail: fmt.Sprintf(format, args...),
		}
	}
	if resp.ProtoMajor != 2 {
		return "", nil, fail(ErrNotHTTP2, "answered over %s", resp.Proto)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		err := fail(ErrBadStatus, "got %d", resp.StatusCode)
		err.(*HandshakeError).Body = readBodySnippet(resp)
		return "", nil, err
	}
	var protocol string
	switch protos := headerTokens(resp.Header, "Sec-WebSocket-Protocol"); {
	case len(protos) > 1:
		return "", nil, fail(ErrBadSubprotocol, "several chosen: %q", protos)
	case len(protos) == 1:
		if !slices.Contains(protocols, protos[0]) {
			return "", nil, fail(ErrBadSubprotocol, "%q not in %q", protos[0], protocols)
		}
		protocol = protos[0]
	}
	exts := resp.Header.Values("Sec-WebSocket-Extensions")
	if len(exts) == 0 {
		return protocol, nil, nil
	}
	if offer == "" {
		return "", nil, fail(ErrBadExtension, "%q", exts)
	}
	ds, err := d.Compression.clientAccept(exts, RoleClient)
	if err != nil {
		return "", nil, fail(ErrBadExtension, "%v", err)
	}
	return protocol, ds, nil
}

// h2RoundTripper connects to u's server as Dial does, but asking for HTTP/2
// in ALPN, and hands the connection to tr's HTTP/2 transport, whose
// RoundTripper it returns (see DialH2 for why not tr itself).
func (d *Dialer) h2RoundTripper(ctx context.Context, u *url.URL, tr *http.Transport) (http.RoundTripper, error) {
	// A Transport fills TLSNextProto with its HTTP/2 hand-offs lazily, on
	// first use; Clone is an exported first use that sends nothing.
	_ = tr.Clone()
	key := "h2"
	if u.Scheme == "ws" {
		key = "unencrypted_http2"
	}
	next := tr.TLSNextProto[key]
	if next == nil {
		return nil, fmt.Errorf("%w: the transport has no HTTP/2 hand-off %q (TLSNextProto set by the caller?)", ErrNotHTTP2, key)
	}
	dd := *d
	dd.TLSConfig = d.TLSConfig.Clone()
	if dd.TLSConfig == nil {
		dd.TLSConfig = &tls.Config{}
	}
	dd.TLSConfig.NextProtos = []string{"h2"}
	nc, err := dd.dialNet(ctx, u)
	if err != nil {
		return nil, err
	}
	var tc *tls.Conn
	if u.Scheme == "wss" {
		tc = nc.(*tls.Conn)
		if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
			_ = nc.Close()
			return nil, fmt.Errorf("%w: ALPN chose %q", ErrNotHTTP2, p)
		}
	} else {
		tc = tls.Client(h2cHandoff{nc}, nil)
	}
	return next(u.Host, tc), nil
}

// h2cHandoff carries a plain connection through TLSNextProto's *tls.Conn
// parameter, the way net/http hands its own h2c connections to HTTP/2: the
// HTTP/2 side unwraps it with UnencryptedNetConn.
type h2cHandoff struct{ net.Conn }

// UnencryptedNetConn returns the plain connection.
func (h h2cHandoff) UnencryptedNetConn() net.Conn { return h.Conn }
