package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dialOrigin dials url with an Origin header (none if empty) and reports
// the handshake error, if any.
func dialOrigin(t *testing.T, url, origin string) error {
	t.Helper()
	d := &ws.Dialer{Header: http.Header{}}
	if origin != "" {
		d.Header.Set("Origin", origin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := d.Dial(ctx, url)
	if err == nil {
		_ = c.Close(ws.CloseNormalClosure, "")
	}
	return err
}

// -origin accepts only pages whose Origin host matches a pattern (and
// clients that send no Origin); every refusal is logged with its reason and
// the flag that would allow it, even with -quiet.
func TestServeOriginAllowListAndRefusalLog(t *testing.T) {
	bin := buildBinary(t)
	url, log := startServeLog(t, bin, "-quiet", "-origin", "localhost:3000,*.example.com", "-origin", "http://app.test", "127.0.0.1:0")
	for origin, ok := range map[string]bool{
		"":                          true, // not a browser
		"http://localhost:3000":     true,
		"http://LOCALHOST:3000":     true,
		"https://a.example.com":     true,
		"https://a.b.example.com":   true,
		"http://app.test:8080":      true, // no port in the pattern: any port
		"http://localhost:3001":     false,
		"https://example.com":       false,
		"https://example.com.evil":  false,
		"http://evil.test":          false,
		"null":                      false,
		"http://a.example.com.evil": false,
	} {
		err := dialOrigin(t, url, origin)
		if ok {
			assert.NoError(t, err, "Origin %q", origin)
			continue
		}
		assert.ErrorIs(t, err, ws.ErrBadStatus, "Origin %q", origin)
		var he *ws.HandshakeError
		if assert.ErrorAs(t, err, &he) {
			assert.Equal(t, http.StatusForbidden, he.StatusCode)
		}
	}
	require.Eventually(t, func() bool { return strings.Count(log.String(), "* refused ") == 6 }, 10*time.Second, 5*time.Millisecond, log.String())
	assert.Contains(t, log.String(), `ws: origin not allowed: "http://localhost:3001" (status "403 Forbidden"); to allow that page: -origin localhost:3001`)
	assert.NotContains(t, log.String(), "connected", "-quiet hides connections, not refusals")

	// A plain HTTP request is refused and logged too.
	resp, err := http.Get("http" + strings.TrimPrefix(url, "ws") + "page")
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusUpgradeRequired, resp.StatusCode)
	require.Eventually(t, func() bool { return strings.Contains(log.String(), "GET /page: ws: missing or wrong Upgrade") }, 10*time.Second, 5*time.Millisecond, log.String())
}

// The defaults: any Origin (a test server on one's own machine); with
// -any-origin=false only pages from the server's own host:port.
func TestServeOriginDefaults(t *testing.T) {
	bin := buildBinary(t)
	url := startServe(t, bin, "-quiet")
	assert.NoError(t, dialOrigin(t, url, "http://anything.example"))
	assert.NoError(t, dialOrigin(t, url, "null"))

	url, log := startServeLog(t, bin, "-quiet", "-any-origin=false", "127.0.0.1:0")
	host := strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/")
	assert.NoError(t, dialOrigin(t, url, "http://"+host))
	assert.NoError(t, dialOrigin(t, url, ""))
	assert.ErrorIs(t, dialOrigin(t, url, "http://evil.example"), ws.ErrBadStatus)
	require.Eventually(t, func() bool {
		return strings.Contains(log.String(), `to allow that page: -origin evil.example (or -any-origin)`)
	}, 10*time.Second, 5*time.Millisecond, log.String())
}

func TestOriginFlagPatterns(t *testing.T) {
	var o originFlag
	require.NoError(t, o.Set("Example.com, *.example.com"))
	require.NoError(t, o.Set("http://localhost:3000/"))
	require.NoError(t, o.Set("[::1]:8080,null"))
	assert.Equal(t, originFlag{"example.com", "*.example.com", "localhost:3000", "[::1]:8080", "null"}, o)
	for origin, want := range map[string]bool{
		"https://example.com":      true,
		"https://example.com:8443": true,
		"https://www.example.com":  true,
		"http://localhost:3000":    true,
		"http://localhost":         false,
		"http://[::1]:8080":        true,
		"http://[::1]:8081":        false,
		"null":                     true,
		"":                         true,
		"not a url":                false,
		"https://example.org":      false,
	} {
		r := &http.Request{Header: http.Header{}}
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		assert.Equal(t, want, o.allowed(r), "Origin %q", origin)
	}
	assert.Error(t, new(originFlag).Set("a,,b"))
	assert.Error(t, new(originFlag).Set("a b"))
	assert.Error(t, new(originFlag).Set("example.com/path"))
}

// A bare port listens on loopback; :port on every interface, announced with
// a loopback address that can be pasted into a client, not "[::]".
func TestServeAddresses(t *testing.T) {
	for in, want := range map[string]string{
		"8080":           "127.0.0.1:8080",
		"0":              "127.0.0.1:0",
		":8080":          ":8080",
		"localhost:80":   "localhost:80",
		"[::1]:9000":     "[::1]:9000",
		"127.0.0.1:http": "127.0.0.1:http",
	} {
		got, err := listenAddr(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "65536", "host", "a:b:c", "h:notaport"} {
		_, err := listenAddr(bad)
		var ue *usageError
		assert.True(t, errors.As(err, &ue), "%q: %v", bad, err)
	}
	assert.Equal(t, "127.0.0.1:5", pasteableAddr(&net.TCPAddr{IP: net.IPv6unspecified, Port: 5}))
	assert.Equal(t, "127.0.0.1:5", pasteableAddr(&net.TCPAddr{IP: net.IPv4zero, Port: 5}))
	assert.Equal(t, "[::1]:5", pasteableAddr(&net.TCPAddr{IP: net.IPv6loopback, Port: 5}))

	bin := buildBinary(t)
	for _, addr := range []string{":0", "0"} {
		url, _ := startServeLog(t, bin, "-quiet", addr)
		assert.Regexp(t, `^ws://127\.0\.0\.1:[1-9][0-9]*/$`, url, addr)
		cmd := exec.Command(bin, "dial", url)
		cmd.Stdin = strings.NewReader("pasted\n")
		out, err := cmd.Output()
		require.NoError(t, err, addr)
		assert.Equal(t, "pasted\n", string(out))
	}
}

// serve pings its clients: one that answers nothing (its Conn is never read,
// so no pong goes back) is closed after -pong-timeout; with pings off,
// -idle-timeout closes a silent client. Both are logged with the reason.
func TestServeKeepaliveFlags(t *testing.T) {
	bin := buildBinary(t)
	silent := func(url string) *ws.Conn {
		c, _, err := ws.Dial(context.Background(), url)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.CloseNow() })
		return c
	}
	url, log := startServeLog(t, bin, "-ping-interval", "100ms", "-pong-timeout", "200ms", "127.0.0.1:0")
	silent(url)
	require.Eventually(t, func() bool { return strings.Contains(log.String(), "ended: ws: no pong from peer") }, 10*time.Second, 10*time.Millisecond, log.String())

	url, log = startServeLog(t, bin, "-ping-interval", "0", "-idle-timeout", "200ms", "127.0.0.1:0")
	silent(url)
	require.Eventually(t, func() bool { return strings.Contains(log.String(), "ended: ws: peer idle for too long") }, 10*time.Second, 10*time.Millisecond, log.String())

	// A client that answers (dial reads, so it pongs) stays connected across
	// many ping intervals (the pong timeout leaves room for a loaded machine).
	url, log = startServeLog(t, bin, "-ping-interval", "50ms", "-pong-timeout", "2s", "127.0.0.1:0")
	cmd := exec.Command(bin, "dial", "-wait", "0", url)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	require.Eventually(t, func() bool { return strings.Count(stderr.String(), "* ping ") >= 10 }, 10*time.Second, 10*time.Millisecond, stderr.String())
	require.NoError(t, stdin.Close())
	require.NoError(t, cmd.Wait(), stderr.String())
	assert.NotContains(t, log.String(), "ended:")
	assert.Contains(t, log.String(), "closed: 1000 normal closure")
}

// serve's HTTP server bounds request heads (MaxHeaderBytes): a 64 KiB header
// is refused with 431 before any upgrade.
func TestServeRefusesHugeRequestHead(t *testing.T) {
	bin := buildBinary(t)
	url := startServe(t, bin, "-quiet")
	req, err := http.NewRequest(http.MethodGet, "http"+strings.TrimPrefix(url, "ws"), nil)
	require.NoError(t, err)
	req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)

	req.Header.Set("X-Big", strings.Repeat("a", 8<<10)) // within the limit: on to the upgrade check
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusUpgradeRequired, resp.StatusCode)
}
