//go:build !js

package ws_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/plainws/plainws/ws"
)

// Any number of goroutines may write to one Conn at once, with no lock of
// their own: each message goes out whole, never interleaved with another
// (RFC 6455 §5.4 forbids interleaving the fragments of two messages). Here
// four goroutines send 100 messages each, and the server checks every one.
func ExampleConn_concurrentWriters() {
	counts := make(chan map[string]int, 1)
	var up ws.Upgrader
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		seen := map[string]int{}
		for {
			_, msg, err := c.ReadMessage()
			if err != nil {
				counts <- seen // the client closed: report
				return
			}
			seen[string(msg)]++
		}
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"))
	if err != nil {
		log.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			msg := strings.Repeat(string(rune('a'+g)), 1000) // 1000 × "a", "b", "c" or "d"
			for range 100 {
				if err := c.WriteText(msg); err != nil {
					log.Fatal(err)
				}
			}
		})
	}
	wg.Wait()
	fmt.Println("close:", c.Close(ws.CloseNormalClosure, ""))
	seen := <-counts
	fmt.Println("distinct messages:", len(seen))
	for _, l := range "abcd" {
		fmt.Printf("%c×1000: %d\n", l, seen[strings.Repeat(string(l), 1000)])
	}
	// Output:
	// close: <nil>
	// distinct messages: 4
	// a×1000: 100
	// b×1000: 100
	// c×1000: 100
	// d×1000: 100
}
