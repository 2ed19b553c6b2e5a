//go:build !js

package ws

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/wstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A peer that never sends anything: with IdleTimeout the reader gives up
// after between D and 1.25 D (plus scheduling), the peer gets 1001 and the
// TCP close.
func TestIdleTimeoutSilentPeer(t *testing.T) {
	checkNoLeak(t)
	const d = 200 * time.Millisecond
	c, p := newRawPeer(t, RoleServer, &Options{IdleTimeout: d})
	start := time.Now()
	_, _, err := c.ReadMessage()
	elapsed := time.Since(start)
	require.ErrorIs(t, err, ErrIdleTimeout)
	var te *TimeoutError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, d, te.After)
	assert.Equal(t, CloseGoingAway, te.Code)
	assert.GreaterOrEqual(t, elapsed, d)
	assert.Less(t, elapsed, 5*d)
	assert.Equal(t, CloseGoingAway, p.expectClose())
	p.ExpectEOF()
	// Sticky, like every failure.
	_, _, err = c.ReadMessage()
	require.ErrorIs(t, err, ErrIdleTimeout)
	require.ErrorIs(t, c.WriteText("late"), ErrClosed)
}

// A peer that stops in the middle of a frame is as silent as one that
// never started.
func TestIdleTimeoutMidFrame(t *testing.T) {
	c, p := newRawPeer(t, RoleClient, &Options{IdleTimeout: 150 * time.Millisecond})
	p.Write([]byte{0x82, 0x7E, 0x10, 0x00, 1, 2, 3}) // 4096 bytes declared, 3 sent
	_, _, err := c.ReadMessage()
	require.ErrorIs(t, err, ErrIdleTimeout)
}

// Traffic keeps an idle timeout from firing: a peer sending a message every
// D/3 for 4 D stays connected.
func TestIdleTimeoutResetByTraffic(t *testing.T) {
	const d = 150 * time.Millisecond
	c, p := newRawPeer(t, RoleServer, &Options{IdleTimeout: d})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 12 {
			time.Sleep(d / 3)
			if _, err := p.Conn.Write(wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte("tick")}.Mask().Bytes()); err != nil {
				return
			}
		}
	}()
	for range 12 {
		_, msg, err := c.ReadMessage()
		require.NoError(t, err)
		require.Equal(t, "tick", string(msg))
	}
	<-done
	_, _, err := c.ReadMessage()
	require.ErrorIs(t, err, ErrIdleTimeout, "silence after the traffic still counts")
}

// Keepalive pings go out every interval; a peer that answers them keeps the
// connection, one that stops answering loses it with ErrPongTimeout.
func TestKeepalivePingsAndPongTimeout(t *testing.T) {
	checkNoLeak(t)
	const iv = 100 * time.Millisecond
	c, p := newRawPeer(t, RoleClient, &Options{PingInterval: iv, PongTimeout: iv, PingPayload: []byte("ka")})
	readErr := make(chan error, 1)
	go func() {
		_, _, err := c.ReadMessage()
		readErr <- err
	}()
	for range 4 {
		h, payload := p.next()
		require.Equal(t, OpPing, h.Opcode)
		require.Equal(t, "ka", string(payload))
		p.send(true, OpPong, payload)
	}
	select {
	case err := <-readErr:
		require.Failf(t, "connection failed while the peer answered", "%v", err)
	default:
	}
	// Now the peer goes quiet: the next ping gets no answer.
	h, _ := p.next()
	require.Equal(t, OpPing, h.Opcode)
	err := <-readErr
	require.ErrorIs(t, err, ErrPongTimeout)
	assert.Equal(t, CloseGoingAway, p.expectClose())
	p.ExpectEOF()
}

// Any traffic answers a keepalive ping, not only the pong.
func TestKeepaliveAnyTrafficAnswers(t *testing.T) {
	// The peer never answers a ping, but sends a message every iv/10: with
	// PongTimeout at iv/2 that is five times the gap the check tolerates,
	// room enough for a loaded machine.
	const iv = 400 * time.Millisecond
	c, p := newRawPeer(t, RoleServer, &Options{PingInterval: iv, PongTimeout: iv / 2})
	go func() {
		for range 10 * 2 {
			time.Sleep(iv / 10)
			if _, err := p.Conn.Write(wstest.Frame{Fin: true, Opcode: wstest.OpBinary, Payload: []byte{1}}.Mask().Bytes()); err != nil {
				return
			}
		}
	}()
	for range 10 * 2 { // two whole intervals, so pings went out and were "answered"
		_, msg, err := c.ReadMessage()
		require.NoError(t, err)
		require.Equal(t, []byte{1}, msg)
	}
}

// Ping returns the round-trip time once the matching pong arrives, while
// another goroutine reads.
func TestPingRTT(t *testing.T) {
	c, s := pipePair(t, nil, nil)
	go func() {
		for {
			if _, _, err := s.ReadMessage(); err != nil {
				return
			}
		}
	}()
	go func() {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rtt, err := c.Ping(ctx, []byte{byte('a' + i)})
			assert.NoError(t, err)
			assert.Greater(t, rtt, time.Duration(0))
		}()
	}
	wg.Wait()
	assert.Empty(t, c.pongs.Load().waiting, "every waiter removed")
}

// A pong whose payload does not match leaves Ping waiting; the matching one
// ends the wait, and the pong handler sees both.
func TestPingMatchesPayload(t *testing.T) {
	c, p := newRawPeer(t, RoleClient, nil)
	var seen []string
	var mu sync.Mutex
	c.SetPongHandler(func(b []byte) { mu.Lock(); seen = append(seen, string(b)); mu.Unlock() })
	go func() {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	type res struct {
		rtt time.Duration
		err error
	}
	done := make(chan res, 1)
	go func() {
		rtt, err := c.Ping(context.Background(), []byte("mine"))
		done <- res{rtt, err}
	}()
	h, payload := p.next()
	require.Equal(t, OpPing, h.Opcode)
	require.Equal(t, "mine", string(payload))
	p.send(true, OpPong, []byte("other"))
	select {
	case r := <-done:
		require.Failf(t, "Ping ended on a pong with another payload", "%v", r)
	case <-time.After(100 * time.Millisecond):
	}
	p.send(true, OpPong, []byte("mine"))
	r := <-done
	require.NoError(t, r.err)
	assert.Greater(t, r.rtt, 50*time.Millisecond, "the RTT counts from the ping, not from the last pong")
	mu.Lock()
	assert.Equal(t, []string{"other", "mine"}, seen)
	mu.Unlock()
}

// Ping without a reader waits until its context ends; on a connection that
// closes it returns the connection's error; a payload over 125 bytes is
// refused.
func TestPingEnds(t *testing.T) {
	c, _ := newRawPeer(t, RoleClient, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Ping(ctx, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	_, err = c.Ping(context.Background(), make([]byte, 126))
	require.ErrorIs(t, err, ErrControlTooLong)

	errc := make(chan error, 1)
	go func() { _, err := c.Ping(context.Background(), []byte("x")); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, c.CloseNow())
	err = <-errc
	require.True(t, errors.Is(err, ErrClosed), "got %v", err)
}

// The byte counters count frames as they are on the wire, both ways, and
// on a dialed connection the handshake too.
func TestByteCounters(t *testing.T) {
	c, p := newRawPeer(t, RoleClient, nil)
	f1 := wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte("hello")}.Bytes()
	f2 := wstest.Frame{Fin: true, Opcode: wstest.OpBinary, Payload: make([]byte, 70000)}.Bytes()
	p.Write(append(f1, f2...))
	for range 2 {
		_, _, err := c.ReadMessage()
		require.NoError(t, err)
	}
	assert.Equal(t, int64(len(f1)+len(f2)), c.BytesReceived())
	require.NoError(t, c.WriteText("abc"))                          // 2 + 4 + 3
	require.NoError(t, c.WriteMessage(OpBinary, make([]byte, 300))) // 4 + 4 + 300
	assert.Equal(t, int64(9+308), c.BytesSent())

	url, _ := echoServer(t, &Upgrader{})
	d := dialT(t, &Dialer{}, url)
	sent, recv := d.BytesSent(), d.BytesReceived()
	assert.Greater(t, sent, int64(100), "the upgrade request")
	assert.Greater(t, recv, int64(100), "the 101 response")
	require.NoError(t, d.WriteText("hi"))
	_, _, err := d.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, sent+8, d.BytesSent())
	assert.Equal(t, recv+4, d.BytesReceived())
}

// A negative PongTimeout makes the pings a heartbeat only: a peer that never
// answers is not failed for it.
func TestKeepaliveNegativePongTimeoutNeverFails(t *testing.T) {
	const iv = 30 * time.Millisecond
	c, p := newRawPeer(t, RoleClient, &Options{PingInterval: iv, PongTimeout: -1})
	readErr := make(chan error, 1)
	go func() {
		_, _, err := c.ReadMessage()
		readErr <- err
	}()
	for range 8 { // eight intervals without an answer
		h, _ := p.next()
		require.Equal(t, OpPing, h.Opcode)
	}
	select {
	case err := <-readErr:
		require.Failf(t, "failed although PongTimeout is negative", "%v", err)
	default:
	}
	p.send(true, OpText, []byte("still here"))
	require.NoError(t, <-readErr)
}
