//go:build !js

package ws_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/plainws/plainws/ws"
)

// Dial connects to a WebSocket server; here one started in the example
// that echoes every message back.
func ExampleDial() {
	var up ws.Upgrader
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return // Upgrade has answered with an HTTP error
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
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/echo")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("status:", resp.Status)

	if err := c.WriteText("hello"); err != nil {
		log.Fatal(err)
	}
	op, msg, err := c.ReadMessage()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %s\n", op, msg)
	fmt.Println("close:", c.Close(ws.CloseNormalClosure, ""))
	// Output:
	// status: 101 Switching Protocols
	// text: hello
	// close: <nil>
}

// Dialer sets what Dial leaves at its defaults: here subprotocols, a
// header, and a refused handshake, which is reported with the server's
// status so it can be told from a network failure.
func ExampleDialer_Dial() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer secret" {
			http.Error(w, "who are you?", http.StatusUnauthorized)
			return
		}
		up := ws.Upgrader{Subprotocols: []string{"v2.chat", "v1.chat"}}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		_ = c.Close(ws.CloseNormalClosure, "")
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	d := &ws.Dialer{
		Subprotocols:     []string{"v1.chat", "v2.chat"},
		HandshakeTimeout: 10 * time.Second,
	}
	_, _, err := d.Dial(context.Background(), url)
	var he *ws.HandshakeError
	if errors.As(err, &he) {
		fmt.Printf("refused: %d %q\n", he.StatusCode, strings.TrimSpace(string(he.Body)))
	}

	d.Header = http.Header{"Authorization": {"Bearer secret"}}
	c, _, err := d.Dial(context.Background(), url)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("subprotocol:", c.Subprotocol())
	_, _, err = c.ReadMessage()
	fmt.Printf("server closed with %d\n", ws.CloseStatus(err))
	// Output:
	// refused: 401 "who are you?"
	// subprotocol: v2.chat
	// server closed with 1000
}

// Upgrade turns a net/http request into a WebSocket connection. Requests
// that are not valid upgrades get the HTTP error RFC 6455 §4.2.1 asks for.
func ExampleUpgrader_Upgrade() {
	up := ws.Upgrader{Subprotocols: []string{"chat"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, http.Header{"Set-Cookie": {"seen=1"}})
		if err != nil {
			return
		}
		_ = c.WriteText("welcome, speaker of " + c.Subprotocol())
		_ = c.Close(ws.CloseGoingAway, "that is all")
	}))
	defer srv.Close()

	// A plain GET is refused with 426 Upgrade Required.
	resp, err := http.Get(srv.URL)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println("plain GET:", resp.Status)

	d := &ws.Dialer{Subprotocols: []string{"chat"}}
	c, resp, err := d.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("cookie:", resp.Header.Get("Set-Cookie"))
	_, msg, err := c.ReadMessage()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(msg))
	_, _, err = c.ReadMessage()
	var ce *ws.CloseError
	if errors.As(err, &ce) {
		fmt.Printf("closed: %d %q\n", ce.Code, ce.Reason)
	}
	// Output:
	// plain GET: 426 Upgrade Required
	// cookie: seen=1
	// welcome, speaker of chat
	// closed: 1001 "that is all"
}

// UpgradeConn runs the server handshake on a connection from any listener,
// without net/http; reading the request is bounded in time and size.
func ExampleUpgrader_UpgradeConn() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	paths := make(chan string, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		up := ws.Upgrader{HandshakeTimeout: 5 * time.Second}
		c, r, err := up.UpgradeConn(context.Background(), nc, nil)
		if err != nil {
			return // UpgradeConn answered with an HTTP error and closed nc
		}
		defer c.CloseNow()
		paths <- r.URL.Path
		_, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		_ = c.WriteText(strings.ToUpper(string(msg)))
		_, _, _ = c.ReadMessage() // until the client closes
	}()

	c, _, err := ws.Dial(context.Background(), "ws://"+ln.Addr().String()+"/raw")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("server saw path", <-paths)
	_ = c.WriteText("shout")
	_, msg, err := c.ReadMessage()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(msg))
	fmt.Println("close:", c.Close(ws.CloseNormalClosure, ""))
	// Output:
	// server saw path /raw
	// SHOUT
	// close: <nil>
}

// NextWriter streams a message in pieces, as fragments (RFC 6455 §5.4),
// without building it in memory first; NextReader reads one the same way.
// Here the server streams each message back as it reads it.
func ExampleConn_NextWriter() {
	var up ws.Upgrader
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			op, rd, err := c.NextReader()
			if err != nil {
				return
			}
			wr, err := c.NextWriter(op)
			if err != nil {
				return
			}
			if _, err := io.Copy(wr, rd); err != nil {
				return
			}
			if err := wr.Close(); err != nil {
				return
			}
		}
	}))
	defer srv.Close()

	c, _, err := ws.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"))
	if err != nil {
		log.Fatal(err)
	}
	wr, err := c.NextWriter(ws.OpText)
	if err != nil {
		log.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(wr, "part %d; ", i)
	}
	if err := wr.Close(); err != nil { // sends the final fragment
		log.Fatal(err)
	}

	op, rd, err := c.NextReader()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(op, ": ")
	if _, err := io.Copy(os.Stdout, rd); err != nil {
		log.Fatal(err)
	}
	fmt.Println()
	_ = c.Close(ws.CloseNormalClosure, "")
	// Output:
	// text: part 1; part 2; part 3;
}

// NextReader hands out a message as an io.Reader, so a large one can be
// processed as it arrives; the read limit still applies to its total size.
func ExampleConn_NextReader() {
	var up ws.Upgrader
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		wr, err := c.NextWriter(ws.OpBinary)
		if err != nil {
			return
		}
		chunk := make([]byte, 64<<10)
		for range 16 { // 1 MiB in all
			if _, err := wr.Write(chunk); err != nil {
				return
			}
		}
		_ = wr.Close()
		_, _, _ = c.ReadMessage() // until the client closes
	}))
	defer srv.Close()

	c, _, err := ws.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"))
	if err != nil {
		log.Fatal(err)
	}
	op, rd, err := c.NextReader()
	if err != nil {
		log.Fatal(err)
	}
	n, err := io.Copy(io.Discard, rd)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s message of %d bytes\n", op, n)
	_ = c.Close(ws.CloseNormalClosure, "")
	// Output:
	// binary message of 1048576 bytes
}

// WriteMessage sends a whole message; ReadMessage reads one whole message.
// Text must be UTF-8 (RFC 6455 §8.1): the reader checks it by default.
func ExampleConn_WriteMessage() {
	var up ws.Upgrader
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			op, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			_ = c.WriteMessage(op, msg)
		}
	}))
	defer srv.Close()

	c, _, err := ws.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"))
	if err != nil {
		log.Fatal(err)
	}
	_ = c.WriteMessage(ws.OpText, []byte("héllo"))
	_ = c.WriteMessage(ws.OpBinary, []byte{0xde, 0xad, 0xbe, 0xef})
	for range 2 {
		op, msg, err := c.ReadMessage()
		if err != nil {
			log.Fatal(err)
		}
		if op == ws.OpText {
			fmt.Printf("%s %q\n", op, msg)
		} else {
			fmt.Printf("%s % x\n", op, msg)
		}
	}
	_ = c.Close(ws.CloseNormalClosure, "")
	// Output:
	// text "héllo"
	// binary de ad be ef
}

// Close runs the closing handshake (RFC 6455 §7): it sends a close frame,
// waits for the peer's, and closes the connection; the peer's reader sees
// the code and reason.
func ExampleConn_Close() {
	var up ws.Upgrader
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		_, _, err = c.ReadMessage() // answers the close frame, then reports it
		var ce *ws.CloseError
		if errors.As(err, &ce) {
			got <- fmt.Sprintf("server got close %d %q", ce.Code, ce.Reason)
		}
	}))
	defer srv.Close()

	c, _, err := ws.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("handshake completed:", c.Close(ws.CloseNormalClosure, "bye") == nil)
	fmt.Println(<-got)
	fmt.Println("writing after close:", errors.Is(c.WriteText("late"), ws.ErrClosed))
	// Output:
	// handshake completed: true
	// server got close 1000 "bye"
	// writing after close: true
}
