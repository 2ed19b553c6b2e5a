// Command reconnect shows how an asyncconn client survives a server that goes away and comes
// back, and one that stops answering, with nothing but AutoReconnect, a Backoff policy and a pong
// timeout:
//
//	go run ./examples/reconnect
//
// It runs a server on 127.0.0.1 and a client against it, and prints each step:
//
//  1. The client connects; its pings (every 100 ms) are answered, twice.
//  2. The server goes away: its listener closes and its connections drop. AutoReconnect retries
//     with delays from the policy (Backoff{Min: 50ms, Max: 800ms, Factor: 2, Jitter: 0.2}); each
//     attempt is printed with the time it waited and the range the policy allows.
//  3. The server comes back on the same port; the next attempt gets through, and the successful
//     upgrade resets the backoff.
//  4. The server's second session stops reading, so the client's pings go unanswered: after
//     PongTimeout (150 ms) the client gives up on it (OnError PING_TIMEOUT) and reconnects after
//     the policy's first delay.
//  5. The client closes with 1000, which also cancels any pending reconnect, and the program ends.
//
// The whole run takes about two seconds.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"math"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/plainws/plainws/asyncconn"
	"github.com/plainws/plainws/ws"
)

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "reconnect: an asyncconn client surviving a server that goes away and one that stops answering, on 127.0.0.1.\n\nUsage: go run ./examples/reconnect [flags]\n")
		fmt.Fprintln(flag.CommandLine.Output(), "It has no flags.")
	}
	flag.Parse()
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

// The example's settings: short, so the whole story fits in a few seconds.
var (
	policy           = asyncconn.Backoff{Min: 50 * time.Millisecond, Max: 800 * time.Millisecond, Factor: 2, Jitter: 0.2}
	pingInterval     = 100 * time.Millisecond
	pongTimeout      = 150 * time.Millisecond
	downFor          = 4                // failed attempts before the server comes back
	pongsBeforeCrash = 2                // the first session lasts until this many pings were answered
	limit            = 10 * time.Second // the run fails instead of hanging past this
)

// printer prefixes every line with the time since the start; a mutex keeps lines whole, since the
// loop and the server's goroutines both print.
type printer struct {
	start time.Time
	mu    sync.Mutex
}

func (p *printer) say(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Printf("[+%.3fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

// delayRange is the range of delays b gives before the reconnect that follows n failed ones:
// Min·Factorⁿ capped at Max, shortened by up to Jitter.
func delayRange(b asyncconn.Backoff, n int) (lo, hi time.Duration) {
	d := float64(b.Min) * math.Pow(max(b.Factor, 1), float64(n))
	if b.Max > 0 {
		d = min(d, float64(b.Max))
	}
	return time.Duration(d * (1 - b.Jitter)), time.Duration(d)
}

func run() error {
	p := &printer{start: time.Now()}
	s := &server{p: p}
	if err := s.start("127.0.0.1:0"); err != nil {
		return err
	}
	defer s.stop()
	addr := s.addr

	loop := asyncconn.NewLoop()
	c, err := asyncconn.New(loop, "ws://"+addr+"/")
	if err != nil {
		return err
	}
	c.AutoReconnect = true
	c.ReconnectPolicy = &policy
	c.WebsocketPingInterval = pingInterval
	c.PongTimeout = pongTimeout
	c.ConnectTimeout = time.Second

	// State shared by the callbacks; they all run on the loop, one at a time.
	var (
		sessions int       // successful upgrades
		retrying bool      // OnClose ran and AutoReconnect is waiting to retry
		attempt  int       // reconnect attempts since the last successful upgrade
		closedAt time.Time // when the last OnClose ran: the delay counts from there
		failed   int       // attempts refused while the server was down
		quitting bool
		clean    bool
	)
	// attemptDone prints one reconnect attempt with the time it waited and what the policy allows.
	attemptDone := func(outcome string) {
		if !retrying {
			return
		}
		retrying = false
		attempt++
		lo, hi := delayRange(policy, attempt-1)
		p.say("attempt %d after %dms (backoff %dms..%dms): %s", attempt,
			time.Since(closedAt).Milliseconds(), lo.Milliseconds(), hi.Milliseconds(), outcome)
	}

	c.OnConnect = func(c *asyncconn.Conn) {
		if retrying {
			attemptDone("tcp connected")
			return
		}
		p.say("tcp connected")
	}
	c.OnWebSocketConnect = func(c *asyncconn.Conn, resp *http.Response) {
		sessions++
		attempt = 0 // the upgrade resets the backoff
		p.say("websocket connected, session %d (%s); send: hello", sessions, resp.Status)
		_ = c.SendString("hello")
	}
	c.OnMessage = func(c *asyncconn.Conn, data []byte) {
		p.say("recv: %s", data)
		if sessions == 3 {
			quitting = true
			p.say("closing with 1000")
			_ = c.Close(ws.CloseNormalClosure, "bye")
		}
	}
	pongs := 0
	c.OnWebSocketPong = func(c *asyncconn.Conn, payload []byte) {
		pongs++
		p.say("pong %d (session %d)", pongs, sessions)
		if sessions == 1 && pongs == pongsBeforeCrash {
			// The heartbeat works; now take the server down. stop waits for the server's
			// handlers, so it runs off the loop.
			go s.stop()
		}
	}
	c.OnWebSocketClose = func(c *asyncconn.Conn, code ws.StatusCode, reason string) {
		if quitting {
			clean = true
			p.say("server answered our close: %d %q", uint16(code), reason)
		}
	}
	c.OnError = func(c *asyncconn.Conn, code asyncconn.ErrorCode, msg string) {
		if code == asyncconn.ConnectFail && retrying {
			attemptDone(code.String() + ": " + msg)
			failed++
			if failed == downFor {
				// Listening is quick and does not block; the next attempt will find the server.
				if err := s.start(addr); err != nil {
					p.say("server: cannot come back: %v", err)
				}
			}
			return
		}
		p.say("error: %s: %s", code, msg)
	}
	c.OnClose = func(c *asyncconn.Conn) {
		if quitting {
			p.say("connection closed")
			loop.Stop()
			return
		}
		if !retrying && attempt == 0 {
			// A live session ended (not a refused attempt): say why.
			p.say("connection closed: %v", c.LastError())
		}
		retrying = true
		closedAt = time.Now() // AutoReconnect arms its timer when OnClose returns
	}

	p.say("connecting to ws://%s/ (AutoReconnect, Backoff{Min: %v, Max: %v, Factor: %g, Jitter: %g}, ping every %v, PongTimeout %v)",
		addr, policy.Min, policy.Max, policy.Factor, policy.Jitter, pingInterval, pongTimeout)
	c.Connect()
	// The last resort: a broken run stops instead of hanging.
	loop.Delay(limit, func() {
		p.say("giving up after %v", limit)
		loop.Stop()
	})
	if err := loop.Run(context.Background()); err != nil {
		return err
	}
	s.stop()
	if !clean {
		return errors.New("reconnect: the example did not end with a clean close")
	}
	p.say("done")
	return nil
}

// server is an echo server that can go away and come back on the same address. Its first session
// is an ordinary echo session; its second echoes once and then stops reading, so pings pile up
// unanswered, as with a hung server process; later ones echo again.
type server struct {
	p *printer

	mu       sync.Mutex
	addr     string
	srv      *http.Server
	down     chan struct{} // closed when the current instance stops
	conns    map[*ws.Conn]bool
	handlers *sync.WaitGroup // the current instance's handlers
	sessions int
}

// start listens on addr; "127.0.0.1:0" picks a free port, remembered for the restart.
func (s *server) start(addr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return errors.New("server already running")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	restart := s.addr != ""
	s.addr = ln.Addr().String()
	s.down = make(chan struct{})
	s.handlers = &sync.WaitGroup{}
	s.conns = map[*ws.Conn]bool{}
	s.srv = &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(s.serve)}
	go func(srv *http.Server) { _ = srv.Serve(ln) }(s.srv)
	if restart {
		s.p.say("server: back on %s", s.addr)
	} else {
		s.p.say("server: listening on %s", s.addr)
	}
	return nil
}

// stop closes the listener, drops every connection without a closing handshake (a crash or a
// pulled cable, as far as the client can tell), and waits for the handlers to end.
func (s *server) stop() {
	s.mu.Lock()
	if s.srv == nil {
		s.mu.Unlock()
		return
	}
	// Printed first, so that it comes before anything the client notices.
	s.p.say("server: going away (closing the listener, dropping %d connection(s))", len(s.conns))
	_ = s.srv.Close() // the listener; upgraded connections are ours to drop
	s.srv = nil
	close(s.down)
	for c := range s.conns {
		_ = c.CloseNow()
	}
	s.conns = nil
	handlers := s.handlers
	s.mu.Unlock()
	handlers.Wait()
}

func (s *server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.srv == nil {
		s.mu.Unlock()
		return
	}
	handlers := s.handlers
	handlers.Add(1)
	defer handlers.Done()
	s.sessions++
	n, down, conns := s.sessions, s.down, s.conns
	s.mu.Unlock()

	c, err := (&ws.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	s.mu.Lock()
	select {
	case <-down: // the server went away during the upgrade
		s.mu.Unlock()
		return
	default:
	}
	conns[c] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(conns, c)
		s.mu.Unlock()
	}()

	for {
		op, msg, err := c.ReadMessage() // also answers pings (RFC 6455 §5.5.2)
		if err != nil {
			return
		}
		if c.WriteMessage(op, msg) != nil {
			return
		}
		if n == 2 {
			s.p.say("server: session 2 stops reading: pings go unanswered")
			<-down
			return
		}
	}
}
