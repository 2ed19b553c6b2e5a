package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plainws/plainws/asyncconn"
	"github.com/plainws/plainws/internal/capture"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var stampRE = regexp.MustCompile(`^\[\+\d+\.\d{3}s\] (.*)$`)

// lines returns the output's lines without their time offsets, which every line must carry.
func lines(t *testing.T, out string) []string {
	t.Helper()
	var ls []string
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		m := stampRE.FindStringSubmatch(l)
		require.NotNil(t, m, "line without a time offset: %q", l)
		ls = append(ls, m[1])
	}
	return ls
}

// indexFrom returns the index of the first line at or after from that starts with prefix, or -1.
func indexFrom(ls []string, from int, prefix string) int {
	for i := from; i < len(ls); i++ {
		if strings.HasPrefix(ls[i], prefix) {
			return i
		}
	}
	return -1
}

var attemptRE = regexp.MustCompile(`^attempt (\d+) after (\d+)ms \(backoff (\d+)ms\.\.(\d+)ms\): (.*)$`)

type attemptLine struct {
	n       int
	waited  time.Duration
	outcome string
}

func TestReconnectExample(t *testing.T) {
	out, err := capture.Stdout(run)
	require.NoError(t, err, out)
	ls := lines(t, out)

	// The story, in order.
	order := []string{
		"server: listening on 127.0.0.1:",
		"connecting to ws://127.0.0.1:",
		"tcp connected",
		"websocket connected, session 1 (101 Switching Protocols)",
		"recv: hello",
		"pong 1 (session 1)", // the heartbeat is answered while the server is healthy
		"pong 2 (session 1)",
		"server: going away (closing the listener, dropping 1 connection(s))",
		"connection closed: ", // dropped without a close frame: EOF or a reset
		"attempt 1 after ",
		"server: back on ",
		"websocket connected, session 2 (101 Switching Protocols)",
		"server: session 2 stops reading",
		"error: PING_TIMEOUT: ",
		"connection closed: ",
		"attempt 1 after ",
		"websocket connected, session 3 (101 Switching Protocols)",
		"recv: hello",
		"closing with 1000",
		`server answered our close: 1000 "bye"`,
		"connection closed",
		"done",
	}
	idx := make(map[string]int)
	at := 0
	for _, want := range order {
		i := indexFrom(ls, at, want)
		require.GreaterOrEqual(t, i, 0, "no %q after line %d in:\n%s", want, at, out)
		if _, seen := idx[want]; !seen {
			idx[want] = i
		}
		at = i + 1
	}

	// The server came back on the address it had.
	addr := strings.TrimPrefix(ls[idx["server: listening on 127.0.0.1:"]], "server: listening on ")
	assert.Equal(t, "server: back on "+addr, ls[idx["server: back on "]])

	// The attempts while the server was down: refused downFor times, each after a delay the
	// policy allows, then the one after it got through. The delay is measured from OnClose, and
	// AutoReconnect's timer starts after OnClose, so the wait is at least the policy's lower
	// bound (Min·Factorⁿ⁻¹, capped at Max, minus at most Jitter of it).
	var attempts []attemptLine
	for _, l := range ls[idx["attempt 1 after "]:idx["websocket connected, session 2 (101 Switching Protocols)"]] {
		m := attemptRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		ms, _ := strconv.Atoi(m[2])
		attempts = append(attempts, attemptLine{n: n, waited: time.Duration(ms) * time.Millisecond, outcome: m[5]})
	}
	require.Len(t, attempts, downFor+1, out)
	for i, a := range attempts {
		assert.Equal(t, i+1, a.n, "attempts are numbered from the last successful upgrade")
		base := min(50*time.Millisecond<<i, 800*time.Millisecond)
		lo := base - base/5
		assert.GreaterOrEqual(t, a.waited, lo-time.Millisecond, "attempt %d waited at least %v", a.n, lo)
		if i < downFor {
			assert.True(t, strings.HasPrefix(a.outcome, "CONNECT_FAIL: "), a.outcome)
			assert.Contains(t, a.outcome, "connection refused")
		} else {
			assert.Equal(t, "tcp connected", a.outcome)
		}
	}

	// After the pong timeout the backoff starts over: the upgrade of session 2 reset it.
	m := attemptRE.FindStringSubmatch(ls[indexFrom(ls, idx["error: PING_TIMEOUT: "], "attempt ")])
	require.NotNil(t, m)
	assert.Equal(t, "1", m[1])
	assert.Equal(t, "tcp connected", m[5])

	// The silent server's pings were never answered, and it was a ping timeout, not a drop.
	for _, l := range ls {
		assert.False(t, strings.HasPrefix(l, "pong ") && strings.HasSuffix(l, "(session 2)"), l)
	}
	assert.Contains(t, ls[idx["error: PING_TIMEOUT: "]], asyncconn.ErrPongTimeout.Error())
	assert.Equal(t, "done", ls[len(ls)-1])
}

// delayRange matches what Backoff.Delay can return: Delay never leaves the range.
func TestDelayRangeMatchesBackoff(t *testing.T) {
	for n := range 8 {
		lo, hi := delayRange(policy, n)
		for range 50 {
			d := policy.Delay(n)
			assert.GreaterOrEqual(t, d, lo-time.Nanosecond, "n=%d", n)
			assert.LessOrEqual(t, d, hi, "n=%d", n)
		}
	}
	lo, hi := delayRange(policy, 10)
	assert.Equal(t, 800*time.Millisecond, hi, "capped at Max")
	assert.Equal(t, 640*time.Millisecond, lo)
}
