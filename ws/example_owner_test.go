//go:build !js

package ws_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/plainws/plainws/ws"
)

// OwnReads hands a read loop the connection's reads: the ReadOwner's reads
// take no lock per call. Writes, setters and a Close from another goroutine
// still work beside it; the owning goroutine closes through the ReadOwner.
func ExampleConn_OwnReads() {
	var up ws.Upgrader
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		o := c.OwnReads() // this handler is the only reader
		defer o.Release()
		var buf []byte
		for {
			op, msg, err := o.ReadMessageInto(buf)
			if err != nil {
				return
			}
			buf = msg
			if string(msg) == "bye" {
				// Close through the owner: it releases the reads, so
				// Close reads the client's answer itself.
				_ = o.Close(ws.CloseNormalClosure, "bye to you")
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
	c, _, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	o := c.OwnReads()
	defer o.Release()
	for _, s := range []string{"one", "two", "bye"} {
		if err := c.WriteText(s); err != nil {
			log.Fatal(err)
		}
	}
	for {
		_, msg, err := o.ReadMessage()
		if err != nil {
			fmt.Println("end:", err)
			break
		}
		fmt.Println("echo:", string(msg))
	}
	// Output:
	// echo: one
	// echo: two
	// end: ws: closed by peer: 1000 normal closure: "bye to you"
}
