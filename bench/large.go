package bench

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/plainws/plainws/ws"
)

// The large-message workload: messages of 64 KiB to 16 MiB as users send
// them — text (checked for UTF-8 by the receiver, RFC 6455 §8.1) and binary,
// whole or fragmented (RFC 6455 §5.4) — echoed over loopback TCP. The client
// sends one message, the server reads it whole and sends it back cut the
// same way, and the client reads the echo whole: one op is a message there
// and back, and b.SetBytes counts it once.

var (
	// LargeSizes are the message sizes of the workload.
	LargeSizes = []int{64 << 10, 1 << 20, 16 << 20}
	// LargePieces are the fragment sizes; 0 is the whole message in one
	// frame.
	LargePieces = []int{0, 64 << 10, 4 << 10, 256}
)

// LargeVariant names one row's message type and fragmentation, e.g.
// "text-whole" or "binary-frag4KiB".
func LargeVariant(op ws.Opcode, piece int) string {
	kind := "binary"
	if op == ws.OpText {
		kind = "text"
	}
	if piece == 0 {
		return kind + "-whole"
	}
	return kind + "-frag" + pieceName(piece)
}

// pieceName formats a fragment size as the benchmark names do: 256B, 4KiB.
func pieceName(n int) string {
	if n >= 1<<10 && n%(1<<10) == 0 {
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

// largeRunes are the multi-byte characters LargeText mixes into ASCII: one
// of each UTF-8 length (RFC 3629 §3), as in European text with the odd
// symbol, CJK character and emoji.
var largeRunes = []string{"é", "ß", "€", "語", "😀"}

// LargeText returns n bytes of valid UTF-8, the same on every call: words of
// ASCII letters and spaces with a multi-byte character about every 40
// bytes (about 5 % of the bytes are non-ASCII), padded with ASCII where a
// character would not fit at the end. Fragments cut through its multi-byte
// characters, which is what a streaming validator must get right.
func LargeText(n int) []byte {
	p := make([]byte, 0, n)
	x := uint32(2463534242) // xorshift32: deterministic, no math/rand state
	for len(p) < n {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		switch {
		case x%40 == 0:
			r := largeRunes[(x>>8)%uint32(len(largeRunes))]
			if len(p)+len(r) <= n {
				p = append(p, r...)
			}
		case x%6 == 0:
			p = append(p, ' ')
		default:
			p = append(p, 'a'+byte((x>>8)%26))
		}
	}
	return p
}

// LargePayload is the message of a row: LargeText for text, Payload for
// binary.
func LargePayload(op ws.Opcode, size int) []byte {
	if op == ws.OpText {
		return LargeText(size)
	}
	return Payload(size)
}

var errBadEcho = errors.New("bench: echo of the wrong type, length or encoding")

// CheckEcho reports whether an echo has the type and length sent, and, for
// text, is valid UTF-8: what a receiver of the large workload must check
// when its library does not (RFC 6455 §8.1).
func CheckEcho(op, gotOp ws.Opcode, size int, got []byte, validated bool) error {
	if gotOp != op || len(got) != size || (op == ws.OpText && !validated && !utf8.Valid(got)) {
		return errBadEcho
	}
	return nil
}

// WritePieces sends p as one message through w in pieces of piece bytes,
// for libraries whose streaming writer sends each Write (or each full
// buffer) as a fragment.
func WritePieces(p []byte, piece int, write func([]byte) error) error {
	for len(p) > 0 {
		k := min(piece, len(p))
		if err := write(p[:k]); err != nil {
			return err
		}
		p = p[k:]
	}
	return nil
}

// largeOptions makes plainws cut streamed messages into piece-byte
// fragments (WriteBufferSize is the fragment size of NextWriter).
func largeOptions(piece int) ws.Options {
	return ws.Options{WriteBufferSize: piece}
}

// writeLarge sends p as one message: WriteMessage for a whole one,
// NextWriter with WriteBufferSize = piece for a fragmented one.
func writeLarge(c *ws.Conn, op ws.Opcode, p []byte, piece int) error {
	if piece == 0 {
		return c.WriteMessage(op, p)
	}
	w, err := c.NextWriter(op)
	if err != nil {
		return err
	}
	if _, err := w.Write(p); err != nil {
		_ = w.Close()
		return err
	}
	return w.Close()
}

// LargeEchoServer returns plainws's echo server for the large workload: it
// reads each message whole (UTF-8 checked for text, RFC 6455 §8.1) and
// sends it back cut into the same pieces.
func LargeEchoServer(piece int) func(net.Conn) {
	return func(nc net.Conn) {
		u := ws.Upgrader{Options: largeOptions(piece)}
		c, _, err := u.UpgradeConn(context.Background(), nc, nil)
		if err != nil {
			return
		}
		defer func() { _ = c.CloseNow() }()
		var buf []byte
		for {
			var op ws.Opcode
			if op, buf, err = c.ReadMessageInto(buf); err != nil {
				return
			}
			if err = writeLarge(c, op, buf, piece); err != nil {
				return
			}
		}
	}
}

// LargeEcho is plainws's large-message echo: a client sends a message of
// size bytes (cut into piece-byte fragments unless piece is 0) and reads
// the echo back whole, b.N times.
func LargeEcho(b *testing.B, op ws.Opcode, size, piece int) {
	addr := StartServer(b, LargeEchoServer(piece))
	d := &ws.Dialer{Options: largeOptions(piece)}
	c, _, err := d.Dial(context.Background(), "ws://"+addr+"/")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.CloseNow() })
	p := LargePayload(op, size)
	buf := make([]byte, 0, size)
	RunLarge(b, size,
		func() error { return writeLarge(c, op, p, piece) },
		func() error {
			gotOp, got, err := c.ReadMessageInto(buf)
			if err != nil {
				return err
			}
			buf = got
			return CheckEcho(op, gotOp, size, got, true)
		})
}

// RunLarge runs the large workload's loop: one untimed echo, so that every
// library's buffers have grown to the message once (a steady state of
// repeated large messages), then b.N timed ones.
func RunLarge(b *testing.B, size int, write, read func() error) {
	if err := write(); err != nil {
		b.Fatal(err)
	}
	if err := read(); err != nil {
		b.Fatal(err)
	}
	RunRoundTrip(b, size, write, read)
}
