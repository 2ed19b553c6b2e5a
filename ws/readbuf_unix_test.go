//go:build unix

package ws

import (
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/wstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// waitIdle makes c wait for a message that does not come, until a short
// deadline, and returns with the deadline cleared: the state a reader is in
// on an idle connection.
func waitIdle(t *testing.T, c *Conn) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(30*time.Millisecond)))
	_, _, err := c.ReadMessage()
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout(), "%v", err)
	require.NoError(t, c.SetReadDeadline(time.Time{}))
}

func TestIdleTCPConnWaitsWithoutAReadBuffer(t *testing.T) {
	c, peer := newRawPeer(t, RoleClient, nil)
	require.True(t, c.rb.raw.ok(), "a *net.TCPConn takes the raw path")
	peer.send(true, OpText, []byte("one"))
	_, msg, err := c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, "one", string(msg))

	waitIdle(t, c)
	assert.Nil(t, c.rb.buf, "the buffer went back to the pool while waiting")

	// Reading goes on as before, including frames that span many reads.
	peer.send(true, OpText, []byte("two"))
	_, msg, err = c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, "two", string(msg))
	big := make([]byte, 100_000)
	for i := range big {
		big[i] = byte(i)
	}
	go peer.send(true, OpBinary, big)
	_, msg, err = c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, big, msg)
}

func TestIdleTCPConnKeepsAHalfReadFrame(t *testing.T) {
	// Bytes of a frame that has not fully arrived must survive the wait.
	c, peer := newRawPeer(t, RoleServer, nil)
	frame := wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte("split across the wait")}.Mask().Bytes()
	peer.Write(frame[:5])
	waitIdle(t, c)
	require.NotNil(t, c.rb.buf)
	assert.Equal(t, frame[:5], c.rb.buffered())
	peer.Write(frame[5:])
	_, msg, err := c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, "split across the wait", string(msg))
}

func TestRawReadReportsThePeersEOF(t *testing.T) {
	c, peer := newRawPeer(t, RoleClient, nil)
	require.NoError(t, peer.Conn.Close())
	_, _, err := c.ReadMessage()
	// RFC 6455 §7.1.5: closed without a close frame is 1006.
	require.ErrorIs(t, err, ErrAbnormalClosure)
	require.ErrorIs(t, err, io.EOF)
}

func TestRawReadWakesOnCloseNow(t *testing.T) {
	checkNoLeak(t)
	c, _ := newRawPeer(t, RoleClient, nil)
	done := make(chan error, 1)
	go func() { _, _, err := c.ReadMessage(); done <- err }()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, c.CloseNow())
	select {
	case err := <-done:
		require.ErrorIs(t, err, ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("a reader blocked on the socket did not wake up on CloseNow")
	}
}

// wrappedConn embeds a *net.TCPConn and counts what is read through it.
type wrappedConn struct {
	*net.TCPConn
	read int
}

func (w *wrappedConn) Read(p []byte) (int, error) {
	n, err := w.TCPConn.Read(p)
	w.read += n
	return n, err
}

func TestWrappedConnsAreReadThroughTheirReadMethod(t *testing.T) {
	a, b := wstest.TCPPair(t)
	w := &wrappedConn{TCPConn: a.(*net.TCPConn)}
	c := NewConn(w, nil, RoleClient, "", nil)
	assert.False(t, c.rb.raw.ok(), "a type that only embeds *net.TCPConn keeps its own Read")
	frame := wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte("counted")}.Bytes()
	_, err := b.Write(frame)
	require.NoError(t, err)
	_, msg, err := c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, "counted", string(msg))
	assert.Equal(t, len(frame), w.read)
}

func TestRawReadReportsAResetAsANetError(t *testing.T) {
	c, peer := newRawPeer(t, RoleClient, nil)
	require.NoError(t, peer.Conn.(*net.TCPConn).SetLinger(0)) // close sends RST
	require.NoError(t, peer.Conn.Close())
	_, _, err := c.ReadMessage()
	require.ErrorIs(t, err, ErrAbnormalClosure)
	require.ErrorIs(t, err, syscall.ECONNRESET)
	var oe *net.OpError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "read", oe.Op)
}
