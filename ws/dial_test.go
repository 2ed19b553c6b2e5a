//go:build !js

package ws

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/wstest"
	"github.com/stretchr/testify/require"
)

// This file tests the Dialer: URLs (RFC 6455 §3), the transport and TLS
// steps before the handshake (§4.1 steps 1–5 of "the client MUST open a
// connection"), the hooks, and the bounds on every blocking step.

// hsTLSEcho starts an httptest TLS server (HTTP/2 offered too, so ALPN
// matters) that upgrades and echoes, and returns the server, a wss:// URL,
// and a pool trusting its certificate. sni, if not nil, receives the SNI
// name of each TLS handshake; hits, if not nil, counts HTTP requests.
func hsTLSEcho(t *testing.T, sni chan<- string, hits *atomic.Int32) (*httptest.Server, string, *x509.CertPool) {
	t.Helper()
	u := &Upgrader{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits != nil {
			hits.Add(1)
		}
		c, err := u.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			op, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(op, msg); err != nil {
				return
			}
		}
	}))
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected here
	srv.TLS = &tls.Config{NextProtos: []string{"h2", "http/1.1"}}
	if sni != nil {
		srv.TLS.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			select {
			case sni <- h.ServerName:
			default:
			}
			return nil, nil
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return srv, "wss" + strings.TrimPrefix(srv.URL, "https"), pool
}

// hsEcho checks that a message makes the round trip over c.
func hsEcho(t *testing.T, c *Conn, msg string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	require.NoError(t, c.WriteMessage(OpText, []byte(msg)))
	op, got, err := c.ReadMessage()
	require.NoError(t, err)
	require.Equal(t, OpText, op)
	require.Equal(t, msg, string(got))
}

// hsSelfSignedPool returns a pool holding a certificate unrelated to any
// test server's.
func hsSelfSignedPool(t *testing.T) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "not the test server"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		DNSNames:              []string{"example.com"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

// TestDialWS checks a plain ws:// dial end to end, with the zero Dialer, the
// package-level Dial, and http:// taken as ws:// (RFC 6455 §3 defines the
// ws scheme over the same ports as http).
func TestDialWS(t *testing.T) {
	checkNoLeak(t)
	url, _ := echoServer(t, &Upgrader{})
	for _, u := range []string{url, url + "/path?q=1", "http" + strings.TrimPrefix(url, "ws"), "WS" + strings.TrimPrefix(url, "ws")} {
		c := dialT(t, &Dialer{}, u)
		hsEcho(t, c, "hello "+u)
		require.NoError(t, c.Close(CloseNormalClosure, ""))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := Dial(ctx, url)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	hsEcho(t, c, "via DefaultDialer")
	require.NoError(t, c.Close(CloseNormalClosure, ""))
}

// TestDialWSS checks wss:// (RFC 6455 §4.1 step 5: "If /secure/ is true,
// the client MUST perform a TLS handshake over the connection"), with the
// server's certificate trusted through TLSConfig.RootCAs, https:// taken as
// wss://, and ALPN kept to HTTP/1.1 although the server offers h2 (the
// upgrade is an HTTP/1.1 mechanism, §4.1 item 1).
func TestDialWSS(t *testing.T) {
	_, url, pool := hsTLSEcho(t, nil, nil)
	cfg := &tls.Config{RootCAs: pool}
	for _, u := range []string{url, "https" + strings.TrimPrefix(url, "wss")} {
		c := dialT(t, &Dialer{TLSConfig: cfg}, u)
		tc, ok := c.NetConn().(*tls.Conn)
		require.True(t, ok, "wss runs over TLS, got %T", c.NetConn())
		st := tc.ConnectionState()
		require.True(t, st.HandshakeComplete)
		require.Equal(t, "http/1.1", st.NegotiatedProtocol)
		hsEcho(t, c, "over TLS")
		require.NoError(t, c.Close(CloseNormalClosure, ""))
	}
	require.Empty(t, cfg.ServerName, "the caller's TLSConfig is not modified")
	require.Empty(t, cfg.NextProtos, "the caller's TLSConfig is not modified")
}

// TestDialWSSUntrusted checks RFC 6455 §4.1 step 5: "if the TLS handshake
// fails (e.g., the server's certificate could not be verified), then the
// client MUST _Fail the WebSocket Connection_": with a root that did not
// sign the server's certificate, the dial fails with the verification error
// and no upgrade request reaches the server.
func TestDialWSSUntrusted(t *testing.T) {
	var requests atomic.Int32
	_, url, _ := hsTLSEcho(t, nil, &requests)
	c, resp, err := hsDial(&Dialer{TLSConfig: &tls.Config{RootCAs: hsSelfSignedPool(t)}}, url)
	require.Nil(t, c)
	require.Nil(t, resp)
	var verr *tls.CertificateVerificationError
	require.ErrorAs(t, err, &verr)
	var uerr x509.UnknownAuthorityError
	require.ErrorAs(t, err, &uerr)
	require.Zero(t, requests.Load(), "no request is sent over an unverified connection")
}

// TestDialTLSServerName checks that SNI and certificate verification name
// the URL's host when TLSConfig.ServerName is empty (RFC 6455 §4.1 step 5:
// "Clients MUST use the Server Name Indication extension in the TLS
// handshake"), that an explicit ServerName wins, and that a wss URL without
// a port dials 443 (§3). Connections are redirected to the loopback server,
// so no name is resolved.
func TestDialTLSServerName(t *testing.T) {
	sni := make(chan string, 1)
	srv, _, pool := hsTLSEcho(t, sni, nil)
	target := srv.Listener.Addr().String()
	_, port, _ := net.SplitHostPort(target)

	t.Run("default is the URL host", func(t *testing.T) {
		d, asked := hsRedirect(Dialer{TLSConfig: &tls.Config{RootCAs: pool}}, target)
		c := dialT(t, d, "wss://example.com:"+port+"/")
		require.Equal(t, "example.com", <-sni)
		require.Equal(t, []string{"tcp example.com:" + port}, asked())
		hsEcho(t, c, "sni")
	})
	t.Run("default port 443", func(t *testing.T) {
		d, asked := hsRedirect(Dialer{TLSConfig: &tls.Config{RootCAs: pool}}, target)
		c := dialT(t, d, "wss://www.example.com/")
		require.Equal(t, "www.example.com", <-sni)
		require.Equal(t, []string{"tcp www.example.com:443"}, asked())
		hsEcho(t, c, "sni")
	})
	t.Run("explicit ServerName wins", func(t *testing.T) {
		c := dialT(t, &Dialer{TLSConfig: &tls.Config{RootCAs: pool, ServerName: "example.com"}}, "wss://127.0.0.1:"+port+"/")
		require.Equal(t, "example.com", <-sni)
		hsEcho(t, c, "sni")
	})
	t.Run("a name the certificate does not hold", func(t *testing.T) {
		d, _ := hsRedirect(Dialer{TLSConfig: &tls.Config{RootCAs: pool}}, target)
		_, _, err := hsDial(d, "wss://example.org:"+port+"/")
		require.Equal(t, "example.org", <-sni)
		var herr x509.HostnameError
		require.ErrorAs(t, err, &herr, "verification checks the URL host")
	})
}

// TestDialBadURL checks RFC 6455 §3 and §4.1 step 1 ("If any of the
// requirements are not met, the client MUST _Fail the WebSocket
// Connection_"): a URL whose scheme is not ws/wss (or http/https) or that
// has no host is refused with ErrBadURL by Dial, DialNet and Handshake,
// before any connection is attempted.
func TestDialBadURL(t *testing.T) {
	var dials atomic.Int32
	d := &Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return nil, errors.New("must not dial")
	}}
	for _, u := range []string{
		"ftp://127.0.0.1/",
		"file:///etc/passwd",
		"ws://",
		"ws:///chat",
		"wss://:443/",
		"http://",
		"127.0.0.1:80",
		"localhost/chat",
		"",
		"ws://[::1",
		"ws://host/%zz",
		"ws://ho st/",
		"mailto:someone@example.com",
	} {
		t.Run(u, func(t *testing.T) {
			_, _, err := d.Dial(context.Background(), u)
			require.ErrorIs(t, err, ErrBadURL)
			_, err = d.DialNet(context.Background(), u)
			require.ErrorIs(t, err, ErrBadURL)
			a, _ := wstest.TCPPair(t)
			_, _, err = d.Handshake(context.Background(), a, u)
			require.ErrorIs(t, err, ErrBadURL)
		})
	}
	require.Zero(t, dials.Load())
}

// TestDialNetDialContextHook checks that NetDialContext opens the
// connection, is asked for the URL's host and port (the scheme's default
// when the URL has none, RFC 6455 §3), and that its error is returned
// wrapped.
func TestDialNetDialContextHook(t *testing.T) {
	url, _ := echoServer(t, &Upgrader{})
	target := strings.TrimPrefix(url, "ws://")

	d, asked := hsRedirect(Dialer{}, target)
	c := dialT(t, d, url)
	hsEcho(t, c, "hooked")
	require.Equal(t, []string{"tcp " + target}, asked())

	d, asked = hsRedirect(Dialer{}, target)
	c = dialT(t, d, "ws://example.com/chat")
	hsEcho(t, c, "hooked")
	require.Equal(t, []string{"tcp example.com:80"}, asked())

	hookErr := errors.New("no route in this test")
	d = &Dialer{NetDialContext: func(context.Context, string, string) (net.Conn, error) { return nil, hookErr }}
	_, resp, err := hsDial(d, url)
	require.ErrorIs(t, err, hookErr)
	require.Nil(t, resp)
	_, err = d.DialNet(context.Background(), url)
	require.ErrorIs(t, err, hookErr)
}

// TestDialLocalAddr checks that LocalAddr binds the local end: a chosen
// port is used, the server sees it, and binding an address in use fails.
func TestDialLocalAddr(t *testing.T) {
	remotes := make(chan string, 4)
	u := &Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		remotes <- r.RemoteAddr
		if c, err := u.Upgrade(w, r, nil); err == nil {
			_ = c.CloseNow()
		}
	}))
	t.Cleanup(srv.Close)
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	t.Run("any port", func(t *testing.T) {
		c := dialT(t, &Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}}, url)
		la, ok := c.LocalAddr().(*net.TCPAddr)
		require.True(t, ok)
		require.True(t, la.IP.Equal(net.IPv4(127, 0, 0, 1)), "bound to %v", la)
		require.Equal(t, la.String(), <-remotes)
	})
	t.Run("chosen port", func(t *testing.T) {
		free := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: wstest.UnusedPort(t)}
		c := dialT(t, &Dialer{LocalAddr: free}, url)
		require.Equal(t, free.String(), c.LocalAddr().String())
		require.Equal(t, free.String(), <-remotes)
	})
	t.Run("address in use", func(t *testing.T) {
		ln := wstest.Listen(t)
		_, _, err := hsDial(&Dialer{LocalAddr: ln.Addr()}, url)
		require.ErrorIs(t, err, syscall.EADDRINUSE, "LocalAddr was used for the bind")
	})
}

// TestDialerHandshakeOverCallerConn checks Dialer.Handshake on a connection
// the caller opened: the RFC 6455 §4.1 handshake runs over it and the Conn
// wraps it; on a refused handshake the caller's connection is left open.
func TestDialerHandshakeOverCallerConn(t *testing.T) {
	checkNoLeak(t)
	url, _ := echoServer(t, &Upgrader{})
	nc, err := net.Dial("tcp", strings.TrimPrefix(url, "ws://"))
	require.NoError(t, err)
	c, resp, err := (&Dialer{}).Handshake(context.Background(), nc, url+"/over")
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	require.Same(t, nc, c.NetConn())
	hsEcho(t, c, "over the caller's conn")
	require.NoError(t, c.Close(CloseNormalClosure, ""))

	refuse, peers := hsScript(t, wstest.Answer("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"))
	nc, err = net.Dial("tcp", strings.TrimPrefix(refuse, "ws://"))
	require.NoError(t, err)
	_, resp, err = (&Dialer{}).Handshake(context.Background(), nc, refuse)
	require.ErrorIs(t, err, ErrBadStatus)
	require.Equal(t, 403, resp.StatusCode)
	require.NoError(t, nc.Close(), "the caller's connection was left open")
	require.True(t, peers.Next(t).Closed)
}

// TestDialNetThenHandshake checks the two halves of Dial: DialNet returns
// the transport (TLS already done for wss, RFC 6455 §4.1 step 5) and
// Handshake upgrades it.
func TestDialNetThenHandshake(t *testing.T) {
	checkNoLeak(t)
	url, _ := echoServer(t, &Upgrader{})
	_, wssURL, pool := hsTLSEcho(t, nil, nil)
	d := &Dialer{TLSConfig: &tls.Config{RootCAs: pool}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	nc, err := d.DialNet(ctx, url)
	require.NoError(t, err)
	_, isTCP := nc.(*net.TCPConn)
	require.True(t, isTCP, "ws:// gives the TCP connection, got %T", nc)
	c, _, err := d.Handshake(ctx, nc, url)
	require.NoError(t, err)
	hsEcho(t, c, "two steps")
	require.NoError(t, c.Close(CloseNormalClosure, ""))

	nc, err = d.DialNet(ctx, wssURL)
	require.NoError(t, err)
	tc, isTLS := nc.(*tls.Conn)
	require.True(t, isTLS, "wss:// gives the TLS connection, got %T", nc)
	require.True(t, tc.ConnectionState().HandshakeComplete)
	c, _, err = d.Handshake(ctx, nc, wssURL)
	require.NoError(t, err)
	hsEcho(t, c, "two steps over TLS")
	require.NoError(t, c.Close(CloseNormalClosure, ""))

	// A refused TCP connection (RFC 6455 §4.1 step 4) is reported with its
	// cause.
	closed := wstest.UnusedAddr(t)
	_, err = d.DialNet(ctx, "ws://"+closed)
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	_, _, err = d.Dial(ctx, "ws://"+closed)
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
}

// TestDialContextCancelMidHandshake checks that cancelling the context while
// the handshake waits for the server ends the dial promptly, with an error
// wrapping context.Canceled, closes the connection, and leaks nothing; the
// same during the TLS handshake and before the dial starts.
func TestDialContextCancelMidHandshake(t *testing.T) {
	checkNoLeak(t)
	t.Run("waiting for the 101", func(t *testing.T) {
		got := make(chan struct{})
		url, peers := hsScript(t, func(*wstest.Peer) { close(got) })
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cancelledAt := make(chan time.Time, 1)
		go func() {
			<-got
			cancelledAt <- time.Now()
			cancel()
		}()
		c, resp, err := (&Dialer{}).Dial(ctx, url)
		returned := time.Now()
		require.Nil(t, c)
		require.Nil(t, resp)
		require.ErrorIs(t, err, context.Canceled)
		require.Less(t, returned.Sub(<-cancelledAt), 2*time.Second, "the dial returns promptly once cancelled")
		require.True(t, peers.Next(t).Closed, "the connection is closed")
	})
	t.Run("during TLS", func(t *testing.T) {
		eof := make(chan error, 1)
		addr := wstest.ServeTCP(t, func(nc net.Conn) {
			defer nc.Close()
			_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
			// Read the ClientHello and never answer it.
			buf := make([]byte, 4096)
			for {
				if _, err := nc.Read(buf); err != nil {
					select {
					case eof <- err:
					default:
					}
					return
				}
			}
		})
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, _, err := (&Dialer{}).Dial(ctx, "wss://"+addr)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Less(t, time.Since(start), 5*time.Second)
		select {
		case err := <-eof:
			var ne net.Error
			require.False(t, errors.As(err, &ne) && ne.Timeout(), "the client closed the connection: %v", err)
		case <-time.After(5 * time.Second):
			require.Fail(t, "the TLS connection was not closed")
		}
	})
	t.Run("already cancelled", func(t *testing.T) {
		url, _ := echoServer(t, &Upgrader{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, _, err := (&Dialer{}).Dial(ctx, url)
		require.ErrorIs(t, err, context.Canceled)
	})
}

// TestDialManyNoLeak checks that dials that succeed, are refused, and time
// out leave no goroutine behind once their connections are closed.
func TestDialManyNoLeak(t *testing.T) {
	checkNoLeak(t)
	url, _ := echoServer(t, &Upgrader{})
	refuse, _ := hsScript(t, wstest.Answer("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
	silent, _ := hsScript(t, nil)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(3)
		go func() {
			defer wg.Done()
			c, _, err := hsDial(&Dialer{}, url)
			if err == nil {
				_ = c.WriteText("x")
				_ = c.Close(CloseNormalClosure, "")
			}
		}()
		go func() { defer wg.Done(); _, _, _ = hsDial(&Dialer{}, refuse) }()
		go func() {
			defer wg.Done()
			_, _, _ = hsDial(&Dialer{HandshakeTimeout: time.Duration(50+i) * time.Millisecond}, silent)
		}()
	}
	wg.Wait()
}
