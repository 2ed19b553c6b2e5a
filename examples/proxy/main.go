// Command proxy dials a WebSocket server through an HTTP CONNECT proxy and
// through a SOCKS5 proxy, both with username and password, all on
// 127.0.0.1: small proxies are started by the example itself. The Host
// header names the target, never the proxy.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/plainws/plainws/internal/proxyserver"
	"github.com/plainws/plainws/ws"
)

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "proxy: dials a WebSocket server through an HTTP CONNECT and a SOCKS5 proxy it starts itself on 127.0.0.1.\n\nUsage: go run ./examples/proxy [flags]\n")
		fmt.Fprintln(flag.CommandLine.Output(), "It has no flags.")
	}
	flag.Parse() // only -h: the demo has no settings
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := (&ws.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		_ = c.WriteText("hello via " + r.URL.Query().Get("via") + ", Host was " + r.Host)
		_, _, _ = c.ReadMessage() // until the client closes
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	target := ln.Addr().String()
	fmt.Println("server: listening on", target)

	opts := proxyserver.Options{Username: "alice", Password: "s3cret"}
	httpProxy, err := proxyserver.StartHTTPConnect(opts)
	if err != nil {
		return err
	}
	defer httpProxy.Close()
	socksProxy, err := proxyserver.StartSOCKS5(opts)
	if err != nil {
		return err
	}
	defer socksProxy.Close()

	for _, p := range []*proxyserver.Server{httpProxy, socksProxy} {
		u := p.URL()
		d := &ws.Dialer{Proxy: http.ProxyURL(u)}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, _, err := d.Dial(ctx, "ws://"+target+"/?via="+u.Scheme)
		cancel()
		if err != nil {
			return fmt.Errorf("via %s: %w", u.Scheme, err)
		}
		_, msg, err := c.ReadMessage()
		if err != nil {
			return err
		}
		fmt.Printf("client: through the %s proxy at %s: %q\n", u.Scheme, p.Addr(), msg)
		if err := c.Close(ws.CloseNormalClosure, ""); err != nil {
			return err
		}
	}
	fmt.Println("proxies saw CONNECT to:", httpProxy.Targets(), socksProxy.Targets())
	return nil
}
