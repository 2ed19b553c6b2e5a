package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
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
	for _, p := range []*float64{sum.RTTMinms, sum.RTTP50ms, sum.RTTP90ms, sum.RTTP99ms, sum.RTTP999ms, sum.RTTMaxms} {
		require.NotNil(t, p, "every round-trip field is set once echoes came back")
	}
	assert.Positive(t, *sum.RTTMinms)
	assert.LessOrEqual(t, *sum.RTTMinms, *sum.RTTP50ms)
	assert.LessOrEqual(t, *sum.RTTP50ms, *sum.RTTP90ms)
	assert.LessOrEqual(t, *sum.RTTP90ms, *sum.RTTP99ms)
	assert.LessOrEqual(t, *sum.RTTP99ms, *sum.RTTP999ms)
	assert.LessOrEqual(t, *sum.RTTP999ms, *sum.RTTMaxms)
	// The histogram in the JSON holds every echo.
	require.NotNil(t, sum.Histogram)
	assert.Equal(t, sum.Received, sum.Histogram.Count)
	var inBins uint64
	for _, b := range sum.Histogram.Buckets {
		assert.LessOrEqual(t, b.LoNs, b.HiNs)
		inBins += b.Count
	}
	assert.Equal(t, sum.Received, inBins)
	assert.InDelta(t, 1.0/256, sum.Histogram.RelativePrecision, 1e-12)
	// The progress line comes once a second on standard error.
	assert.Contains(t, stderr.String(), "conns 20/20")
	// The raw JSON carries the documented field names.
	var raw map[string]any
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &raw))
	for _, k := range []string{"connections", "sent", "received", "errors", "duration_s", "msgs_per_s", "rtt_min_ms", "rtt_p50_ms", "rtt_p90_ms", "rtt_p99_ms", "rtt_p99_9_ms", "rtt_max_ms", "rtt_histogram"} {
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
	assert.Contains(t, out.String(), "Usage: plainws load")
	assert.Contains(t, out.String(), "-subprotocol")
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
	// No echo, no round trip: null in the JSON, not 0.
	var raw map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &raw))
	for _, k := range []string{"rtt_min_ms", "rtt_p50_ms", "rtt_p99_9_ms", "rtt_max_ms", "rtt_histogram"} {
		v, present := raw[k]
		assert.True(t, present, k)
		assert.Nil(t, v, k)
	}

	// The text summary says so too, and prints no zero durations.
	out.Reset()
	code = run(context.Background(), []string{"load", "-c", "1", "-d", "1s", "-quiet", "-timeout", "5s", "ws://127.0.0.1:1/"}, nil, &out, &errb)
	assert.Equal(t, exitFail, code)
	assert.Contains(t, out.String(), "round trip   no echo received")
	assert.NotContains(t, out.String(), "0.000")
	assert.NotContains(t, out.String(), " 0s")
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

// The histogram's quantiles are within 1 % (its bound is 0.4 %) of the
// exact nearest-rank percentiles of the same samples, for spreads from
// microseconds to seconds, and its minimum and maximum are exact.
func TestHistogramPrecision(t *testing.T) {
	var empty histogram
	_, ok := empty.quantile(0.5)
	assert.False(t, ok, "an empty histogram has no quantile")

	rng := rand.New(rand.NewPCG(1, 2))
	for name, gen := range map[string]func() int64{
		"uniform 0-50ms":  func() int64 { return rng.Int64N(50_000_000) },
		"lognormal ~1ms":  func() int64 { return int64(math.Exp(rng.NormFloat64()*1.5) * 1e6) },
		"small ns values": func() int64 { return rng.Int64N(2000) },
		"bimodal":         func() int64 { return []int64{200_000, 40_000_000}[rng.IntN(2)] + rng.Int64N(1000) },
	} {
		var h histogram
		vals := make([]int64, 200_000)
		for i := range vals {
			vals[i] = gen()
			h.record(vals[i])
		}
		slices.Sort(vals)
		for _, q := range []float64{0.001, 0.5, 0.9, 0.99, 0.999, 0.9999, 1} {
			rank := int(math.Ceil(q * float64(len(vals))))
			exact := vals[max(rank, 1)-1]
			got, ok := h.quantile(q)
			require.True(t, ok)
			assert.LessOrEqual(t, math.Abs(float64(got-exact)), 0.01*float64(exact), "%s q=%v: %d vs exact %d", name, q, got, exact)
		}
		assert.Equal(t, vals[0], h.min, name)
		assert.Equal(t, vals[len(vals)-1], h.max, name)
		assert.Equal(t, uint64(len(vals)), h.n)
	}

	// Every value falls in the one bucket whose bounds hold it, over the
	// whole int64 range, and a bucket is at most 1/128 of its values wide.
	for _, v := range []int64{0, 1, 255, 256, 257, 383, 384, 1000, 1 << 40, 1<<62 + 12345, 1<<63 - 1} {
		b := histBucket(v)
		require.Less(t, b, histBuckets, "v=%d", v)
		lo, hi := histLower(b), histUpper(b)
		assert.LessOrEqual(t, lo, v, "v=%d", v)
		assert.GreaterOrEqual(t, hi, v, "v=%d", v)
		assert.LessOrEqual(t, float64(hi-lo), float64(lo)/histSub, "v=%d", v)
		if b > 0 {
			assert.Equal(t, lo-1, histUpper(b-1), "v=%d: buckets are contiguous", v)
		}
	}
	var n histogram
	n.record(-5)
	assert.Equal(t, uint64(1), n.counts[0], "negative values count as 0")

	// Merging adds counts and keeps min and max; reset empties.
	var a, b, m histogram
	a.record(10)
	a.record(1000)
	b.record(5)
	m.merge(&a)
	m.merge(&b)
	m.merge(&empty)
	assert.Equal(t, uint64(3), m.n)
	assert.Equal(t, int64(5), m.min)
	assert.Equal(t, int64(1000), m.max)
	bins := m.bins()
	require.Len(t, bins, 3)
	assert.Equal(t, histBin{LoNs: 5, HiNs: 5, Count: 1}, bins[0])
	m.reset()
	_, ok = m.quantile(0.99)
	assert.False(t, ok)
}

// -H, -subprotocol and -compress shape every connection's upgrade request,
// and flags may follow the URL.
func TestLoadRequestFlags(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	up := &ws.Upgrader{Subprotocols: []string{"chat"}, Options: ws.Options{Compression: &ws.CompressionOptions{}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		mu.Lock()
		seen = append(seen, r.Header.Get("X-Load")+"|"+c.Subprotocol()+"|"+r.Header.Get("Sec-WebSocket-Extensions")+"|"+r.Header.Get("User-Agent"))
		mu.Unlock()
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
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"load", url, "-c", "3", "-d", "300ms", "-rate", "20", "-quiet", "-json",
		"-H", "X-Load: yes", "-subprotocol", "chat", "-compress"}, nil, &out, &errb)
	require.Equal(t, exitOK, code, errb.String())
	var sum loadSummary
	require.NoError(t, json.Unmarshal(out.Bytes(), &sum))
	assert.Equal(t, 3, sum.Connections)
	assert.Positive(t, sum.Received)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, 3)
	for _, s := range seen {
		f := strings.Split(s, "|")
		assert.Equal(t, "yes", f[0], "-H")
		assert.Equal(t, "chat", f[1], "-subprotocol, chosen by the server")
		assert.True(t, strings.HasPrefix(f[2], "permessage-deflate"), "-compress offers RFC 7692: %q", f[2])
		assert.Equal(t, "plainws-load", f[3])
	}
}
