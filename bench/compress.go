package bench

import (
	"context"
	"strconv"
	"testing"

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
