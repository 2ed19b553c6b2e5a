//go:build !js

package ws

import (
	"bufio"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/wstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hostileScale lets a long run multiply the volume of the flood tests
// (PLAINWS_HOSTILE_SCALE=16 for the full 16 MiB of 1-byte fragments); the
// default keeps CI under -race within seconds.
func hostileScale() int {
	if n, err := strconv.Atoi(os.Getenv("PLAINWS_HOSTILE_SCALE")); err == nil && n > 0 {
		return n
	}
	return 1
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// A server that keeps sending after its close frame: the client answers the
// close, discards the rest, and gives up on the server's TCP close after the
// close timeout (RFC 6455 §7.1.1 "reasonable time").
func TestHostileKeepsSendingAfterClose(t *testing.T) {
	checkNoLeak(t)
	c, p := newRawPeer(t, RoleClient, &Options{CloseTimeout: 300 * time.Millisecond})
	stop := make(chan struct{})
	go func() {
		_, _ = p.Conn.Write(wstest.Frame{Fin: true, Opcode: wstest.OpClose, Payload: wstest.ClosePayload(uint16(CloseNormalClosure), "")}.Bytes())
		junk := wstest.Frame{Fin: true, Opcode: wstest.OpBinary, Payload: make([]byte, 1000)}.Bytes()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := p.Conn.Write(junk); err != nil {
				return
			}
		}
	}()
	go func() { _, _ = io.Copy(io.Discard, p.Conn) }()
	start := time.Now()
	_, _, err := c.ReadMessage()
	close(stop)
	assert.Equal(t, CloseNormalClosure, CloseStatus(err))
	assert.Less(t, time.Since(start), 5*time.Second)
}

// A peer that resets TCP in the middle of a frame: a typed 1006 error.
func TestHostileResetMidFrame(t *testing.T) {
	c, p := newRawPeer(t, RoleClient, nil)
	p.Write([]byte{0x82, 0x7E, 0x10, 0x00, 1, 2, 3})
	require.NoError(t, p.Conn.(*net.TCPConn).SetLinger(0))
	require.NoError(t, p.Conn.Close())
	_, _, err := c.ReadMessage()
	require.ErrorIs(t, err, ErrAbnormalClosure)
}

// A peer that never answers our close: Close returns within the timeout
// (TestCloseTimeout) — here with a reader blocked at the same time.
func TestHostileNeverAnswersCloseWithReader(t *testing.T) {
	checkNoLeak(t)
	c, _ := newRawPeer(t, RoleServer, &Options{CloseTimeout: 200 * time.Millisecond})
	readErr := make(chan error, 1)
	go func() { _, _, err := c.ReadMessage(); readErr <- err }()
	start := time.Now()
	require.ErrorIs(t, c.Close(CloseNormalClosure, ""), ErrCloseTimeout)
	require.Error(t, <-readErr)
	assert.Less(t, time.Since(start), 3*time.Second)
}

// A million 1-byte frames in one burst are all delivered, in order, with
// memory that does not grow with their number.
func TestHostileMillionTinyFrames(t *testing.T) {
	n := 1_000_000 * hostileScale()
	c, p := newRawPeer(t, RoleClient, nil)
	go func() {
		w := bufio.NewWriterSize(p.Conn, 64<<10)
		for i := range n {
			_, _ = w.Write([]byte{0x82, 0x01, byte(i)})
		}
		_ = w.Flush()
	}()
	before := heapInUse()
	buf := make([]byte, 0, 16)
	for i := range n {
		op, msg, err := c.ReadMessageInto(buf)
		require.NoError(t, err)
		if op != OpBinary || len(msg) != 1 || msg[0] != byte(i) {
			require.Failf(t, "wrong message", "message %d: %s %v", i, op, msg)
		}
		buf = msg
	}
	assert.Less(t, int64(heapInUse())-int64(before), int64(4<<20), "memory must not grow with the number of frames")
}

// One message of 1 MiB (16 MiB with PLAINWS_HOSTILE_SCALE=16) sent as
// 1-byte fragments streams through NextReader with bounded memory; the read
// limit applies to the whole message.
func TestHostileOneByteFragments(t *testing.T) {
	total := (1 << 20) * hostileScale()
	c, p := newRawPeer(t, RoleClient, &Options{ReadLimit: int64(total)})
	go func() {
		w := bufio.NewWriterSize(p.Conn, 64<<10)
		for i := range total {
			op := OpContinuation
			if i == 0 {
				op = OpBinary
			}
			var fin byte
			if i == total-1 {
				fin = 0x80
			}
			_, _ = w.Write([]byte{fin | byte(op), 0x01, byte(i)})
		}
		_ = w.Flush()
	}()
	before := heapInUse()
	op, r, err := c.NextReader()
	require.NoError(t, err)
	require.Equal(t, OpBinary, op)
	got := 0
	chunk := make([]byte, 4096)
	for {
		k, err := r.Read(chunk)
		for j := range k {
			if chunk[j] != byte(got+j) {
				require.Failf(t, "wrong byte", "at %d", got+j)
			}
		}
		got += k
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
	}
	assert.Equal(t, total, got)
	assert.Less(t, int64(heapInUse())-int64(before), int64(4<<20))
}

// A 64-bit length of 2^40 and then nothing: refused at the header by the
// read limit (1009), without waiting for or allocating the payload.
func TestHostileHugeDeclaredLength(t *testing.T) {
	c, p := newRawPeer(t, RoleServer, nil)
	p.Send(wstest.Frame{Fin: true, Opcode: wstest.OpBinary, Masked: true, Length: wstest.Len(1 << 40)}) // the header alone
	before := heapInUse()
	_, _, err := c.ReadMessage()
	require.ErrorIs(t, err, ErrReadLimit)
	assert.Equal(t, CloseMessageTooBig, p.expectClose())
	assert.Less(t, int64(heapInUse())-int64(before), int64(1<<20))
}
