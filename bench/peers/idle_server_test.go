package peers

import (
	"context"
	"net/http"
	"testing"

	coder "github.com/coder/websocket"
	gorilla "github.com/gorilla/websocket"
	"github.com/plainws/plainws/bench"
)

// BenchmarkIdleServer measures an idle server-side connection in each
// library, accepted under net/http with its handler parked in the library's
// read (see bench.MeasureIdleServer), beside net/http's own floor
// (bench.IdleHandlerFloor). Run it with -benchtime=1x.
func BenchmarkIdleServer(b *testing.B) {
	for _, h := range []struct {
		name    string
		handler bench.IdleHandler
	}{
		{"plainws", bench.IdleHandlerWS},
		{"gorilla", idleHandlerGorilla},
		{"coder", idleHandlerCoder},
		{"floor", bench.IdleHandlerFloor}, // net/http alone: the least any of them can cost
	} {
		b.Run("idle/server/conn/"+h.name, func(b *testing.B) { bench.MeasureIdleServer(b, h.handler) })
	}
}

// idleHandlerGorilla: Upgrader.Upgrade with its default buffers, then
// NextReader, gorilla's blocking wait for a message.
func idleHandlerGorilla(upgraded func()) http.Handler {
	up := &gorilla.Upgrader{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		upgraded()
		_, _, _ = c.NextReader()
	})
}

// idleHandlerCoder: Accept, then Reader, coder's blocking wait.
func idleHandlerCoder(upgraded func()) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := coder.Accept(w, r, &coder.AcceptOptions{InsecureSkipVerify: true})
		if err != nil {
			return
		}
		defer c.CloseNow()
		upgraded()
		_, _, _ = c.Reader(context.Background())
	})
}
