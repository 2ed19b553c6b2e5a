package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// "plainws load -c 20 -d 2s -json" against "plainws serve" opens every
// connection, and every message sent comes back: the generator stops sending,
// waits for the echoes in flight, then closes, so the counts are exact.
func TestLoadAgainstServe(t *testing.T) {
	bin := buildBinary(t)
	url := startServe(t, bin, "-quiet")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "load", "-c", "20", "-d", "2s", "-json", url)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "stderr:\n%s", stderr.String())

	var sum loadSummary
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &sum), stdout.String())
	assert.Equal(t, 20, sum.Target)
	assert.Equal(t, 20, sum.Connections)
	assert.Positive(t, sum.Received)
	assert.Equal(t, sum.Sent, sum.Received, "every message sent is echoed before the close")
	assert.Zero(t, sum.Lost)
	assert.Zero(t, sum.Errors, sum.ErrorSamples)
	assert.False(t, sum.Interrupted)
	assert.InDelta(t, 2.0, sum.DurationS, 1.5)
	assert.Positive(t, sum.MsgsPerS)
	assert.Positive(t, sum.RTTP50ms)
	assert.LessOrEqual(t, sum.RTTP50ms, sum.RTTP99ms)
	assert.LessOrEqual(t, sum.RTTP99ms, sum.RTTMaxms)
	// The progress line comes once a second on standard error.
	assert.Contains(t, stderr.String(), "conns 20/20")
	// The raw JSON carries the documented field names.
	var raw map[string]any
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &raw))
	for _, k := range []string{"connections", "sent", "received", "errors", "duration_s", "msgs_per_s", "rtt_p50_ms", "rtt_p99_ms", "rtt_max_ms"} {
		assert.Contains(t, raw, k)
	}
}

func TestLoadUsageErrors(t *testing.T) {
	ctx := context.Background()
	for _, args := range [][]string{
		{"load"},
		{"load", "ws://127.0.0.1:1/", "extra"},
		{"load", "-c", "0", "ws://127.0.0.1:1/"},
		{"load", "-size", "15", "ws://127.0.0.1:1/"},
		{"load", "-rate", "0", "ws://127.0.0.1:1/"},
		{"load", "-rate", "-1", "ws://127.0.0.1:1/"},
		{"load", "-d", "0s", "ws://127.0.0.1:1/"},
		{"load", "-loops", "0", "ws://127.0.0.1:1/"},
		{"load", "-nosuchflag", "ws://127.0.0.1:1/"},
		{"load", "http://127.0.0.1:1/"},
		{"load", "ws://"},
	} {
		var out, errb bytes.Buffer
		assert.Equal(t, exitUsage, run(ctx, args, nil, &out, &errb), "%q", args)
		assert.Empty(t, out.String(), "%q: nothing on stdout", args)
	}
	var out, errb bytes.Buffer
	assert.Equal(t, exitOK, run(ctx, []string{"load", "-h"}, nil, &out, &errb))
	assert.Contains(t, errb.String(), "Usage: plainws load")
	out.Reset()
	assert.Equal(t, exitOK, run(ctx, []string{"help"}, nil, &out, &errb))
	assert.Contains(t, out.String(), "plainws load")
}

// Nothing listens on port 1: every connection fails, the run exits 1 and
// reports the errors.
func TestLoadUnreachable(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"load", "-c", "3", "-d", "1s", "-json", "-quiet", "-timeout", "5s", "ws://127.0.0.1:1/"}, nil, &out, &errb)
	assert.Equal(t, exitFail, code)
	var sum loadSummary
	require.NoError(t, json.Unmarshal(out.Bytes(), &sum), out.String())
	assert.Equal(t, 3, sum.Target)
	assert.Zero(t, sum.Connections)
	assert.Equal(t, uint64(3), sum.Errors)
	assert.Zero(t, sum.Sent)
	require.NotEmpty(t, sum.ErrorSamples)
	assert.Contains(t, sum.ErrorSamples[0], "CONNECT_FAIL")
	assert.Contains(t, errb.String(), "* error: ")
	assert.Contains(t, errb.String(), "0 of 3 connections opened")
}

// Ctrl-C (the end of run's context) ends the run early: the summary is still
// printed, with exact counts, and every connection is closed with a closing
// handshake (RFC 6455 §7.1.2), code 1001 going away.
func TestLoadInterrupted(t *testing.T) {
	var mu sync.Mutex
	var codes []ws.StatusCode
	up := &ws.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			op, msg, err := c.ReadMessage()
			if err != nil {
				var ce *ws.CloseError
				if errors.As(err, &ce) {
					mu.Lock()
					codes = append(codes, ce.Code)
					mu.Unlock()
				}
				return
			}
			if c.WriteMessage(op, msg) != nil {
				return
			}
		}
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &syncBuffer{}
	var out bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"load", "-c", "5", "-rate", "50", "-d", "1m", "-json", url}, nil, &out, stderr)
	}()
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "conns 5/5") }, 20*time.Second, 10*time.Millisecond)
	cancel()
	select {
	case code := <-done:
		assert.Equal(t, exitOK, code, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("load did not end after the interrupt")
	}
	var sum loadSummary
	require.NoError(t, json.Unmarshal(out.Bytes(), &sum), out.String())
	assert.True(t, sum.Interrupted)
	assert.Equal(t, 5, sum.Connections)
	assert.Positive(t, sum.Received)
	assert.Equal(t, sum.Sent, sum.Received)
	assert.Zero(t, sum.Errors, sum.ErrorSamples)
	assert.Less(t, sum.DurationS, 30.0)
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(codes) == 5 }, 10*time.Second, 10*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for _, c := range codes {
		assert.Equal(t, ws.CloseGoingAway, c)
	}
}

// The histogram is fixed-size; its quantiles are within its precision (one
// part in 16) of the exact ones, and its maximum is exact.
func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	assert.Zero(t, h.quantile(0.5), "empty")
	rng := rand.New(rand.NewPCG(1, 2))
	vals := make([]int64, 100000)
	for i := range vals {
		vals[i] = rng.Int64N(50_000_000) // up to 50 ms in ns
		h.record(vals[i])
	}
	slices.Sort(vals)
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999, 1} {
		idx := int(float64(len(vals))*q+0.999999) - 1
		exact := vals[max(idx, 0)]
		got := h.quantile(q)
		assert.GreaterOrEqual(t, got, exact, "q=%v", q)
		assert.LessOrEqual(t, float64(got-exact), float64(exact)/16+1, "q=%v: %d vs %d", q, got, exact)
	}
	assert.Equal(t, vals[len(vals)-1], h.max)
	assert.Equal(t, h.max, h.quantile(1))
	assert.Equal(t, uint64(len(vals)), h.n)

	// Every value falls in a bucket whose upper bound is at or above it and
	// within 1/16 of it, over the whole range; negative values count as 0.
	for _, v := range []int64{0, 1, 31, 32, 33, 47, 48, 1000, 1 << 40, 1<<62 + 12345, 1<<63 - 1} {
		b := histBucket(v)
		require.Less(t, b, histBuckets, "v=%d", v)
		up := histUpper(b)
		assert.GreaterOrEqual(t, up, v)
		assert.LessOrEqual(t, float64(up-v), float64(v)/16, "v=%d", v)
		if b > 0 {
			assert.Less(t, histUpper(b-1), v, "v=%d is in the first bucket that holds it", v)
		}
	}
	var n histogram
	n.record(-5)
	assert.Equal(t, uint64(1), n.counts[0])

	// Merging adds counts; reset empties.
	var m histogram
	m.merge(&h)
	m.merge(&n)
	assert.Equal(t, h.n+1, m.n)
	m.reset()
	assert.Zero(t, m.n)
	assert.Zero(t, m.quantile(0.99))
}
