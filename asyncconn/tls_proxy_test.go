package asyncconn

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/proxyserver"
	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tlsConfigFor trusts the test server's certificate and nothing else.
func tlsConfigFor(s *wsServer) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	return &tls.Config{RootCAs: pool}
}

// echoOnce runs the seed flow (send "hello", get it back) on c and returns the recorded events.
func echoOnce(t *testing.T, c *Conn) []string {
	t.Helper()
	r := newRecorder()
	record(c, r)
	c.OnWebSocketConnect = func(c *Conn, resp *http.Response) {
		r.add("wsconnect %d %s", resp.StatusCode, c.Status())
		assert.NoError(t, c.SendString("hello"))
	}
	c.Connect()
	return r.waitFor(t, "message text hello", 1)
}

func TestWSSURL(t *testing.T) {
	srv := newWSServerTLS(t, func(c *ws.Conn, r *http.Request) {
		if r.TLS != nil {
			echo(c, r)
		}
	})
	l := startLoop(t)
	require.True(t, strings.HasPrefix(srv.url, "wss://"))
	c := newConn(t, l, srv.url)
	c.TLSConfig = tlsConfigFor(srv)
	evs := echoOnce(t, c)
	assert.Equal(t, []string{"connect ESTABLISHED", "wsconnect 101 ESTABLISHED", "message text hello"}, evs)
}

// Workerman's way to wss: a ws:// URL with Transport "ssl" (its users' top complaint is that
// wss:// fails there; both work here).
func TestWSURLWithTransportSSL(t *testing.T) {
	srv := newWSServerTLS(t, func(c *ws.Conn, r *http.Request) {
		if r.TLS != nil {
			echo(c, r)
		}
	})
	l := startLoop(t)
	c := newConn(t, l, "ws://"+strings.TrimPrefix(srv.url, "wss://"))
	c.Transport = "ssl"
	c.TLSConfig = tlsConfigFor(srv)
	evs := echoOnce(t, c)
	assert.Equal(t, []string{"connect ESTABLISHED", "wsconnect 101 ESTABLISHED", "message text hello"}, evs)
}

// A certificate that is not trusted: OnError(TLSFail), then OnClose; OnConnect does not fire, as
// the transport never came up. Workerman only echoes and closes.
func TestTLSFailure(t *testing.T) {
	srv := newWSServerTLS(t, echo)
	l := startLoop(t)
	c := newConn(t, l, srv.url) // system roots: httptest's certificate is not among them
	r := newRecorder()
	record(c, r)
	c.Connect()
	evs := r.waitFor(t, "close CLOSED", 1)
	assert.Equal(t, []string{"error TLS_FAIL CLOSING", "close CLOSED"}, evs)
	var cve *tls.CertificateVerificationError
	assert.ErrorAs(t, c.LastError(), &cve)
}

// A TLS server that is reached without TLS answers garbage to the upgrade: HandshakeFail.
func TestPlainClientAgainstTLSServer(t *testing.T) {
	srv := newWSServerTLS(t, echo)
	l := startLoop(t)
	c := newConn(t, l, "ws://"+strings.TrimPrefix(srv.url, "wss://"))
	r := newRecorder()
	record(c, r)
	c.Connect()
	evs := r.waitFor(t, "close CLOSED", 1)
	assert.Equal(t, []string{"connect ESTABLISHED", "error HANDSHAKE_FAIL CLOSING", "close CLOSED"}, evs)
}

func startProxy(t *testing.T, socks bool, opts proxyserver.Options) *proxyserver.Server {
	t.Helper()
	var p *proxyserver.Server
	var err error
	if socks {
		p, err = proxyserver.StartSOCKS5(opts)
	} else {
		p, err = proxyserver.StartHTTPConnect(opts)
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func TestSOCKS5ProxyWithAuth(t *testing.T) {
	srv := newWSServer(t, echo)
	p := startProxy(t, true, proxyserver.Options{Username: "user", Password: "pa:ss"})
	l := startLoop(t)
	c := newConn(t, l, srv.url)
	c.ProxySocks5 = p.Addr()
	c.ProxySocks5Username = "user"
	c.ProxySocks5Password = "pa:ss"
	evs := echoOnce(t, c)
	assert.Equal(t, []string{"connect ESTABLISHED", "wsconnect 101 ESTABLISHED", "message text hello"}, evs)
	target := strings.TrimPrefix(srv.url, "ws://")
	assert.Equal(t, []string{target}, p.Targets(), "the tunnel went through the proxy")
	// Behind a proxy the remote address is the proxy's (as in Workerman), but the Host header
	// names the target (Workerman sends the proxy's port, bug B7).
	assert.Equal(t, p.Addr(), c.RemoteAddress())
	require.Len(t, srv.requests(), 1)
	assert.Equal(t, target, srv.requests()[0].Host)
}

func TestSOCKS5ProxyWrongPasswordIsConnectFail(t *testing.T) {
	srv := newWSServer(t, echo)
	p := startProxy(t, true, proxyserver.Options{Username: "user", Password: "right"})
	l := startLoop(t)
	c := newConn(t, l, srv.url)
	c.ProxySocks5 = p.Addr()
	c.ProxySocks5Username = "user"
	c.ProxySocks5Password = "wrong"
	r := newRecorder()
	record(c, r)
	c.Connect()
	evs := r.waitFor(t, "close CLOSED", 1)
	assert.Equal(t, []string{"error CONNECT_FAIL CLOSING", "close CLOSED"}, evs)
	assert.ErrorIs(t, c.LastError(), ws.ErrProxyAuth)
}

func TestHTTPConnectProxyWithAuthorization(t *testing.T) {
	srv := newWSServer(t, echo)
	p := startProxy(t, false, proxyserver.Options{Username: "u", Password: "p"})
	l := startLoop(t)
	c := newConn(t, l, srv.url)
	c.ProxyHTTP = p.Addr()
	c.ProxyAuthorization = "Basic " + base64.StdEncoding.EncodeToString([]byte("u:p"))
	evs := echoOnce(t, c)
	assert.Equal(t, []string{"connect ESTABLISHED", "wsconnect 101 ESTABLISHED", "message text hello"}, evs)
	assert.Equal(t, []string{strings.TrimPrefix(srv.url, "ws://")}, p.Targets())
}

func TestHTTPConnectProxyRefusalIsConnectFail(t *testing.T) {
	srv := newWSServer(t, echo)
	p := startProxy(t, false, proxyserver.Options{Username: "u", Password: "p"})
	l := startLoop(t)
	c := newConn(t, l, srv.url)
	c.ProxyHTTP = p.Addr() // no credentials: 407
	r := newRecorder()
	record(c, r)
	c.Connect()
	evs := r.waitFor(t, "close CLOSED", 1)
	assert.Equal(t, []string{"error CONNECT_FAIL CLOSING", "close CLOSED"}, evs)
	assert.ErrorIs(t, c.LastError(), ws.ErrProxyAuth)
}

// wss through a SOCKS5 proxy: TLS runs end to end through the tunnel, and SNI and verification
// name the target, not the proxy.
func TestWSSThroughSOCKS5(t *testing.T) {
	srv := newWSServerTLS(t, echo)
	p := startProxy(t, true, proxyserver.Options{})
	l := startLoop(t)
	c := newConn(t, l, srv.url)
	c.TLSConfig = tlsConfigFor(srv)
	c.ProxySocks5 = "socks5://" + p.Addr()
	evs := echoOnce(t, c)
	assert.Equal(t, []string{"connect ESTABLISHED", "wsconnect 101 ESTABLISHED", "message text hello"}, evs)
	assert.Len(t, p.Targets(), 1)
}

// ProxyAuthorization goes to the proxy exactly as given, as Workerman
// sends it; a value with CR or LF is refused rather than injected.
func TestProxyAuthorizationIsSentAsIs(t *testing.T) {
	raw := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:pw"))
	p, err := proxyserver.StartHTTPConnect(proxyserver.Options{Username: "alice", Password: "pw"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	srv := newWSServer(t, echo)
	l := NewLoop()
	l.Start()
	t.Cleanup(l.Stop)
	c := newConn(t, l, srv.url)
	c.ProxyHTTP = p.Addr()
	c.ProxyAuthorization = raw
	evs := echoOnce(t, c)
	assert.Contains(t, evs, "message text hello")

	bad := newConn(t, l, srv.url)
	bad.ProxyHTTP = p.Addr()
	bad.ProxyAuthorization = raw + "\r\nX-Injected: 1"
	errs := make(chan ErrorCode, 1)
	bad.OnError = func(c *Conn, code ErrorCode, msg string) { errs <- code }
	bad.Connect()
	select {
	case code := <-errs:
		assert.Equal(t, ConnectFail, code)
	case <-time.After(10 * time.Second):
		t.Fatal("a header with CR/LF was not refused")
	}
	require.ErrorIs(t, bad.LastError(), ws.ErrBadHeader)
}
