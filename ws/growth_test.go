//go:build !js

package ws

import (
	"testing"

	"github.com/plainws/plainws/internal/wstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readFragmented has a peer send total bytes as fragments of piece bytes
// (RFC 6455 §5.4) to a client Conn with the given read limit, and returns
// what ReadMessage returned.
func readFragmented(t *testing.T, limit int64, total, piece int) []byte {
	return readPieces(t, limit, total, func(off int) int { return piece })
}

// readPieces is readFragmented with the length of each fragment chosen by
// size from its offset in the message. The read buffer's size is set, so
// that it does not grow during the burst (readbuf.go): each step of the
// message buffer also takes in what the read buffer holds, and these tests
// pin the steps of growthLocked alone.
func readPieces(t *testing.T, limit int64, total int, size func(off int) int) []byte {
	t.Helper()
	a, b := wstest.TCPPair(t)
	c := NewConn(a, nil, RoleClient, "", &Options{ReadLimit: limit, ReadBufferSize: DefaultBufferSize})
	t.Cleanup(func() { _ = c.CloseNow() })
	sent := make(chan error, 1)
	go func() {
		var wire []byte
		for off := 0; off < total; {
			op := OpContinuation
			if off == 0 {
				op = OpBinary
			}
			end := min(off+size(off), total)
			wire = append(wire, peerFrame(end == total, op, false, make([]byte, end-off))...)
			off = end
		}
		_, err := b.Write(wire)
		sent <- err
	}()
	op, msg, err := c.ReadMessage()
	require.NoError(t, err)
	require.NoError(t, <-sent)
	assert.Equal(t, OpBinary, op)
	require.Len(t, msg, total)
	return msg
}

// TestGrowthDoublesBelowAQuarterOfTheLimit: a fragmented message's buffer
// follows what has arrived, doubling from one read buffer's worth.
func TestGrowthDoublesBelowAQuarterOfTheLimit(t *testing.T) {
	const limit = 4 << 20
	msg := readFragmented(t, limit, 200<<10, 1000)
	assert.Equal(t, 256<<10, cap(msg), "4 KiB doubled to the first size that holds 200 KiB")
}

// TestGrowthWithAGrownReadBufferStaysWithinTwiceTheMessage: with the read
// buffer at its default, which grows to 64 KiB during a burst, each step
// also takes in what that buffer holds; the message buffer still follows the
// bytes that arrived, at most twice the message.
func TestGrowthWithAGrownReadBufferStaysWithinTwiceTheMessage(t *testing.T) {
	const total = 200 << 10
	a, b := wstest.TCPPair(t)
	c := NewConn(a, nil, RoleClient, "", nil)
	t.Cleanup(func() { _ = c.CloseNow() })
	var wire []byte
	for off := 0; off < total; off += 1000 {
		op := OpContinuation
		if off == 0 {
			op = OpBinary
		}
		end := min(off+1000, total)
		wire = append(wire, peerFrame(end == total, op, false, make([]byte, end-off))...)
	}
	go func() { _, _ = b.Write(wire) }()
	_, msg, err := c.ReadMessage()
	require.NoError(t, err)
	require.Len(t, msg, total)
	assert.LessOrEqual(t, cap(msg), 2*total)
}

// TestGrowthGoesToTheLimitFromAQuarterOfIt: once a fragmented message holds
// a quarter of the read limit, the next step is the limit itself, not two
// more doublings.
func TestGrowthGoesToTheLimitFromAQuarterOfIt(t *testing.T) {
	const limit = 4 << 20
	msg := readFragmented(t, limit, 1<<20+100<<10, 1000)
	assert.Equal(t, limit, cap(msg), "from 1 MiB (a quarter of 4 MiB) straight to the limit")
}

// TestGrowthFinalFrameFitsExactly: in the final frame the rest of the
// message is declared, so the last step is exactly that, even past a quarter
// of the limit.
func TestGrowthFinalFrameFitsExactly(t *testing.T) {
	const limit = 4 << 20
	const total = 3 << 20
	// 1000 bytes, then the final fragment with the rest.
	msg := readPieces(t, limit, total, func(off int) int {
		if off == 0 {
			return 1000
		}
		return total - off
	})
	assert.Equal(t, total, cap(msg), "the final fragment's length bounds the last step")
}

// TestGrowthNearTheLimitStillRefusesMore: the one step to the limit does
// not let a message past it; the next byte fails it with 1009 (RFC 6455
// §7.4.1).
func TestGrowthNearTheLimitStillRefusesMore(t *testing.T) {
	const limit = 1 << 20
	a, b := wstest.TCPPair(t)
	c := NewConn(a, nil, RoleClient, "", &Options{ReadLimit: limit})
	t.Cleanup(func() { _ = c.CloseNow() })
	go func() {
		var wire []byte
		for off := 0; off <= limit; off += 4096 {
			op := OpContinuation
			if off == 0 {
				op = OpBinary
			}
			wire = append(wire, peerFrame(false, op, false, make([]byte, 4096))...)
		}
		_, _ = b.Write(wire)
	}()
	_, _, err := c.ReadMessage()
	require.ErrorIs(t, err, ErrReadLimit)
	var pe *ProtocolError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, CloseMessageTooBig, pe.Code)
}
