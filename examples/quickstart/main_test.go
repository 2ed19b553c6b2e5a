package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/capture"
	"github.com/plainws/plainws/internal/wstest"
	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stamped is one output line: its time offset and its text without the "[+0.000s] " prefix.
type stamped struct {
	at   time.Duration
	text string
}

var stampRE = regexp.MustCompile(`^\[\+(\d+\.\d{3})s\] (.*)$`)

// parse splits the output into lines and checks that every one carries a time offset.
func parse(t *testing.T, out string) []stamped {
	t.Helper()
	var lines []stamped
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		m := stampRE.FindStringSubmatch(l)
		require.NotNil(t, m, "line without a time offset: %q", l)
		secs, err := strconv.ParseFloat(m[1], 64)
		require.NoError(t, err)
		lines = append(lines, stamped{at: time.Duration(secs * float64(time.Second)), text: m[2]})
	}
	return lines
}

// inOrder asserts that lines contain a line starting with each prefix, in this order, and returns
// the index of each match.
func inOrder(t *testing.T, lines []stamped, prefixes ...string) []int {
	t.Helper()
	var idx []int
	i := 0
	for _, want := range prefixes {
		for i < len(lines) && !strings.HasPrefix(lines[i].text, want) {
			i++
		}
		if !assert.Less(t, i, len(lines), "no line %q after the previous ones", want) {
			return idx
		}
		idx = append(idx, i)
		i++
	}
	return idx
}

func count(lines []stamped, prefix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l.text, prefix) {
			n++
		}
	}
	return n
}

// The README's main job: every event of the seed's client, a server-initiated close, the
// reconnect one second later, a second session, and a clean close by the client.
func TestQuickstartShowsEveryEvent(t *testing.T) {
	out, err := capture.Stdout(func() error { return run(context.Background(), "", 0) })
	require.NoError(t, err, out)
	lines := parse(t, out)

	idx := inOrder(t, lines,
		"server: listening on 127.0.0.1:",
		"connecting to ws://127.0.0.1:",
		// Session 1: the seed's callbacks in Workerman's order.
		"tcp connected",
		"websocket connected, session 1: HTTP/1.1 101 Switching Protocols",
		"    Sec-Websocket-Accept: ",
		"send: hello",
		"recv: hello",
		// The server goes away with 1001; OnWebSocketClose runs before the close is answered.
		`server closes: 1001 "server restarting"`,
		`server: session 1: the client answered our close: 1001 "server restarting"`,
		"connection closed, reconnecting in 1s",
		// Session 2 after ReConnect(1s).
		"tcp connected",
		"websocket connected, session 2: HTTP/1.1 101 Switching Protocols",
		"send: hello",
		"recv: hello",
		// The client's clean close: the server sees 1000 and answers it.
		"closing: the second session has its echo",
		`server: session 2: the client closes: 1000 "bye"`,
		`server answered our close: 1000 "bye"`,
		"connection closed",
		"done",
	)
	require.Len(t, idx, 19)

	// The server's 1001 is sent after its echo and before the client reports it.
	inOrder(t, lines, `server: session 1: echo "hello"`, `server: session 1: closing with 1001`, `server closes: 1001`)
	// Each upgrade request carried the seed's headers.
	for _, n := range []string{"1", "2"} {
		assert.Equal(t, 1, count(lines, "server: session "+n+`: upgrade request for /, Cookie "PHPSID=82u98fjhakfusuanfnahfi; token=2hf9a929jhfihaf9i"`))
	}

	// Exactly two connections, no errors, and the final close did not reconnect.
	assert.Equal(t, 2, count(lines, "tcp connected"))
	assert.Equal(t, 0, count(lines, "error:"))
	assert.Equal(t, "done", lines[len(lines)-1].text)

	// ReConnect(1 * time.Second): the second connection starts no earlier than a second after
	// the first one's OnClose (offsets are rounded to the millisecond).
	closedAt, reconnectedAt := lines[idx[9]].at, lines[idx[10]].at
	assert.GreaterOrEqual(t, reconnectedAt-closedAt, time.Second-time.Millisecond)
}

// echoServer is a plain echo server for the -url mode.
func echoServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := (&ws.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			op, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if c.WriteMessage(op, msg) != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// With -url the client talks to that server until -exit-after, then closes with 1000.
func TestQuickstartURLExitAfter(t *testing.T) {
	url := echoServer(t) + "/chat"
	out, err := capture.Stdout(func() error { return run(context.Background(), url, 300*time.Millisecond) })
	require.NoError(t, err, out)
	lines := parse(t, out)
	inOrder(t, lines,
		"connecting to "+url,
		"tcp connected",
		"websocket connected, session 1: HTTP/1.1 101 Switching Protocols",
		"send: hello",
		"recv: hello",
		"closing: context deadline exceeded",
		`server answered our close: 1000 "bye"`,
		"connection closed",
		"done",
	)
	assert.Equal(t, 0, count(lines, "server:"), "no embedded server with -url")
	assert.Equal(t, 1, count(lines, "tcp connected"))
}

// A server that is not there: OnError, OnClose and a pending reconnect; at the end Close cancels
// the reconnect and the program still ends cleanly.
func TestQuickstartURLUnreachable(t *testing.T) {
	addr := wstest.UnusedAddr(t)

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel) // as Ctrl-C would
	out, err := capture.Stdout(func() error { return run(ctx, "ws://"+addr, 0) })
	require.NoError(t, err, out)
	lines := parse(t, out)
	inOrder(t, lines,
		"connecting to ws://"+addr,
		"error: CONNECT_FAIL: ",
		"connection closed, reconnecting in 1s",
		"closing: context canceled",
		"done",
	)
	assert.Equal(t, 0, count(lines, "tcp connected"))
	assert.Equal(t, 1, count(lines, "error:"), "the reconnect was cancelled before it ran")
}
