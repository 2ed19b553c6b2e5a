package bench

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plainws/plainws/ws"
)

// The compression workloads: permessage-deflate (RFC 7692) on the write and
// the read path, over in-memory conns, with the library's defaults
// (BestSpeed, 128-byte threshold). They report, besides the time, wire/raw:
// the bytes that reached the conn per payload byte.

// JSONPayload returns n bytes of JSON-like text: records that share their
// keys and differ in their numbers, the kind of messages compression is
// turned on for. It is valid UTF-8.
func JSONPayload(n int) []byte {
	p := make([]byte, 0, n+64)
	for i := 0; len(p) < n; i++ {
		p = append(p, `{"id":`...)
		p = strconv.AppendInt(p, int64(i*7919%100003), 10)
		p = append(p, `,"user":"user`...)
		p = strconv.AppendInt(p, int64(i*31%977), 10)
		p = append(p, `","score":`...)
		p = strconv.AppendInt(p, int64(i*i%10007), 10)
		p = append(p, `,"tags":["alpha","beta"]},`...)
	}
	return p[:n]
}

// CompressedWrite writes b.N text messages of size bytes of JSONPayload as a
// client with permessage-deflate negotiated with opts: compress, frame,
// mask, write.
func CompressedWrite(b *testing.B, size int, opts ws.CompressionOptions) {
	rc := NewDeflateServerConn(nil)
	d := &ws.Dialer{Options: ws.Options{Compression: &opts}}
	c, _, err := d.Handshake(context.Background(), rc, "ws://bench.invalid/")
	if err != nil {
		b.Fatal(err)
	}
	if _, ok := c.Compression(); !ok {
		b.Fatal("permessage-deflate was not negotiated")
	}
	p := JSONPayload(size)
	// One untimed message: a writer with context takeover allocates its
	// compressor at the first compressed message and keeps it.
	if err := c.WriteMessage(ws.OpText, p); err != nil {
		b.Fatal(err)
	}
	w0 := rc.Written()
	prepare(b, size)
	for range b.N {
		if err := c.WriteMessage(ws.OpText, p); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(rc.Written()-w0)/float64(b.N)/float64(size), "wire/raw")
}

// CompressedRead reads b.N compressed text messages of size bytes of
// JSONPayload as a client: inflate, validate UTF-8, deliver. The frames
// come from plainws's own server side, compressed without context takeover
// (RFC 7692 §7.1.1.1) so that the same frames can be replayed for ever.
func CompressedRead(b *testing.B, size int) {
	loop, ratio := deflateLoop(b, size)
	opts := ws.CompressionOptions{ServerNoContextTakeover: true, ClientNoContextTakeover: true}
	d := &ws.Dialer{Options: ws.Options{Compression: &opts}}
	c, _, err := d.Handshake(context.Background(), NewDeflateServerConn(loop), "ws://bench.invalid/")
	if err != nil {
		b.Fatal(err)
	}
	_, buf, err := c.ReadMessageInto(make([]byte, 0, size))
	if err != nil {
		b.Fatal(err)
	}
	prepare(b, size)
	for range b.N {
		if _, buf, err = c.ReadMessageInto(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if len(buf) != size {
		b.Fatalf("read %d bytes, want %d", len(buf), size)
	}
	b.ReportMetric(ratio, "wire/raw")
}

// deflateLoop records what plainws's server writes for compressed messages
// of JSONPayload(size), about LoopBytes of payload in all, and the ratio of
// wire bytes to payload bytes.
func deflateLoop(tb testing.TB, size int) ([]byte, float64) {
	rc := &captureConn{ReplayConn: NewDeflateClientConn(nil, "; server_no_context_takeover; client_no_context_takeover")}
	u := &ws.Upgrader{Options: ws.Options{Compression: &ws.CompressionOptions{ServerNoContextTakeover: true, ClientNoContextTakeover: true}}}
	c, _, err := u.UpgradeConn(context.Background(), rc, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if _, ok := c.Compression(); !ok {
		tb.Fatal("permessage-deflate was not negotiated")
	}
	start := len(rc.out) // the 101 response comes first
	p := JSONPayload(size)
	count := max(1, LoopBytes/size)
	for range count {
		if err := c.WriteMessage(ws.OpText, p); err != nil {
			tb.Fatal(err)
		}
	}
	loop := rc.out[start:]
	return loop, float64(len(loop)) / float64(count*size)
}

// captureConn keeps what is written to it.
type captureConn struct {
	*ReplayConn
	out []byte
}

func (c *captureConn) Write(p []byte) (int, error) {
	c.out = append(c.out, p...)
	return len(p), nil
}

// CompressedConnsEnv names the environment variable that sets how many
// connection pairs MeasureCompressedIdle opens (DefaultCompressedConns
// when unset).
const CompressedConnsEnv = "PLAINWS_COMPRESSED_CONNS"

// DefaultCompressedConns is the number of compressed connection pairs
// measured, as issue 13 asks: 1,000.
const DefaultCompressedConns = 1000

// CompressedLib is one library's side of MeasureCompressedIdle, both ends
// of a connection with compression configured as the caller wants.
type CompressedLib struct {
	// Handler upgrades a request and calls serve with the connection's
	// echo: a function that reads one message and writes it back. serve
	// calls it in a loop, so that a reader waits on every server
	// connection, as in a server.
	Handler func(serve func(echo func() error, keep any)) http.Handler
	// Dial opens a client connection to url and returns its round trip,
	// which writes p and reads the echo.
	Dial func(ctx context.Context, url string) (roundTrip func(p []byte) error, keep any, err error)
	// Settle is how long the connections are left alone before the idle
	// figure is taken (plainws's IdleRelease).
	Settle time.Duration
}

// MeasureCompressedIdle opens CompressedConns() pairs of connections
// over loopback TCP, both ends in this process, sends one 1 KiB JSON
// message each way on each (the client's, echoed by the server), and
// reports the live heap per connection (each pair counts as two; the
// server end has a reader waiting, the client end none unless the library
// needs one):
// active-B/conn just after the exchange, B/conn after Settle. Then it makes
// one more round trip on every pair and reports its time per message
// (wake-ns/msg: what the first message after a pause costs) and the heap
// after it (after-B/conn). It runs once whatever b.N is: run it with
// -benchtime=1x.
func MeasureCompressedIdle(b *testing.B, lib CompressedLib) {
	n := DefaultCompressedConns
	if v, err := strconv.Atoi(os.Getenv(CompressedConnsEnv)); err == nil && v > 0 {
		n = v
	}
	if lim, err := RaiseFileLimit(2*n + 512); err != nil || lim < 2*n+64 {
		b.Fatalf("open-file limit %d too low for %d connection pairs (%v); lower %s", lim, n, err, CompressedConnsEnv)
	}
	var mu sync.Mutex
	var servers []any
	var done atomic.Bool
	b.Cleanup(func() { done.Store(true) })
	errs := make(chan error, 1)
	srv := httptest.NewServer(lib.Handler(func(echo func() error, keep any) {
		mu.Lock()
		servers = append(servers, keep)
		mu.Unlock()
		for {
			if err := echo(); err != nil {
				if !done.Load() {
					select {
					case errs <- err:
					default:
					}
				}
				return
			}
		}
	}))
	b.Cleanup(srv.Close)
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
	ctx := context.Background()
	msg := JSONPayload(1 << 10)
	rts := make([]func([]byte) error, n)
	clients := make([]any, n)
	before := settledMemory()
	for i := range n {
		var err error
		if rts[i], clients[i], err = lib.Dial(ctx, url); err != nil {
			b.Fatalf("connection %d: %v", i, err)
		}
		if err := rts[i](msg); err != nil {
			b.Fatalf("connection %d: round trip: %v", i, err)
		}
	}
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	active := settledMemory()
	time.Sleep(lib.Settle)
	idle := settledMemory()
	start := time.Now()
	for i, rt := range rts {
		if err := rt(msg); err != nil {
			b.Fatalf("connection %d: second round trip: %v", i, err)
		}
	}
	wake := time.Since(start)
	after := settledMemory()
	mu.Lock()
	runtime.KeepAlive(servers)
	mu.Unlock()
	runtime.KeepAlive(clients)
	per := func(m runtime.MemStats) float64 {
		return (float64(m.HeapAlloc) - float64(before.HeapAlloc)) / float64(2*n)
	}
	b.ReportMetric(per(active), "active-B/conn")
	b.ReportMetric(per(idle), "B/conn")
	b.ReportMetric(per(after), "after-B/conn")
	b.ReportMetric(float64(wake.Nanoseconds())/float64(2*n), "wake-ns/msg")
}

// PlainwsCompressed is plainws's CompressedLib for the options given to
// both ends; nil measures connections without compression, the baseline.
func PlainwsCompressed(opts *ws.CompressionOptions) CompressedLib {
	settle := ws.DefaultIdleRelease
	if opts != nil && opts.IdleRelease != 0 {
		settle = opts.IdleRelease
	}
	return CompressedLib{
		Handler: func(serve func(func() error, any)) http.Handler {
			u := &ws.Upgrader{Options: ws.Options{Compression: opts}}
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := u.Upgrade(w, r, nil)
				if err != nil {
					return
				}
				serve(func() error {
					op, p, err := c.ReadMessage()
					if err != nil {
						return err
					}
					return c.WriteMessage(op, p)
				}, c)
			})
		},
		Dial: func(ctx context.Context, url string) (func([]byte) error, any, error) {
			d := &ws.Dialer{Options: ws.Options{Compression: opts}}
			c, _, err := d.Dial(ctx, url)
			if err != nil {
				return nil, nil, err
			}
			if _, ok := c.Compression(); !ok && opts != nil {
				return nil, nil, errors.New("permessage-deflate not negotiated")
			}
			var buf []byte
			return func(p []byte) error {
				if err := c.WriteMessage(ws.OpText, p); err != nil {
					return err
				}
				var err error
				_, buf, err = c.ReadMessageInto(buf[:0])
				if err == nil && len(buf) != len(p) {
					err = errShortMessage
				}
				return err
			}, c, nil
		},
		Settle: max(settle, 0) + settle/2,
	}
}
