//go:build !js

package ws

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// upgradeH2 accepts a WebSocket over HTTP/2 (RFC 8441): an extended CONNECT
// whose :protocol is "websocket". Upgrade dispatches here for every HTTP/2
// CONNECT. It answers 200 and runs the WebSocket over the request body and
// the ResponseWriter (h2Stream).
//
// net/http's server accepts the extended CONNECT only when the process
// started with GODEBUG=http2xconnect=1 (read from the environment at start:
// a //go:debug directive does not set it): it then sends
// SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3) and passes :protocol on as
// the request header ":protocol". Without it, a client that honours RFC 8441
// §3 does not try, and a request carrying :protocol anyway is refused by
// net/http with a stream error PROTOCOL_ERROR before any handler runs.
func (u *Upgrader) upgradeH2(w http.ResponseWriter, r *http.Request, responseHeader http.Header) (*Conn, error) {
	if err := checkResponseHeader(responseHeader); err != nil {
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return nil, err
	}
	n, h, herr := u.checkH2(r)
	if herr != nil {
		for k, v := range h {
			w.Header()[k] = v
		}
		http.Error(w, herr.Error(), herr.StatusCode)
		return nil, herr
	}
	rc := http.NewResponseController(w)
	// The server's ReadTimeout and WriteTimeout arm deadlines on the
	// stream; the WebSocket starts with none, as after a hijack.
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	// The 200 carries what a 101 would, minus Upgrade, Connection and
	// Sec-WebSocket-Accept (RFC 8441 §5: no key, no accept; RFC 9113
	// §8.2.2: no connection-specific fields). Headers set on w before
	// Upgrade are dropped, as the 101 of the HTTP/1.1 path drops them.
	hdr := w.Header()
	clear(hdr)
	for k, v := range responseHeader {
		hdr[k] = v
	}
	if n.protocol != "" {
		hdr.Set("Sec-WebSocket-Protocol", n.protocol)
	}
	if n.extensions != "" {
		hdr.Set("Sec-WebSocket-Extensions", n.extensions)
	}
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		_ = r.Body.Close()
		return nil, fmt.Errorf("ws: sending the HTTP/2 200: %w", err)
	}
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if local == nil {
		local = h2AddrString("")
	}
	s := newH2Stream(h2Half{
		body: r.Body,
		send: func(p []byte) (int, error) {
			n, err := w.Write(p)
			if err == nil {
				err = rc.Flush()
			}
			return n, err
		},
		// A write deadline in the past makes net/http reset the stream at
		// once (RST_STREAM INTERNAL_ERROR), which unblocks a write waiting
		// for flow control.
		abort: func() { _ = rc.SetWriteDeadline(aLongTimeAgo) },
		guard: h2GuardHandler,
	}, local, h2Addr(r.RemoteAddr))
	// The opening handshake travelled as HPACK-compressed HEADERS, which
	// net/http does not measure: on HTTP/2 the byte counters count frames
	// only.
	c := NewConn(s, nil, RoleServer, n.protocol, &u.Options)
	c.compression = n.compression
	return c, nil
}

// checkH2 validates an extended CONNECT as RFC 8441 §4–§5 require, then
// negotiates as the HTTP/1.1 path does. Upgrade, Connection and
// Sec-WebSocket-Key have no place in HTTP/2 and are not looked at.
func (u *Upgrader) checkH2(r *http.Request) (*negotiation, http.Header, *HandshakeError) {
	// RFC 8441 §4: the extended CONNECT names the protocol in :protocol;
	// §5: for WebSockets, "websocket". A CONNECT without it is a plain
	// tunnel request, which a WebSocket endpoint does not serve.
	if p := r.Header.Get(":protocol"); !strings.EqualFold(p, "websocket") {
		return refusal(r, http.StatusBadRequest, nil, ErrBadUpgrade, ":protocol %q", p)
	}
	// RFC 8441 §4: :authority is the target, as for other requests
	// (net/http makes it r.Host).
	if r.Host == "" {
		return refusal(r, http.StatusBadRequest, nil, ErrBadRequest, "no :authority")
	}
	// RFC 8441 §5 keeps Sec-WebSocket-Version of RFC 6455 §4.2.1 item 6.
	// 426 would require an Upgrade header (RFC 9110 §15.5.22), which
	// HTTP/2 forbids; 400 with the version we speak (RFC 6455 §4.4).
	if v := r.Header.Values("Sec-WebSocket-Version"); len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
		return refusal(r, http.StatusBadRequest, http.Header{"Sec-WebSocket-Version": {"13"}}, ErrBadVersion, "%q", v)
	}
	return u.negotiate(r, &negotiation{})
}
