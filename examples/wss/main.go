// Command wss shows WebSocket over TLS: it starts a wss:// echo server on
// 127.0.0.1 with a certificate generated at start, dials it verifying that
// certificate, and exchanges a message. With -url it dials any wss:// server
// instead, verifying it against the system roots.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/plainws/plainws/internal/selfsigned"
	"github.com/plainws/plainws/ws"
)

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "wss: WebSocket over TLS: a wss:// echo server on 127.0.0.1 with a fresh certificate, dialled and verified.\n\nUsage: go run ./examples/wss [flags]\n")
		flag.PrintDefaults()
	}
	url := flag.String("url", "", "wss:// URL to dial instead of the embedded server")
	msg := flag.String("msg", "hello over TLS", "message to send")
	flag.Parse()
	if err := run(*url, *msg); err != nil {
		log.Fatal(err)
	}
}

func run(url, msg string) error {
	var roots *x509.CertPool // nil: the system roots
	if url == "" {
		cert, pool, err := selfsigned.New()
		if err != nil {
			return err
		}
		ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: echoHandler()}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		roots = pool
		url = "wss://" + ln.Addr().(*net.TCPAddr).String() + "/"
		fmt.Println("server: wss:// on", ln.Addr(), "with a certificate made at start")
	}
	d := &ws.Dialer{TLSConfig: &tls.Config{RootCAs: roots}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := d.Dial(ctx, url)
	if err != nil {
		return err
	}
	state := c.NetConn().(*tls.Conn).ConnectionState()
	fmt.Printf("client: connected to %s, %s, certificate verified for %q\n", url, tls.VersionName(state.Version), state.PeerCertificates[0].Subject.CommonName)
	if err := c.WriteText(msg); err != nil {
		return err
	}
	_, reply, err := c.ReadMessage()
	if err != nil {
		return err
	}
	fmt.Printf("client: echoed %q\n", reply)
	if err := c.Close(ws.CloseNormalClosure, ""); err != nil {
		return err
	}
	fmt.Println("client: closed cleanly")
	return nil
}

func echoHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := (&ws.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			op, m, err := c.ReadMessage()
			if err != nil || c.WriteMessage(op, m) != nil {
				return
			}
		}
	})
}
