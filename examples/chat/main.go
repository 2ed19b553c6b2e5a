// Command chat is a broadcast server with several clients: every message a
// client sends reaches every client. It runs on 127.0.0.1 and exits after
// each client has said its line and heard everyone else's.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/plainws/plainws/ws"
)

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "chat: a broadcast server on 127.0.0.1 with several clients; each says a line, hears everyone's, and the program exits.\n\nUsage: go run ./examples/chat [flags]\n")
		flag.PrintDefaults()
	}
	n := flag.Int("clients", 3, "number of chat clients")
	flag.Parse()
	if err := run(*n); err != nil {
		log.Fatal(err)
	}
}

// room broadcasts to its members. Each member's writes are safe from any
// goroutine (ws.Conn allows concurrent writers), so no write loop is needed.
type room struct {
	mu      sync.Mutex
	members map[*ws.Conn]bool
}

func (r *room) join(c *ws.Conn)  { r.mu.Lock(); r.members[c] = true; r.mu.Unlock() }
func (r *room) leave(c *ws.Conn) { r.mu.Lock(); delete(r.members, c); r.mu.Unlock() }
func (r *room) broadcast(msg []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.members {
		_ = c.WriteMessage(ws.OpText, msg)
	}
}

func run(n int) error {
	rm := &room{members: map[*ws.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var joined sync.WaitGroup
	joined.Add(n)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := (&ws.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		rm.join(c)
		defer rm.leave(c)
		joined.Done()
		for {
			_, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			rm.broadcast(msg)
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	url := "ws://" + ln.Addr().String() + "/chat"
	fmt.Println("server: chat room at", url)

	clients := make([]*ws.Conn, n)
	for i := range clients {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, _, err := ws.Dial(ctx, url)
		cancel()
		if err != nil {
			return err
		}
		clients[i] = c
	}
	joined.Wait() // everyone is in the room before anyone speaks

	var wg sync.WaitGroup
	heard := make([][]string, n)
	errs := make(chan error, n)
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for len(heard[i]) < n {
				_, msg, err := c.ReadMessage()
				if err != nil {
					errs <- err
					return
				}
				heard[i] = append(heard[i], string(msg))
			}
		}()
		if err := c.WriteText(fmt.Sprintf("client %d says hello", i)); err != nil {
			return err
		}
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	for i, h := range heard {
		sort.Strings(h)
		fmt.Printf("client %d heard: %s\n", i, strings.Join(h, "; "))
	}
	for _, c := range clients {
		if err := c.Close(ws.CloseNormalClosure, "bye"); err != nil {
			return err
		}
	}
	fmt.Println("all clients left the room")
	return nil
}
