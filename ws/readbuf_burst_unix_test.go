//go:build unix

package ws

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// unixPair returns the two ends of a Unix stream socketpair as
// *net.UnixConn. A write to one end returns once the bytes sit in the other
// end's receive queue, so a test can put a whole burst there before the
// Conn reads anything: each read then finds more than the buffer holds.
func unixPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	require.NoError(t, err)
	conns := make([]net.Conn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		c, err := net.FileConn(f) // dups fd
		require.NoError(t, f.Close())
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		conns[i] = c
	}
	require.IsType(t, &net.UnixConn{}, conns[0])
	return conns[0], conns[1]
}

// burstFrames builds n binary frames of random sizes up to max bytes (some
// of them larger than the default buffer, so that payloads straddle every
// refill), masked as a client's are when masked, and their payloads.
func burstFrames(rng *rand.Rand, n, max int, masked bool) ([]byte, [][]byte) {
	var stream []byte
	payloads := make([][]byte, n)
	for i := range payloads {
		payloads[i] = randomBytes(rng, rng.IntN(max+1))
		stream = append(stream, peerFrame(true, OpBinary, masked, payloads[i])...)
	}
	return stream, payloads
}

// readEach reads len(want) messages from c, checks each against want, and
// calls after once per message, with the buffer as that read left it.
func readEach(t *testing.T, c *Conn, want [][]byte, after func()) {
	t.Helper()
	for i, w := range want {
		_, got, err := c.ReadMessage()
		require.NoError(t, err, "message %d", i)
		require.Equal(t, w, got, "message %d", i)
		after()
	}
}

func TestReadBufferGrowsDuringABurstAndShrinksAfterIt(t *testing.T) {
	a, b := unixPair(t)
	c := NewConn(a, nil, RoleClient, "", nil)
	t.Cleanup(func() { _ = c.CloseNow() })
	require.True(t, c.rb.raw.ok())

	// 150 KB queued at once: the first read fills the 4 KiB buffer, so
	// the reads after it take 64 KiB at a time. The first frame (a 4-byte
	// header and 4,091 bytes) ends one byte short of the buffer's end, so
	// the buffer grows with the first byte of the second header unread.
	rng := rand.New(rand.NewPCG(1, 2))
	first := bytes.Repeat([]byte{0xA5}, DefaultBufferSize-5)
	stream, payloads := burstFrames(rng, 100, 3000, false)
	stream = append(peerFrame(true, OpBinary, false, first), stream...)
	payloads = append([][]byte{first}, payloads...)
	_, err := b.Write(stream)
	require.NoError(t, err)
	largest := 0
	readEach(t, c, payloads, func() { largest = max(largest, len(c.rb.buf)) })
	assert.Equal(t, burstReadBuffer, largest, "the buffer grew")

	// The socket ran dry: waiting gives the buffer back, as always.
	waitIdle(t, c)
	assert.Nil(t, c.rb.buf)

	// The wake-up after a burst takes a burst-sized buffer again; a read
	// of less than the default size ends the burst, so the next wake-up
	// takes the default size.
	_, err = b.Write(peerFrame(true, OpText, false, []byte("after")))
	require.NoError(t, err)
	_, msg, err := c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, "after", string(msg))
	waitIdle(t, c)
	_, err = b.Write(peerFrame(true, OpText, false, []byte("quiet")))
	require.NoError(t, err)
	_, msg, err = c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, "quiet", string(msg))
	assert.Len(t, c.rb.buf, DefaultBufferSize, "the burst is over")
}

func TestReadBufferOfAChosenSizeDoesNotGrow(t *testing.T) {
	for _, size := range []int{minReadBuffer, DefaultBufferSize} {
		a, b := unixPair(t)
		c := NewConn(a, nil, RoleServer, "", &Options{ReadBufferSize: size})
		t.Cleanup(func() { _ = c.CloseNow() })
		stream, payloads := burstFrames(rand.New(rand.NewPCG(3, 4)), 60, 2000, true)
		_, err := b.Write(stream)
		require.NoError(t, err)
		readEach(t, c, payloads, func() { require.Len(t, c.rb.buf, size, "ReadBufferSize %d is kept", size) })
	}
}

func TestReadBufferThatCannotWaitWithoutItDoesNotGrow(t *testing.T) {
	// A wrapped conn is read through its Read method, which holds the
	// buffer while it waits: growing it would keep 64 KiB on an idle
	// connection.
	a, b := unixPair(t)
	c := NewConn(hiddenConn{a}, nil, RoleClient, "", nil)
	t.Cleanup(func() { _ = c.CloseNow() })
	require.False(t, c.rb.raw.ok())
	stream, payloads := burstFrames(rand.New(rand.NewPCG(5, 6)), 60, 3000, false)
	_, err := b.Write(stream)
	require.NoError(t, err)
	readEach(t, c, payloads, func() { require.Len(t, c.rb.buf, DefaultBufferSize) })
}

// hiddenConn hides the concrete conn type, as a program's wrapper would.
type hiddenConn struct{ net.Conn }

func TestStreamedReadsAcrossTheGrowthKeepEveryByte(t *testing.T) {
	// NextReader with reads of random sizes over a burst of frames, some
	// fragmented (RFC 6455 §5.4), while the buffer grows under it: every
	// message arrives whole and in order.
	a, b := unixPair(t)
	c := NewConn(a, nil, RoleClient, "", nil)
	t.Cleanup(func() { _ = c.CloseNow() })
	rng := rand.New(rand.NewPCG(7, 8))
	var stream []byte
	var msgs [][]byte
	for range 80 {
		msg := randomBytes(rng, rng.IntN(9000))
		msgs = append(msgs, msg)
		op, rest := OpBinary, msg
		for {
			k := min(len(rest), 1+rng.IntN(5000))
			fin := k == len(rest)
			stream = append(stream, peerFrame(fin, op, false, rest[:k])...)
			rest, op = rest[k:], OpContinuation
			if fin {
				break
			}
		}
	}
	go func() { _, _ = b.Write(stream) }() // may exceed the socket's queue
	chunk := make([]byte, 10_000)
	for i, want := range msgs {
		_, r, err := c.NextReader()
		require.NoError(t, err, "message %d", i)
		var got bytes.Buffer
		for {
			n, err := r.Read(chunk[:1+rng.IntN(len(chunk)-1)])
			got.Write(chunk[:n])
			if err == io.EOF {
				break
			}
			require.NoError(t, err, "message %d", i)
		}
		require.Equal(t, want, got.Bytes(), "message %d", i)
	}
}
