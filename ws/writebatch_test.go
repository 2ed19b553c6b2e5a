//go:build !js

package ws

import (
	"bytes"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/wstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countWrites counts the Write calls that reach a net.Conn.
type countWrites struct {
	net.Conn
	writes atomic.Int64
}

func (c *countWrites) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// batch builds a queue of n messages of every kind WriteMessages takes, with
// a few too large to gather among them.
func batch(n int) []Message {
	msgs := make([]Message, 0, n)
	for i := range n {
		switch {
		case i%97 == 0:
			msgs = append(msgs, Message{Op: OpBinary, Data: bytes.Repeat([]byte{byte(i)}, 100<<10)})
		case i%10 == 3:
			msgs = append(msgs, Message{Op: OpPing, Data: fmt.Appendf(nil, "p%d", i)})
		case i%10 == 7:
			msgs = append(msgs, Message{Op: OpPong, Data: fmt.Appendf(nil, "q%d", i)})
		case i%2 == 0:
			msgs = append(msgs, Message{Op: OpText, Data: fmt.Appendf(nil, "message %d", i)})
		default:
			msgs = append(msgs, Message{Op: OpBinary, Data: bytes.Repeat([]byte{byte(i)}, i%300)})
		}
	}
	return msgs
}

func TestWriteMessagesOrderAndGathering(t *testing.T) {
	for _, role := range []Role{RoleClient, RoleServer} {
		t.Run(role.String(), func(t *testing.T) {
			a, b := wstest.TCPPair(t)
			cw := &countWrites{Conn: a}
			c := NewConn(cw, nil, role, "", nil)
			peer := peerOn(t, b, role == RoleServer)
			msgs := batch(1000)
			done := make(chan error, 1)
			go func() {
				n, err := c.WriteMessages(msgs)
				if err == nil && n != len(msgs) {
					err = fmt.Errorf("sent %d of %d", n, len(msgs))
				}
				done <- err
			}()
			total := 0
			for i, m := range msgs {
				h, payload := peer.next()
				require.Equalf(t, m.Op, h.Opcode, "frame %d", i)
				require.Truef(t, h.Fin, "frame %d is a whole message", i)
				require.Equalf(t, m.Data, payload, "frame %d", i)
				total += len(m.Data) + MaxHeaderSize
			}
			require.NoError(t, <-done)
			// 11 frames of 100 KiB leave on their own (in pieces); the
			// other 989 are gathered into 64 KiB writes, far fewer than
			// one each.
			assert.Less(t, cw.writes.Load(), int64(total/(64<<10)+2*11+4),
				"frames gathered into few writes")
			assert.Equal(t, c.BytesSent(), peerReadBytes(msgs, role == RoleClient))
		})
	}
}

// peerReadBytes is what msgs take on the wire.
func peerReadBytes(msgs []Message, masked bool) int64 {
	var n int64
	for _, m := range msgs {
		n += int64(Header{Length: int64(len(m.Data)), Masked: masked}.Size() + len(m.Data))
	}
	return n
}

func TestWriteMessagesChecksBeforeSending(t *testing.T) {
	c, peer := newRawPeer(t, RoleServer, nil)
	for _, bad := range [][]Message{
		{{Op: OpText, Data: []byte("ok")}, {Op: OpClose}},
		{{Op: OpText, Data: []byte("ok")}, {Op: OpContinuation}},
		{{Op: OpText, Data: []byte("ok")}, {Op: OpPing, Data: make([]byte, MaxControlPayload+1)}},
		{{Op: Opcode(3)}},
	} {
		n, err := c.WriteMessages(bad)
		require.Error(t, err)
		assert.Zero(t, n)
	}
	// Nothing left: the next frame the peer reads is this one.
	_, err := c.WriteMessages([]Message{{Op: OpText, Data: []byte("after")}})
	require.NoError(t, err)
	h, p := peer.next()
	assert.Equal(t, OpText, h.Opcode)
	assert.Equal(t, "after", string(p))
}

func TestWriteMessagesAfterCloseAndOnBrokenConn(t *testing.T) {
	c, peer := newRawPeer(t, RoleServer, &Options{CloseTimeout: 200 * time.Millisecond})
	go func() { _ = c.Close(CloseNormalClosure, "") }()
	require.Equal(t, CloseNormalClosure, peer.expectClose())
	n, err := c.WriteMessages(batch(5))
	require.ErrorIs(t, err, ErrClosed, "RFC 6455 §5.5.1: no data after a close frame")
	assert.Zero(t, n)

	c2, peer2 := newRawPeer(t, RoleClient, nil)
	require.NoError(t, peer2.Conn.(*net.TCPConn).SetLinger(0))
	require.NoError(t, peer2.Conn.Close())
	var sent int
	require.Eventually(t, func() bool {
		sent, err = c2.WriteMessages(batch(50))
		return err != nil
	}, 5*time.Second, time.Millisecond)
	assert.Less(t, sent, 50)
	_, again := c2.WriteMessages(batch(1))
	assert.ErrorIs(t, again, err, "a write error is sticky")
}

func TestWriteMessagesWaitsForAStreamedMessage(t *testing.T) {
	c, s := pipePair(t, nil, nil)
	// With a streamed message open, data waits for it and control frames
	// pass between its fragments (RFC 6455 §5.4).
	w, err := c.NextWriter(OpText)
	require.NoError(t, err)
	pinged := make(chan struct{})
	var seen []string
	s.SetPingHandler(func(p []byte) { seen = append(seen, "ping:"+string(p)); close(pinged) })
	got := make(chan []string, 1)
	go func() {
		for len(seen) < 3 {
			op, msg, err := s.ReadMessage()
			if err != nil {
				break
			}
			seen = append(seen, op.String()+":"+string(msg))
		}
		got <- seen
	}()
	batchDone := make(chan error, 1)
	go func() {
		_, err := c.WriteMessages([]Message{{Op: OpPing, Data: []byte("x")}, {Op: OpBinary, Data: []byte("after")}})
		batchDone <- err
	}()
	<-pinged // the ping passed while the message is open; "after" must wait
	_, err = w.Write([]byte("streamed"))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.NoError(t, <-batchDone)
	assert.Equal(t, []string{"ping:x", "text:streamed", "binary:after"}, <-got)
}
