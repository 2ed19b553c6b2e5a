//go:build !js

package ws

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/proxyserver"
	"github.com/plainws/plainws/internal/wstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// DialError names the step that failed, so a caller can tell them apart.
func TestDialErrorNamesTheStep(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Nothing listens: the TCP connect fails.
	addr := wstest.UnusedAddr(t)
	_, _, err := (&Dialer{}).Dial(ctx, "ws://"+addr+"/")
	var de *DialError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, OpConnect, de.Op)
	assert.Equal(t, addr, de.Addr)

	// An untrusted certificate: TLS fails.
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	_, _, err = (&Dialer{}).Dial(ctx, "wss"+strings.TrimPrefix(srv.URL, "https")+"/")
	require.ErrorAs(t, err, &de)
	assert.Equal(t, OpTLS, de.Op)
	var certErr *tls.CertificateVerificationError
	assert.ErrorAs(t, err, &certErr)

	// Wrong proxy credentials: the proxy step fails with ErrProxyAuth.
	px, err := proxyserver.StartHTTPConnect(proxyserver.Options{Username: "alice", Password: "right"})
	require.NoError(t, err)
	defer px.Close()
	bad := px.URL()
	bad.User = url.UserPassword("alice", "wrong")
	_, _, err = (&Dialer{Proxy: http.ProxyURL(bad)}).Dial(ctx, "ws://127.0.0.1:1/")
	require.ErrorAs(t, err, &de)
	assert.Equal(t, OpProxy, de.Op)
	assert.ErrorIs(t, err, ErrProxyAuth)
}

// ProxyConnectHeader carries a raw Proxy-Authorization (Workerman's
// proxyAuthorization) and other CONNECT headers; bad ones are refused.
func TestProxyConnectHeader(t *testing.T) {
	url, _ := echoServer(t, &Upgrader{})
	px, err := proxyserver.StartHTTPConnect(proxyserver.Options{Username: "alice", Password: "pw"})
	require.NoError(t, err)
	defer px.Close()
	noCreds := px.URL()
	noCreds.User = nil
	d := &Dialer{
		Proxy:              http.ProxyURL(noCreds),
		ProxyConnectHeader: http.Header{"Proxy-Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("alice:pw"))}},
	}
	c := dialT(t, d, url)
	require.NoError(t, c.WriteText("through"))
	_, msg, err := c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, "through", string(msg))

	d.ProxyConnectHeader = http.Header{"X-Bad": {"a\r\nInjected: yes"}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, err = d.Dial(ctx, url)
	require.ErrorIs(t, err, ErrBadHeader)
}
