//go:build !js

package ws

import (
	"compress/flate"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"
)

// benchConn is a net.Conn that counts and drops what is written and serves
// reads from data, over and over.
type benchConn struct {
	data    []byte
	off     int
	written int64
}

func (c *benchConn) Read(p []byte) (int, error) {
	if c.off == len(c.data) {
		c.off = 0
	}
	n := copy(p, c.data[c.off:])
	c.off += n
	return n, nil
}
func (c *benchConn) Write(p []byte) (int, error)      { c.written += int64(len(p)); return len(p), nil }
func (c *benchConn) Close() error                     { return nil }
func (c *benchConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *benchConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *benchConn) SetDeadline(time.Time) error      { return nil }
func (c *benchConn) SetReadDeadline(time.Time) error  { return nil }
func (c *benchConn) SetWriteDeadline(time.Time) error { return nil }

// jsonMessages returns n JSON-like messages of about size bytes each: the
// typical WebSocket payload, similar in structure from one message to the
// next but not identical.
func jsonMessages(n, size int) [][]byte {
	rng := rand.New(rand.NewPCG(42, uint64(size)))
	words := strings.Fields("alpha beta gamma delta price volume order trade user session update market limit stop bid ask")
	msgs := make([][]byte, n)
	for i := range msgs {
		var b strings.Builder
		b.WriteString("[")
		for b.Len() < size {
			fmt.Fprintf(&b, `{"id":%d,"user":"user%d","event":"%s","price":%d.%02d,"qty":%d,"tags":["%s","%s"]},`,
				rng.IntN(1e6), rng.IntN(1000), words[rng.IntN(len(words))], rng.IntN(1000), rng.IntN(100),
				rng.IntN(500), words[rng.IntN(len(words))], words[rng.IntN(len(words))])
		}
		s := b.String()[:size-1] + "]"
		msgs[i] = []byte(s)
	}
	return msgs
}

// benchModes are the compressor configurations worth comparing.
var benchModes = []struct {
	name   string
	co     CompressionOptions
	params deflateParams
}{
	{"takeover", CompressionOptions{}, deflateParams{}},
	{"no-takeover", CompressionOptions{}, deflateParams{serverNoContextTakeover: true, clientNoContextTakeover: true}},
	// What a peer's server_max_window_bits below 15 gets us (see
	// CompressionOptions): Huffman-only output.
	{"huffman-only", CompressionOptions{}, deflateParams{serverMaxWindowBits: 10}},
	{"takeover-level6", CompressionOptions{Level: 6}, deflateParams{}},
}

// BenchmarkDeflateWrite measures WriteMessage with compression on a server
// Conn (no masking), reusing the caller's messages. wire/raw is the
// compression ratio (bytes on the wire per message byte).
func BenchmarkDeflateWrite(b *testing.B) {
	for _, mode := range benchModes {
		for _, size := range []int{256, 4 << 10, 64 << 10} {
			b.Run(fmt.Sprintf("%s/%d", mode.name, size), func(b *testing.B) {
				msgs := jsonMessages(64, size)
				nc := &benchConn{}
				c := NewConn(nc, nil, RoleServer, "", nil)
				c.compression = newDeflateState(&mode.co, mode.params, RoleServer)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				var raw int64
				for i := 0; b.Loop(); i++ {
					if err := c.WriteMessage(OpText, msgs[i%len(msgs)]); err != nil {
						b.Fatal(err)
					}
					raw += int64(size)
				}
				b.ReportMetric(float64(nc.written)/float64(raw), "wire/raw")
			})
		}
	}
}

// BenchmarkDeflateStreamWrite measures NextWriter with compression: a 64 KiB
// message written in 4 KiB pieces.
func BenchmarkDeflateStreamWrite(b *testing.B) {
	for _, mode := range benchModes[:2] {
		b.Run(mode.name, func(b *testing.B) {
			msgs := jsonMessages(16, 64<<10)
			nc := &benchConn{}
			c := NewConn(nc, nil, RoleServer, "", nil)
			c.compression = newDeflateState(&mode.co, mode.params, RoleServer)
			b.SetBytes(64 << 10)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				w, err := c.NextWriter(OpText)
				if err != nil {
					b.Fatal(err)
				}
				msg := msgs[i%len(msgs)]
				for k := 0; k < len(msg); k += 4 << 10 {
					if _, err := w.Write(msg[k : k+4<<10]); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDeflateRead measures ReadMessageInto of compressed messages on a
// client Conn, reusing the buffer; throughput counts inflated bytes. The
// wire bytes are 64 messages made by our own compressor, replayed; a fresh
// Conn (outside the timer) starts each replay, so that under context
// takeover its window matches the compressor's.
func BenchmarkDeflateRead(b *testing.B) {
	for _, mode := range benchModes[:3] {
		for _, size := range []int{256, 4 << 10, 64 << 10} {
			b.Run(fmt.Sprintf("%s/%d", mode.name, size), func(b *testing.B) {
				const count = 64
				msgs := jsonMessages(count, size)
				wire := &capture{}
				w := NewConn(wire, nil, RoleServer, "", nil)
				w.compression = newDeflateState(&mode.co, mode.params, RoleServer)
				for _, m := range msgs {
					if err := w.WriteMessage(OpText, m); err != nil {
						b.Fatal(err)
					}
				}
				newReader := func() *Conn {
					c := NewConn(&benchConn{data: wire.data}, nil, RoleClient, "", nil)
					c.compression = newDeflateState(&mode.co, mode.params, RoleClient)
					return c
				}
				c := newReader()
				var buf []byte
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					if i%count == 0 && i > 0 {
						b.StopTimer()
						c = newReader()
						b.StartTimer()
					}
					_, msg, err := c.ReadMessageInto(buf)
					if err != nil {
						b.Fatal(err)
					}
					buf = msg
				}
			})
		}
	}
}

// capture is a net.Conn that keeps what is written.
type capture struct {
	benchConn
	data []byte
}

func (c *capture) Write(p []byte) (int, error) { c.data = append(c.data, p...); return len(p), nil }

// BenchmarkDeflateHuffmanOnlyRatio measures what honouring a peer's window
// limit below 15 bits costs: the same stream of 1 KiB JSON messages sent with
// BestSpeed under context takeover, without it, and Huffman-only (which is
// what a limited window gets, takeover or not). wire/raw is the ratio.
func BenchmarkDeflateHuffmanOnlyRatio(b *testing.B) {
	msgs := jsonMessages(256, 1<<10)
	for _, mode := range []struct {
		name  string
		level int
		p     deflateParams
	}{
		{"bestspeed-takeover", flate.BestSpeed, deflateParams{}},
		{"bestspeed-no-takeover", flate.BestSpeed, deflateParams{serverNoContextTakeover: true}},
		{"default-takeover", flate.DefaultCompression, deflateParams{}},
		{"huffman-only", flate.BestSpeed, deflateParams{serverMaxWindowBits: 9}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			nc := &benchConn{}
			c := NewConn(nc, nil, RoleServer, "", nil)
			c.compression = newDeflateState(&CompressionOptions{Level: mode.level}, mode.p, RoleServer)
			var raw int64
			b.SetBytes(1 << 10)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				m := msgs[i%len(msgs)]
				raw += int64(len(m))
				if err := c.WriteMessage(OpText, m); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(nc.written)/float64(raw), "wire/raw")
		})
	}
}
