//go:build !js

package ws_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/plainws/plainws/internal/proxyserver"
	"github.com/plainws/plainws/ws"
)

// startEchoServer serves WebSocket echo on a loopback port with opts and
// returns its ws:// URL. It is the server side of the examples below.
func startEchoServer(opts ws.Options) (url string, stop func()) {
	up := ws.Upgrader{Options: opts}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		var buf []byte
		for {
			op, msg, err := c.ReadMessageInto(buf)
			if err != nil {
				return
			}
			buf = msg
			if err := c.WriteMessage(op, msg); err != nil {
				return
			}
		}
	}))
	return "ws" + strings.TrimPrefix(srv.URL, "http"), srv.Close
}

// Dialer.Proxy takes the same functions as http.Transport.Proxy:
// http.ProxyFromEnvironment (HTTP_PROXY, HTTPS_PROXY, NO_PROXY) or, as
// here, http.ProxyURL for one proxy. An http:// proxy is asked for a tunnel
// with HTTP CONNECT (RFC 9110 §9.3.6), with the URL's user and password as
// Basic Proxy-Authorization; socks5:// and socks5h:// proxies work the same
// way. The proxy here runs on loopback inside the example.
func ExampleDialer_proxy() {
	target, stop := startEchoServer(ws.Options{})
	defer stop()
	proxy, err := proxyserver.StartHTTPConnect(proxyserver.Options{Username: "alice", Password: "s3cret"})
	if err != nil {
		log.Fatal(err)
	}
	defer proxy.Close()

	proxyURL := proxy.URL() // http://alice:s3cret@127.0.0.1:PORT
	d := &ws.Dialer{Proxy: http.ProxyURL(proxyURL), HandshakeTimeout: 10 * time.Second}
	c, _, err := d.Dial(context.Background(), target+"/echo")
	if err != nil {
		log.Fatal(err)
	}
	_ = c.WriteText("through the tunnel")
	_, msg, err := c.ReadMessage()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(msg))
	fmt.Println("the proxy was asked for the target:", proxy.Targets()[0] == strings.TrimPrefix(target, "ws://"))
	fmt.Println("close:", c.Close(ws.CloseNormalClosure, ""))

	// Wrong credentials: the proxy's refusal comes back as a *ws.DialError
	// whose Op is OpProxy, wrapping a *ws.ProxyError with ErrProxyAuth.
	proxyURL.User = nil
	d.Proxy = http.ProxyURL(proxyURL)
	_, _, err = d.Dial(context.Background(), target+"/echo")
	var de *ws.DialError
	fmt.Println("without credentials:", errors.As(err, &de) && de.Op == ws.OpProxy, errors.Is(err, ws.ErrProxyAuth))
	// Output:
	// through the tunnel
	// the proxy was asked for the target: true
	// close: <nil>
	// without credentials: true true
}

// DialNet and Handshake are Dial in two halves: the transport (TCP, proxy
// tunnel, TLS for wss://), then the opening handshake (RFC 6455 §4.1). A
// program acts between them — here it only looks at the connection — as
// Workerman's onConnect fires when TCP is up, before the upgrade.
func ExampleDialer_DialNet() {
	target, stop := startEchoServer(ws.Options{})
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var d ws.Dialer
	nc, err := d.DialNet(ctx, target+"/echo")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("transport up to", nc.RemoteAddr().String() == strings.TrimPrefix(target, "ws://"))

	c, resp, err := d.Handshake(ctx, nc, target+"/echo")
	if err != nil {
		_ = nc.Close() // a failed Handshake leaves nc to the caller
		log.Fatal(err)
	}
	fmt.Println("upgrade:", resp.Status)
	_ = c.WriteText("hello")
	_, msg, _ := c.ReadMessage()
	fmt.Println(string(msg))
	fmt.Println("close:", c.Close(ws.CloseNormalClosure, ""))
	// Output:
	// transport up to true
	// upgrade: 101 Switching Protocols
	// hello
	// close: <nil>
}

// Handshake runs the client side over a connection the program already
// has, whatever made it: here one end of a net.Pipe, whose other end a
// server upgrades with UpgradeConn. No TCP is involved at all.
func ExampleDialer_Handshake() {
	client, server := net.Pipe()
	go func() {
		up := ws.Upgrader{HandshakeTimeout: 5 * time.Second}
		c, r, err := up.UpgradeConn(context.Background(), server, nil)
		if err != nil {
			return // UpgradeConn answered with an HTTP error and closed server
		}
		defer c.CloseNow()
		_ = c.WriteText("hello, " + r.URL.Query().Get("name"))
		_, _, _ = c.ReadMessage() // until the client closes
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var d ws.Dialer
	// The URL gives the Host header and the request target; nothing is dialled.
	c, _, err := d.Handshake(ctx, client, "ws://pipe.invalid/greet?name=pipe")
	if err != nil {
		_ = client.Close()
		log.Fatal(err)
	}
	_, msg, err := c.ReadMessage()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(msg))
	fmt.Println("close:", c.Close(ws.CloseNormalClosure, ""))
	// Output:
	// hello, pipe
	// close: <nil>
}
