package bench

import (
	"bufio"
	"fmt"
	"os"
	"testing"

	"github.com/plainws/plainws/ws"
)

// TestMain lets the benchmark binary double as the idle server that
// MeasureIdle starts in a child process.
func TestMain(m *testing.M) {
	if IdleServerMain() {
		return
	}
	os.Exit(m.Run())
}

// Sizes of the workloads, as the issue lists them.
var (
	readSizes  = []int{16, 1 << 10, 64 << 10, 1 << 20}
	writeSizes = []int{64, 1 << 10, 64 << 10, 1 << 20}
	maskSizes  = []int{8, 16, 32, 64, 512, 4 << 10, 64 << 10, 1 << 20}
)

// SizeName formats a byte count the way the benchmark names use it.
func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

var (
	sinkHeader ws.Header
	sinkInt    int
	sinkBytes  []byte
)

// headerCases are the three shapes RFC 6455 §5.2 allows: a 7-bit length, a
// 16-bit one, a 64-bit one; unmasked (server) and masked (client).
var headerCases = []struct {
	name string
	h    ws.Header
}{
	{"7bit", ws.Header{Fin: true, Opcode: ws.OpBinary, Length: 16}},
	{"16bit-masked", ws.Header{Fin: true, Opcode: ws.OpBinary, Masked: true, Mask: [4]byte{1, 2, 3, 4}, Length: 1 << 10}},
	{"64bit-masked", ws.Header{Fin: true, Opcode: ws.OpBinary, Masked: true, Mask: [4]byte{1, 2, 3, 4}, Length: 1 << 20}},
}

func BenchmarkHeader(b *testing.B) {
	for _, tc := range headerCases {
		wire := ws.AppendHeader(nil, tc.h)
		b.Run("parse/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				h, n, err := ws.ParseHeader(wire)
				if err != nil {
					b.Fatal(err)
				}
				sinkHeader, sinkInt = h, n
			}
		})
		b.Run("read/"+tc.name, func(b *testing.B) {
			// ReadHeader peeks at a bufio.Reader: the Conn's own path.
			loop := make([]byte, 0, 4096)
			for len(loop)+len(wire) <= cap(loop) {
				loop = append(loop, wire...)
			}
			br := bufio.NewReaderSize(NewReplayConn(loop), len(loop))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				h, err := ws.ReadHeader(br)
				if err != nil {
					b.Fatal(err)
				}
				sinkHeader = h
			}
		})
		b.Run("append/"+tc.name, func(b *testing.B) {
			buf := make([]byte, 0, ws.MaxHeaderSize)
			b.ReportAllocs()
			for range b.N {
				buf = ws.AppendHeader(buf[:0], tc.h)
			}
			sinkBytes = buf
		})
	}
}

func BenchmarkMask(b *testing.B) {
	for _, size := range maskSizes {
		for _, off := range []int{0, 1} {
			b.Run(fmt.Sprintf("%s/off%d", sizeName(size), off), func(b *testing.B) { Mask(b, size, off) })
		}
	}
}

func BenchmarkRead(b *testing.B) {
	for _, role := range []ws.Role{ws.RoleClient, ws.RoleServer} {
		masked := role == ws.RoleServer
		for _, size := range readSizes {
			prefix := role.String() + "/" + sizeName(size) + "/"
			b.Run(prefix+"whole", func(b *testing.B) { ReadWhole(b, role, ws.OpBinary, size) })
			b.Run(prefix+"stream", func(b *testing.B) { ReadStream(b, role, size) })
			b.Run(prefix+"whole-owner", func(b *testing.B) { ReadWholeOwner(b, role, ws.OpBinary, size) })
			b.Run(prefix+"stream-owner", func(b *testing.B) { ReadStreamOwner(b, role, size) })
			b.Run(prefix+"bare", func(b *testing.B) { ReadBare(b, masked, size) })
			b.Run(prefix+"copy", func(b *testing.B) { ReadCopy(b, masked, size) })
		}
	}
	// Text adds the UTF-8 check RFC 6455 §8.1 demands of a receiver.
	for _, size := range []int{16, 1 << 10, 64 << 10} {
		b.Run("client/"+sizeName(size)+"/whole-text", func(b *testing.B) { ReadWhole(b, ws.RoleClient, ws.OpText, size) })
	}
}

func BenchmarkWrite(b *testing.B) {
	for _, role := range []ws.Role{ws.RoleClient, ws.RoleServer} {
		masked := role == ws.RoleClient
		for _, size := range writeSizes {
			prefix := role.String() + "/" + sizeName(size) + "/"
			b.Run(prefix+"message", func(b *testing.B) { WriteMessage(b, role, size) })
			b.Run(prefix+"bare", func(b *testing.B) { WriteBare(b, masked, size) })
			if role == ws.RoleClient {
				b.Run(prefix+"copy", func(b *testing.B) { WriteCopy(b, size) })
			}
		}
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	for _, size := range []int{16, 128} {
		b.Run(sizeName(size)+"/ws", func(b *testing.B) { RoundTrip(b, size) })
		b.Run(sizeName(size)+"/tcp", func(b *testing.B) { RoundTripTCP(b, size) })
	}
}

func BenchmarkPipelined(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		b.Run(sizeName(size)+"/ws", func(b *testing.B) { Pipelined(b, size) })
		b.Run(sizeName(size)+"/tcp", func(b *testing.B) { PipelinedTCP(b, size) })
	}
}

func BenchmarkIdle(b *testing.B) {
	b.Run("ws", func(b *testing.B) { MeasureIdle(b, DialIdle) })
	b.Run("ws-stream", func(b *testing.B) { MeasureIdle(b, DialIdleStream) })
	b.Run("asyncconn", func(b *testing.B) { MeasureIdle(b, DialIdleAsync) })
}

func BenchmarkCompressed(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		b.Run("write/client/"+sizeName(size)+"/takeover", func(b *testing.B) {
			CompressedWrite(b, size, ws.CompressionOptions{})
		})
		b.Run("write/client/"+sizeName(size)+"/no-takeover", func(b *testing.B) {
			CompressedWrite(b, size, ws.CompressionOptions{ClientNoContextTakeover: true})
		})
		b.Run("read/client/"+sizeName(size)+"/no-takeover", func(b *testing.B) { CompressedRead(b, size) })
	}
}

// BenchmarkLarge is the large-message workload (large.go): every size,
// fragmentation and message type, echoed over loopback.
func BenchmarkLarge(b *testing.B) {
	for _, op := range []ws.Opcode{ws.OpText, ws.OpBinary} {
		for _, piece := range LargePieces {
			for _, size := range LargeSizes {
				b.Run(LargeVariant(op, piece)+"/"+sizeName(size), func(b *testing.B) { LargeEcho(b, op, size, piece) })
			}
		}
	}
}
