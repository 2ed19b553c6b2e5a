package asyncconn_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/plainws/plainws/asyncconn"
	"github.com/plainws/plainws/ws"
)

// exampleServer starts a WebSocket server on loopback that greets each client with "welcome"
// when greet is set, echoes every message, and closes the connection when it reads "bye".
func exampleServer(greet bool) (url string, stop func()) {
	up := &ws.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		if greet {
			_ = c.WriteMessage(ws.OpText, []byte("welcome"))
		}
		for {
			op, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if string(msg) == "bye" {
				_ = c.Close(ws.CloseNormalClosure, "see you")
				return
			}
			_ = c.WriteMessage(op, msg)
		}
	}))
	return "ws" + strings.TrimPrefix(srv.URL, "http"), srv.Close
}

// The seed program: Workerman's AsyncTcpConnection example from the manual, against a local echo
// server (the manual uses ws://127.0.0.1:1234). Where the manual reconnects in onClose, this
// example stops its loop so that it ends.
func Example() {
	url, stop := exampleServer(false)
	defer stop()
	loop := asyncconn.NewLoop()

	conn, err := asyncconn.New(loop, url) // new AsyncTcpConnection("ws://127.0.0.1:1234")
	if err != nil {
		fmt.Println(err)
		return
	}
	conn.WebsocketPingInterval = 55 * time.Second // a ping every 55 seconds
	conn.Headers = http.Header{                   // extra headers on the upgrade request
		"Cookie":   {"PHPSID=82u98fjhakfusuanfnahfi; token=2hf9a929jhfihaf9i"},
		"OtherKey": {"values"},
	}
	conn.WebsocketType = asyncconn.BinaryTypeBlob // text frames (BinaryTypeArrayBuffer: binary)
	conn.OnConnect = func(c *asyncconn.Conn) {
		fmt.Println("tcp connected")
	}
	conn.OnWebSocketConnect = func(c *asyncconn.Conn, resp *http.Response) {
		fmt.Println(resp.Status)
		_ = c.SendString("hello")
	}
	conn.OnMessage = func(c *asyncconn.Conn, data []byte) {
		fmt.Printf("recv: %s\n", data)
		_ = c.SendString("bye") // our server then closes the connection
	}
	conn.OnError = func(c *asyncconn.Conn, code asyncconn.ErrorCode, msg string) {
		fmt.Println("error:", code, msg)
	}
	conn.OnWebSocketClose = func(c *asyncconn.Conn, code ws.StatusCode, reason string) {
		fmt.Printf("server closed: %d %s\n", code, reason)
	}
	conn.OnClose = func(c *asyncconn.Conn) {
		fmt.Println("connection closed")
		loop.Stop() // the manual calls $connection->reConnect(1) here
	}
	conn.Connect()

	_ = loop.Run(context.Background()) // Worker::runAll()
	// Output:
	// tcp connected
	// 101 Switching Protocols
	// recv: hello
	// server closed: 1000 see you
	// connection closed
}

// Reconnecting from OnClose, as the manual recommends: every connection is made afresh (TCP, TLS,
// upgrade with a new key), while the Conn, its callbacks, ID and Context stay the same.
func ExampleConn_ReConnect() {
	url, stop := exampleServer(true)
	defer stop()
	loop := asyncconn.NewLoop()
	conn, _ := asyncconn.New(loop, url)
	conn.Context = 0 // the program's own state: here, how many times we connected
	conn.OnMessage = func(c *asyncconn.Conn, data []byte) {
		c.Context = c.Context.(int) + 1
		fmt.Printf("connection %d: %s\n", c.Context, data)
		_ = c.SendString("bye")
	}
	conn.OnClose = func(c *asyncconn.Conn) {
		if c.Context.(int) < 3 {
			c.ReConnect(10 * time.Millisecond) // sub-second delays work
			return
		}
		loop.Stop()
	}
	conn.Connect()
	_ = loop.Run(context.Background())
	// Output:
	// connection 1: welcome
	// connection 2: welcome
	// connection 3: welcome
}

// Timers run on the same loop as the callbacks, so they may use the connection without locks, as
// Workerman's Timer::add does inside onWorkerStart.
func ExampleLoop_Repeat() {
	url, stop := exampleServer(false)
	defer stop()
	loop := asyncconn.NewLoop()
	conn, _ := asyncconn.New(loop, url)
	var timer asyncconn.TimerID
	sent := 0
	conn.OnWebSocketConnect = func(c *asyncconn.Conn, _ *http.Response) {
		timer = loop.Repeat(5*time.Millisecond, func() {
			sent++
			_ = c.SendString(fmt.Sprintf("tick %d", sent))
			if sent == 3 {
				loop.Del(timer)
			}
		})
	}
	conn.OnMessage = func(c *asyncconn.Conn, data []byte) {
		fmt.Printf("echo: %s\n", data)
		if string(data) == "tick 3" {
			_ = c.Close(ws.CloseNormalClosure, "done")
		}
	}
	conn.OnClose = func(*asyncconn.Conn) { loop.Stop() }
	conn.Connect()
	_ = loop.Run(context.Background())
	// Output:
	// echo: tick 1
	// echo: tick 2
	// echo: tick 3
}

// A server that refuses the upgrade: the program gets the HTTP status and body (Workerman only
// sees onClose).
func ExampleConn_LastError() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "token expired", http.StatusUnauthorized)
	}))
	defer srv.Close()
	loop := asyncconn.NewLoop()
	conn, _ := asyncconn.New(loop, "ws"+strings.TrimPrefix(srv.URL, "http"))
	conn.OnError = func(c *asyncconn.Conn, code asyncconn.ErrorCode, _ string) {
		var he *ws.HandshakeError
		if code == asyncconn.HandshakeFail && errors.As(c.LastError(), &he) {
			fmt.Printf("%s: %d %s", code, he.StatusCode, he.Body)
		}
	}
	conn.OnClose = func(*asyncconn.Conn) { loop.Stop() }
	conn.Connect()
	_ = loop.Run(context.Background())
	// Output:
	// HANDSHAKE_FAIL: 401 token expired
}
