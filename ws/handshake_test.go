//go:build !js

package ws

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/wstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// This file tests the client half of the opening handshake (RFC 6455 §4.1,
// §4.2.2) against scripted raw servers that read the request byte for byte
// and answer with exactly the bytes a test chooses.

// hsOK is a valid 101 answer; {accept} is replaced by the accept value for
// the request's key.
const hsOK = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"

// hsScript starts a wstest server that runs script (which may answer
// anything, or nothing) on each connection, then reads until the client
// closes; it returns the ws:// URL and the server, whose Next reports each
// connection (Peer.Closed: the client closed it cleanly).
func hsScript(t *testing.T, script wstest.Script) (string, *wstest.Server) {
	t.Helper()
	srv := wstest.Serve(t, wstest.Drained(script))
	return srv.URL, srv
}

// hsDial dials with a 10 s bound.
func hsDial(d *Dialer, url string) (*Conn, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return d.Dial(ctx, url)
}

// hsRedirect returns a copy of d whose connections go to target whatever
// the URL says, and a function that reports the addresses asked for.
func hsRedirect(d Dialer, target string) (*Dialer, func() []string) {
	var mu sync.Mutex
	var asked []string
	d.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		asked = append(asked, network+" "+addr)
		mu.Unlock()
		var nd net.Dialer
		return nd.DialContext(ctx, "tcp", target)
	}
	return &d, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), asked...) }
}

// TestAcceptKeyRFCExample checks the worked example of RFC 6455 §1.3 and
// §4.2.2 item 5.4: key "dGhlIHNhbXBsZSBub25jZQ==" gives
// "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".
func TestAcceptKeyRFCExample(t *testing.T) {
	require.Equal(t, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="))
	// The key is hashed as the string it is, not decoded first.
	require.NotEqual(t, AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), AcceptKey("dGhlIHNhbXBsZSBub25jZQ"))
}

// TestClientRequestBytes checks, byte for byte, the request RFC 6455 §4.1
// items 1–12 ask of a client: a GET with the resource name (path and query,
// never the fragment, §3), HTTP/1.1, Host, Upgrade, Connection, a key,
// version 13, Origin and the subprotocol list, and the caller's headers.
func TestClientRequestBytes(t *testing.T) {
	url, peers := hsScript(t, wstest.Answer(hsOK))
	d := &Dialer{
		Subprotocols: []string{"chat", "superchat"},
		Header: http.Header{
			"Origin":        {"http://example.com"},
			"Cookie":        {"session=abc; theme=dark"},
			"Authorization": {"Bearer t0ken"},
			"X-Multi":       {"one", "two"},
		},
	}
	c := dialT(t, d, url+"/chat/room?name=a%20b&x=1#fragment")
	_ = c.CloseNow()
	p := peers.Next(t)
	require.NoError(t, p.Err)

	lines := wstest.Lines(p.Head)
	// §4.1 items 1–3: "GET", the resource name, "HTTP/1.1".
	require.Equal(t, "GET /chat/room?name=a%20b&x=1 HTTP/1.1", lines[0], "RFC 6455 §4.1 item 2–3 request line (§3: no fragment)")
	host := strings.TrimPrefix(url, "ws://")
	// Every header line the RFC demands, spelled exactly as §4.1 shows.
	for _, want := range []string{
		"Host: " + host,                           // §4.1 item 4 (port not the default: kept)
		"Upgrade: websocket",                      // §4.1 item 5
		"Connection: Upgrade",                     // §4.1 item 6
		"Sec-WebSocket-Version: 13",               // §4.1 item 9
		"Origin: http://example.com",              // §4.1 item 8
		"Sec-WebSocket-Protocol: chat, superchat", // §4.1 item 10
		"Cookie: session=abc; theme=dark",         // §4.1 item 12
		"Authorization: Bearer t0ken",
		"X-Multi: one",
		"X-Multi: two",
	} {
		require.Contains(t, lines[1:], want)
	}
	// §4.1 item 7: a key that is base64 of 16 bytes.
	key := p.Req.Header.Get("Sec-WebSocket-Key")
	raw, err := base64.StdEncoding.DecodeString(key)
	require.NoError(t, err, "RFC 6455 §4.1 item 7: key must be base64")
	require.Len(t, raw, 16, "RFC 6455 §4.1 item 7: a 16-byte nonce")
	require.Contains(t, lines, "Sec-WebSocket-Key: "+key)
	// Host first (RFC 9112 §3.2: a user agent "SHOULD generate Host as the
	// first field in the header section"), and each field once.
	require.True(t, strings.HasPrefix(lines[1], "Host: "), "Host comes first: %q", lines)
	for _, name := range []string{"Host", "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Origin", "Sec-WebSocket-Protocol"} {
		n := 0
		for _, l := range lines[1:] {
			if strings.HasPrefix(strings.ToLower(l), strings.ToLower(name)+":") {
				n++
			}
		}
		require.Equal(t, 1, n, "one %s line in %q", name, lines)
	}
	// Nothing we did not ask for: no extension offer without Compression.
	require.Empty(t, p.Req.Header.Values("Sec-WebSocket-Extensions"))
	require.Equal(t, "GET", p.Req.Method)
	require.Equal(t, 1, p.Req.ProtoMajor)
	require.Equal(t, 1, p.Req.ProtoMinor)
}

// TestClientKeyIsFreshPerConnection checks RFC 6455 §4.1 item 7: "The nonce
// MUST be selected randomly for each connection."
func TestClientKeyIsFreshPerConnection(t *testing.T) {
	url, peers := hsScript(t, wstest.Answer(hsOK))
	seen := map[string]bool{}
	for range 8 {
		c := dialT(t, &Dialer{}, url)
		_ = c.CloseNow()
		p := peers.Next(t)
		require.NoError(t, p.Err)
		key := p.Req.Header.Get("Sec-WebSocket-Key")
		raw, err := base64.StdEncoding.DecodeString(key)
		require.NoError(t, err)
		require.Len(t, raw, 16)
		require.False(t, seen[key], "RFC 6455 §4.1 item 7: key %q reused", key)
		seen[key] = true
	}
}

// TestClientHostHeader checks RFC 6455 §4.1 item 4: Host is the host, plus
// ":port" only when the port is not the scheme's default (80 for ws, 443 for
// wss, §3), with an IPv6 literal in brackets. The request is written over a
// connection the test made, so no name is ever resolved.
func TestClientHostHeader(t *testing.T) {
	for _, tc := range []struct{ url, host string }{
		{"ws://example.com/", "example.com"},
		{"ws://example.com:80/", "example.com"},
		{"ws://example.com:443/", "example.com:443"},
		{"ws://example.com:8080/", "example.com:8080"},
		{"wss://example.com/", "example.com"},
		{"wss://example.com:443/", "example.com"},
		{"wss://example.com:80/", "example.com:80"},
		{"http://example.com/", "example.com"},
		{"https://example.com:443/", "example.com"},
		{"ws://127.0.0.1:9000/", "127.0.0.1:9000"},
		{"ws://[::1]/", "[::1]"},
		{"ws://[::1]:80/", "[::1]"},
		{"ws://[::1]:8080/", "[::1]:8080"},
		{"wss://[2001:db8::1]:443/", "[2001:db8::1]"},
		{"wss://[2001:db8::1]:8443/", "[2001:db8::1]:8443"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			a, b := wstest.TCPPair(t)
			type result struct {
				head string
				req  *http.Request
				err  error
			}
			done := make(chan result, 1)
			go func() {
				_ = b.SetDeadline(time.Now().Add(5 * time.Second))
				head, req, err := wstest.ReadRequest(b)
				if err == nil {
					_, err = b.Write([]byte(wstest.Fill(hsOK, req)))
				}
				done <- result{head, req, err}
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, _, err := (&Dialer{}).Handshake(ctx, a, tc.url)
			require.NoError(t, err)
			defer c.CloseNow()
			r := <-done
			require.NoError(t, r.err)
			require.Equal(t, "Host: "+tc.host, wstest.Lines(r.head)[1], "RFC 6455 §4.1 item 4")
			require.Equal(t, tc.host, r.req.Host)
		})
	}
}

// TestClientHostOverride checks that a Host in Dialer.Header replaces the
// URL's (to address a virtual host) and that Host is still sent once (§4.1
// item 4: "The request MUST contain a |Host| header field").
func TestClientHostOverride(t *testing.T) {
	url, peers := hsScript(t, wstest.Answer(hsOK))
	c := dialT(t, &Dialer{Header: http.Header{"Host": {"virtual.example:8443"}}}, url)
	_ = c.CloseNow()
	p := peers.Next(t)
	require.NoError(t, p.Err)
	require.Equal(t, "virtual.example:8443", p.Req.Host)
	require.Equal(t, 1, strings.Count(strings.ToLower(p.Head), "\r\nhost:"), "exactly one Host line in %q", p.Head)
}

// TestClientSubprotocolsAsHeader checks that subprotocols may be offered as
// a raw Sec-WebSocket-Protocol header (RFC 6455 §4.1 item 10), that the
// server's choice among them is accepted (§4.1, item 6 of the response
// checks), and that offering them both ways is refused.
func TestClientSubprotocolsAsHeader(t *testing.T) {
	url, peers := hsScript(t, wstest.Answer(strings.Replace(hsOK, "\r\n\r\n", "\r\nSec-WebSocket-Protocol: superchat\r\n\r\n", 1)))
	c := dialT(t, &Dialer{Header: http.Header{"Sec-Websocket-Protocol": {"chat, superchat"}}}, url)
	require.Equal(t, "superchat", c.Subprotocol())
	_ = c.CloseNow()
	p := peers.Next(t)
	require.Equal(t, []string{"chat, superchat"}, p.Req.Header.Values("Sec-WebSocket-Protocol"))

	d, asked := hsRedirect(Dialer{Subprotocols: []string{"chat"}, Header: http.Header{"Sec-Websocket-Protocol": {"chat"}}}, strings.TrimPrefix(url, "ws://"))
	_, _, err := hsDial(d, url)
	require.ErrorIs(t, err, ErrBadHeader)
	if len(asked()) > 0 {
		require.Empty(t, peers.Next(t).Head, "nothing is sent")
	}
}

// TestClientRefusesBadHeaders checks that a header that would break the
// request (CR, LF or NUL in a value, a name that is not an HTTP token, RFC
// 9110 §5.1 and §5.5), a header the library must own (the §4.1 items 5–7, 9
// and 11 fields), or a subprotocol that is not a token (§4.1 item 10) fails
// the dial with ErrBadHeader before anything is sent.
func TestClientRefusesBadHeaders(t *testing.T) {
	for name, d := range map[string]*Dialer{
		"CRLF in value":          {Header: http.Header{"X-Evil": {"a\r\nX-Injected: 1"}}},
		"LF in value":            {Header: http.Header{"X-Evil": {"a\nb"}}},
		"CR in value":            {Header: http.Header{"X-Evil": {"a\rb"}}},
		"NUL in value":           {Header: http.Header{"X-Evil": {"a\x00b"}}},
		"CRLF in Origin":         {Header: http.Header{"Origin": {"http://a\r\n\r\nGET / HTTP/1.1"}}},
		"CRLF in Host":           {Header: http.Header{"Host": {"a\r\nX: y"}}},
		"CRLF in name":           {Header: http.Header{"X-Evil\r\nInjected": {"1"}}},
		"space in name":          {Header: http.Header{"X Evil": {"1"}}},
		"colon in name":          {Header: http.Header{"X:Evil": {"1"}}},
		"empty name":             {Header: http.Header{"": {"1"}}},
		"non-ASCII name":         {Header: http.Header{"X-Ünicode": {"1"}}},
		"owned Upgrade":          {Header: http.Header{"Upgrade": {"websocket"}}},
		"owned Connection":       {Header: http.Header{"Connection": {"Upgrade"}}},
		"owned key":              {Header: http.Header{"Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}},
		"owned key, lower case":  {Header: http.Header{"sec-websocket-key": {"dGhlIHNhbXBsZSBub25jZQ=="}}},
		"owned version":          {Header: http.Header{"Sec-Websocket-Version": {"13"}}},
		"owned extensions":       {Header: http.Header{"Sec-Websocket-Extensions": {"permessage-deflate"}}},
		"subprotocol with space": {Subprotocols: []string{"a b"}},
		"subprotocol with comma": {Subprotocols: []string{"a,b"}},
		"empty subprotocol":      {Subprotocols: []string{""}},
	} {
		t.Run(name, func(t *testing.T) {
			url, peers := hsScript(t, wstest.Answer(hsOK))
			rd, asked := hsRedirect(*d, strings.TrimPrefix(url, "ws://"))
			c, resp, err := hsDial(rd, url)
			require.ErrorIs(t, err, ErrBadHeader)
			require.Nil(t, c)
			require.Nil(t, resp)
			if len(asked()) > 0 {
				// Dial opened a connection: it must close it unused.
				p := peers.Next(t)
				require.Empty(t, p.Head, "nothing is sent for a refused header")
			}

			// Over a caller's connection: nothing may reach the wire.
			a, b := wstest.TCPPair(t)
			_, _, err = d.Handshake(context.Background(), a, url)
			require.ErrorIs(t, err, ErrBadHeader)
			require.NoError(t, a.Close(), "Handshake leaves the caller's conn open")
			_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
			sent, err := io.ReadAll(b)
			require.NoError(t, err)
			require.Empty(t, sent, "nothing is sent for a refused header")

		})
	}
}

// hsHandshakeErr asserts err is a *HandshakeError for sentinel, matched both
// by the sentinel and by ErrBadHandshake, and returns it.
func hsHandshakeErr(t *testing.T, err error, sentinel error) *HandshakeError {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, sentinel)
	require.ErrorIs(t, err, ErrBadHandshake)
	var he *HandshakeError
	require.ErrorAs(t, err, &he)
	return he
}

// TestClientValidatesResponse checks the response checks of RFC 6455 §4.1
// ("the client MUST validate the server's response as follows") against
// §4.2.2 item 5: each broken answer fails the connection with its own
// sentinel, the *HandshakeError holds the status and headers, the response
// is returned, and the TCP connection is closed.
func TestClientValidatesResponse(t *testing.T) {
	for _, tc := range []struct {
		name     string
		resp     string
		protos   []string
		sentinel error
		status   int
	}{
		{"§4.1 item 1: 200 OK", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", nil, ErrBadStatus, 200},
		{"§4.1 item 1: 302 is not followed", "HTTP/1.1 302 Found\r\nLocation: ws://127.0.0.1:1/\r\nContent-Length: 0\r\n\r\n", nil, ErrBadStatus, 302},
		{"§4.1 item 1: 100 Continue is not a switch", "HTTP/1.1 100 Continue\r\n\r\n", nil, ErrBadStatus, 100},
		{"§4.1 item 2: no Upgrade", "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n", nil, ErrBadUpgrade, 101},
		{"§4.1 item 2: Upgrade h2c", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n", nil, ErrBadUpgrade, 101},
		{"§4.1 item 2: Upgrade websockets", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websockets\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n", nil, ErrBadUpgrade, 101},
		{"§4.1 item 3: no Connection", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: {accept}\r\n\r\n", nil, ErrBadUpgrade, 101},
		{"§4.1 item 3: Connection keep-alive", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Accept: {accept}\r\n\r\n", nil, ErrBadUpgrade, 101},
		{"§4.1 item 4: no accept", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", nil, ErrBadAccept, 101},
		{"§4.1 item 4: wrong accept", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n", nil, ErrBadAccept, 101},
		{"§4.1 item 4: accept in other case", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n", nil, ErrBadAccept, 101},
		{"§4.1 item 4: accept twice", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Accept: {accept}\r\n\r\n", nil, ErrBadAccept, 101},
		{"§4.1 item 5: extension not offered", hsOK[:len(hsOK)-2] + "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n", nil, ErrBadExtension, 101},
		{"§4.1 item 6: subprotocol with none offered", hsOK[:len(hsOK)-2] + "Sec-WebSocket-Protocol: chat\r\n\r\n", nil, ErrBadSubprotocol, 101},
		{"§4.1 item 6: subprotocol not offered", hsOK[:len(hsOK)-2] + "Sec-WebSocket-Protocol: superchat\r\n\r\n", []string{"chat"}, ErrBadSubprotocol, 101},
		{"§4.1 item 6: subprotocol in other case", hsOK[:len(hsOK)-2] + "Sec-WebSocket-Protocol: CHAT\r\n\r\n", []string{"chat"}, ErrBadSubprotocol, 101},
		{"§4.1 item 6: two subprotocols in one header", hsOK[:len(hsOK)-2] + "Sec-WebSocket-Protocol: chat, superchat\r\n\r\n", []string{"chat", "superchat"}, ErrBadSubprotocol, 101},
		{"§4.1 item 6: two subprotocol headers", hsOK[:len(hsOK)-2] + "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: superchat\r\n\r\n", []string{"chat", "superchat"}, ErrBadSubprotocol, 101},
	} {
		t.Run(tc.name, func(t *testing.T) {
			script := func(p *wstest.Peer) {
				resp := wstest.Fill(tc.resp, p.Req)
				resp = strings.ReplaceAll(resp, "{ACCEPT}", strings.ToLower(wstest.AcceptKey(p.Key())))
				_, _ = p.Conn.Write([]byte(resp))
			}
			url, peers := hsScript(t, script)
			c, resp, err := hsDial(&Dialer{Subprotocols: tc.protos}, url)
			require.Nil(t, c)
			he := hsHandshakeErr(t, err, tc.sentinel)
			require.Equal(t, tc.status, he.StatusCode)
			require.NotEmpty(t, he.Status)
			require.NotNil(t, he.Header)
			require.NotNil(t, resp, "the response is returned with the error")
			require.Equal(t, tc.status, resp.StatusCode)
			p := peers.Next(t)
			require.True(t, p.Closed, "RFC 6455 §4.1: the client fails the connection (closes it)")
		})
	}
}

// TestClientAcceptsValidVariants checks that §4.1's comparisons are as
// lenient as the RFC makes them: Upgrade and Connection are compared
// case-insensitively and Connection may list other tokens (§4.1 items 2–3),
// the accept value may carry surrounding whitespace (item 4), and an offered
// subprotocol is adopted (item 6).
func TestClientAcceptsValidVariants(t *testing.T) {
	for _, tc := range []struct {
		name, resp, proto string
	}{
		{"RFC 6455 §1.2 example shape", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: chat\r\n\r\n", "chat"},
		{"upper-case values", "HTTP/1.1 101 SWITCHING\r\nUPGRADE: WEBSOCKET\r\nCONNECTION: UPGRADE\r\nSEC-WEBSOCKET-ACCEPT: {accept}\r\n\r\n", ""},
		{"Connection token list", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n", ""},
		{"Upgrade token list", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo, WebSocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n", ""},
		{"accept with spaces", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept:    {accept}   \r\n\r\n", ""},
		{"extra headers", "HTTP/1.1 101 Switching Protocols\r\nServer: scripted\r\nUpgrade: websocket\r\nSet-Cookie: a=b\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n", ""},
		{"no subprotocol chosen", hsOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, _ := hsScript(t, wstest.Answer(tc.resp))
			c, resp, err := hsDial(&Dialer{Subprotocols: []string{"chat", "superchat"}}, url)
			require.NoError(t, err)
			defer c.CloseNow()
			require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
			require.Equal(t, tc.proto, c.Subprotocol())
			require.Equal(t, RoleClient, c.Role())
		})
	}
}

// TestClientRefusedStatusKeepsBody checks §4.1 item 1 ("If the status code
// received from the server is not 101, the client handles the response per
// HTTP procedures"): a 403 is reported as such, with its headers and the
// first bytes of its body, so a caller can tell it from a broken handshake;
// the body kept is bounded.
func TestClientRefusedStatusKeepsBody(t *testing.T) {
	t.Run("short body", func(t *testing.T) {
		body := "forbidden: token expired"
		url, peers := hsScript(t, wstest.Answer("HTTP/1.1 403 Forbidden\r\nX-Reason: expired\r\nContent-Type: text/plain\r\nContent-Length: 24\r\n\r\n"+body))
		c, resp, err := hsDial(&Dialer{}, url)
		require.Nil(t, c)
		he := hsHandshakeErr(t, err, ErrBadStatus)
		require.Equal(t, 403, he.StatusCode)
		require.Equal(t, "403 Forbidden", he.Status)
		require.Equal(t, "expired", he.Header.Get("X-Reason"))
		require.Equal(t, body, string(he.Body))
		require.Contains(t, err.Error(), "403")
		require.NotNil(t, resp)
		require.Equal(t, 403, resp.StatusCode)
		require.Equal(t, "expired", resp.Header.Get("X-Reason"))
		require.True(t, peers.Next(t).Closed)
	})
	t.Run("long body is cut", func(t *testing.T) {
		body := strings.Repeat("0123456789abcdef", 1024) // 16 KiB
		url, _ := hsScript(t, wstest.Answer("HTTP/1.1 403 Forbidden\r\nContent-Length: 16384\r\n\r\n"+body))
		_, _, err := hsDial(&Dialer{}, url)
		he := hsHandshakeErr(t, err, ErrBadStatus)
		require.Equal(t, body[:len(he.Body)], string(he.Body), "the first bytes of the body")
		require.NotEmpty(t, he.Body)
		require.LessOrEqual(t, len(he.Body), 1024)
	})
	t.Run("body never sent", func(t *testing.T) {
		// A refusal that announces a body and never sends it must not hold
		// the dial past its timeout.
		url, _ := hsScript(t, wstest.Answer("HTTP/1.1 401 Unauthorized\r\nContent-Length: 100\r\n\r\nabc"))
		start := time.Now()
		_, resp, err := hsDial(&Dialer{HandshakeTimeout: 300 * time.Millisecond}, url)
		require.Less(t, time.Since(start), 5*time.Second)
		require.ErrorIs(t, err, ErrBadStatus)
		require.NotNil(t, resp)
		require.Equal(t, 401, resp.StatusCode)
	})
}

// TestClientHeadTooLarge checks that a server sending an endless response
// head gets ErrHeadTooLarge after MaxResponseHeadBytes, and that the client
// reads (and allocates) a bounded amount, not what the server offers
// (Workerman bug B14; RFC 6455 §10.4 asks implementations to limit what a
// peer can make them hold).
func TestClientHeadTooLarge(t *testing.T) {
	const offered = 8 << 20
	filler := []byte("X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n")
	for _, tc := range []struct {
		name        string
		first, rest []byte // rest is sent again and again after first
	}{
		{"endless header lines", filler, bytes.Repeat(filler, 1024)},
		{"one endless line", []byte("X-Filler: "), bytes.Repeat([]byte("a"), 64<<10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, _ := hsScript(t, func(p *wstest.Peer) {
				if _, err := p.Conn.Write(append([]byte("HTTP/1.1 101 Switching Protocols\r\n"), tc.first...)); err != nil {
					return
				}
				for sent := 0; sent < offered; sent += len(tc.rest) {
					if _, err := p.Conn.Write(tc.rest); err != nil {
						return
					}
				}
			})
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			c, resp, err := hsDial(&Dialer{}, url)
			runtime.ReadMemStats(&after)
			require.Nil(t, c)
			require.Nil(t, resp)
			he := hsHandshakeErr(t, err, ErrHeadTooLarge)
			require.Equal(t, 0, he.StatusCode)
			allocated := after.TotalAlloc - before.TotalAlloc
			require.Less(t, allocated, uint64(2<<20), "allocated %d bytes for a %d-byte limit", allocated, DefaultMaxHeadBytes)
		})
	}
	t.Run("custom limit", func(t *testing.T) {
		big := hsOK[:len(hsOK)-2] + "X-Big: " + strings.Repeat("b", 1024) + "\r\n\r\n"
		url, _ := hsScript(t, wstest.Answer(big))
		_, _, err := hsDial(&Dialer{MaxResponseHeadBytes: 512}, url)
		hsHandshakeErr(t, err, ErrHeadTooLarge)

		url, _ = hsScript(t, wstest.Answer(hsOK))
		c, _, err := hsDial(&Dialer{MaxResponseHeadBytes: 512}, url)
		require.NoError(t, err, "a normal head fits in 512 bytes")
		_ = c.CloseNow()

		// The limit is on the head only: messages after it are not counted.
		url, _ = hsScript(t, wstest.Answer(hsOK+string(wstest.Frame{Fin: true, Opcode: wstest.OpBinary, Payload: make([]byte, 4096)}.Bytes())))
		c, _, err = hsDial(&Dialer{MaxResponseHeadBytes: 512}, url)
		require.NoError(t, err)
		defer c.CloseNow()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, msg, err := c.ReadMessage()
		require.NoError(t, err)
		require.Len(t, msg, 4096)
	})
}

// TestClientServerNeverAnswers checks that a dial whose server accepts the
// TCP connection and never answers ends within the context deadline or the
// Dialer's HandshakeTimeout, with an error that wraps
// context.DeadlineExceeded, and closes the connection. RFC 6455 §4.1 leaves
// the wait to the client; DESIGN.md principle 4 bounds every step.
func TestClientServerNeverAnswers(t *testing.T) {
	checkNoLeak(t)
	for _, tc := range []struct {
		name    string
		d       *Dialer
		ctxWait time.Duration
	}{
		{"HandshakeTimeout", &Dialer{HandshakeTimeout: 300 * time.Millisecond}, 0},
		{"context deadline", &Dialer{}, 300 * time.Millisecond},
		{"context deadline before HandshakeTimeout", &Dialer{HandshakeTimeout: time.Hour}, 300 * time.Millisecond},
		{"negative HandshakeTimeout, context deadline", &Dialer{HandshakeTimeout: -1}, 300 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, peers := hsScript(t, nil)
			ctx := context.Background()
			if tc.ctxWait > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.ctxWait)
				defer cancel()
			}
			start := time.Now()
			c, resp, err := tc.d.Dial(ctx, url)
			elapsed := time.Since(start)
			require.Nil(t, c)
			require.Nil(t, resp)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			require.GreaterOrEqual(t, elapsed, 250*time.Millisecond, "it waited for the answer")
			require.Less(t, elapsed, 5*time.Second, "bounded by the 300 ms deadline")
			require.True(t, peers.Next(t).Closed, "the connection is closed")
		})
	}
}

// TestClientSlowServerBounded checks that a server answering one byte every
// 200 ms cannot stretch the dial past HandshakeTimeout: the timeout bounds
// the whole handshake, not each read.
func TestClientSlowServerBounded(t *testing.T) {
	url, peers := hsScript(t, func(p *wstest.Peer) {
		for _, b := range []byte(wstest.Fill(hsOK, p.Req)) {
			if _, err := p.Conn.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	start := time.Now()
	_, _, err := hsDial(&Dialer{HandshakeTimeout: 700 * time.Millisecond}, url)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 5*time.Second)
	require.True(t, peers.Next(t).Closed)
}

// TestClientFrameInSameWriteAs101 checks that a frame the server sends in
// the same TCP write as its 101 is the first message, delivered by the
// first ReadMessage with no further byte from the server (RFC 6455 §4.1:
// once the handshake is validated the connection is OPEN and data frames
// may follow at once; Workerman bug B1 left them unread).
func TestClientFrameInSameWriteAs101(t *testing.T) {
	welcome := wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte("welcome")}.Bytes()
	second := wstest.Frame{Fin: true, Opcode: wstest.OpBinary, Payload: []byte{1, 2, 3}}.Bytes()
	url, _ := hsScript(t, func(p *wstest.Peer) {
		_, _ = p.Conn.Write(append(append([]byte(wstest.Fill(hsOK, p.Req)), welcome...), second...))
	})
	c := dialT(t, &Dialer{}, url)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	op, msg, err := c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, OpText, op)
	assert.Equal(t, "welcome", string(msg))
	op, msg, err = c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, OpBinary, op)
	assert.Equal(t, []byte{1, 2, 3}, msg)
}

// TestClientResponseByteByByte checks that a valid response split into
// single-byte TCP segments is read correctly (RFC 6455 §4.1 is about the
// bytes, not how they arrive), including a frame that follows it.
func TestClientResponseByteByByte(t *testing.T) {
	url, _ := hsScript(t, func(p *wstest.Peer) {
		all := append([]byte(wstest.Fill(hsOK, p.Req)), wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte("hi")}.Bytes()...)
		for _, b := range all {
			if _, err := p.Conn.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(time.Millisecond)
		}
	})
	c, _, err := hsDial(&Dialer{}, url)
	require.NoError(t, err)
	defer c.CloseNow()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, msg, err := c.ReadMessage()
	require.NoError(t, err)
	require.Equal(t, "hi", string(msg))
}

// TestClientServerClosesEarly checks that a server that closes the
// connection before (or in the middle of) its answer fails the dial with an
// error that wraps the I/O cause, not a hang or a success.
func TestClientServerClosesEarly(t *testing.T) {
	for name, partial := range map[string]string{
		"nothing":       "",
		"status line":   "HTTP/1.1 101 Switching Protocols\r\n",
		"half a line":   "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgr",
		"no blank line": "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			srv := wstest.Serve(t, func(p *wstest.Peer) {
				_, _ = p.Conn.Write([]byte(partial)) // then the server closes
			})
			_, _, err := hsDial(&Dialer{}, srv.URL)
			require.Error(t, err)
			require.True(t, errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF), "got %v", err)
		})
	}
}
