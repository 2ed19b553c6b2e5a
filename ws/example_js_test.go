//go:build js

package ws_test

import (
	"context"
	"fmt"
	"time"

	"github.com/plainws/plainws/ws"
)

// A client in a browser page (or under Node), built with GOOS=js
// GOARCH=wasm: the same calls as on a server, through the browser's
// WebSocket object. It has no Output comment: it needs a server, which
// internal/wasmtest provides to the package's js tests.
func ExampleDial_browser() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := &ws.Dialer{Subprotocols: []string{"chat.v2"}}
	c, _, err := d.Dial(ctx, "wss://example.com/chat")
	if err != nil {
		fmt.Println(err) // wraps ws.ErrAbnormalClosure: the browser does not say why
		return
	}
	defer c.CloseNow()
	if err := c.WriteText("hello from wasm"); err != nil {
		fmt.Println(err)
		return
	}
	_, msg, err := c.ReadMessage()
	fmt.Println(string(msg), err)
	// The browser may close only with 1000 or 3000–4999.
	fmt.Println(c.Close(ws.CloseNormalClosure, "bye"))
}
