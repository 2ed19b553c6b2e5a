//go:build !js

package ws

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/wstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plainws/plainws/internal/proxyserver"
)

// ---------------------------------------------------------------------------
// helpers (prefixed px: this file shares package ws with other tests)

// pxThrough dials the proxy at u the way the Dialer does (proxyAddr, a TCP
// dial, a deadline) and runs proxyHandshake to target.
func pxThrough(t *testing.T, u *url.URL, target string) (net.Conn, error) {
	t.Helper()
	addr, err := proxyAddr(u)
	require.NoError(t, err)
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(5*time.Second)))
	return proxyHandshake(context.Background(), c, u, target, nil)
}

// pxAssertEcho sends msg through the tunnel and expects it back.
func pxAssertEcho(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	_, err := io.WriteString(c, msg)
	require.NoError(t, err)
	got := make([]byte, len(msg))
	_, err = io.ReadFull(c, got)
	require.NoError(t, err)
	assert.Equal(t, msg, string(got))
}

// pxProxyErr asserts that err is a *ProxyError wrapping sentinel and
// returns it.
func pxProxyErr(t *testing.T, err error, sentinel error) *ProxyError {
	t.Helper()
	require.Error(t, err)
	var pe *ProxyError
	require.ErrorAs(t, err, &pe)
	require.ErrorIs(t, err, sentinel)
	return pe
}

// pxScript runs script as a fake proxy on the far end of a net.Pipe and
// returns the near end, and a channel closed once script has returned (and
// the far end is closed), after which what script recorded may be read.
func pxScript(t *testing.T, script func(srv net.Conn)) (net.Conn, <-chan struct{}) {
	t.Helper()
	cli, srv := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer srv.Close()
		script(srv)
	}()
	deadline := time.Now().Add(5 * time.Second)
	require.NoError(t, cli.SetDeadline(deadline))
	require.NoError(t, srv.SetDeadline(deadline))
	t.Cleanup(func() {
		_ = cli.Close()
		<-done
	})
	return cli, done
}

// pxReadHTTPHead reads a request head from srv and returns it verbatim.
func pxReadHTTPHead(srv net.Conn) string {
	br := bufio.NewReader(srv)
	var b strings.Builder
	for {
		line, err := br.ReadString('\n')
		b.WriteString(line)
		if err != nil || line == "\r\n" {
			return b.String()
		}
	}
}

// pxHTTPReply is a fake HTTP proxy that reads the request head and answers
// reply.
func pxHTTPReply(reply string) func(net.Conn) {
	return func(srv net.Conn) {
		pxReadHTTPHead(srv)
		_, _ = io.WriteString(srv, reply)
	}
}

func pxURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

// pxRead reads exactly n bytes on the fake proxy's side.
func pxRead(srv net.Conn, n int) []byte {
	b := make([]byte, n)
	_, _ = io.ReadFull(srv, b)
	return b
}

// pxAssertClosed asserts that the client end was closed: the fake proxy
// reads EOF.
func pxAssertClosed(t *testing.T, srv net.Conn) {
	_, err := srv.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF, "proxyHandshake must close conn on failure")
}

// ---------------------------------------------------------------------------
// proxyAddr

func TestProxyAddrDefaultPorts(t *testing.T) {
	for in, want := range map[string]string{
		"http://proxy.example":            "proxy.example:80",
		"https://proxy.example":           "proxy.example:443",
		"socks5://proxy.example":          "proxy.example:1080",
		"socks5h://proxy.example":         "proxy.example:1080",
		"http://u:p@proxy.example:3128":   "proxy.example:3128",
		"socks5://[::1]":                  "[::1]:1080",
		"HTTP://127.0.0.1:8080/ignored":   "127.0.0.1:8080",
		"socks5h://user@127.0.0.1:1081/x": "127.0.0.1:1081",
	} {
		got, err := proxyAddr(pxURL(t, in))
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	// A URL built by hand keeps its scheme's case; it must still work.
	got, err := proxyAddr(&url.URL{Scheme: "SOCKS5", Host: "127.0.0.1"})
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:1080", got)
}

func TestProxyAddrErrors(t *testing.T) {
	for _, in := range []string{"ftp://proxy.example", "socks4://proxy.example", "ws://proxy.example", "proxy.example:3128"} {
		_, err := proxyAddr(pxURL(t, in))
		pe := pxProxyErr(t, err, ErrProxyScheme)
		assert.Equal(t, "address", pe.Op, in)
	}
	_, err := proxyAddr(nil)
	pxProxyErr(t, err, ErrProxyScheme)

	for _, u := range []*url.URL{
		{Scheme: "http"},
		{Scheme: "http", Host: ":3128"},
		{Scheme: "socks5", Host: "127.0.0.1:0"},
		{Scheme: "socks5", Host: "127.0.0.1:65536"},
	} {
		_, err := proxyAddr(u)
		pxProxyErr(t, err, ErrProxyAddr)
	}
}

// ---------------------------------------------------------------------------
// through the real test proxies

func TestProxyHTTPConnectThroughTestProxy(t *testing.T) {
	echo := wstest.Echo(t)
	p, err := proxyserver.StartHTTPConnect(proxyserver.Options{})
	require.NoError(t, err)
	defer p.Close()

	c, err := pxThrough(t, p.URL(), echo)
	require.NoError(t, err)
	pxAssertEcho(t, c, "through http")
	assert.Equal(t, []string{echo}, p.Targets())
}

func TestProxyHTTPConnectAuthThroughTestProxy(t *testing.T) {
	echo := wstest.Echo(t)
	p, err := proxyserver.StartHTTPConnect(proxyserver.Options{Username: "alice", Password: "s3cr:t@x"})
	require.NoError(t, err)
	defer p.Close()

	c, err := pxThrough(t, p.URL(), echo)
	require.NoError(t, err)
	pxAssertEcho(t, c, "authenticated")

	wrong := p.URL()
	wrong.User = url.UserPassword("alice", "wrong-password")
	_, err = pxThrough(t, wrong, echo)
	pe := pxProxyErr(t, err, ErrProxyAuth)
	assert.Equal(t, 407, pe.StatusCode)
	assert.NotContains(t, err.Error(), "wrong-password", "the password must not leak into errors")

	none := p.URL()
	none.User = nil
	_, err = pxThrough(t, none, echo)
	pe = pxProxyErr(t, err, ErrProxyAuth)
	assert.Equal(t, 407, pe.StatusCode)
}

func TestProxyHTTPSSchemeSpeaksCONNECT(t *testing.T) {
	// The Dialer puts TLS under an https proxy's conn; the tunnel itself is
	// the same CONNECT, so plain TCP stands in for the TLS connection here.
	echo := wstest.Echo(t)
	p, err := proxyserver.StartHTTPConnect(proxyserver.Options{})
	require.NoError(t, err)
	defer p.Close()

	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(5*time.Second)))
	u := pxURL(t, "https://"+p.Addr())
	tun, err := proxyHandshake(context.Background(), c, u, echo, nil)
	require.NoError(t, err)
	pxAssertEcho(t, tun, "https proxy")
}

func TestProxyHTTPConnectTargetFailures(t *testing.T) {
	p, err := proxyserver.StartHTTPConnect(proxyserver.Options{})
	require.NoError(t, err)
	defer p.Close()

	refused := wstest.UnusedAddr(t)
	_, err = pxThrough(t, p.URL(), refused)
	pe := pxProxyErr(t, err, ErrProxyRefused)
	assert.Equal(t, 502, pe.StatusCode)
	assert.Equal(t, refused, pe.Target)
	assert.Contains(t, err.Error(), "502 Bad Gateway")

	// The test proxy refuses everything but loopback with 403.
	_, err = pxThrough(t, p.URL(), "192.0.2.1:80")
	pe = pxProxyErr(t, err, ErrProxyRefused)
	assert.Equal(t, 403, pe.StatusCode)
}

func TestProxySOCKS5ThroughTestProxy(t *testing.T) {
	echo := wstest.Echo(t)
	_, port, err := net.SplitHostPort(echo)
	require.NoError(t, err)
	p, err := proxyserver.StartSOCKS5(proxyserver.Options{})
	require.NoError(t, err)
	defer p.Close()

	c, err := pxThrough(t, p.URL(), echo)
	require.NoError(t, err)
	pxAssertEcho(t, c, "through socks5")

	// A name goes to the proxy unresolved (ATYP X'03'), for socks5h and
	// socks5 alike: the proxy records the name, not an address.
	for _, scheme := range []string{"socks5h", "socks5"} {
		u := p.URL()
		u.Scheme = scheme
		c, err = pxThrough(t, u, net.JoinHostPort("localhost", port))
		require.NoError(t, err, scheme)
		pxAssertEcho(t, c, "by name via "+scheme)
	}
	assert.Equal(t, []string{echo, "localhost:" + port, "localhost:" + port}, p.Targets())
}

func TestProxySOCKS5AuthThroughTestProxy(t *testing.T) {
	echo := wstest.Echo(t)
	p, err := proxyserver.StartSOCKS5(proxyserver.Options{Username: "bob", Password: "hunter2"})
	require.NoError(t, err)
	defer p.Close()

	c, err := pxThrough(t, p.URL(), echo)
	require.NoError(t, err)
	pxAssertEcho(t, c, "authenticated")

	wrong := p.URL()
	wrong.User = url.UserPassword("bob", "wrong-password")
	_, err = pxThrough(t, wrong, echo)
	pe := pxProxyErr(t, err, ErrProxyAuth)
	assert.Equal(t, "auth", pe.Op)
	assert.NotContains(t, err.Error(), "wrong-password")

	none := p.URL()
	none.User = nil
	_, err = pxThrough(t, none, echo)
	pe = pxProxyErr(t, err, ErrProxyAuth)
	assert.Equal(t, "greeting", pe.Op)
}

func TestProxySOCKS5TargetFailures(t *testing.T) {
	p, err := proxyserver.StartSOCKS5(proxyserver.Options{})
	require.NoError(t, err)
	defer p.Close()

	_, err = pxThrough(t, p.URL(), wstest.UnusedAddr(t))
	pe := pxProxyErr(t, err, ErrProxyRefused)
	assert.Equal(t, byte(0x05), pe.Reply)
	assert.Contains(t, err.Error(), "connection refused")

	_, err = pxThrough(t, p.URL(), "192.0.2.1:80")
	pe = pxProxyErr(t, err, ErrProxyRefused)
	assert.Equal(t, byte(0x02), pe.Reply)
	assert.Contains(t, err.Error(), "connection not allowed by ruleset")
}

// ---------------------------------------------------------------------------
// HTTP CONNECT, scripted

func TestProxyHTTPConnectRequestBytes(t *testing.T) {
	for _, tc := range []struct {
		name, proxy, target, want string
	}{
		{"no credentials", "http://127.0.0.1:1", "example.com:443",
			"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"},
		{"IPv6 target keeps its brackets", "http://127.0.0.1:1", "[::1]:8080",
			"CONNECT [::1]:8080 HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"},
		// User info is percent-decoded before it is encoded for Basic.
		{"credentials", "http://al%20ice:p%40ss:w%2Frd@127.0.0.1:1", "example.com:80",
			"CONNECT example.com:80 HTTP/1.1\r\nHost: example.com:80\r\nProxy-Authorization: Basic " +
				base64.StdEncoding.EncodeToString([]byte("al ice:p@ss:w/rd")) + "\r\n\r\n"},
		{"user without password", "https://alice@127.0.0.1:1", "example.com:80",
			"CONNECT example.com:80 HTTP/1.1\r\nHost: example.com:80\r\nProxy-Authorization: Basic " +
				base64.StdEncoding.EncodeToString([]byte("alice:")) + "\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			cli, done := pxScript(t, func(srv net.Conn) {
				got = pxReadHTTPHead(srv)
				_, _ = io.WriteString(srv, "HTTP/1.1 200 Connection established\r\n\r\n")
			})
			tun, err := proxyHandshake(context.Background(), cli, pxURL(t, tc.proxy), tc.target, nil)
			require.NoError(t, err)
			assert.Same(t, cli, tun, "no bytes after the head: conn itself is the tunnel")
			<-done
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestProxyHTTPConnectKeepsBytesAfterHead(t *testing.T) {
	// RFC 9110 §9.3.6: a client MUST ignore Content-Length in a 2xx reply
	// to CONNECT; the bytes after the head are the target's.
	cli, _ := pxScript(t, func(srv net.Conn) {
		pxReadHTTPHead(srv)
		_, _ = io.WriteString(srv, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nHTTP/1.1 101 from target")
		_, _ = io.WriteString(srv, " and more")
	})
	tun, err := proxyHandshake(context.Background(), cli, pxURL(t, "http://127.0.0.1:1"), "example.com:80", nil)
	require.NoError(t, err)
	want := "HTTP/1.1 101 from target and more"
	got := make([]byte, len(want))
	_, err = io.ReadFull(tun, got)
	require.NoError(t, err)
	assert.Equal(t, want, string(got))
}

func TestProxyHTTPConnectReplyForms(t *testing.T) {
	// Replies that are unusual but valid: any 2xx, a missing reason, bare
	// LF line ends (RFC 9112 §2.2), a folded header line (RFC 9112 §5.2),
	// interim 1xx heads before the final one (RFC 9110 §15.2), HTTP/1.0.
	for _, reply := range []string{
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 299 Whatever\r\n\r\n",
		"HTTP/1.1 200\r\n\r\n",
		"HTTP/1.1 200 \r\n\r\n",
		"HTTP/1.0 200 Connection established\nProxy-Agent: x\n\n",
		"HTTP/1.1 200 OK\r\nX-Long: a\r\n  b\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </>\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
	} {
		cli, _ := pxScript(t, pxHTTPReply(reply))
		_, err := proxyHandshake(context.Background(), cli, pxURL(t, "http://127.0.0.1:1"), "example.com:80", nil)
		assert.NoError(t, err, "%q", reply)
	}
}

func TestProxyHTTPConnectReplyByteByByte(t *testing.T) {
	cli, _ := pxScript(t, func(srv net.Conn) {
		pxReadHTTPHead(srv)
		for _, b := range []byte("HTTP/1.1 200 OK\r\nVia: 1.1 p\r\n\r\nX") {
			if _, err := srv.Write([]byte{b}); err != nil {
				return
			}
		}
	})
	tun, err := proxyHandshake(context.Background(), cli, pxURL(t, "http://127.0.0.1:1"), "example.com:80", nil)
	require.NoError(t, err)
	b := make([]byte, 1)
	_, err = io.ReadFull(tun, b)
	require.NoError(t, err)
	assert.Equal(t, "X", string(b))
}

func TestProxyHTTPConnectStatusErrors(t *testing.T) {
	for _, tc := range []struct {
		reply    string
		sentinel error
		code     int
		text     string
	}{
		{"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\n\r\n", ErrProxyAuth, 407, "407 Proxy Authentication Required"},
		{"HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\nnope!", ErrProxyRefused, 403, "403 Forbidden"},
		{"HTTP/1.1 502 Bad Gateway\r\n\r\n", ErrProxyRefused, 502, "502 Bad Gateway"},
		{"HTTP/1.1 301 Moved Permanently\r\nLocation: /\r\n\r\n", ErrProxyRefused, 301, "301 Moved Permanently"},
		{"HTTP/1.1 101 Switching Protocols\r\n\r\n", ErrProxyReply, 101, "101"},
	} {
		var closed bool
		cli, done := pxScript(t, func(srv net.Conn) {
			pxReadHTTPHead(srv)
			_, _ = io.WriteString(srv, tc.reply)
			_, err := srv.Read(make([]byte, 1))
			closed = errors.Is(err, io.EOF)
		})
		_, err := proxyHandshake(context.Background(), cli, pxURL(t, "http://127.0.0.1:1"), "example.com:80", nil)
		pe := pxProxyErr(t, err, tc.sentinel)
		assert.Equal(t, tc.code, pe.StatusCode, tc.reply)
		assert.Equal(t, "connect", pe.Op)
		assert.Equal(t, "example.com:80", pe.Target)
		assert.Contains(t, err.Error(), tc.text)
		<-done
		assert.True(t, closed, "proxyHandshake must close conn on failure")
	}
}

func TestProxyHTTPConnectMalformedReplies(t *testing.T) {
	for _, reply := range []string{
		"SSH-2.0-OpenSSH_9.6\r\n\r\n",
		"\r\n\r\n",
		"HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/1.1 abc OK\r\n\r\n",
		"HTTP/1.1 099 Low\r\n\r\n",
		"HTTP/1.1 600 High\r\n\r\n",
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1  200 OK\r\n\r\n",
		"http/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\x01\r\n\r\n",
		"HTTP/1.1 200 OK\r\nthis is not a header\r\n\r\n",
		"HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
		"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
	} {
		cli, _ := pxScript(t, pxHTTPReply(reply))
		_, err := proxyHandshake(context.Background(), cli, pxURL(t, "http://127.0.0.1:1"), "example.com:80", nil)
		pxProxyErr(t, err, ErrProxyReply)
	}
}

func TestProxyHTTPConnectTruncatedReplies(t *testing.T) {
	for _, reply := range []string{
		"",
		"HTTP/1.1 200 OK",
		"HTTP/1.1 200 OK\r\n",
		"HTTP/1.1 200 OK\r\nServer: x\r\n",
		"HTTP/1.1 100 Continue\r\n\r\n",
	} {
		cli, _ := pxScript(t, pxHTTPReply(reply))
		_, err := proxyHandshake(context.Background(), cli, pxURL(t, "http://127.0.0.1:1"), "example.com:80", nil)
		pxProxyErr(t, err, ErrProxyReply)
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "%q", reply)
	}
}

func TestProxyHTTPConnectEndlessHead(t *testing.T) {
	// A head that never ends is an error after proxyHTTPHeadMax bytes, not
	// unbounded memory; the fake proxy would keep writing forever.
	cli, _ := pxScript(t, func(srv net.Conn) {
		pxReadHTTPHead(srv)
		if _, err := io.WriteString(srv, "HTTP/1.1 200 OK\r\n"); err != nil {
			return
		}
		line := []byte("X-Filler: " + strings.Repeat("a", 100) + "\r\n")
		for {
			if _, err := srv.Write(line); err != nil {
				return
			}
		}
	})
	_, err := proxyHandshake(context.Background(), cli, pxURL(t, "http://127.0.0.1:1"), "example.com:80", nil)
	pxProxyErr(t, err, ErrProxyReply)
	assert.Contains(t, err.Error(), "longer than "+strconv.Itoa(proxyHTTPHeadMax))

	// One endless line, too.
	cli, _ = pxScript(t, func(srv net.Conn) {
		pxReadHTTPHead(srv)
		chunk := []byte(strings.Repeat("H", 1000))
		for {
			if _, err := srv.Write(chunk); err != nil {
				return
			}
		}
	})
	_, err = proxyHandshake(context.Background(), cli, pxURL(t, "http://127.0.0.1:1"), "example.com:80", nil)
	pxProxyErr(t, err, ErrProxyReply)
}

func TestProxyHTTPConnectBadCredentialsAreNotSent(t *testing.T) {
	// RFC 7617 §2: a user-id with a colon cannot be sent; fail before any
	// byte goes out (the fake proxy sees only the close).
	for _, u := range []string{"http://a%3Ab:pw@127.0.0.1:1", "http://alice:p%0Aw@127.0.0.1:1"} {
		var got []byte
		cli, done := pxScript(t, func(srv net.Conn) {
			got, _ = io.ReadAll(srv)
		})
		_, err := proxyHandshake(context.Background(), cli, pxURL(t, u), "example.com:80", nil)
		pxProxyErr(t, err, ErrProxyAuth)
		<-done
		assert.Empty(t, got, u)
	}
}

// ---------------------------------------------------------------------------
// SOCKS5, scripted

// pxSOCKSRequest returns the CONNECT request a scripted proxy expects.
func pxSOCKSRequest(atyp byte, addr []byte, port uint16) []byte {
	b := append([]byte{5, 1, 0, atyp}, addr...)
	return append(b, byte(port>>8), byte(port))
}

func TestProxySOCKS5WireFormat(t *testing.T) {
	longName := strings.Repeat("a", 255)
	for _, tc := range []struct {
		name, proxy, target string
		greeting, auth, req []byte
		reply               []byte
	}{
		{"IPv4, no auth", "socks5://127.0.0.1:1", "192.0.2.7:443",
			[]byte{5, 1, 0}, nil, pxSOCKSRequest(1, []byte{192, 0, 2, 7}, 443),
			[]byte{5, 0, 0, 1, 10, 0, 0, 1, 0x1f, 0x90}},
		{"IPv6", "socks5h://127.0.0.1:1", "[2001:db8::5]:80",
			[]byte{5, 1, 0}, nil, pxSOCKSRequest(4, []byte{0x20, 0x01, 0x0d, 0xb8, 15: 5}, 80),
			[]byte{5, 0, 0, 4, 15: 0, 21: 0}},
		{"name stays a name", "socks5://127.0.0.1:1", "example.com:65535",
			[]byte{5, 1, 0}, nil, pxSOCKSRequest(3, append([]byte{11}, "example.com"...), 65535),
			append(append([]byte{5, 0, 0, 3, 9}, "bound.tld"...), 0, 1)},
		{"255-byte name", "socks5://127.0.0.1:1", longName + ":1",
			[]byte{5, 1, 0}, nil, pxSOCKSRequest(3, append([]byte{255}, longName...), 1),
			[]byte{5, 0, 0, 3, 0, 0, 1}},
		{"credentials", "socks5://al%20ice:p%40ss@127.0.0.1:1", "example.com:80",
			[]byte{5, 2, 0, 2}, append(append([]byte{1, 6}, "al ice"...), append([]byte{4}, "p@ss"...)...),
			pxSOCKSRequest(3, append([]byte{11}, "example.com"...), 80),
			[]byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var greeting, auth, req []byte
			cli, done := pxScript(t, func(srv net.Conn) {
				greeting = pxRead(srv, len(tc.greeting))
				method := byte(0)
				if tc.auth != nil {
					method = 2
				}
				if _, err := srv.Write([]byte{5, method}); err != nil {
					return
				}
				if tc.auth != nil {
					auth = pxRead(srv, len(tc.auth))
					if _, err := srv.Write([]byte{1, 0}); err != nil {
						return
					}
				}
				req = pxRead(srv, len(tc.req))
				// Bytes after the reply belong to the target.
				_, _ = srv.Write(append(append([]byte{}, tc.reply...), "NEXT"...))
			})
			tun, err := proxyHandshake(context.Background(), cli, pxURL(t, tc.proxy), tc.target, nil)
			require.NoError(t, err)
			assert.Same(t, cli, tun, "SOCKS5 reads exactly the reply: conn itself is the tunnel")
			next := make([]byte, 4)
			_, err = io.ReadFull(tun, next)
			require.NoError(t, err)
			assert.Equal(t, "NEXT", string(next), "the reply's BND fields must be consumed exactly")
			<-done
			assert.Equal(t, tc.greeting, greeting)
			assert.Equal(t, tc.auth, auth)
			assert.Equal(t, tc.req, req)
		})
	}
}

// pxSOCKSScript is a fake SOCKS5 proxy: it answers the greeting with
// method, then (if auth is given) reads the RFC 1929 request and answers
// auth, then reads a CONNECT request for example.com:80 and answers reply.
// A nil step ends the script (closing the connection).
func pxSOCKSScript(methodReply, authReply, connectReply []byte) func(net.Conn) {
	return func(srv net.Conn) {
		greeting := pxRead(srv, 2)
		pxRead(srv, int(greeting[1]))
		if methodReply == nil {
			return
		}
		if _, err := srv.Write(methodReply); err != nil {
			return
		}
		if authReply != nil {
			head := pxRead(srv, 2)
			pxRead(srv, int(head[1]))
			plen := pxRead(srv, 1)
			pxRead(srv, int(plen[0]))
			if _, err := srv.Write(authReply); err != nil {
				return
			}
		}
		if connectReply == nil {
			return
		}
		pxRead(srv, len(pxSOCKSRequest(3, append([]byte{11}, "example.com"...), 80)))
		_, _ = srv.Write(connectReply)
	}
}

func TestProxySOCKS5NegativeReplies(t *testing.T) {
	ok := []byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0}
	for _, tc := range []struct {
		name                  string
		proxy                 string
		method, auth, connect []byte
		sentinel              error
		op                    string
		eof                   bool
	}{
		{"closed before method selection", "socks5://127.0.0.1:1", nil, nil, nil, ErrProxyReply, "greeting", true},
		{"method selection VER 4", "socks5://127.0.0.1:1", []byte{4, 0}, nil, nil, ErrProxyReply, "greeting", false},
		{"no acceptable methods", "socks5://127.0.0.1:1", []byte{5, 0xFF}, nil, nil, ErrProxyAuth, "greeting", false},
		{"no acceptable methods with credentials", "socks5://u:p@127.0.0.1:1", []byte{5, 0xFF}, nil, nil, ErrProxyAuth, "greeting", false},
		{"username/password not offered", "socks5://127.0.0.1:1", []byte{5, 2}, nil, nil, ErrProxyReply, "greeting", false},
		{"GSSAPI not offered", "socks5://u:p@127.0.0.1:1", []byte{5, 1}, nil, nil, ErrProxyReply, "greeting", false},
		{"auth status VER 5", "socks5://u:p@127.0.0.1:1", []byte{5, 2}, []byte{5, 0}, nil, ErrProxyReply, "auth", false},
		{"auth rejected", "socks5://u:p@127.0.0.1:1", []byte{5, 2}, []byte{1, 1}, nil, ErrProxyAuth, "auth", false},
		{"auth rejected 0xFF", "socks5://u:p@127.0.0.1:1", []byte{5, 2}, []byte{1, 0xFF}, nil, ErrProxyAuth, "auth", false},
		{"closed during auth", "socks5://u:p@127.0.0.1:1", []byte{5, 2}, []byte{1}, nil, ErrProxyReply, "auth", true},
		{"reply VER 4", "socks5://127.0.0.1:1", []byte{5, 0}, nil, []byte{4, 0, 0, 1, 0, 0, 0, 0, 0, 0}, ErrProxyReply, "connect", false},
		{"reply RSV 1", "socks5://127.0.0.1:1", []byte{5, 0}, nil, []byte{5, 0, 1, 1, 0, 0, 0, 0, 0, 0}, ErrProxyReply, "connect", false},
		{"reply ATYP 0", "socks5://127.0.0.1:1", []byte{5, 0}, nil, []byte{5, 0, 0, 0, 0, 0, 0, 0, 0, 0}, ErrProxyReply, "connect", false},
		{"reply ATYP 2", "socks5://127.0.0.1:1", []byte{5, 0}, nil, []byte{5, 0, 0, 2, 0, 0, 0, 0, 0, 0}, ErrProxyReply, "connect", false},
		{"reply truncated IPv6", "socks5://127.0.0.1:1", []byte{5, 0}, nil, []byte{5, 0, 0, 4, 1, 2, 3, 4, 5}, ErrProxyReply, "connect", true},
		{"reply truncated name", "socks5://127.0.0.1:1", []byte{5, 0}, nil, []byte{5, 0, 0, 3, 200, 'a'}, ErrProxyReply, "connect", true},
		{"reply truncated port", "socks5://127.0.0.1:1", []byte{5, 0}, nil, ok[:9], ErrProxyReply, "connect", true},
		{"reply missing", "socks5://127.0.0.1:1", []byte{5, 0}, nil, []byte{}, ErrProxyReply, "connect", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cli, _ := pxScript(t, pxSOCKSScript(tc.method, tc.auth, tc.connect))
			_, err := proxyHandshake(context.Background(), cli, pxURL(t, tc.proxy), "example.com:80", nil)
			pe := pxProxyErr(t, err, tc.sentinel)
			assert.Equal(t, tc.op, pe.Op)
			assert.Equal(t, byte(0), pe.Reply)
			if tc.eof {
				assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
			}
		})
	}
}

func TestProxySOCKS5ReplyCodes(t *testing.T) {
	// RFC 1928 §6: every REP other than X'00' is a refusal; the error
	// carries the byte and its meaning. A failing server may close right
	// after VER and REP.
	for rep, text := range map[byte]string{
		0x01: "general SOCKS server failure",
		0x02: "connection not allowed by ruleset",
		0x03: "network unreachable",
		0x04: "host unreachable",
		0x05: "connection refused",
		0x06: "TTL expired",
		0x07: "command not supported",
		0x08: "address type not supported",
		0x09: "unassigned",
		0xFF: "unassigned",
	} {
		for _, reply := range [][]byte{{5, rep, 0, 1, 0, 0, 0, 0, 0, 0}, {5, rep}} {
			cli, _ := pxScript(t, pxSOCKSScript([]byte{5, 0}, nil, reply))
			_, err := proxyHandshake(context.Background(), cli, pxURL(t, "socks5://127.0.0.1:1"), "example.com:80", nil)
			pe := pxProxyErr(t, err, ErrProxyRefused)
			assert.Equal(t, rep, pe.Reply)
			assert.Equal(t, "connect", pe.Op)
			assert.Contains(t, err.Error(), text)
		}
	}
}

func TestProxySOCKS5CredentialsCheckedBeforeSending(t *testing.T) {
	// RFC 1929 §2: UNAME and PASSWD are 1..255 bytes each.
	long := strings.Repeat("x", 256)
	for _, u := range []*url.URL{
		{Scheme: "socks5", Host: "127.0.0.1:1", User: url.UserPassword(long, "pw")},
		{Scheme: "socks5", Host: "127.0.0.1:1", User: url.UserPassword("user", long)},
		{Scheme: "socks5", Host: "127.0.0.1:1", User: url.User("user")},
		{Scheme: "socks5", Host: "127.0.0.1:1", User: url.UserPassword("", "pw")},
	} {
		var got []byte
		cli, done := pxScript(t, func(srv net.Conn) { got, _ = io.ReadAll(srv) })
		_, err := proxyHandshake(context.Background(), cli, u, "example.com:80", nil)
		pe := pxProxyErr(t, err, ErrProxyAuth)
		assert.Equal(t, "auth", pe.Op)
		<-done
		assert.Empty(t, got, "nothing may be sent")
	}
}

// ---------------------------------------------------------------------------
// targets, schemes, context

func TestProxyBadTargets(t *testing.T) {
	for _, target := range []string{
		"example.com",
		"example.com:",
		"example.com:0",
		"example.com:65536",
		"example.com:http",
		":80",
		"exa mple.com:80",
		"example.com\r\nX-Injected: 1:80",
		"[fe80::1%eth0]:80",
		strings.Repeat("a", 256) + ":80",
	} {
		for _, scheme := range []string{"http", "socks5"} {
			if scheme == "http" && (strings.HasPrefix(target, "[fe80") || len(target) > 255) {
				continue // HTTP carries these; SOCKS5 cannot
			}
			var got []byte
			cli, done := pxScript(t, func(srv net.Conn) { got, _ = io.ReadAll(srv) })
			_, err := proxyHandshake(context.Background(), cli, pxURL(t, scheme+"://127.0.0.1:1"), target, nil)
			pxProxyErr(t, err, ErrProxyAddr)
			<-done
			assert.Empty(t, got, "%s %q: nothing may be sent", scheme, target)
		}
	}
}

func TestProxyUnsupportedScheme(t *testing.T) {
	cli, _ := pxScript(t, func(srv net.Conn) { pxAssertClosed(t, srv) })
	_, err := proxyHandshake(context.Background(), cli, pxURL(t, "socks4://127.0.0.1:1"), "example.com:80", nil)
	pe := pxProxyErr(t, err, ErrProxyScheme)
	assert.Equal(t, "address", pe.Op)

	cli, _ = pxScript(t, func(srv net.Conn) { pxAssertClosed(t, srv) })
	_, err = proxyHandshake(context.Background(), cli, nil, "example.com:80", nil)
	pxProxyErr(t, err, ErrProxyScheme)
}

func TestProxyContextEnded(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cli, _ := pxScript(t, func(srv net.Conn) { pxAssertClosed(t, srv) })
	_, err := proxyHandshake(ctx, cli, pxURL(t, "http://127.0.0.1:1"), "example.com:80", nil)
	require.ErrorIs(t, err, context.Canceled)
	var pe *ProxyError
	require.ErrorAs(t, err, &pe)

	// A proxy that never answers: the Dialer binds conn's deadline to the
	// context; the error names both the context and the I/O timeout.
	for _, scheme := range []string{"http", "socks5"} {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		cli, _ := pxScript(t, func(srv net.Conn) { _, _ = io.Copy(io.Discard, srv) })
		dl, _ := ctx.Deadline()
		require.NoError(t, cli.SetDeadline(dl))
		_, err := proxyHandshake(ctx, cli, pxURL(t, scheme+"://127.0.0.1:1"), "example.com:80", nil)
		cancel()
		require.ErrorAs(t, err, &pe, scheme)
		assert.ErrorIs(t, err, context.DeadlineExceeded, scheme)
		assert.ErrorIs(t, err, os.ErrDeadlineExceeded, scheme)
	}
}

func TestProxyErrorText(t *testing.T) {
	e := &ProxyError{
		Proxy:  proxyRedacted(pxURL(t, "socks5://bob:hunter2@127.0.0.1:1080")),
		Op:     "connect",
		Target: "example.com:80",
		Reply:  5,
		Err:    ErrProxyRefused,
	}
	assert.Equal(t, "ws: proxy socks5://bob:xxxxx@127.0.0.1:1080: connect example.com:80: ws: proxy refused the tunnel", e.Error())
	assert.ErrorIs(t, e, ErrProxyRefused)
	assert.NotErrorIs(t, e, ErrProxyAuth)
}
