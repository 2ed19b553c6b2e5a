// Command echo is plainws's smallest complete program: it starts a WebSocket
// echo server on 127.0.0.1 with package ws's server side, dials it with the
// client side, exchanges text and binary messages and a ping, and closes
// cleanly, printing each step. No network beyond loopback is used.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/plainws/plainws/ws"
)

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "echo: starts an echo server on 127.0.0.1, dials it, exchanges text, binary and a ping, and closes cleanly.\n\nUsage: go run ./examples/echo [flags]\n")
		flag.PrintDefaults()
	}
	url := flag.String("url", "", "dial this server instead of the embedded echo server")
	flag.Parse()
	if err := run(*url); err != nil {
		log.Fatal(err)
	}
}

func run(url string) error {
	if url == "" {
		addr, stop, err := startServer()
		if err != nil {
			return err
		}
		defer stop()
		url = "ws://" + addr + "/echo"
		fmt.Println("server: listening on", addr)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := ws.Dial(ctx, url)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	fmt.Printf("client: connected to %s (%s)\n", url, resp.Status)

	pong := make(chan string, 1)
	c.SetPongHandler(func(p []byte) { pong <- string(p) })

	exchange := func(op ws.Opcode, payload []byte) error {
		if err := c.WriteMessage(op, payload); err != nil {
			return err
		}
		gotOp, got, err := c.ReadMessage()
		if err != nil {
			return err
		}
		if gotOp == ws.OpText {
			fmt.Printf("client: sent %s %q, echoed %s %q\n", op, payload, gotOp, got)
		} else {
			fmt.Printf("client: sent %s % x, echoed %s % x\n", op, payload, gotOp, got)
		}
		return nil
	}
	if err := exchange(ws.OpText, []byte("hello, plainws")); err != nil {
		return err
	}
	if err := exchange(ws.OpBinary, []byte{0xde, 0xad, 0xbe, 0xef}); err != nil {
		return err
	}

	// A ping is answered by the server's read loop; the pong reaches our
	// pong handler while we read the next message.
	if err := c.WritePing([]byte("are you there?")); err != nil {
		return err
	}
	if err := exchange(ws.OpText, []byte("after the ping")); err != nil {
		return err
	}
	select {
	case p := <-pong:
		fmt.Printf("client: pong %q\n", p)
	case <-time.After(5 * time.Second):
		return fmt.Errorf("no pong")
	}

	if err := c.Close(ws.CloseNormalClosure, "goodbye"); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	fmt.Println("client: closed cleanly (1000 goodbye)")
	return nil
}

// startServer runs an echo server on a free loopback port.
func startServer() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	done := make(chan struct{})
	up := &ws.Upgrader{}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		var buf []byte
		for {
			op, msg, err := c.ReadMessageInto(buf)
			if err != nil {
				fmt.Printf("server: connection ended: %v\n", err)
				close(done)
				return
			}
			buf = msg
			if err := c.WriteMessage(op, msg); err != nil {
				return
			}
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	stop := func() {
		select {
		case <-done:
		case <-time.After(2 * time.Second):
		}
		_ = srv.Close()
	}
	return ln.Addr().String(), stop, nil
}
