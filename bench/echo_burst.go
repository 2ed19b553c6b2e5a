package bench

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/plainws/plainws/asyncconn"
	"github.com/plainws/plainws/ws"
)

// burstServerEnv marks the child process of EchoBurstAsync.
const burstServerEnv = "PLAINWS_BENCH_BURST_SERVER"

// EchoBurstMessages is how many messages EchoBurstAsync's server sends.
const EchoBurstMessages = 1_000_000

// EchoBurstAsync runs an asyncconn echo client, with Workerman's defaults,
// against a server in a child process that sends EchoBurstMessages small
// messages as fast as it can while it reads and checks the echoes, and
// closes with 1000 when every echo came back in order (1002 otherwise). It
// reports the client process's peak RSS as peak-RSS-MiB. Run it alone, with
// -benchtime=1x.
func EchoBurstAsync(b *testing.B) {
	addr := startServerProcess(b, burstServerEnv)
	loop := asyncconn.NewLoop()
	loop.Start()
	defer loop.Stop()
	c, err := asyncconn.New(loop, "ws://"+addr+"/")
	if err != nil {
		b.Fatal(err)
	}
	var code ws.StatusCode
	var failed string
	done := make(chan struct{})
	c.OnMessage = func(c *asyncconn.Conn, data []byte) {
		if err := c.Send(data); err != nil && failed == "" {
			failed = err.Error()
		}
	}
	c.OnWebSocketClose = func(_ *asyncconn.Conn, cc ws.StatusCode, _ string) { code = cc }
	c.OnError = func(_ *asyncconn.Conn, ec asyncconn.ErrorCode, msg string) {
		if failed == "" {
			failed = fmt.Sprintf("%v: %s", ec, msg)
		}
	}
	c.OnClose = func(*asyncconn.Conn) { close(done) }
	start := time.Now()
	c.Connect()
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatal("the burst did not end")
	}
	if failed != "" || code != ws.CloseNormalClosure {
		b.Fatalf("server closed with %d; client: %s", code, failed)
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds()), "ns/op")
	if hwm, ok := peakRSS(); ok {
		b.ReportMetric(float64(hwm)/(1<<20), "peak-RSS-MiB")
	}
}

// runBurstServer is EchoBurstAsync's child process.
func runBurstServer() error {
	ln, err := childListen()
	if err != nil {
		return err
	}
	up := &ws.Upgrader{}
	return http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		go func() {
			var buf []byte
			for i := range EchoBurstMessages {
				buf = fmt.Appendf(buf[:0], "message %d", i)
				if c.WriteMessage(ws.OpText, buf) != nil {
					return
				}
			}
		}()
		var buf, want []byte
		for i := range EchoBurstMessages {
			_, msg, err := c.ReadMessageInto(buf)
			if err != nil {
				return
			}
			buf = msg
			want = fmt.Appendf(want[:0], "message %d", i)
			if string(msg) != string(want) {
				_ = c.Close(ws.CloseProtocolError, "out of order")
				return
			}
		}
		_ = c.Close(ws.CloseNormalClosure, "")
	}))
}
