//go:build !js

package ws

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/wstest"
	"github.com/stretchr/testify/require"
)

// This file tests the server half of the opening handshake (RFC 6455
// §4.2.1 reading the client's request, §4.2.2 answering it, §4.4 versions),
// both through net/http (Upgrader.Upgrade) and on a raw connection
// (Upgrader.UpgradeConn), by writing requests byte for byte.

// hsReq is the RFC 6455 §1.2 / §4.1 example request with our Host; the
// answer's accept value is the RFC's "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".
const hsReq = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

// hsWith returns hsReq with extra header lines added before the blank line.
func hsWith(lines ...string) string {
	return strings.TrimSuffix(hsReq, "\r\n") + strings.Join(lines, "") + "\r\n"
}

// hsWithout returns hsReq without the header line that starts with name.
func hsWithout(name string) string {
	var out []string
	for _, l := range strings.SplitAfter(hsReq, "\r\n") {
		if !strings.HasPrefix(l, name+":") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

// hsServed is what the server side of a test saw.
type hsServed struct {
	err     error         // from Upgrade or UpgradeConn
	req     *http.Request // the request UpgradeConn returned (raw mode)
	proto   string        // the Conn's subprotocol
	first   []byte        // the first message read after the upgrade
	readErr error         // reading that message failed
}

// hsModes are the two server entry points every request test runs through.
var hsModes = []string{"Upgrade", "UpgradeConn"}

// hsServe runs one handshake: the client writes request in one write; the
// server upgrades with u (through net/http's Upgrade or through UpgradeConn
// on a raw loopback connection) and, if that works, reads one message. It
// returns the parsed response, its body, the client's connection and reader
// (just after the response head), and a function that closes the client's
// connection and returns what the server saw.
func hsServe(t *testing.T, mode string, u *Upgrader, respHeader http.Header, request string) (*http.Response, []byte, net.Conn, *bufio.Reader, func() hsServed) {
	t.Helper()
	served := make(chan hsServed, 1)
	serve := func(c *Conn, r *http.Request, err error) {
		s := hsServed{err: err, req: r}
		if err == nil {
			s.proto = c.Subprotocol()
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, s.first, s.readErr = c.ReadMessage()
			_ = c.CloseNow()
		}
		served <- s
	}
	var client net.Conn
	switch mode {
	case "Upgrade":
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := u.Upgrade(w, r, respHeader)
			serve(c, nil, err)
		}))
		t.Cleanup(srv.Close)
		var err error
		client, err = net.Dial("tcp", srv.Listener.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { _ = client.Close() })
	case "UpgradeConn":
		a, b := wstest.TCPPair(t)
		client = a
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, r, err := u.UpgradeConn(ctx, b, respHeader)
			serve(c, r, err)
		}()
	default:
		t.Fatalf("mode %q", mode)
	}
	_ = client.SetDeadline(time.Now().Add(5 * time.Second))
	_, err := client.Write([]byte(request))
	require.NoError(t, err)
	br := bufio.NewReader(client)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	require.NoError(t, err, "the server answers")
	var body []byte
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ = io.ReadAll(resp.Body)
	}
	wait := func() hsServed {
		t.Helper()
		_ = client.Close()
		select {
		case s := <-served:
			return s
		case <-time.After(5 * time.Second):
			require.FailNow(t, "the server did not finish")
			return hsServed{}
		}
	}
	return resp, body, client, br, wait
}

// TestServerRefusesBadRequests checks RFC 6455 §4.2.1 ("If the server,
// while reading the handshake, finds that the client did not send a
// handshake that matches the description below ... the server MUST stop
// processing the client's handshake and return an HTTP response with an
// appropriate error code (such as 400 Bad Request)") item by item, and §4.4
// for the version: the status, the headers that go with it, and the
// *HandshakeError the server gets, through both entry points.
func TestServerRefusesBadRequests(t *testing.T) {
	for _, tc := range []struct {
		name     string
		req      string
		status   int
		sentinel error
		header   [2]string // a header the error response must carry
	}{
		{"§4.2.1 item 1: POST", strings.Replace(hsReq, "GET", "POST", 1), 405, ErrBadRequest, [2]string{"Allow", "GET"}},
		{"§4.2.1 item 1: PUT", strings.Replace(hsReq, "GET", "PUT", 1), 405, ErrBadRequest, [2]string{"Allow", "GET"}},
		{"§4.2.1 item 1: HTTP/1.0", strings.Replace(hsReq, "HTTP/1.1", "HTTP/1.0", 1), 400, ErrBadRequest, [2]string{}},
		{"§4.2.1 item 3: no Upgrade", hsWithout("Upgrade"), 426, ErrBadUpgrade, [2]string{"Upgrade", "websocket"}},
		{"§4.2.1 item 3: Upgrade h2c", strings.Replace(hsReq, "Upgrade: websocket", "Upgrade: h2c", 1), 426, ErrBadUpgrade, [2]string{"Upgrade", "websocket"}},
		{"§4.2.1 item 4: no Connection", hsWithout("Connection"), 400, ErrBadUpgrade, [2]string{}},
		{"§4.2.1 item 4: Connection keep-alive", strings.Replace(hsReq, "Connection: Upgrade", "Connection: keep-alive", 1), 400, ErrBadUpgrade, [2]string{}},
		{"§4.2.1 item 5: no key", hsWithout("Sec-WebSocket-Key"), 400, ErrBadRequest, [2]string{}},
		{"§4.2.1 item 5: empty key", strings.Replace(hsReq, "dGhlIHNhbXBsZSBub25jZQ==", "", 1), 400, ErrBadRequest, [2]string{}},
		{"§4.2.1 item 5: 15-byte key", strings.Replace(hsReq, "dGhlIHNhbXBsZSBub25jZQ==", "AAAAAAAAAAAAAAAAAAAA", 1), 400, ErrBadRequest, [2]string{}},
		{"§4.2.1 item 5: 17-byte key", strings.Replace(hsReq, "dGhlIHNhbXBsZSBub25jZQ==", "AAAAAAAAAAAAAAAAAAAAAAA=", 1), 400, ErrBadRequest, [2]string{}},
		{"§4.2.1 item 5: key not base64", strings.Replace(hsReq, "dGhlIHNhbXBsZSBub25jZQ==", "not*base64*at*all*here", 1), 400, ErrBadRequest, [2]string{}},
		{"§4.2.1 item 5: key without padding", strings.Replace(hsReq, "dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ", 1), 400, ErrBadRequest, [2]string{}},
		{"§4.2.1 item 5: two keys", hsWith("Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n"), 400, ErrBadRequest, [2]string{}},
		{"§4.4: version 8", strings.Replace(hsReq, "Version: 13", "Version: 8", 1), 426, ErrBadVersion, [2]string{"Sec-WebSocket-Version", "13"}},
		{"§4.4: no version", hsWithout("Sec-WebSocket-Version"), 426, ErrBadVersion, [2]string{"Sec-WebSocket-Version", "13"}},
		{"§4.4: two versions", hsWith("Sec-WebSocket-Version: 8\r\n"), 426, ErrBadVersion, [2]string{"Sec-WebSocket-Version", "13"}},
	} {
		for _, mode := range hsModes {
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				resp, _, client, br, wait := hsServe(t, mode, &Upgrader{}, nil, tc.req)
				require.Equal(t, tc.status, resp.StatusCode)
				if tc.header[0] != "" {
					require.Equal(t, tc.header[1], resp.Header.Get(tc.header[0]))
				}
				require.Empty(t, resp.Header.Values("Sec-WebSocket-Accept"), "no accept on a refusal")
				if mode == "UpgradeConn" {
					// UpgradeConn closes the connection after refusing.
					_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
					rest, err := io.ReadAll(br)
					require.NoError(t, err, "clean EOF after the refusal")
					require.Empty(t, rest)
				}
				s := wait()
				he := hsHandshakeErr(t, s.err, tc.sentinel)
				require.Equal(t, tc.status, he.StatusCode)
			})
		}
	}
	// Without Host (§4.2.1 item 2): net/http refuses before any handler
	// runs, so only the raw path is ours to test.
	t.Run("UpgradeConn/§4.2.1 item 2: no Host", func(t *testing.T) {
		resp, _, _, _, wait := hsServe(t, "UpgradeConn", &Upgrader{}, nil, hsWithout("Host"))
		require.Equal(t, 400, resp.StatusCode)
		hsHandshakeErr(t, wait().err, ErrBadRequest)
	})
	t.Run("UpgradeConn: not HTTP", func(t *testing.T) {
		resp, _, _, _, wait := hsServe(t, "UpgradeConn", &Upgrader{}, nil, "SSH-2.0-OpenSSH_9.6\r\n\r\n")
		require.Equal(t, 400, resp.StatusCode)
		hsHandshakeErr(t, wait().err, ErrMalformedHead)
	})
}

// TestServerResponseBytes checks the 101 of RFC 6455 §4.2.2 item 5 byte by
// byte for the RFC's own example request (§1.2): the status line, Upgrade,
// Connection, the accept value "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" (§1.3), and no
// Sec-WebSocket-Protocol when none was chosen (§4.2.2 item 5.4).
func TestServerResponseBytes(t *testing.T) {
	for _, mode := range hsModes {
		t.Run(mode, func(t *testing.T) {
			resp, _, _, _, wait := hsServe(t, mode, &Upgrader{}, nil, hsWith("Origin: http://server.example.com\r\n"))
			require.Equal(t, 101, resp.StatusCode)
			require.Equal(t, "101 Switching Protocols", resp.Status)
			require.Equal(t, "HTTP/1.1", resp.Proto)
			require.Equal(t, []string{"websocket"}, resp.Header.Values("Upgrade"))
			require.Equal(t, []string{"Upgrade"}, resp.Header.Values("Connection"))
			require.Equal(t, []string{"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}, resp.Header.Values("Sec-WebSocket-Accept"))
			require.Empty(t, resp.Header.Values("Sec-WebSocket-Protocol"))
			require.Empty(t, resp.Header.Values("Sec-WebSocket-Extensions"))
			s := wait()
			require.NoError(t, s.err)
			if mode == "UpgradeConn" {
				require.Equal(t, "/chat", s.req.URL.Path)
				require.Equal(t, "server.example.com", s.req.Host)
			}
		})
	}
}

// TestServerAcceptsValidVariants checks the leniency §4.2.1 allows: Upgrade
// and Connection compared case-insensitively, Connection as a token list
// (items 3–4), header names in any case, a query in the Request-URI (item
// 1), and other headers (item 10).
func TestServerAcceptsValidVariants(t *testing.T) {
	for name, req := range map[string]string{
		"upper-case values": strings.NewReplacer("Upgrade: websocket", "Upgrade: WebSocket", "Connection: Upgrade", "Connection: UPGRADE").Replace(hsReq),
		"Connection list":   strings.Replace(hsReq, "Connection: Upgrade", "Connection: keep-alive, Upgrade", 1),
		"Upgrade list":      strings.Replace(hsReq, "Upgrade: websocket", "Upgrade: foo/2, websocket", 1),
		"lower-case names":  strings.NewReplacer("Upgrade:", "upgrade:", "Connection:", "connection:", "Sec-WebSocket-", "sec-websocket-").Replace(hsReq),
		"query":             strings.Replace(hsReq, "/chat", "/chat?room=1&x=%20", 1),
		"key with spaces":   strings.Replace(hsReq, "Key: dGhlIHNhbXBsZSBub25jZQ==", "Key:   dGhlIHNhbXBsZSBub25jZQ==  ", 1),
		"other headers":     hsWith("Cookie: a=b\r\n", "User-Agent: test\r\n", "Sec-WebSocket-Extensions: x-unknown\r\n"),
	} {
		for _, mode := range hsModes {
			t.Run(mode+"/"+name, func(t *testing.T) {
				resp, _, _, _, wait := hsServe(t, mode, &Upgrader{}, nil, req)
				require.Equal(t, 101, resp.StatusCode)
				require.Equal(t, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", resp.Header.Get("Sec-WebSocket-Accept"))
				// §4.2.2 item 5.5: extensions we did not agree to are not answered.
				require.Empty(t, resp.Header.Values("Sec-WebSocket-Extensions"))
				require.NoError(t, wait().err)
			})
		}
	}
}

// TestServerOriginCheck checks §4.2.2 item 4 and §10.2: the default check
// lets through requests without Origin (non-browser clients) and those whose
// Origin names the Host, and answers 403 to other origins; a CheckOrigin
// replaces it.
func TestServerOriginCheck(t *testing.T) {
	trusted := func(r *http.Request) bool { return r.Header.Get("Origin") == "https://trusted.example" }
	for _, tc := range []struct {
		name   string
		check  func(*http.Request) bool
		origin string // "" sends no Origin
		status int
	}{
		{"default: no Origin", nil, "", 101},
		{"default: same origin", nil, "http://server.example.com", 101},
		{"default: same origin, other scheme and case", nil, "https://SERVER.example.com", 101},
		{"default: cross origin", nil, "http://evil.example", 403},
		{"default: same host, other port", nil, "http://server.example.com:8080", 403},
		{"default: origin null", nil, "null", 403},
		{"default: unparsable origin", nil, "http://%zz", 403},
		{"custom: trusted", trusted, "https://trusted.example", 101},
		{"custom: same origin refused", trusted, "http://server.example.com", 403},
		{"custom: no Origin refused", trusted, "", 403},
	} {
		for _, mode := range hsModes {
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				req := hsReq
				if tc.origin != "" {
					req = hsWith("Origin: " + tc.origin + "\r\n")
				}
				resp, _, _, _, wait := hsServe(t, mode, &Upgrader{CheckOrigin: tc.check}, nil, req)
				require.Equal(t, tc.status, resp.StatusCode)
				s := wait()
				if tc.status == 101 {
					require.NoError(t, s.err)
					return
				}
				he := hsHandshakeErr(t, s.err, ErrBadOrigin)
				require.Equal(t, 403, he.StatusCode)
			})
		}
	}
}

// TestServerSubprotocol checks §4.2.2 item 5.4 ("Either a single value
// representing the subprotocol the server is ready to use or null"; none is
// sent back if none fits): by default the server's first preference the
// client offered, or a SelectSubprotocol hook, which may not choose one
// that was not offered.
func TestServerSubprotocol(t *testing.T) {
	last := func(r *http.Request, offered []string) string { return offered[len(offered)-1] }
	for _, tc := range []struct {
		name    string
		u       *Upgrader
		offer   []string // header lines
		chosen  string
		status  int
		wantErr error
	}{
		{"server preference", &Upgrader{Subprotocols: []string{"superchat", "chat"}}, []string{"chat, superchat"}, "superchat", 101, nil},
		{"server preference, two header lines", &Upgrader{Subprotocols: []string{"superchat", "chat"}}, []string{"chat", "superchat"}, "superchat", 101, nil},
		{"only one common", &Upgrader{Subprotocols: []string{"superchat", "chat"}}, []string{"mqtt, chat"}, "chat", 101, nil},
		{"none common", &Upgrader{Subprotocols: []string{"superchat", "chat"}}, []string{"mqtt"}, "", 101, nil},
		{"none offered", &Upgrader{Subprotocols: []string{"chat"}}, nil, "", 101, nil},
		{"server speaks none", &Upgrader{}, []string{"chat"}, "", 101, nil},
		{"tokens are case-sensitive", &Upgrader{Subprotocols: []string{"chat"}}, []string{"CHAT"}, "", 101, nil},
		{"SelectSubprotocol", &Upgrader{Subprotocols: []string{"chat"}, SelectSubprotocol: last}, []string{"chat, v2.mqtt"}, "v2.mqtt", 101, nil},
		{"SelectSubprotocol none", &Upgrader{SelectSubprotocol: func(*http.Request, []string) string { return "" }}, []string{"chat"}, "", 101, nil},
		{"SelectSubprotocol not offered", &Upgrader{SelectSubprotocol: func(*http.Request, []string) string { return "bogus" }}, []string{"chat"}, "", 500, ErrBadSubprotocol},
	} {
		for _, mode := range hsModes {
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				var lines []string
				for _, o := range tc.offer {
					lines = append(lines, "Sec-WebSocket-Protocol: "+o+"\r\n")
				}
				resp, _, _, _, wait := hsServe(t, mode, tc.u, nil, hsWith(lines...))
				require.Equal(t, tc.status, resp.StatusCode)
				s := wait()
				if tc.wantErr != nil {
					he := hsHandshakeErr(t, s.err, tc.wantErr)
					require.Equal(t, tc.status, he.StatusCode)
					return
				}
				require.NoError(t, s.err)
				require.Equal(t, tc.chosen, s.proto)
				if tc.chosen == "" {
					require.Empty(t, resp.Header.Values("Sec-WebSocket-Protocol"), "§4.2.2 item 5.4: no header when none is chosen")
				} else {
					require.Equal(t, []string{tc.chosen}, resp.Header.Values("Sec-WebSocket-Protocol"))
				}
			})
		}
	}
}

// TestServerSelectSubprotocolSeesOffer checks that SelectSubprotocol gets
// the request and the client's offer as a list of tokens (§4.1 item 10: a
// comma-separated list, possibly over several header lines).
func TestServerSelectSubprotocolSeesOffer(t *testing.T) {
	var mu sync.Mutex
	var got []string
	var path string
	u := &Upgrader{SelectSubprotocol: func(r *http.Request, offered []string) string {
		mu.Lock()
		defer mu.Unlock()
		got, path = offered, r.URL.Path
		return ""
	}}
	for _, mode := range hsModes {
		resp, _, _, _, wait := hsServe(t, mode, u, nil, hsWith("Sec-WebSocket-Protocol: a, b ,c\r\n", "Sec-WebSocket-Protocol: d\r\n"))
		require.Equal(t, 101, resp.StatusCode)
		require.NoError(t, wait().err)
		mu.Lock()
		require.Equal(t, []string{"a", "b", "c", "d"}, got)
		require.Equal(t, "/chat", path)
		mu.Unlock()
	}
}

// TestServerDialerSubprotocol checks the negotiation end to end (§4.1 item
// 10, §4.2.2 item 5.4): both Conns report the server's choice.
func TestServerDialerSubprotocol(t *testing.T) {
	chosen := make(chan string, 1)
	u := &Upgrader{Subprotocols: []string{"superchat", "chat"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := u.Upgrade(w, r, nil)
		if err != nil {
			chosen <- "error: " + err.Error()
			return
		}
		chosen <- c.Subprotocol()
		_ = c.CloseNow()
	}))
	t.Cleanup(srv.Close)
	c := dialT(t, &Dialer{Subprotocols: []string{"chat", "superchat"}}, "ws"+strings.TrimPrefix(srv.URL, "http"))
	require.Equal(t, "superchat", c.Subprotocol())
	require.Equal(t, "superchat", <-chosen)
}

// TestServerResponseHeader checks that responseHeader adds headers such as
// Set-Cookie to the 101 (§4.2.2 item 5: the response may carry other
// fields, §1.2), and that headers that would break the response or that the
// handshake owns are refused with ErrBadHeader before anything is sent.
func TestServerResponseHeader(t *testing.T) {
	for _, mode := range hsModes {
		t.Run(mode+"/added", func(t *testing.T) {
			h := http.Header{"Set-Cookie": {"id=1; HttpOnly", "theme=dark"}, "X-Server": {"plainws"}}
			resp, _, _, _, wait := hsServe(t, mode, &Upgrader{}, h, hsReq)
			require.Equal(t, 101, resp.StatusCode)
			require.Equal(t, []string{"id=1; HttpOnly", "theme=dark"}, resp.Header.Values("Set-Cookie"))
			require.Equal(t, "plainws", resp.Header.Get("X-Server"))
			require.Equal(t, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", resp.Header.Get("Sec-WebSocket-Accept"))
			require.NoError(t, wait().err)
		})
	}
	for name, h := range map[string]http.Header{
		"owned Sec-WebSocket-Accept":     {"Sec-Websocket-Accept": {"x"}},
		"owned Upgrade":                  {"Upgrade": {"websocket"}},
		"owned Connection":               {"Connection": {"close"}},
		"owned Sec-WebSocket-Protocol":   {"Sec-Websocket-Protocol": {"chat"}},
		"owned Sec-WebSocket-Extensions": {"Sec-Websocket-Extensions": {"permessage-deflate"}},
		"owned, lower case":              {"sec-websocket-accept": {"x"}},
		"CRLF in value":                  {"Set-Cookie": {"a=b\r\nX-Injected: 1"}},
		"LF in value":                    {"X-Server": {"a\nb"}},
		"NUL in value":                   {"X-Server": {"a\x00b"}},
		"space in name":                  {"X Server": {"1"}},
		"CRLF in name":                   {"X\r\nInjected": {"1"}},
	} {
		t.Run("Upgrade/"+name, func(t *testing.T) {
			resp, _, _, _, wait := hsServe(t, "Upgrade", &Upgrader{}, h, hsReq)
			require.Equal(t, 500, resp.StatusCode)
			require.Empty(t, resp.Header.Values("Sec-WebSocket-Accept"))
			require.ErrorIs(t, wait().err, ErrBadHeader)
		})
		t.Run("UpgradeConn/"+name, func(t *testing.T) {
			a, b := wstest.TCPPair(t)
			_, _, err := (&Upgrader{}).UpgradeConn(context.Background(), b, h)
			require.ErrorIs(t, err, ErrBadHeader)
			_ = a.SetReadDeadline(time.Now().Add(5 * time.Second))
			sent, err := io.ReadAll(a)
			require.NoError(t, err, "UpgradeConn closed the connection")
			require.Empty(t, sent, "nothing is sent")
		})
	}
}

// TestServerPipelinedFrames checks that frames a client sends in the same
// write as its request are the first messages (RFC 6455 §4.1: the client may
// send data once it has sent its handshake and seen the answer; a client
// that does not wait must not lose bytes either), through net/http's
// buffered reader as well as the raw path, and that the server's own frames
// go out unmasked (§5.1).
func TestServerPipelinedFrames(t *testing.T) {
	first := wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte("first message")}.Mask().Bytes()
	second := wstest.Frame{Fin: true, Opcode: wstest.OpBinary, Payload: []byte{9, 8, 7}}.Mask().Bytes()
	for _, mode := range hsModes {
		t.Run(mode, func(t *testing.T) {
			resp, _, _, _, wait := hsServe(t, mode, &Upgrader{}, nil, hsReq+string(first)+string(second))
			require.Equal(t, 101, resp.StatusCode)
			s := wait()
			require.NoError(t, s.err)
			require.NoError(t, s.readErr)
			require.Equal(t, "first message", string(s.first))
		})
	}
	t.Run("server answers unmasked", func(t *testing.T) {
		a, b := wstest.TCPPair(t)
		done := make(chan error, 1)
		go func() {
			c, _, err := (&Upgrader{}).UpgradeConn(context.Background(), b, nil)
			if err == nil {
				err = c.WriteText("from the server")
			}
			done <- err
		}()
		_, err := a.Write([]byte(hsReq))
		require.NoError(t, err)
		p := peerOn(t, a, true) // the peer of a server
		resp, err := http.ReadResponse(p.R, nil)
		require.NoError(t, err)
		require.Equal(t, 101, resp.StatusCode)
		require.NoError(t, <-done)
		h, payload := p.next() // checks §5.1 masking
		require.Equal(t, OpText, h.Opcode)
		require.Equal(t, "from the server", string(payload))
	})
}

// TestUpgradeConnSlowloris checks that a client trickling its request one
// byte at a time cannot hold UpgradeConn past HandshakeTimeout (nor past a
// context), and that the connection is closed (RFC 6455 §4.2.1 leaves the
// wait to the server; DESIGN.md principle 4 bounds it).
func TestUpgradeConnSlowloris(t *testing.T) {
	checkNoLeak(t)
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		ctxWait time.Duration
		want    error
	}{
		{"HandshakeTimeout", 500 * time.Millisecond, 0, context.DeadlineExceeded},
		{"context cancelled", time.Hour, 300 * time.Millisecond, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := wstest.TCPPair(t)
			stop := make(chan struct{})
			trickled := make(chan struct{})
			go func() {
				defer close(trickled)
				for _, c := range []byte(hsReq) {
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond):
					}
					if _, err := a.Write([]byte{c}); err != nil {
						return
					}
				}
			}()
			defer func() { close(stop); <-trickled }()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.ctxWait > 0 {
				time.AfterFunc(tc.ctxWait, cancel)
			}
			start := time.Now()
			c, _, err := (&Upgrader{HandshakeTimeout: tc.timeout}).UpgradeConn(ctx, b, nil)
			elapsed := time.Since(start)
			require.Nil(t, c)
			require.ErrorIs(t, err, tc.want)
			require.Less(t, elapsed, 5*time.Second, "bounded")
			// The connection was closed: the client sees EOF (or a reset,
			// as it was still sending), after at most a best-effort error
			// response; not its own read deadline.
			_ = a.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = io.ReadAll(a)
			if err != nil {
				require.ErrorIs(t, err, syscall.ECONNRESET)
			}
		})
	}
}

// TestUpgradeConnHeadTooLarge checks that an endless request head is cut
// at MaxRequestHeadBytes with 431 and ErrHeadTooLarge, reading (and
// allocating) a bounded amount whatever the client offers.
func TestUpgradeConnHeadTooLarge(t *testing.T) {
	t.Run("endless", func(t *testing.T) {
		const offered = 8 << 20
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		go func() {
			if _, err := a.Write([]byte("GET /chat HTTP/1.1\r\nHost: x\r\n")); err != nil {
				return
			}
			chunk := []byte(strings.Repeat("X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", 1024))
			for sent := 0; sent < offered; sent += len(chunk) {
				if _, err := a.Write(chunk); err != nil {
					return
				}
			}
		}()
		type result struct {
			resp *http.Response
			err  error
		}
		got := make(chan result, 1)
		go func() {
			resp, err := http.ReadResponse(bufio.NewReader(a), nil)
			got <- result{resp, err}
		}()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, r, err := (&Upgrader{}).UpgradeConn(ctx, b, nil)
		runtime.ReadMemStats(&after)
		require.Nil(t, c)
		require.Nil(t, r)
		he := hsHandshakeErr(t, err, ErrHeadTooLarge)
		require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, he.StatusCode)
		allocated := after.TotalAlloc - before.TotalAlloc
		require.Less(t, allocated, uint64(2<<20), "allocated %d bytes for a %d-byte limit", allocated, DefaultMaxHeadBytes)
		res := <-got
		require.NoError(t, res.err)
		require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, res.resp.StatusCode)
	})
	t.Run("custom limit", func(t *testing.T) {
		u := &Upgrader{MaxRequestHeadBytes: 256}
		resp, _, _, _, wait := hsServe(t, "UpgradeConn", u, nil, hsWith("Cookie: "+strings.Repeat("c", 300)+"\r\n"))
		require.Equal(t, 431, resp.StatusCode)
		hsHandshakeErr(t, wait().err, ErrHeadTooLarge)

		resp, _, _, _, wait = hsServe(t, "UpgradeConn", u, nil, hsReq)
		require.Equal(t, 101, resp.StatusCode, "the RFC's request fits in 256 bytes")
		require.NoError(t, wait().err)

		// Frames after the head are not counted against the limit.
		big := wstest.Frame{Fin: true, Opcode: wstest.OpBinary, Payload: make([]byte, 4096)}.Mask().Bytes()
		resp, _, _, _, wait = hsServe(t, "UpgradeConn", u, nil, hsReq+string(big))
		require.Equal(t, 101, resp.StatusCode)
		s := wait()
		require.NoError(t, s.readErr)
		require.Len(t, s.first, 4096)
	})
}

// TestUpgradeHijackFailure checks that Upgrade on a ResponseWriter that
// cannot be hijacked answers 500 and reports the cause, rather than
// panicking or pretending to upgrade.
func TestUpgradeHijackFailure(t *testing.T) {
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(hsReq)))
	require.NoError(t, err)
	w := httptest.NewRecorder()
	c, err := (&Upgrader{CheckOrigin: func(*http.Request) bool { return true }}).Upgrade(w, r, nil)
	require.Nil(t, c)
	require.Error(t, err)
	require.True(t, errors.Is(err, http.ErrNotSupported), "got %v", err)
	require.Equal(t, 500, w.Code)
}
