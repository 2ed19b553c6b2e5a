//go:build !js

package ws

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/wstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadBufferSizeRoundsUpToAPoolClass(t *testing.T) {
	for _, tc := range []struct{ ask, want int }{
		{0, DefaultBufferSize},
		{-1, DefaultBufferSize},
		{1, minReadBuffer}, // a whole control frame must fit
		{minReadBuffer, minReadBuffer},
		{3000, 4096},
		{4097, 8192},
		{maxPooledRead, maxPooledRead},
		{maxPooledRead + 1, maxPooledRead + 1}, // too big to pool: exact
	} {
		assert.Equal(t, tc.want, readBufferSize(tc.ask), "ask %d", tc.ask)
	}
}

// scriptedConn returns its reads one by one, then io.EOF.
type scriptedConn struct {
	nopConn
	reads []scriptedRead
}

type scriptedRead struct {
	data []byte
	err  error
}

func (s *scriptedConn) Read(p []byte) (int, error) {
	if len(s.reads) == 0 {
		return 0, io.EOF
	}
	r := s.reads[0]
	n := copy(p, r.data)
	if n < len(r.data) {
		s.reads[0].data = r.data[n:]
		return n, nil
	}
	s.reads = s.reads[1:]
	return n, r.err
}

func TestReadBufferDeliversDataThatCameWithAnError(t *testing.T) {
	// io.Reader allows n > 0 together with an error; the frame in those
	// bytes is still delivered, and the error comes next.
	frame := wstest.Frame{Fin: true, Opcode: wstest.OpBinary, Payload: []byte("last words")}.Bytes()
	nc := &scriptedConn{reads: []scriptedRead{{data: frame, err: io.ErrUnexpectedEOF}}}
	c := NewConn(nc, nil, RoleClient, "", nil)
	op, msg, err := c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, OpBinary, op)
	assert.Equal(t, "last words", string(msg))
	_, _, err = c.ReadMessage()
	require.ErrorIs(t, err, ErrAbnormalClosure)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

// stuckConn returns no data and no error for ever.
type stuckConn struct{ nopConn }

func (stuckConn) Read([]byte) (int, error) { return 0, nil }

func TestReadBufferStopsOnAConnThatMakesNoProgress(t *testing.T) {
	c := NewConn(stuckConn{}, nil, RoleClient, "", nil)
	_, _, err := c.ReadMessage()
	require.ErrorIs(t, err, io.ErrNoProgress)
}

func TestNewConnTakesMoreBufferedFramesThanItsBufferHolds(t *testing.T) {
	// Frames that arrived with the handshake may exceed the read buffer
	// (a small ReadBufferSize, a large handshake reader): none is lost.
	var wire bytes.Buffer
	for i := range 40 {
		wire.Write(wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: bytes.Repeat([]byte{'a' + byte(i%26)}, 30)}.Bytes())
	}
	br := bufio.NewReaderSize(bytes.NewReader(wire.Bytes()), 4096)
	_, err := br.Peek(wire.Len())
	require.NoError(t, err)
	c := NewConn(nopConn{}, br, RoleClient, "", &Options{ReadBufferSize: minReadBuffer})
	for i := range 40 {
		op, msg, err := c.ReadMessage()
		require.NoError(t, err, "message %d", i)
		assert.Equal(t, OpText, op)
		assert.Equal(t, string(bytes.Repeat([]byte{'a' + byte(i%26)}, 30)), string(msg))
	}
	_, _, err = c.ReadMessage()
	require.ErrorIs(t, err, ErrAbnormalClosure) // nopConn reads EOF
}

func TestReadsLargerThanTheBufferGoStraightToTheCaller(t *testing.T) {
	// A message streamed with NextReader into a slice larger than the
	// buffer is read from the conn directly; the result is the same bytes.
	c, peer := newRawPeer(t, RoleClient, &Options{ReadBufferSize: minReadBuffer})
	payload := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	go peer.send(true, OpBinary, payload)
	_, r, err := c.NextReader()
	require.NoError(t, err)
	got, err := io.ReadAll(io.LimitReader(r, int64(len(payload)+1)))
	require.NoError(t, err)
	assert.Equal(t, payload, got)
}

func TestReadBufferOverAPipeKeepsWorkingAfterATimeout(t *testing.T) {
	// net.Pipe is not a socket: the buffer is held while waiting, and a
	// timeout must still leave the connection usable.
	a, b := net.Pipe()
	c := NewConn(a, nil, RoleClient, "", nil)
	t.Cleanup(func() { _ = c.CloseNow(); _ = b.Close() })
	require.NoError(t, c.SetReadDeadline(time.Now().Add(30*time.Millisecond)))
	_, _, err := c.ReadMessage()
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout())
	require.NoError(t, c.SetReadDeadline(time.Time{}))
	go func() {
		_, _ = b.Write(wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte("after")}.Bytes())
	}()
	_, msg, err := c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, "after", string(msg))
}

func TestReadBufferReleaseAndAcquireAllocateNothing(t *testing.T) {
	// An idle connection gives its buffer back at every wait and takes one
	// at every wake-up: that must not cost an allocation per message.
	var b readBuffer
	b.init(nopConn{}, 0, nil)
	for range 10 { // let the pool settle
		b.release()
		b.acquire()
	}
	allocs := testing.AllocsPerRun(1000, func() {
		b.release()
		b.acquire()
	})
	assert.Zero(t, allocs)
	assert.Len(t, b.buf, DefaultBufferSize)
}
