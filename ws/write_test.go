//go:build !js

package ws

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/wstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RFC 6455 §5.1 and §5.3: a client masks every frame with a fresh key, and
// the caller's slice is left as it was.
func TestClientMasksWithFreshKeys(t *testing.T) {
	c, p := newRawPeer(t, RoleClient, nil)
	msg := []byte("same payload")
	orig := append([]byte(nil), msg...)
	keys := map[[4]byte]bool{}
	for range 50 {
		require.NoError(t, c.WriteMessage(OpBinary, msg))
		h, payload := p.next()
		require.True(t, h.Masked)
		keys[h.Mask] = true
		require.Equal(t, orig, payload)
	}
	require.Equal(t, orig, msg, "WriteMessage must not modify the caller's slice")
	require.Greater(t, len(keys), 45, "masking keys must vary frame to frame (§5.3)")
}

// RFC 6455 §5.1: a server never masks.
func TestServerDoesNotMask(t *testing.T) {
	c, p := newRawPeer(t, RoleServer, nil)
	big := bytes.Repeat([]byte("z"), 100000) // larger than the write buffer: the writev path
	require.NoError(t, c.WriteMessage(OpBinary, big))
	h, payload := p.next()
	assert.False(t, h.Masked)
	assert.Equal(t, big, payload)
}

// Payloads around the buffer and length-encoding boundaries arrive intact in
// both roles (§5.2).
func TestWriteSizes(t *testing.T) {
	for _, role := range []Role{RoleClient, RoleServer} {
		c, p := newRawPeer(t, role, &Options{WriteBufferSize: 512})
		for _, n := range []int{0, 1, 125, 126, 497, 498, 512, 65535, 65536, 1<<20 + 3, 3<<20 + 1} {
			msg := make([]byte, n)
			for i := range msg {
				msg[i] = byte(i * 7)
			}
			errc := make(chan error, 1)
			go func() { errc <- c.WriteMessage(OpBinary, msg) }()
			h, payload := p.next()
			require.NoError(t, <-errc)
			require.Equal(t, int64(n), h.Length, "%s %d", role, n)
			require.True(t, bytes.Equal(msg, payload), "%s %d: payload differs", role, n)
		}
	}
}

// Many goroutines may write at once; messages never interleave on the wire.
func TestConcurrentWritersDoNotInterleave(t *testing.T) {
	c, s := pipePair(t, nil, nil)
	const writers, each = 8, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				msg := bytes.Repeat([]byte{byte('a' + w)}, 1000+i*37)
				if i%2 == 0 {
					assert.NoError(t, c.WriteMessage(OpBinary, msg))
					continue
				}
				mw, err := c.NextWriter(OpBinary)
				if !assert.NoError(t, err) {
					return
				}
				for len(msg) > 0 {
					k := min(len(msg), 700)
					_, err := mw.Write(msg[:k])
					assert.NoError(t, err)
					msg = msg[k:]
				}
				assert.NoError(t, mw.Close())
			}
		}()
	}
	seen := 0
	for seen < writers*each {
		_, msg, err := s.ReadMessage()
		require.NoError(t, err)
		require.NotEmpty(t, msg)
		for _, b := range msg {
			require.Equal(t, msg[0], b, "message bytes from two writers interleaved")
		}
		seen++
	}
	wg.Wait()
}

// RFC 6455 §5.4: control frames may be injected between the fragments of a
// message; a streamed message does not block a ping.
func TestControlFramePassesStreamedMessage(t *testing.T) {
	c, p := newRawPeer(t, RoleClient, &Options{WriteBufferSize: 128})
	mw, err := c.NextWriter(OpText)
	require.NoError(t, err)
	_, err = mw.Write(bytes.Repeat([]byte("a"), 300)) // sends fragments
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- c.WritePing([]byte("between")) }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("ping blocked by an open message writer")
	}
	_, err = mw.Write([]byte("tail"))
	require.NoError(t, err)
	require.NoError(t, mw.Close())

	var msg []byte
	var sawPing, sawFinal bool
	first := true
	for !sawFinal {
		h, payload := p.next()
		switch h.Opcode {
		case OpPing:
			sawPing = true
			assert.Equal(t, "between", string(payload))
			assert.False(t, sawFinal)
		default:
			if first {
				assert.Equal(t, OpText, h.Opcode)
				first = false
			} else {
				assert.Equal(t, OpContinuation, h.Opcode)
			}
			msg = append(msg, payload...)
			sawFinal = h.Fin
		}
	}
	assert.True(t, sawPing)
	assert.Equal(t, 304, len(msg))

	// After Close the writer refuses more data.
	_, err = mw.Write([]byte("x"))
	require.ErrorIs(t, err, ErrClosed)
}

func TestWriteRejectsWrongOpcodes(t *testing.T) {
	c, _ := newRawPeer(t, RoleClient, nil)
	require.ErrorIs(t, c.WriteMessage(OpPing, nil), ErrBadOpcode)
	require.ErrorIs(t, c.WriteMessage(OpContinuation, nil), ErrBadOpcode)
	require.ErrorIs(t, c.WriteControl(OpText, nil), ErrBadOpcode)
	require.ErrorIs(t, c.WriteControl(0xB, nil), ErrBadOpcode)
	require.ErrorIs(t, c.WritePing(make([]byte, 126)), ErrControlTooLong)
	_, err := c.NextWriter(OpClose)
	require.ErrorIs(t, err, ErrBadOpcode)
}

// RFC 6455 §7.1.2, §7.1.1: Close sends a close frame, waits for the peer's,
// and the server closes TCP first; both sides learn the peer's code.
func TestCloseHandshakeBothRoles(t *testing.T) {
	checkNoLeak(t)
	url, _ := echoServer(t, &Upgrader{})
	c := dialT(t, &Dialer{}, url)
	require.NoError(t, c.WriteText("hi"))
	_, msg, err := c.ReadMessage()
	require.NoError(t, err)
	require.Equal(t, "hi", string(msg))
	start := time.Now()
	require.NoError(t, c.Close(CloseGoingAway, "done"))
	require.Less(t, time.Since(start), 2*time.Second, "a cooperating server completes the handshake quickly")
	_, _, err = c.ReadMessage()
	assert.Equal(t, CloseGoingAway, CloseStatus(err), "the echo carries our code")
	require.ErrorIs(t, c.WriteText("late"), ErrClosed)
	require.ErrorIs(t, c.Close(CloseNormalClosure, ""), ErrClosed)
}

// Close while another goroutine is blocked reading: the reader gets the
// peer's close and Close returns once the handshake is done.
func TestCloseWithActiveReader(t *testing.T) {
	c, s := pipePair(t, nil, nil)
	readErr := make(chan error, 1)
	go func() {
		_, _, err := c.ReadMessage()
		readErr <- err
	}()
	srvErr := make(chan error, 1)
	go func() {
		_, _, err := s.ReadMessage() // answers the close
		srvErr <- err
	}()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, c.Close(CloseNormalClosure, "bye"))
	assert.Equal(t, CloseNormalClosure, CloseStatus(<-readErr))
	err := <-srvErr
	var ce *CloseError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "bye", ce.Reason)
}

// A peer that never answers our close: Close gives up after the close
// timeout and closes TCP (no hang, §7.1.1 "reasonable time").
func TestCloseTimeout(t *testing.T) {
	c, p := newRawPeer(t, RoleClient, &Options{CloseTimeout: 200 * time.Millisecond})
	start := time.Now()
	err := c.Close(CloseNormalClosure, "")
	require.ErrorIs(t, err, ErrCloseTimeout)
	require.Less(t, time.Since(start), 3*time.Second)
	assert.Equal(t, CloseNormalClosure, p.expectClose())
	p.ExpectEOF()
}

// Data the peer sends after our close is discarded while waiting for its
// close frame (§7.1.2: "MAY ... discard any more data").
func TestCloseDiscardsDataUntilPeerClose(t *testing.T) {
	c, p := newRawPeer(t, RoleServer, nil)
	go func() {
		p.expectClose()
		p.send(true, OpText, []byte("still talking"))
		p.send(true, OpClose, wstest.ClosePayload(uint16(CloseNormalClosure), ""))
	}()
	require.NoError(t, c.Close(CloseNormalClosure, ""))
}

// Invalid close codes and reasons are refused before anything is sent.
func TestCloseValidatesArguments(t *testing.T) {
	c, _ := newRawPeer(t, RoleClient, nil)
	for _, code := range []StatusCode{999, 1004, 1005, 1006, 1015, 2000, 5000} {
		require.ErrorIs(t, c.Close(code, ""), ErrInvalidClosePayload, "code %d", code)
	}
	require.ErrorIs(t, c.Close(CloseNormalClosure, string(bytes.Repeat([]byte("r"), 124))), ErrInvalidClosePayload)
	require.ErrorIs(t, c.Close(CloseNormalClosure, "\xff"), ErrInvalidClosePayload)
	require.ErrorIs(t, c.Close(0, "reason without code"), ErrInvalidClosePayload)
}

// CloseNow aborts without a handshake; everything after reports ErrClosed.
func TestCloseNow(t *testing.T) {
	checkNoLeak(t)
	c, p := newRawPeer(t, RoleClient, nil)
	readErr := make(chan error, 1)
	go func() { _, _, err := c.ReadMessage(); readErr <- err }()
	time.Sleep(10 * time.Millisecond)
	require.NoError(t, c.CloseNow())
	require.ErrorIs(t, <-readErr, ErrClosed)
	require.Error(t, c.WriteText("x"))
	p.ExpectEOF()
}

func TestWriteDoesNotAllocate(t *testing.T) {
	for _, role := range []Role{RoleClient, RoleServer} {
		c := NewConn(discardConn{}, nil, role, "", nil)
		msg := make([]byte, 1024)
		allocs := testing.AllocsPerRun(100, func() { _ = c.WriteMessage(OpBinary, msg) })
		require.Zero(t, allocs, role.String())
	}
}

func TestReadDoesNotAllocate(t *testing.T) {
	var wire []byte
	for range 200 {
		wire = append(wire, wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte("hello, world")}.Bytes()...)
	}
	c := NewConn(&replayConn{data: wire}, nil, RoleClient, "", nil)
	buf := make([]byte, 0, 64)
	allocs := testing.AllocsPerRun(100, func() {
		_, b, err := c.ReadMessageInto(buf)
		if err != nil {
			panic(err)
		}
		buf = b
	})
	require.Zero(t, allocs)
}

// discardConn is a net.Conn that accepts every write.
type discardConn struct{ nopConn }

func (discardConn) Write(p []byte) (int, error) { return len(p), nil }

// replayConn serves data forever, in a loop.
type replayConn struct {
	nopConn
	data []byte
	off  int
}

func (r *replayConn) Read(p []byte) (int, error) {
	n := copy(p, r.data[r.off:])
	r.off = (r.off + n) % len(r.data)
	return n, nil
}

// The header encoder (putHeader, which AppendHeader and the write path
// share) must use the minimal length encoding of RFC 6455 §5.2 and put the
// masking key in wire order, for every field combination and at every
// length-encoding boundary; ParseHeader, written separately, reads it back.
func TestHeaderEncodingIsMinimalAndRoundTrips(t *testing.T) {
	lengths := []int64{0, 1, 64, 124, 125, 126, 127, 255, 256, 1000, 0xFFFE, 0xFFFF, 0x10000, 0x10001, 1 << 20, 1<<32 + 5, 1<<62 + 3}
	ops := []Opcode{OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong}
	for _, n := range lengths {
		want := 2 // §5.2: 7-bit length up to 125, then 16-bit, then 64-bit
		switch {
		case n > 0xFFFF:
			want = 10
		case n > 125:
			want = 4
		}
		for _, op := range ops {
			for _, fin := range []bool{false, true} {
				for _, rsv := range []byte{0, Rsv1, Rsv1 | Rsv2 | Rsv3} {
					for _, masked := range []bool{false, true} {
						key := uint32(0xd3c2b1a0) ^ uint32(n)
						h := Header{Fin: fin, Rsv: rsv, Opcode: op, Masked: masked, Length: n}
						size := want
						if masked {
							binary.LittleEndian.PutUint32(h.Mask[:], key)
							size += 4
						}
						var b [MaxHeaderSize]byte
						got := b[:putHeader(&b, fin, rsv, op, masked, key, n)]
						require.Len(t, got, size, "n=%d op=%s fin=%v rsv=%#x masked=%v", n, op, fin, rsv, masked)
						require.Equal(t, got, AppendHeader(nil, h))
						back, parsed, err := ParseHeader(got)
						require.NoError(t, err)
						require.Equal(t, size, parsed)
						require.Equal(t, h, back)
					}
				}
			}
		}
	}
}

// A client frame larger than the Conn's small-frame array is masked into
// pooled buffers, in pieces for a message over 64 KiB; whatever the size
// and the source's alignment, a server Conn must read back exactly the
// message (RFC 6455 §5.3: unmasking with the frame's key restores it), and
// the caller's slice must be left as it was.
func TestLargeClientFrameRoundTrip(t *testing.T) {
	c, s := pipePair(t, nil, nil)
	r := rand.New(rand.NewPCG(3, 4))
	backing := make([]byte, 1<<20+64)
	for i := range backing {
		backing[i] = byte(r.Uint32())
	}
	sizes := []int{smallFrame, smallFrame + 1, 1000, pooledFrame - 1, pooledFrame, pooledFrame + 1, 3*pooledFrame - 5, 1 << 20}
	for _, n := range sizes {
		for _, off := range []int{0, 1, 14, 63} {
			msg := backing[off : off+n]
			orig := bytes.Clone(msg)
			errc := make(chan error, 1)
			go func() { errc <- c.WriteMessage(OpBinary, msg) }()
			op, got, err := s.ReadMessage()
			require.NoError(t, err)
			require.NoError(t, <-errc)
			require.Equal(t, OpBinary, op)
			require.True(t, bytes.Equal(orig, got), "n=%d off=%d: the server read other bytes", n, off)
			require.True(t, bytes.Equal(orig, msg), "n=%d off=%d: WriteMessage modified the caller's slice", n, off)
		}
	}
}

// recordConn keeps a copy of every write, and fails the write numbered
// failAt (counting from 1) if failAt is set.
type recordConn struct {
	nopConn
	writes [][]byte
	failAt int
	closed bool
}

var errRecordConn = errors.New("record conn: write failed")

func (r *recordConn) Write(p []byte) (int, error) {
	r.writes = append(r.writes, bytes.Clone(p))
	if len(r.writes) == r.failAt {
		return 0, errRecordConn
	}
	return len(p), nil
}

func (r *recordConn) Close() error { r.closed = true; return nil }

// A large client frame goes out as one write when its payload fits a pooled
// buffer (up to 64 KiB), else in 64 KiB pieces, or 256 KiB ones from 512 KiB
// (framePiece), the header with the first;
// the bytes on the wire are one masked frame (RFC 6455 §5.2, §5.3) with a
// key different from the previous frame's.
func TestLargeClientFrameWrites(t *testing.T) {
	rc := &recordConn{}
	c := NewConn(rc, nil, RoleClient, "", nil)
	var prevKey [4]byte
	for _, n := range []int{smallFrame + 1, pooledFrame, pooledFrame + 1, bigPooledMin - 1, bigPooledMin, 1<<20 + 3} {
		rc.writes = nil
		msg := make([]byte, n)
		for i := range msg {
			msg[i] = byte(i*31 + i>>8)
		}
		require.NoError(t, c.WriteMessage(OpBinary, msg))
		pieceSize := pooledFrame
		if n >= bigPooledMin {
			pieceSize = bigPooledFrame
		}
		wantWrites := (n + pieceSize - 1) / pieceSize
		require.Len(t, rc.writes, wantWrites, "n=%d", n)
		var wire []byte
		for _, w := range rc.writes {
			wire = append(wire, w...)
		}
		h, size, err := ParseHeader(wire)
		require.NoError(t, err)
		for i, w := range rc.writes {
			piece := len(w)
			if i == 0 {
				piece -= size // the header travels with the first piece
			}
			want := pieceSize
			if i == wantWrites-1 {
				want = n - (wantWrites-1)*pieceSize
			}
			require.Equal(t, want, piece, "n=%d: payload bytes in write %d", n, i)
		}
		require.True(t, h.Fin)
		require.True(t, h.Masked, "RFC 6455 §5.1: a client masks every frame")
		require.NotEqual(t, prevKey, h.Mask, "RFC 6455 §5.3: a fresh key per frame")
		prevKey = h.Mask
		require.Equal(t, int64(n), h.Length)
		payload := wire[size:]
		require.Len(t, payload, n)
		Mask(payload, MaskKeyWord(h.Mask))
		require.True(t, bytes.Equal(msg, payload), "n=%d: unmasked payload differs", n)
	}
}

// A write that fails part way through a large frame leaves the stream
// unusable (part of a frame may be out), so the error is sticky: every later
// write returns it without touching the conn, and the conn is closed.
func TestLargeClientFrameWriteErrorIsSticky(t *testing.T) {
	rc := &recordConn{failAt: 2}
	c := NewConn(rc, nil, RoleClient, "", nil)
	err := c.WriteMessage(OpBinary, make([]byte, 3*pooledFrame))
	require.ErrorIs(t, err, errRecordConn)
	require.Len(t, rc.writes, 2, "no piece is written after the failed one")
	require.True(t, rc.closed, "the conn is closed after a failed write")
	require.ErrorIs(t, c.WriteMessage(OpBinary, []byte("small")), errRecordConn)
	require.ErrorIs(t, c.WriteMessage(OpBinary, make([]byte, 2*pooledFrame)), errRecordConn)
	require.Len(t, rc.writes, 2, "later writes never reach the conn")
}

// A server frame up to writevMin leaves in one write, header and payload
// together (on TCP one write costs less than a writev of two buffers); a
// larger one is handed over as header and payload without copying the
// payload (over a conn that cannot writev, as here, two writes). Either way
// the bytes are one unmasked frame (RFC 6455 §5.1).
func TestServerFrameWrites(t *testing.T) {
	rc := &recordConn{}
	c := NewConn(rc, nil, RoleServer, "", nil)
	for _, tc := range []struct{ n, writes int }{
		{smallFrame + 1, 1}, {1024, 1}, {writevMin, 1}, {writevMin + 1, 2}, {1 << 20, 2},
	} {
		rc.writes = nil
		msg := bytes.Repeat([]byte{0xA5}, tc.n)
		require.NoError(t, c.WriteMessage(OpBinary, msg))
		require.Len(t, rc.writes, tc.writes, "payload %d", tc.n)
		wire := bytes.Join(rc.writes, nil)
		h, hn, err := ParseHeader(wire)
		require.NoError(t, err)
		assert.Equal(t, Header{Fin: true, Opcode: OpBinary, Length: int64(tc.n)}, h)
		assert.Equal(t, msg, wire[hn:])
	}
}
