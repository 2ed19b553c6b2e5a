//go:build !js

package ws_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/plainws/plainws/ws"
)

// A WebSocket over HTTP/2 (RFC 8441), here without TLS (h2c). The process
// must start with GODEBUG=http2xconnect=1 for net/http's server to accept
// it, so this example is compiled but not run by go test (the tests in
// accept_h2_test.go run themselves in a child process with the setting).
// Unlike on HTTP/1.1, the handler keeps the Conn until it is done with it:
// returning ends the stream.
func ExampleDialer_DialH2() {
	up := &ws.Upgrader{}
	srv := &http.Server{Addr: "127.0.0.1:8080", Protocols: new(http.Protocols), ReadHeaderTimeout: 10 * time.Second}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil) // HTTP/1.1 Upgrade or HTTP/2 extended CONNECT
		if err != nil {
			return
		}
		defer c.CloseNow()
		for { // the read loop runs in the handler
			op, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if c.WriteMessage(op, msg) != nil {
				return
			}
		}
	})
	go func() { _ = srv.ListenAndServe() }()
	defer srv.Close()

	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := (&ws.Dialer{}).DialH2(ctx, "ws://127.0.0.1:8080/echo", tr)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	fmt.Println(resp.Proto, resp.StatusCode) // HTTP/2.0 200
	_ = c.WriteText("hello")
	_, msg, _ := c.ReadMessage()
	fmt.Println(string(msg))
	_ = c.Close(ws.CloseNormalClosure, "")
}
