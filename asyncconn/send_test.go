package asyncconn

import (
	"bytes"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/wstest"
	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A server that stops reading fills the send buffer: OnBufferFull, then sends are refused with
// OnError(SendFail) while the connection stays up; when the server reads again the buffer drains
// (OnBufferDrain) and the heartbeat is still running (Workerman stops it for good, bug B9).
func TestBufferFullDrainAndTheHeartbeatSurvives(t *testing.T) {
	release := make(chan struct{})
	var pings atomic.Int32
	got := make(chan string, 1)
	srv := newWSServerSmallWindow(t, func(c *ws.Conn, _ *http.Request) {
		c.SetPingHandler(func(p []byte) { pings.Add(1); _ = c.WritePong(p) })
		<-release
		for {
			_, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if string(msg) == "after" {
				got <- "after"
			}
		}
	})
	defer close(release)
	l := startLoop(t)
	c := newConn(t, l, srv.url)
	c.WebsocketPingInterval = 20 * time.Millisecond
	r := newRecorder()
	record(c, r)
	c.Connect()
	r.waitFor(t, "wsconnect 101 ESTABLISHED", 1)

	// Fill the kernel's socket buffers too, until the writer is stuck and the send buffer stays
	// full. Every round ends with one refused send.
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	for round := 0; ; round++ {
		require.Less(t, round, 1000, "the send buffer never stayed full")
		var err error
		for range 100000 {
			if err = c.SendBinary(chunk); err != nil {
				break
			}
		}
		require.ErrorIs(t, err, ErrSendBufferFull)
		assert.ErrorIs(t, c.LastError(), ErrSendBufferFull)
		assert.Less(t, c.SendBufferSize(), c.MaxSendBufferSize+frameSize(len(chunk)), "one send may overshoot, no more")
		time.Sleep(20 * time.Millisecond)
		if c.SendBufferSize() >= c.MaxSendBufferSize {
			break
		}
	}
	evs := r.waitFor(t, "error SEND_FAIL ESTABLISHED", 1)
	assert.Equal(t, []string{"connect ESTABLISHED", "wsconnect 101 ESTABLISHED"}, evs[:2])
	assertFullDrainCycles(t, r.events()[2:])
	assert.Equal(t, StatusEstablished, c.Status(), "a full buffer does not close the connection")

	release <- struct{}{}
	r.waitUntil(t, "the last drain", func(evs []string) bool {
		return len(evs) > 0 && r.count("bufferdrain") == r.count("bufferfull")
	})
	assert.Zero(t, c.SendBufferSize())
	require.NoError(t, c.SendString("after"))
	assert.Equal(t, "after", recv(t, got, "message after the drain"))
	before := pings.Load()
	require.Eventually(t, func() bool { return pings.Load() >= before+3 }, connWait, 5*time.Millisecond,
		"pings keep coming after the buffer was full")
	assertFullDrainCycles(t, r.events()[2:])
	assert.Equal(t, r.count("bufferfull"), r.count("bufferdrain"), "the last drain came")
	assert.Equal(t, 0, r.count("close"))
}

// assertFullDrainCycles checks that buffer events come as cycles of OnBufferFull, then
// OnError(SendFail) for each refused send (none if the buffer drained before the next send), then
// OnBufferDrain; pongs may come anywhere.
func assertFullDrainCycles(t *testing.T, evs []string) {
	t.Helper()
	state := 0 // 0: expect full; 1: full, errors until the drain
	for _, e := range evs {
		switch {
		case strings.HasPrefix(e, "pong"):
		case e == "bufferfull" && state == 0:
			state = 1
		case strings.HasPrefix(e, "error SEND_FAIL") && state == 1:
		case e == "bufferdrain" && state == 1:
			state = 0
		default:
			require.FailNowf(t, "buffer events out of order", "%q in state %d: %q", e, state, evs)
		}
	}
}

// The pre-upgrade queue is bounded by MaxSendBufferSize too (Workerman's tmpWebsocketData).
func TestBufferLimitBeforeConnect(t *testing.T) {
	l := startLoop(t)
	c := newConn(t, l, "ws://127.0.0.1:1")
	c.MaxSendBufferSize = 100
	r := newRecorder()
	record(c, r)
	require.NoError(t, c.Send(make([]byte, 60)))
	require.NoError(t, c.Send(make([]byte, 60)), "the send that reaches the limit is accepted")
	require.ErrorIs(t, c.Send([]byte("x")), ErrSendBufferFull)
	r.waitFor(t, "error SEND_FAIL INITIAL", 1)
	assert.Equal(t, []string{"bufferfull", "error SEND_FAIL INITIAL"}, r.events())
	assert.Equal(t, 2*frameSize(60), c.SendBufferSize())
	// Close with no attempt drops the buffer and refuses sends.
	require.NoError(t, c.Close(ws.CloseNormalClosure, ""))
	assert.Zero(t, c.SendBufferSize())
	assert.Equal(t, StatusClosed, c.Status())
	assert.ErrorIs(t, c.Send([]byte("x")), ErrNotOpen)
}

// Empty messages count for their frame, so even they cannot grow the buffer without a bound.
func TestEmptyMessagesAreBounded(t *testing.T) {
	l := startLoop(t)
	c := newConn(t, l, "ws://127.0.0.1:1")
	c.MaxSendBufferSize = 60
	n := 0
	for c.Send(nil) == nil {
		n++
		require.Less(t, n, 1000)
	}
	assert.Equal(t, 10, n, "6 bytes of frame each")
}

func TestPingAndPongQueueControlFrames(t *testing.T) {
	pings := make(chan string, 4)
	srv := newWSServer(t, func(c *ws.Conn, _ *http.Request) {
		c.SetPingHandler(func(p []byte) { pings <- string(p); _ = c.WritePong(p) })
		c.SetPongHandler(func(p []byte) { pings <- "pong " + string(p) })
		echo(c, nil)
	})
	l := startLoop(t)
	c := newConn(t, l, srv.url)
	r := newRecorder()
	record(c, r)
	assert.ErrorIs(t, c.Ping([]byte("early")), ErrNotOpen, "no ping before the upgrade")
	c.Connect()
	r.waitFor(t, "wsconnect 101 ESTABLISHED", 1)
	require.NoError(t, c.Ping([]byte("are you there")))
	assert.Equal(t, "are you there", recv(t, pings, "ping"))
	r.waitFor(t, "pong are you there", 1)
	require.NoError(t, c.Pong([]byte("unsolicited")))
	assert.Equal(t, "pong unsolicited", recv(t, pings, "pong"))
	// RFC 6455 §5.5: control frames carry at most 125 bytes.
	assert.ErrorIs(t, c.Ping(make([]byte, 126)), ws.ErrControlTooLong)
}

// WebsocketPingInterval sends pings masked with fresh random keys (Workerman: the constant key
// 00000000, bug B5; RFC 6455 §5.3 requires an unpredictable key per frame).
func TestPingIntervalSendsMaskedPings(t *testing.T) {
	keys := make(chan [4]byte, 8)
	url := wstest.Serve(t, func(p *wstest.Peer) {
		p.Upgrade()
		for {
			f, err := wstest.ReadFrame(p.R)
			if err != nil {
				return
			}
			if f.Opcode == wstest.OpPing {
				assert.True(t, f.Masked, "RFC 6455 §5.1: a client masks every frame")
				assert.True(t, f.Fin)
				assert.Empty(t, f.Payload)
				keys <- f.Key
				_, _ = p.Conn.Write(wstest.Frame{Fin: true, Opcode: wstest.OpPong, Payload: f.Payload}.Bytes())
			}
		}
	}).URL
	l := startLoop(t)
	c := newConn(t, l, url)
	c.WebsocketPingInterval = 10 * time.Millisecond
	r := newRecorder()
	record(c, r)
	c.Connect()
	seen := map[[4]byte]bool{}
	for range 4 {
		k := recv(t, keys, "ping")
		assert.NotEqual(t, [4]byte{}, k)
		seen[k] = true
	}
	assert.Greater(t, len(seen), 1, "the keys differ")
	r.waitFor(t, "pong ", 2)
}

// PongTimeout (our addition) fails a connection whose server stops answering.
func TestPongTimeoutFailsASilentConnection(t *testing.T) {
	srv := newWSServer(t, func(c *ws.Conn, _ *http.Request) {
		c.SetPingHandler(func([]byte) {}) // never answers
		echo(c, nil)
	})
	l := startLoop(t)
	c := newConn(t, l, srv.url)
	c.WebsocketPingInterval = 20 * time.Millisecond
	c.PongTimeout = 60 * time.Millisecond
	r := newRecorder()
	record(c, r)
	c.Connect()
	evs := r.waitFor(t, "close CLOSED", 1)
	assert.Equal(t, []string{"connect ESTABLISHED", "wsconnect 101 ESTABLISHED", "error PING_TIMEOUT CLOSING", "close CLOSED"}, evs)
	assert.ErrorIs(t, c.LastError(), ErrPongTimeout)
	waitNoConnGoroutines(t)
}

func TestPongTimeoutDoesNotFireWhilePongsArrive(t *testing.T) {
	srv := newWSServer(t, echo)
	l := startLoop(t)
	c := newConn(t, l, srv.url)
	c.WebsocketPingInterval = 5 * time.Millisecond
	c.PongTimeout = 500 * time.Millisecond
	r := newRecorder()
	record(c, r)
	c.Connect()
	r.waitFor(t, "pong ", 20)
	for _, e := range r.events() {
		assert.NotContains(t, e, "error")
		assert.NotContains(t, e, "close")
	}
}

// PauseRecv: no message is delivered between PauseRecv and ResumeRecv; what was read meanwhile
// comes after ResumeRecv, in order, and so does the answer to a ping.
func TestPauseAndResumeRecv(t *testing.T) {
	fromClient := make(chan string, 4)
	pongs := make(chan string, 1)
	srv := newWSServer(t, func(c *ws.Conn, _ *http.Request) {
		c.SetPongHandler(func(p []byte) { pongs <- string(p) })
		_ = c.WriteMessage(ws.OpText, []byte("m1"))
		for {
			_, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			fromClient <- string(msg)
			if string(msg) == "paused" {
				_ = c.WriteMessage(ws.OpText, []byte("m2"))
				_ = c.WriteMessage(ws.OpText, []byte("m3"))
				_ = c.WritePing([]byte("still there?"))
				_ = c.WriteMessage(ws.OpText, []byte("m4"))
			}
		}
	})
	l := startLoop(t)
	c := newConn(t, l, srv.url)
	r := newRecorder()
	c.OnMessage = func(c *Conn, data []byte) {
		r.add("%s", data)
		if string(data) == "m1" {
			c.PauseRecv()
			_ = c.SendString("paused") // sending still works while paused
		}
	}
	c.Connect()
	assert.Equal(t, "paused", recv(t, fromClient, "paused"))
	// The server has sent m2..m4 and a ping; give them time to arrive, then check that none
	// was delivered and the ping was not answered.
	time.Sleep(100 * time.Millisecond)
	flush(t, l)
	assert.Equal(t, []string{"m1"}, r.events())
	select {
	case p := <-pongs:
		require.FailNow(t, "ping answered while paused: "+p)
	default:
	}
	c.ResumeRecv()
	evs := r.waitFor(t, "m4", 1)
	assert.Equal(t, []string{"m1", "m2", "m3", "m4"}, evs)
	assert.Equal(t, "still there?", recv(t, pongs, "pong after resume"))
}

// A close by the server while a Close of ours is waiting behind a slow write cannot hang: Close is
// bounded by CloseTimeout even when the server never reads.
func TestCloseIsBoundedWhenTheServerStopsReading(t *testing.T) {
	stop := make(chan struct{})
	srv := newWSServerSmallWindow(t, func(c *ws.Conn, _ *http.Request) { <-stop })
	defer close(stop)
	l := startLoop(t)
	c := newConn(t, l, srv.url)
	c.CloseTimeout = 100 * time.Millisecond
	r := newRecorder()
	record(c, r)
	c.Connect()
	r.waitFor(t, "wsconnect 101 ESTABLISHED", 1)
	big := bytes.Repeat([]byte("y"), 256<<10)
	for c.SendBinary(big) == nil {
	}
	require.NoError(t, c.Close(ws.CloseNormalClosure, ""))
	evs := r.waitFor(t, "close CLOSED", 1)
	for _, e := range evs {
		if strings.HasPrefix(e, "error") {
			// The refusal that ended the fill loop and, if messages were still queued when
			// CloseTimeout ran out (rather than all in the socket), the report of their loss.
			assert.True(t, strings.HasPrefix(e, "error SEND_FAIL"), e)
		}
	}
	assert.LessOrEqual(t, r.count("error"), 2)
	waitNoConnGoroutines(t)
}

// Close while receiving is paused still completes the closing handshake.
func TestCloseWhilePaused(t *testing.T) {
	serverEnd := make(chan error, 1)
	srv := newWSServer(t, readAll(make(chan string, 4), serverEnd))
	l := startLoop(t)
	c := newConn(t, l, srv.url)
	r := newRecorder()
	record(c, r)
	c.OnWebSocketConnect = func(c *Conn, _ *http.Response) {
		c.PauseRecv()
		assert.NoError(t, c.Close(ws.CloseNormalClosure, "paused"))
	}
	c.Connect()
	r.waitFor(t, "close CLOSED", 1)
	assert.Equal(t, ws.CloseNormalClosure, ws.CloseStatus(recv(t, serverEnd, "server end")))
	waitNoConnGoroutines(t)
}
