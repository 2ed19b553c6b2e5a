package peers

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"testing"

	"github.com/plainws/plainws/bench"
)

// readLimit is the message limit set on every library that has one: the
// 1 MiB workloads must fit, and plainws's default is the same 16 MiB.
const readLimit = 16 << 20

var errWrongSize = errors.New("peers: message of the wrong length")

// start sets the per-operation bytes, reports allocations and starts the
// clock, as bench's workloads do.
func start(b *testing.B, size int) {
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
}

// readInto reads r to its end into buf[:0], growing buf only when it is
// full: the buffer-reusing way to take a whole message from a library that
// offers only an io.Reader per message (gorilla's NextReader, coder's Reader).
func readInto(r io.Reader, buf []byte) ([]byte, error) {
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, max(512, cap(buf)))
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// readLoop runs the common read workload: one untimed read to warm the
// buffer, then b.N timed ones, each checked for its length.
func readLoop(b *testing.B, size int, read func(buf []byte) ([]byte, error)) {
	buf, err := read(make([]byte, 0, size))
	if err != nil {
		b.Fatal(err)
	}
	start(b, size)
	for range b.N {
		if buf, err = read(buf); err != nil {
			b.Fatal(err)
		}
		if len(buf) != size {
			b.Fatal(errWrongSize)
		}
	}
}

// streamLoop runs the streaming read workload: each message drained into
// one bench.StreamChunk buffer.
func streamLoop(b *testing.B, size int, next func() (io.Reader, error)) {
	chunk := make([]byte, bench.StreamChunk)
	start(b, size)
	for range b.N {
		r, err := next()
		if err != nil {
			b.Fatal(err)
		}
		if err := bench.Drain(r, chunk, size); err != nil {
			b.Fatal(err)
		}
	}
}

// writeLoop runs the write workload: b.N writes of one payload.
func writeLoop(b *testing.B, size int, write func(p []byte) error) {
	p := bench.Payload(size)
	start(b, size)
	for range b.N {
		if err := write(p); err != nil {
			b.Fatal(err)
		}
	}
}

// closeAtEnd closes c when the benchmark is over.
func closeAtEnd(b *testing.B, c io.Closer) {
	b.Cleanup(func() { _ = c.Close() })
}

// dialer returns a dial function that hands out nc, for libraries that
// insist on dialing themselves.
func dialer(nc net.Conn) func(context.Context, string, string) (net.Conn, error) {
	return func(context.Context, string, string) (net.Conn, error) { return nc, nil }
}

// tcpDialer dials TCP and hands the conn to keep: the idle workload needs
// the raw conn of libraries that hide it.
func tcpDialer(keep *net.Conn) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, network, addr)
		*keep = nc
		return nc, err
	}
}

// loopback wires a library's echo server and client into bench's loopback
// workloads.
func loopback(b *testing.B, size int, serve func(net.Conn), dial func(addr string) (write, read func() error), pipelined bool) {
	write, read := dial(bench.StartServer(b, serve))
	if pipelined {
		bench.RunPipelined(b, size, write, read)
	} else {
		bench.RunRoundTrip(b, size, write, read)
	}
}
