//go:build !js

package ws

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/wstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The state a Conn makes only when it needs it (conn.go): a fresh Conn holds
// none of it, and a Conn that only reads data messages makes none.
func TestIdleConnHoldsNoLazyState(t *testing.T) {
	for _, role := range []Role{RoleClient, RoleServer} {
		t.Run(role.String(), func(t *testing.T) {
			c, p := newRawPeer(t, role, nil)
			c.SetPingHandler(nil) // restoring the default needs no hooks
			require.NoError(t, c.SetReadDeadline(time.Time{}))
			require.NoError(t, c.SetWriteDeadline(time.Time{}))
			p.send(true, OpText, []byte("hello"))
			op, msg, err := c.ReadMessage()
			require.NoError(t, err)
			assert.Equal(t, OpText, op)
			assert.Equal(t, "hello", string(msg))
			assert.Nil(t, c.frames, "frame scratch")
			assert.Nil(t, c.keys.st, "masking key state")
			assert.Nil(t, c.mw, "streaming writer")
			assert.Nil(t, c.hooks.Load(), "handlers")
			assert.Nil(t, c.pongs.Load(), "Ping waiters")
			assert.Nil(t, c.tcpWait.Load(), "TCP-closed channel")
			assert.Nil(t, c.peerClose.Load(), "peer's close")
			assert.Nil(t, c.deadlines.Load(), "saved deadlines")
		})
	}
}

// readAllFrames collects the payloads of n data frames the peer receives.
func readAllFrames(p *rawPeer, n int) map[string]int {
	got := make(map[string]int, n)
	for range n {
		h, payload := p.next()
		if h.Opcode.IsControl() {
			continue
		}
		got[string(payload)]++
	}
	return got
}

// Concurrent first writes make the frame scratch (and, on a client, the
// masking key state) once, under writeMu: every frame, small ones built in
// the scratch array and large ones (writev on a server), arrives intact.
func TestFrameScratchConcurrentFirstUse(t *testing.T) {
	for _, role := range []Role{RoleClient, RoleServer} {
		t.Run(role.String(), func(t *testing.T) {
			c, p := newRawPeer(t, role, nil)
			const writers = 8
			want := make(map[string]int, writers)
			var wg sync.WaitGroup
			for i := range writers {
				size := 10 + i
				if i%2 == 1 {
					size = writevMin + 100 + i // past the small array
				}
				msg := bytes.Repeat([]byte{byte('a' + i)}, size)
				want[string(msg)]++
				wg.Add(1)
				go func() {
					defer wg.Done()
					assert.NoError(t, c.WriteMessage(OpBinary, msg))
				}()
			}
			got := readAllFrames(p, writers)
			wg.Wait()
			assert.Equal(t, want, got)
			require.NotNil(t, c.frames)
			assert.Nil(t, c.frames.iovArr[1], "the caller's slice is not kept")
			assert.Equal(t, role == RoleClient, c.keys.st != nil, "only a client makes masking keys")
		})
	}
}

// A Conn that never wrote still sends its close frame (built in the frame
// scratch made then), and one closed before its first write reports the
// closed connection instead of writing.
func TestFrameScratchAfterClose(t *testing.T) {
	c, p := newRawPeer(t, RoleServer, nil)
	answered := make(chan StatusCode, 1)
	go func() {
		code := p.expectClose()
		p.send(true, OpClose, wstest.ClosePayload(uint16(CloseNormalClosure), ""))
		answered <- code
	}()
	require.NoError(t, c.Close(CloseNormalClosure, ""))
	assert.Equal(t, CloseNormalClosure, <-answered)
	assert.Error(t, c.WriteMessage(OpText, []byte("late")))
	w, err := c.NextWriter(OpText)
	if err == nil {
		_, _ = w.Write([]byte("late"))
		err = w.Close()
	}
	assert.Error(t, err, "no message after the close frame (RFC 6455 §5.5.1)")

	c2, _ := newRawPeer(t, RoleClient, nil)
	require.NoError(t, c2.CloseNow())
	assert.Error(t, c2.WriteMessage(OpText, []byte("late")))
}

// Control frames are read into pooled buffers: concurrent readers on
// several Conns each answer their own pings with identical application
// data (RFC 6455 §5.5.2), including the largest payload allowed.
func TestControlBuffersConcurrent(t *testing.T) {
	const conns, pings = 4, 20
	var wg sync.WaitGroup
	for i := range conns {
		c, p := newRawPeer(t, RoleServer, nil)
		go func() {
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range pings {
				payload := bytes.Repeat([]byte{byte('A' + i)}, 1+(j*31)%MaxControlPayload)
				if j == 0 {
					payload = payload[:0]
				}
				if j == pings-1 {
					payload = bytes.Repeat([]byte{byte('A' + i)}, MaxControlPayload)
				}
				p.send(true, OpPing, payload)
				h, got := p.next()
				if !assert.Equal(t, OpPong, h.Opcode) || !assert.Equal(t, payload, got) {
					return
				}
			}
		}()
	}
	wg.Wait()
}

// The peer's close frame is kept from its arrival on: the answer echoes its
// code and reason (RFC 6455 §5.5.1), the reader reports it, and so does a
// Ping started afterwards.
func TestPeerCloseAfterUse(t *testing.T) {
	c, p := newRawPeer(t, RoleServer, nil)
	var seen []string
	c.SetCloseHandler(func(code StatusCode, reason string) { seen = append(seen, fmt.Sprint(code, reason)) })
	reason := string(bytes.Repeat([]byte("r"), MaxCloseReason))
	p.send(true, OpClose, wstest.ClosePayload(uint16(CloseGoingAway), reason))
	_, _, err := c.ReadMessage()
	var ce *CloseError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, CloseGoingAway, ce.Code)
	assert.Equal(t, reason, ce.Reason)
	assert.Equal(t, []string{fmt.Sprint(CloseGoingAway, reason)}, seen)
	h, payload := p.next()
	require.Equal(t, OpClose, h.Opcode)
	code, got, err := ParseClosePayload(payload)
	require.NoError(t, err)
	assert.Equal(t, CloseGoingAway, code)
	assert.Equal(t, reason, got)
	assert.Same(t, ce, c.peerClose.Load())

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = c.Ping(ctx, nil)
	assert.Error(t, err)
	assert.NotErrorIs(t, err, context.DeadlineExceeded, "Ping after the close does not wait for a pong")
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// tcpClosedChan: made once by the first of concurrent callers, closed by
// closeTCP, and already closed when first asked for after the close, however
// the first call and closeTCP interleave.
func TestTCPClosedChan(t *testing.T) {
	c, _ := newRawPeer(t, RoleServer, nil)
	const callers = 8
	chans := make([]<-chan struct{}, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() { defer wg.Done(); chans[i] = c.tcpClosedChan() }()
	}
	wg.Wait()
	for _, ch := range chans {
		require.Equal(t, chans[0], ch, "one channel")
	}
	assert.False(t, isClosed(chans[0]))
	require.NoError(t, c.CloseNow())
	assert.True(t, isClosed(chans[0]))
	assert.True(t, isClosed(c.tcpClosedChan()))

	c2, _ := newRawPeer(t, RoleServer, nil)
	require.NoError(t, c2.CloseNow())
	assert.True(t, isClosed(c2.tcpClosedChan()), "first asked for after the close")

	for range 50 {
		c3, _ := newRawPeer(t, RoleClient, nil)
		var ch <-chan struct{}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); c3.closeTCP() }()
		go func() { defer wg.Done(); ch = c3.tcpClosedChan() }()
		wg.Wait()
		require.True(t, isClosed(ch), "a waiter racing closeTCP is never left waiting")
	}
}

// Concurrent first Pings make one set of waiters; each gets its own pong.
// A Ping on a closed Conn fails at once.
func TestPongWaitersConcurrentFirstUse(t *testing.T) {
	c, p := newRawPeer(t, RoleClient, nil)
	go func() {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	const pings = 6
	go func() {
		for range pings {
			h, payload := p.next()
			if h.Opcode == OpPing {
				p.send(true, OpPong, payload)
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range pings {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Ping(ctx, []byte{byte('0' + i)})
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	w := c.pongs.Load()
	require.NotNil(t, w)
	assert.Empty(t, w.waiting)

	require.NoError(t, c.CloseNow())
	_, err := c.Ping(ctx, []byte("x"))
	assert.Error(t, err)
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
}

// Handlers: the first Set*Handler makes them; nil restores the default
// answer to a ping (a pong with the same payload, RFC 6455 §5.5.2).
func TestHooksFirstUse(t *testing.T) {
	c, p := newRawPeer(t, RoleServer, nil)
	var pinged []string
	c.SetPingHandler(func(b []byte) { pinged = append(pinged, string(b)) })
	require.NotNil(t, c.hooks.Load())
	p.send(true, OpPing, []byte("one"))
	p.send(true, OpText, []byte("sync"))
	_, msg, err := c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, "sync", string(msg))
	assert.Equal(t, []string{"one"}, pinged)

	c.SetPingHandler(nil)
	p.send(true, OpPing, []byte("two"))
	p.send(true, OpText, []byte("sync"))
	_, _, err = c.ReadMessage()
	require.NoError(t, err)
	h, payload := p.next()
	assert.Equal(t, OpPong, h.Opcode, "the handler set to nil answers again")
	assert.Equal(t, "two", string(payload))
	assert.Equal(t, []string{"one"}, pinged)
}

// Concurrent first NextWriter calls share the writer made by the first;
// msgMu keeps their messages whole.
func TestMessageWriterConcurrentFirstUse(t *testing.T) {
	c, p := newRawPeer(t, RoleServer, &Options{WriteBufferSize: minWriteBuffer})
	const writers = 4
	want := map[string]int{}
	var wg sync.WaitGroup
	for i := range writers {
		msg := bytes.Repeat([]byte{byte('a' + i)}, 3*minWriteBuffer+i)
		want[string(msg)]++
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := c.NextWriter(OpBinary)
			if !assert.NoError(t, err) {
				return
			}
			for b := msg; len(b) > 0; b = b[min(len(b), 100):] {
				_, err = w.Write(b[:min(len(b), 100)])
				assert.NoError(t, err)
			}
			assert.NoError(t, w.Close())
		}()
	}
	got := map[string]int{}
	for range writers {
		var msg []byte
		for {
			h, payload := p.next()
			msg = append(msg, payload...)
			if h.Fin {
				break
			}
		}
		got[string(msg)]++
	}
	wg.Wait()
	assert.Equal(t, want, got)
	assert.NotNil(t, c.mw)
}

// Deadlines: saved from the first one set, concurrently from any
// goroutine, and what a context-bound read puts back.
func TestDeadlinesConcurrentFirstUse(t *testing.T) {
	c, p := newRawPeer(t, RoleServer, nil)
	base := time.Now().Add(time.Hour)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				assert.NoError(t, c.SetReadDeadline(base))
			} else {
				assert.NoError(t, c.SetWriteDeadline(base.Add(time.Minute)))
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, base.UnixNano(), c.savedDeadline(false))
	assert.Equal(t, base.Add(time.Minute).UnixNano(), c.savedDeadline(true))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, _, err := c.ReadMessageContext(ctx, nil) // borrows the read deadline
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, base.UnixNano(), c.savedDeadline(false), "the read put the program's deadline back")
	p.send(true, OpText, []byte("after"))
	_, msg, err := c.ReadMessage()
	require.NoError(t, err, "the restored deadline is an hour away")
	assert.Equal(t, "after", string(msg))

	require.NoError(t, c.SetReadDeadline(time.Time{}))
	assert.Zero(t, c.savedDeadline(false))
}
