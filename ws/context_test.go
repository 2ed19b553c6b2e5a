//go:build !js

package ws

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/wstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// prompt bounds how long a cancelled call may take to return. The promise is
// "at once" (a deadline in the past wakes the system call); the bound is wide
// so a loaded machine does not fail the test.
const prompt = time.Second

func TestReadMessageContextCancelledBetweenMessagesLeavesTheConnUsable(t *testing.T) {
	checkNoLeak(t)
	c, peer := newRawPeer(t, RoleClient, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(30 * time.Millisecond); cancel() }()
	start := time.Now()
	_, msg, err := c.ReadMessageContext(ctx, nil)
	require.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, msg)
	assert.Less(t, time.Since(start), prompt)

	// Still usable, and the program's own deadline (none) is back.
	peer.send(true, OpText, []byte("after"))
	op, msg, err := c.ReadMessageContext(context.Background(), nil)
	require.NoError(t, err)
	assert.Equal(t, OpText, op)
	assert.Equal(t, "after", string(msg))

	// A context that is already done reads nothing.
	peer.send(true, OpText, []byte("later"))
	_, _, err = c.ReadMessageContext(ctx, nil)
	require.ErrorIs(t, err, context.Canceled)
	_, msg, err = c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, "later", string(msg))
}

func TestReadMessageContextPutsBackTheProgramsDeadline(t *testing.T) {
	c, _ := newRawPeer(t, RoleServer, nil)
	deadline := time.Now().Add(300 * time.Millisecond)
	require.NoError(t, c.SetReadDeadline(deadline))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, _, err := c.ReadMessageContext(ctx, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	// The program's deadline is in force again: neither past (an immediate
	// timeout) nor gone (a read that never returns).
	_, _, err = c.ReadMessage()
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	assert.False(t, time.Now().Before(deadline.Add(-10*time.Millisecond)), "timed out before the program's deadline")
}

func TestReadMessageContextCancelledInsideAMessageFailsTheConn(t *testing.T) {
	c, peer := newRawPeer(t, RoleClient, nil)
	peer.send(false, OpText, []byte("first half, "))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, msg, err := c.ReadMessageContext(ctx, nil)
	require.ErrorIs(t, err, ErrAbandoned)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, "first half, ", string(msg), "what was read comes back")
	assert.Equal(t, CloseGoingAway, peer.expectClose())
	_, _, again := c.ReadMessage()
	assert.ErrorIs(t, again, ErrAbandoned, "sticky")
	assert.ErrorIs(t, c.WriteText("x"), ErrClosed)
}

func TestNextReaderContext(t *testing.T) {
	c, peer := newRawPeer(t, RoleServer, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, _, err := c.NextReaderContext(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	peer.send(true, OpBinary, []byte{1, 2, 3})
	op, r, err := c.NextReaderContext(context.Background())
	require.NoError(t, err)
	assert.Equal(t, OpBinary, op)
	buf := make([]byte, 8)
	n, _ := r.Read(buf)
	assert.Equal(t, []byte{1, 2, 3}, buf[:n])
}

// A write blocked on a peer that does not read returns when its context
// ends; part of the frame may be out, so the connection can no longer send.
func TestWriteMessageContextCancelledMidWrite(t *testing.T) {
	c, peer := newRawPeer(t, RoleServer, nil)
	big := make([]byte, 64<<20) // more than the sockets hold: the write blocks
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan time.Time, 1)
	go func() {
		// The peer reads the first bytes, so the write is under way, then
		// reads no more; the write is soon blocked on the full socket.
		_, _ = io.ReadFull(peer.Conn, make([]byte, 1024))
		time.Sleep(50 * time.Millisecond)
		started <- time.Now()
		cancel()
	}()
	err := c.WriteMessageContext(ctx, OpBinary, big)
	require.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(<-started), prompt)
	assert.Contains(t, err.Error(), "can no longer send", "the write had begun: %v", err)
	assert.Error(t, c.WriteMessage(OpText, []byte("x")), "sticky after %v", err)
}

// Waiting for another writer is cancellable and harmless: nothing was sent,
// and the other writer's message completes.
func TestWriteMessageContextCancelledWhileWaitingForAWriter(t *testing.T) {
	c, s := pipePair(t, nil, nil)
	w, err := c.NextWriter(OpText)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	err = c.WriteMessageContext(ctx, OpBinary, []byte("never sent"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	got := make(chan string, 2)
	go func() {
		for range 2 {
			_, msg, err := s.ReadMessage()
			if err != nil {
				got <- err.Error()
				return
			}
			got <- string(msg)
		}
	}()
	_, err = w.Write([]byte("streamed"))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.NoError(t, c.WriteMessageContext(context.Background(), OpText, []byte("next")))
	assert.Equal(t, "streamed", <-got)
	assert.Equal(t, "next", <-got)
}

func TestCloseContextBoundsTheHandshake(t *testing.T) {
	c, peer := newRawPeer(t, RoleClient, &Options{CloseTimeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.CloseContext(ctx, CloseNormalClosure, "bye") // the peer never answers
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 50*time.Millisecond+prompt)
	assert.Equal(t, CloseNormalClosure, peer.expectClose())

	// With a peer that answers, CloseContext is Close.
	c2, peer2 := newRawPeer(t, RoleServer, nil)
	done := make(chan error, 1)
	go func() { done <- c2.CloseContext(context.Background(), CloseNormalClosure, "") }()
	assert.Equal(t, CloseNormalClosure, peer2.expectClose())
	peer2.send(true, OpClose, wstest.ClosePayload(uint16(CloseNormalClosure), ""))
	require.NoError(t, <-done)
}
