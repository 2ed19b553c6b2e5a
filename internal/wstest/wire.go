package wstest

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// DefaultTimeout bounds each expectation of a Peer or a Client (a frame to
// come, the connection to end). It is a liveness bound for a loaded machine,
// never a performance assertion.
const DefaultTimeout = 10 * time.Second

// Wire is one end of a raw connection driven by a test: what Peer (the
// scripted server's side) and Client (the raw client) share. Every method
// fails the test with require when the wire does not hold what it expects.
type Wire struct {
	T    testing.TB
	Conn net.Conn
	// R reads what the other end sent; it holds nothing of the handshake
	// head, which is read byte by byte.
	R *bufio.Reader
	// Timeout bounds each expectation; DefaultTimeout when zero.
	Timeout time.Duration

	done <-chan struct{} // closed when the test ends
}

// NewWire drives nc, one end of a connection the test made itself (a
// TCPPair end, say); Silent returns when the test ends.
func NewWire(t testing.TB, nc net.Conn) *Wire {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	w := newWire(t, nc, done)
	return &w
}

func newWire(t testing.TB, nc net.Conn, done <-chan struct{}) Wire {
	return Wire{T: t, Conn: nc, R: bufio.NewReader(nc), done: done}
}

func (w *Wire) deadline() time.Time {
	if w.Timeout > 0 {
		return time.Now().Add(w.Timeout)
	}
	return time.Now().Add(DefaultTimeout)
}

// Write sends b as it is.
func (w *Wire) Write(b []byte) {
	w.T.Helper()
	_, err := w.Conn.Write(b)
	require.NoError(w.T, err, "wstest: writing %d bytes", len(b))
}

// WriteString sends s as it is.
func (w *Wire) WriteString(s string) {
	w.T.Helper()
	w.Write([]byte(s))
}

// Send sends frames exactly as they are built (a client's must be masked:
// use Frame.Mask), in one write.
func (w *Wire) Send(fs ...Frame) {
	w.T.Helper()
	w.Write(Frames(fs...))
}

// ReadFrame reads the next frame the other end sent, unmasked.
func (w *Wire) ReadFrame() Frame {
	w.T.Helper()
	_ = w.Conn.SetReadDeadline(w.deadline())
	f, err := ReadFrame(w.R)
	require.NoError(w.T, err, "wstest: reading a frame")
	_ = w.Conn.SetReadDeadline(time.Time{})
	return f
}

// Expect reads the next frame and requires it to be final with opcode op;
// it returns the frame.
func (w *Wire) Expect(op byte) Frame {
	w.T.Helper()
	f := w.ReadFrame()
	require.Equal(w.T, op, f.Opcode, "wstest: opcode of the frame read")
	require.True(w.T, f.Fin, "wstest: FIN of the frame read")
	return f
}

// ExpectClose reads frames until a close frame (RFC 6455 §5.5.1), passing
// over data and other control frames, and returns its code and reason.
func (w *Wire) ExpectClose() (uint16, string) {
	w.T.Helper()
	for {
		f := w.ReadFrame()
		if f.Opcode != OpClose {
			continue
		}
		code, reason, err := ParseClose(f.Payload)
		require.NoError(w.T, err)
		return code, reason
	}
}

// ExpectEOF requires the other end to close the connection cleanly (an EOF,
// not a reset), passing over what it still sends.
func (w *Wire) ExpectEOF() {
	w.T.Helper()
	_ = w.Conn.SetReadDeadline(w.deadline())
	_, err := io.Copy(io.Discard, w.R)
	require.NoError(w.T, err, "wstest: want a clean EOF")
}

// Drain reads and discards until the other end closes or the connection
// fails, and reports whether it ended with a clean EOF. It fails nothing:
// it is for scripts that wait for the end without asserting it.
func (w *Wire) Drain() bool {
	_, err := io.Copy(io.Discard, w.R)
	return err == nil
}

// Silent goes silent: it neither reads nor writes, and returns only when
// the test ends (its cleanup closes the connection). What the other end
// sends stays in the kernel's buffers, so the other end sees a peer that
// has stopped reading.
func (w *Wire) Silent() { <-w.done }

// CloseWrite half-closes the connection (a TCP FIN): the other end reads
// EOF while this end can still read.
func (w *Wire) CloseWrite() {
	w.T.Helper()
	tc, ok := w.Conn.(*net.TCPConn)
	require.True(w.T, ok, "wstest: half-close needs a TCP connection, have %T", w.Conn)
	require.NoError(w.T, tc.CloseWrite())
}

// Reset aborts the connection with a TCP RST rather than a FIN
// (SO_LINGER 0), as a crashed peer or a middlebox would.
func (w *Wire) Reset() {
	w.T.Helper()
	tc, ok := w.Conn.(*net.TCPConn)
	require.True(w.T, ok, "wstest: reset needs a TCP connection, have %T", w.Conn)
	require.NoError(w.T, tc.SetLinger(0))
	_ = tc.Close()
}

// Close closes the connection (a FIN).
func (w *Wire) Close() { _ = w.Conn.Close() }

// Forward reads frames until the connection ends and sends each, unmasked,
// to ch: for a test that asserts on what the other end sent from its own
// goroutine. A read error (the end) is not a failure.
func (w *Wire) Forward(ch chan<- Frame) {
	for {
		f, err := ReadFrame(w.R)
		if err != nil {
			return
		}
		ch <- f
	}
}

// ReadUntilClose reads frames until a close frame, which it includes, or
// until the connection ends or fails, and returns them unmasked: what the
// other end sent up to its closing handshake (RFC 6455 §7.1.1: then the
// server closes TCP first). A read error ends the list, it fails nothing.
func (w *Wire) ReadUntilClose() []Frame {
	var fs []Frame
	for {
		f, err := ReadFrame(w.R)
		if err != nil {
			return fs
		}
		fs = append(fs, f)
		if f.Opcode == OpClose {
			return fs
		}
	}
}
