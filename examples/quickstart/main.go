// Command quickstart is the seed's WebSocket client (Workerman's AsyncTcpConnection example,
// examples/seed) run against a server it starts itself on 127.0.0.1, so that every event of the
// asyncconn model shows on one screen with nothing else installed:
//
//	go run ./examples/quickstart
//
// The client has the seed's callbacks and settings: OnConnect prints "tcp connected",
// OnWebSocketConnect prints the server's response and sends "hello", OnMessage prints what
// arrives, OnError prints, and OnClose reconnects one second later. The embedded server echoes,
// then ends the first session with 1001 "server restarting"; the client comes back a second later,
// says hello again, hears its echo, and closes with 1000, which also cancels any reconnect. Each
// line carries the time since the start.
//
// With -url the same client talks to any server and runs until Ctrl-C (or -exit-after), then
// closes cleanly:
//
//	go run ./examples/quickstart -url ws://127.0.0.1:1234 -exit-after 10s
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/plainws/plainws/asyncconn"
	"github.com/plainws/plainws/ws"
)

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "quickstart: Workerman's client example against an embedded server on 127.0.0.1: every asyncconn event on one screen.\n\nUsage: go run ./examples/quickstart [flags]\n")
		flag.PrintDefaults()
	}
	target := flag.String("url", "", "connect to this server instead of the embedded one")
	exitAfter := flag.Duration("exit-after", 0, "with -url: close and exit after this long (0: at Ctrl-C)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *target, *exitAfter); err != nil {
		log.Fatal(err)
	}
}

// embeddedLimit bounds the embedded demonstration, which normally takes about 1.1 s, so that a
// broken build fails instead of hanging.
const embeddedLimit = 15 * time.Second

// printer prefixes every line with the time since the program started, so the output shows the
// one-second reconnect delay. Lines come from the loop and the server goroutines; a mutex keeps
// each line whole.
type printer struct {
	start time.Time
	mu    sync.Mutex
}

func (p *printer) say(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Printf("[+%.3fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

// run runs the client against target, or against the embedded server when target is empty. With
// the embedded server it ends by itself after the second session; with a target it ends when ctx
// is done or exitAfter has passed. It returns nil after a clean close.
func run(ctx context.Context, target string, exitAfter time.Duration) error {
	p := &printer{start: time.Now()}
	embedded := target == ""
	if embedded {
		addr, stopServer, err := startServer(p)
		if err != nil {
			return err
		}
		defer stopServer()
		target = "ws://" + addr + "/"
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, embeddedLimit)
		defer cancel()
	} else if exitAfter > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, exitAfter)
		defer cancel()
	}

	// The loop runs every callback below one at a time (a Workerman worker), so the variables
	// they share need no locks.
	loop := asyncconn.NewLoop()
	c, err := asyncconn.New(loop, target)
	if err != nil {
		return err
	}
	c.WebsocketPingInterval = 55 * time.Second
	c.Headers = http.Header{
		"Cookie":   {"PHPSID=82u98fjhakfusuanfnahfi; token=2hf9a929jhfihaf9i"},
		"OtherKey": {"values"},
	}
	c.WebsocketType = asyncconn.BinaryTypeBlob

	var (
		sessions int  // upgrades so far
		quitting bool // the program is closing: OnClose must not reconnect
	)
	// shutdown closes with 1000, which also cancels a pending reconnect (Workerman's close()
	// does not). It runs on the loop. OnClose then stops the loop; if no connection attempt is
	// running, no OnClose will come, so the loop stops here.
	shutdown := func(why string) {
		if quitting {
			return
		}
		quitting = true
		p.say("closing: %s", why)
		_ = c.Close(ws.CloseNormalClosure, "bye")
		if c.Status() == asyncconn.StatusClosed {
			loop.Stop()
		}
	}

	c.OnConnect = func(c *asyncconn.Conn) {
		p.say("tcp connected (%s -> %s)", c.LocalAddress(), c.RemoteAddress())
	}
	c.OnWebSocketConnect = func(c *asyncconn.Conn, resp *http.Response) {
		sessions++
		p.say("websocket connected, session %d: %s %s", sessions, resp.Proto, resp.Status)
		for _, k := range slices.Sorted(maps.Keys(resp.Header)) {
			for _, v := range resp.Header[k] {
				p.say("    %s: %s", k, v)
			}
		}
		p.say("send: hello")
		if err := c.SendString("hello"); err != nil {
			p.say("send failed: %v", err)
		}
	}
	c.OnMessage = func(c *asyncconn.Conn, data []byte) {
		p.say("recv: %s", data)
		if embedded && sessions == 2 && string(data) == "hello" {
			shutdown("the second session has its echo")
		}
	}
	c.OnWebSocketClose = func(c *asyncconn.Conn, code ws.StatusCode, reason string) {
		if quitting {
			p.say("server answered our close: %d %q", uint16(code), reason)
			return
		}
		p.say("server closes: %d %q", uint16(code), reason)
	}
	c.OnError = func(c *asyncconn.Conn, code asyncconn.ErrorCode, msg string) {
		p.say("error: %s: %s", code, msg)
	}
	c.OnClose = func(c *asyncconn.Conn) {
		if quitting {
			p.say("connection closed")
			loop.Stop()
			return
		}
		p.say("connection closed, reconnecting in 1s")
		c.ReConnect(1 * time.Second)
	}

	p.say("connecting to %s", target)
	c.Connect()
	stopWatching := context.AfterFunc(ctx, func() {
		loop.Post(func() { shutdown(context.Cause(ctx).Error()) })
		// If the closing handshake hangs, CloseTimeout ends it and OnClose stops the loop; this
		// is only the last resort.
		loop.Delay(ws.DefaultCloseTimeout+time.Second, loop.Stop)
	})
	err = loop.Run(context.Background())
	stopWatching()
	if err != nil {
		return err
	}
	if embedded && ctx.Err() != nil {
		return fmt.Errorf("quickstart: the demonstration did not finish within %v", embeddedLimit)
	}
	p.say("done")
	return nil
}

// startServer starts the demonstration's echo server on a free loopback port. It echoes every
// message; after the first echo of its first session it closes that session with 1001 "server
// restarting", as a server going down for maintenance would.
func startServer(p *printer) (addr string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("quickstart server: %w", err)
	}
	var sessions atomic.Int32
	up := &ws.Upgrader{}
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := sessions.Add(1)
			// Printed before the 101 goes out, so it comes before the client's "websocket
			// connected".
			p.say("server: session %d: upgrade request for %s, Cookie %q", n, r.URL.Path, r.Header.Get("Cookie"))
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			// The close handler runs on this goroutine (in ReadMessage or Close) before the close
			// frame is answered, so its line always comes before the client's "connection closed".
			serverClosed := false
			c.SetCloseHandler(func(code ws.StatusCode, reason string) {
				if serverClosed {
					p.say("server: session %d: the client answered our close: %d %q", n, uint16(code), reason)
					return
				}
				p.say("server: session %d: the client closes: %d %q", n, uint16(code), reason)
			})
			for {
				op, msg, err := c.ReadMessage()
				if err != nil {
					return
				}
				p.say("server: session %d: echo %q", n, msg)
				if err := c.WriteMessage(op, msg); err != nil {
					return
				}
				if n == 1 {
					p.say("server: session %d: closing with 1001 \"server restarting\"", n)
					serverClosed = true
					_ = c.Close(ws.CloseGoingAway, "server restarting")
					return
				}
			}
		}),
	}
	go func() { _ = srv.Serve(ln) }()
	p.say("server: listening on %s", ln.Addr())
	return ln.Addr().String(), func() { _ = srv.Close() }, nil
}
