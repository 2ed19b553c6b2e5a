//go:build !js

package ws_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/plainws/plainws/ws"
)

// ReadMessageContext waits for a message as long as its context allows; a
// wait that ends between messages leaves the connection usable.
func ExampleConn_ReadMessageContext() {
	var up ws.Upgrader
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		time.Sleep(100 * time.Millisecond) // slow to speak
		_ = c.WriteText("finally")
		_, _, _ = c.ReadMessage()
	}))
	defer srv.Close()

	c, _, err := ws.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, _, err = c.ReadMessageContext(ctx, nil)
	fmt.Println("first wait:", errors.Is(err, context.DeadlineExceeded))

	_, msg, err := c.ReadMessageContext(context.Background(), nil)
	fmt.Println("second wait:", string(msg), err)
	// Output:
	// first wait: true
	// second wait: finally <nil>
}

// NetConn runs a protocol that wants a socket over a WebSocket: here a
// line-based one, with bufio on both ends.
func ExampleNetConn() {
	var up ws.Upgrader
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		nc := ws.NetConn(r.Context(), c, ws.OpBinary)
		defer nc.Close()
		line, err := bufio.NewReader(nc).ReadString('\n')
		if err != nil {
			return
		}
		fmt.Fprintf(nc, "you said: %s", strings.ToUpper(line))
	}))
	defer srv.Close()

	c, _, err := ws.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"))
	if err != nil {
		log.Fatal(err)
	}
	var nc net.Conn = ws.NetConn(context.Background(), c, ws.OpBinary)
	defer nc.Close()
	fmt.Fprintln(nc, "hello over a websocket")
	reply, err := bufio.NewReader(nc).ReadString('\n')
	fmt.Print(reply, err)
	// Output:
	// you said: HELLO OVER A WEBSOCKET
	// <nil>
}
