package asyncconn

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/wstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plainws/plainws/ws"
)

// collectFrames reads what the client sends until its close frame or the end of the connection
// and returns it, one line per frame ("text hello", "close 1002", "pong p3").
func collectFrames(p *wstest.Peer) []string {
	var got []string
	for _, f := range p.ReadUntilClose() {
		if f.Opcode == wstest.OpClose {
			// The handshake is over; the server closes TCP first (RFC 6455 §7.1.1).
			code, _, _ := ws.ParseClosePayload(f.Payload)
			return append(got, fmt.Sprintf("close %d", code))
		}
		got = append(got, fmt.Sprintf("%s %s", ws.Opcode(f.Opcode), f.Payload))
	}
	return got
}

// scripted runs a raw server that answers the upgrade, writes script (each element in a write of
// its own), and reports every frame the client sent until it closed.
func scripted(t *testing.T, script ...[]byte) (string, <-chan []string) {
	t.Helper()
	frames := make(chan []string, 1)
	url := wstest.Serve(t, func(p *wstest.Peer) {
		p.UpgradeAnd(script[0])
		for _, b := range script[1:] {
			if _, err := p.Conn.Write(b); err != nil {
				return
			}
		}
		frames <- collectFrames(p)
	}).URL
	return url, frames
}

// A message Send accepted in OnWebSocketConnect leaves before the answer to a close frame that
// came right behind the 101 — in the same TCP write or in the next one (RFC 6455 §5.5.1: no data
// after our close frame, so it must go first).
func TestSendInOnWebSocketConnectGoesOutBeforeTheCloseReply(t *testing.T) {
	closeFrame := wstest.Close(wstest.CloseNormal, "bye").Bytes()
	for name, script := range map[string][][]byte{
		"same write":     {closeFrame},
		"separate write": {{}, closeFrame},
	} {
		t.Run(name, func(t *testing.T) {
			url, frames := scripted(t, script...)
			l := startLoop(t)
			c := newConn(t, l, url)
			r := newRecorder()
			record(c, r)
			c.OnWebSocketConnect = func(c *Conn, _ *http.Response) {
				r.add("wsconnect")
				assert.NoError(t, c.SendString("hello"))
				assert.NoError(t, c.SendString("world"))
			}
			c.Connect()
			assert.Equal(t, []string{"text hello", "text world", "close 1000"}, recv(t, frames, "frames"))
			evs := r.waitFor(t, "close CLOSED", 1)
			assert.Equal(t, []string{"connect ESTABLISHED", "wsconnect", "wsclose 1000 bye", "close CLOSED"}, evs)
		})
	}
}

// A message received right before a protocol violation is delivered, and its echo sent, before
// the close frame that fails the connection: in that order on the wire.
func TestEchoOfTheMessageBeforeAViolationGoesOutFirst(t *testing.T) {
	for name, bad := range map[string][]byte{
		"bad RSV":              wstest.Frame{Fin: true, Rsv: wstest.Rsv1, Opcode: wstest.OpText}.Bytes(),
		"reserved opcode":      wstest.Frame{Fin: true, Opcode: 0x3}.Bytes(),
		"orphan continuation":  wstest.Frame{Fin: true, Opcode: wstest.OpContinuation}.Bytes(),
		"control fragmented":   wstest.Frame{Fin: false, Opcode: wstest.OpPing}.Bytes(),
		"masked server frame":  wstest.Frame{Fin: true, Opcode: wstest.OpText, Masked: true}.Bytes(),
		"invalid UTF-8 (1007)": wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte{0xff}}.Bytes(),
	} {
		t.Run(name, func(t *testing.T) {
			msg := wstest.Text("echo me").Bytes()
			url, frames := scripted(t, append(msg, bad...))
			l := startLoop(t)
			c := newConn(t, l, url)
			r := newRecorder()
			record(c, r)
			c.OnMessage = func(c *Conn, data []byte) {
				r.add("message %s", data)
				assert.NoError(t, c.Send(data))
			}
			c.Connect()
			got := recv(t, frames, "frames")
			require.Len(t, got, 2, "%q", got)
			assert.Equal(t, "text echo me", got[0])
			assert.Contains(t, []string{"close 1002", "close 1007"}, got[1])
			evs := r.waitFor(t, "close CLOSED", 1)
			assert.Equal(t, []string{"connect ESTABLISHED", "wsconnect 101 ESTABLISHED", "message echo me",
				"error PROTOCOL_FAIL CLOSING", "close CLOSED"}, evs)
		})
	}
}

// lossRecorder records OnError with LastError, so a test sees the *LostError.
func lossRecorder(c *Conn, r *recorder, lost *[]*LostError, mu *sync.Mutex) {
	c.OnError = func(c *Conn, code ErrorCode, msg string) {
		r.add("error %s", code)
		var le *LostError
		if errors.As(c.LastError(), &le) {
			mu.Lock()
			*lost = append(*lost, le)
			mu.Unlock()
		}
	}
}

// A server that resets TCP while frames are queued: the loss is reported, once, with how much was
// lost, before OnClose.
func TestResetWithFramesQueuedReportsTheLoss(t *testing.T) {
	const n, size = 400, 32 << 10
	upgraded := make(chan struct{})
	url := wstest.Serve(t, func(p *wstest.Peer) {
		p.Upgrade()
		<-upgraded // the client queued everything; we read nothing, then reset
		time.Sleep(50 * time.Millisecond)
		p.Reset()
	}).URL
	l := startLoop(t)
	c := newConn(t, l, url)
	c.MaxSendBufferSize = n * (size + 16)
	r := newRecorder()
	record(c, r)
	var mu sync.Mutex
	var lost []*LostError
	lossRecorder(c, r, &lost, &mu)
	c.OnWebSocketConnect = func(c *Conn, _ *http.Response) {
		for range n {
			require.NoError(t, c.Send(bytes.Repeat([]byte{'x'}, size)))
		}
		close(upgraded)
	}
	c.Connect()
	evs := r.waitFor(t, "close CLOSED", 1)
	require.GreaterOrEqual(t, len(evs), 3)
	assert.Equal(t, "error SEND_FAIL", evs[len(evs)-2], "the loss comes right before OnClose: %q", evs)
	assert.Equal(t, 1, r.count("error SEND_FAIL"), "reported once")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, lost, 1)
	assert.Greater(t, lost[0].Messages, 0)
	assert.Less(t, lost[0].Messages, n, "the socket took some before the reset")
	assert.Equal(t, lost[0].Messages*size, lost[0].Bytes)
	assert.ErrorIs(t, lost[0], ErrNotSent)
	waitNoConnGoroutines(t)
}

// Close promises to send the buffer first; a server that reads nothing keeps it from draining,
// and after CloseTimeout what is left is reported lost before OnClose.
func TestCloseThatCannotFlushReportsTheLoss(t *testing.T) {
	const n, size = 200, 64 << 10
	url := wstest.Serve(t, func(p *wstest.Peer) {
		p.Upgrade()
		p.Silent() // reads nothing until the test ends
	}).URL
	l := startLoop(t)
	c := newConn(t, l, url)
	c.MaxSendBufferSize = n * (size + 16)
	c.CloseTimeout = 200 * time.Millisecond
	r := newRecorder()
	record(c, r)
	var mu sync.Mutex
	var lost []*LostError
	lossRecorder(c, r, &lost, &mu)
	c.OnWebSocketConnect = func(c *Conn, _ *http.Response) {
		for range n {
			require.NoError(t, c.Send(make([]byte, size)))
		}
		require.NoError(t, c.Close(ws.CloseNormalClosure, ""))
	}
	c.Connect()
	evs := r.waitFor(t, "close CLOSED", 1)
	assert.Equal(t, []string{"connect ESTABLISHED", "error SEND_FAIL", "close CLOSED"}, evs)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, lost, 1)
	assert.Greater(t, lost[0].Messages, 0)
}

// Every ping of a burst gets its own pong, in order, with its own payload (RFC 6455 §5.5.2), as
// with package ws alone and with Workerman.
func TestEveryPingOfABurstIsAnswered(t *testing.T) {
	var burst []byte
	var want []string
	for i := range 10 {
		p := fmt.Sprintf("p%d", i)
		burst = append(burst, wstest.Frame{Fin: true, Opcode: wstest.OpPing, Payload: []byte(p)}.Bytes()...)
		want = append(want, "pong "+p)
	}
	closeFrame := wstest.Close(wstest.CloseNormal, "").Bytes()
	for name, script := range map[string][][]byte{
		"one write": {append(burst, closeFrame...)},
		"one byte at a time": func() [][]byte {
			var s [][]byte
			for _, b := range burst {
				s = append(s, []byte{b})
			}
			return append(s, closeFrame)
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			url, frames := scripted(t, script...)
			l := startLoop(t)
			c := newConn(t, l, url)
			c.Connect()
			got := recv(t, frames, "frames")
			assert.Equal(t, append(want, "close 1000"), got)
		})
	}
}

// A ping between the fragments of a message is answered at once and the message stays whole;
// with OnWebSocketPing set, the program answers, and every one of its pongs goes out.
func TestPingsBetweenFragmentsAndProgramPongs(t *testing.T) {
	script := bytes.Join([][]byte{
		wstest.Frame{Opcode: wstest.OpText, Payload: []byte("frag")}.Bytes(),
		wstest.Frame{Fin: true, Opcode: wstest.OpPing, Payload: []byte("a")}.Bytes(),
		wstest.Frame{Fin: true, Opcode: wstest.OpPing, Payload: []byte("b")}.Bytes(),
		wstest.Frame{Fin: true, Opcode: wstest.OpContinuation, Payload: []byte("ment")}.Bytes(),
		wstest.Close(wstest.CloseNormal, "").Bytes(),
	}, nil)
	url, frames := scripted(t, script)
	l := startLoop(t)
	c := newConn(t, l, url)
	c.OnWebSocketPing = func(c *Conn, p []byte) {
		assert.NoError(t, c.Pong(append([]byte("re:"), p...)))
	}
	c.OnMessage = func(c *Conn, data []byte) { assert.NoError(t, c.Send(data)) }
	c.Connect()
	assert.Equal(t, []string{"pong re:a", "pong re:b", "text fragment", "close 1000"}, recv(t, frames, "frames"))
}

// An echo client facing a server that sends a burst of small messages as fast as it can: every
// echo comes back, in order, and none is dropped (the writer gathers what is queued into few
// writes, and the reader holds back while the writer catches up).
func TestEchoBurstComesBackComplete(t *testing.T) {
	total := 1_000_000
	if raceEnabled {
		total = 100_000 // the race detector makes each message ~10× dearer
	}
	result := make(chan error, 1)
	srv := newWSServer(t, func(s *ws.Conn, _ *http.Request) {
		go func() {
			var buf []byte
			for i := range total {
				buf = fmt.Appendf(buf[:0], "m%d", i)
				if err := s.WriteMessage(ws.OpText, buf); err != nil {
					return
				}
			}
		}()
		var buf []byte
		for i := range total {
			_, msg, err := s.ReadMessageInto(buf)
			if err != nil {
				result <- fmt.Errorf("after %d echoes: %w", i, err)
				return
			}
			buf = msg
			if want := fmt.Sprintf("m%d", i); string(msg) != want {
				result <- fmt.Errorf("echo %d is %q, want %q", i, msg, want)
				return
			}
		}
		result <- nil
	})
	l := startLoop(t)
	c := newConn(t, l, srv.url)
	var failures strings.Builder
	c.OnError = func(c *Conn, code ErrorCode, msg string) { fmt.Fprintf(&failures, "%s: %s; ", code, msg) }
	c.OnMessage = func(c *Conn, data []byte) {
		if err := c.Send(data); err != nil {
			fmt.Fprintf(&failures, "send: %v; ", err)
		}
	}
	c.Connect()
	select {
	case err := <-result:
		require.NoError(t, err)
	case <-time.After(2 * time.Minute):
		require.FailNow(t, "the burst did not come back in time")
	}
	done := make(chan string, 1)
	l.Post(func() { done <- failures.String() })
	assert.Empty(t, recv(t, done, "failures"))
}
