//go:build !js

package ws_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/plainws/plainws/ws"
)

// Compression turns on permessage-deflate (RFC 7692) when both sides set
// Options.Compression; the zero CompressionOptions means context takeover
// both ways and flate.BestSpeed. The handshake's answer says what was
// agreed, Conn.Compression reports it, and a repetitive message crosses the
// wire in a fraction of its size. Messages are read back as they were sent.
func ExampleCompressionOptions() {
	target, stop := startEchoServer(ws.Options{Compression: &ws.CompressionOptions{}})
	defer stop()

	d := &ws.Dialer{Options: ws.Options{Compression: &ws.CompressionOptions{}}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := d.Dial(ctx, target+"/echo")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("server answered:", resp.Header.Get("Sec-WebSocket-Extensions"))
	params, on := c.Compression()
	fmt.Printf("compression on: %v, context takeover both ways: %v\n", on,
		!params.ServerNoContextTakeover && !params.ClientNoContextTakeover)

	msg := strings.Repeat(`{"event":"tick","price":101.25}`, 128) // nearly 4 KiB of JSON
	before := c.BytesSent()
	if err := c.WriteText(msg); err != nil {
		log.Fatal(err)
	}
	sent := c.BytesSent() - before
	fmt.Printf("%d bytes of text, under a tenth of that on the wire: %v\n", len(msg), sent < int64(len(msg))/10)
	_, echo, err := c.ReadMessage()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("echo intact:", string(echo) == msg)
	fmt.Println("close:", c.Close(ws.CloseNormalClosure, ""))
	// Output:
	// server answered: permessage-deflate
	// compression on: true, context takeover both ways: true
	// 3968 bytes of text, under a tenth of that on the wire: true
	// echo intact: true
	// close: <nil>
}
