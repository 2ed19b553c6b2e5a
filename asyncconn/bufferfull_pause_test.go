package asyncconn

import (
	"bytes"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/require"
)

// The Workerman pattern for backpressure — PauseRecv in OnBufferFull,
// ResumeRecv in OnBufferDrain — must lose nothing: OnBufferFull runs before
// the next received message, as it does inside Workerman's send(), even
// when more messages already wait on the loop.
func TestPauseInBufferFullLosesNothing(t *testing.T) {
	const n, size = 40, 100 << 10
	got := make(chan int, n)
	srv := newWSServerSmallWindow(t, func(c *ws.Conn, _ *http.Request) {
		for i := range n {
			if c.WriteMessage(ws.OpBinary, bytes.Repeat([]byte{byte(i)}, size)) != nil {
				return
			}
		}
		for range n {
			time.Sleep(2 * time.Millisecond) // a slow reader
			_, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			got <- int(msg[0])
		}
	})
	l := NewLoop()
	l.Start()
	t.Cleanup(l.Stop)
	c := newConn(t, l, srv.url)
	c.MaxSendBufferSize = 256 << 10
	var sendFails, fulls atomic.Int32
	c.OnMessage = func(c *Conn, data []byte) {
		if c.SendBinary(data) != nil {
			sendFails.Add(1)
		}
	}
	c.OnBufferFull = func(c *Conn) { fulls.Add(1); c.PauseRecv() }
	c.OnBufferDrain = func(c *Conn) { c.ResumeRecv() }
	c.OnError = func(c *Conn, code ErrorCode, msg string) {
		if code == SendFail {
			sendFails.Add(1)
		}
	}
	c.Connect()
	for i := range n {
		select {
		case v := <-got:
			require.Equal(t, i, v, "echoes in order")
		case <-time.After(20 * time.Second):
			t.Fatalf("echo %d never came (send failures: %d)", i, sendFails.Load())
		}
	}
	require.Zero(t, sendFails.Load(), "no message may be refused")
	require.Positive(t, fulls.Load(), "the buffer did fill")
}
