package fuzz

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/require"
)

// FuzzProxyReply feeds arbitrary bytes to a Dialer as the answer of an HTTP
// CONNECT or SOCKS5 proxy (RFC 9110 §9.3.6, RFC 1928, RFC 1929): no panic,
// a bounded time, and every failure a *ws.DialError of the proxy step that
// wraps a *ws.ProxyError — or, when the bytes happen to open a tunnel, a
// failure of the WebSocket handshake after it.
func FuzzProxyReply(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 Connection established\r\n\r\n"), false, false)
	f.Add([]byte("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n"), false, true)
	f.Add([]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"), false, false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"), false, false)
	f.Add([]byte{5, 0, 5, 0, 0, 1, 127, 0, 0, 1, 0, 80}, true, false)
	f.Add([]byte{5, 2, 1, 0, 5, 0, 0, 3, 9, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't', 0, 80}, true, true)
	f.Add([]byte{5, 0xFF}, true, true)
	f.Add([]byte{5, 0, 5, 5, 0, 1, 0, 0, 0, 0, 0, 0}, true, false)
	f.Add([]byte{5, 0, 5, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 187}, true, false)
	f.Fuzz(func(t *testing.T, reply []byte, socks, creds bool) {
		proxy := &url.URL{Scheme: "http", Host: "proxy.invalid:3128"}
		if socks {
			proxy.Scheme = "socks5"
		}
		if creds {
			proxy.User = url.UserPassword("alice", "secret")
		}
		client, server := net.Pipe()
		defer client.Close()
		defer server.Close()
		go func() { _, _ = io.Copy(io.Discard, server) }()
		go func() { _, _ = server.Write(reply); _ = server.Close() }()
		d := &ws.Dialer{
			Proxy:            http.ProxyURL(proxy),
			HandshakeTimeout: time.Second,
			NetDialContext: func(context.Context, string, string) (net.Conn, error) {
				return client, nil
			},
		}
		start := time.Now()
		c, _, err := d.Dial(context.Background(), "ws://target.invalid/")
		require.Less(t, time.Since(start), 5*time.Second)
		if err == nil {
			_ = c.CloseNow()
			return
		}
		var de *ws.DialError
		var he *ws.HandshakeError
		switch {
		case errors.As(err, &de):
			require.Equal(t, ws.OpProxy, de.Op, "%v", err)
			var pe *ws.ProxyError
			require.ErrorAs(t, err, &pe)
		case errors.As(err, &he):
		default:
			// The tunnel opened and the WebSocket handshake then read what
			// was left (or nothing): an I/O error of that step.
			require.Contains(t, err.Error(), "handshake", "%v", err)
		}
	})
}
