package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// loadSummary is the result of a run; its JSON names are the -json output.
// The round-trip fields are null when no echo came back: there is nothing
// to measure, which a 0 would hide.
type loadSummary struct {
	URL          string    `json:"url"`
	Target       int       `json:"target_connections"`
	Connections  int       `json:"connections"` // connections that opened
	Loops        int       `json:"loops"`
	Size         int       `json:"size"`
	Rate         float64   `json:"rate"`
	Sent         uint64    `json:"sent"`
	Received     uint64    `json:"received"`
	Lost         uint64    `json:"lost"`
	Errors       uint64    `json:"errors"`
	ConnectS     float64   `json:"connect_s"`
	DurationS    float64   `json:"duration_s"`
	MsgsPerS     float64   `json:"msgs_per_s"`
	RTTMinms     *float64  `json:"rtt_min_ms"`
	RTTP50ms     *float64  `json:"rtt_p50_ms"`
	RTTP90ms     *float64  `json:"rtt_p90_ms"`
	RTTP99ms     *float64  `json:"rtt_p99_ms"`
	RTTP999ms    *float64  `json:"rtt_p99_9_ms"`
	RTTMaxms     *float64  `json:"rtt_max_ms"`
	Histogram    *rttHist  `json:"rtt_histogram"`
	Interrupted  bool      `json:"interrupted"`
	ErrorSamples []string  `json:"error_samples,omitempty"`
	rtt          histogram // the run's round trips, for print
}

// rttHist is the round-trip histogram in the -json output: every non-empty
// bucket, and the precision of the percentiles read from it.
type rttHist struct {
	Count             uint64    `json:"count"`
	RelativePrecision float64   `json:"relative_precision"` // quantile error bound, as a fraction of the value
	Buckets           []histBin `json:"buckets"`
}

// newSummary builds the summary from the final snapshot.
func newSummary(cfg *loadConfig, snap *loadSnapshot, connectTime, sendTime time.Duration, interrupted bool) *loadSummary {
	sum := &loadSummary{
		URL: cfg.url, Target: cfg.conns, Connections: snap.opened, Loops: cfg.loops, Size: cfg.size, Rate: cfg.rate,
		Sent: snap.sent, Received: snap.received, Errors: snap.errors,
		ConnectS: connectTime.Seconds(), DurationS: sendTime.Seconds(),
		Interrupted: interrupted, ErrorSamples: snap.samples, rtt: snap.total,
	}
	if snap.sent > snap.received {
		sum.Lost = snap.sent - snap.received
	}
	if sendTime > 0 {
		sum.MsgsPerS = float64(snap.received) / sendTime.Seconds()
	}
	h := &snap.total
	if h.n > 0 {
		sum.RTTMinms = msPtr(h.min)
		sum.RTTMaxms = msPtr(h.max)
		for _, p := range []struct {
			q   float64
			dst **float64
		}{{0.5, &sum.RTTP50ms}, {0.9, &sum.RTTP90ms}, {0.99, &sum.RTTP99ms}, {0.999, &sum.RTTP999ms}} {
			v, _ := h.quantile(p.q)
			*p.dst = msPtr(v)
		}
		sum.Histogram = &rttHist{Count: h.n, RelativePrecision: histPrecision, Buckets: h.bins()}
	}
	return sum
}

// msPtr converts nanoseconds to milliseconds, as a JSON number that is
// present (not null).
func msPtr(ns int64) *float64 { v := float64(ns) / 1e6; return &v }

// print writes the summary for people; -json writes the same fields.
func (s *loadSummary) print(w io.Writer) {
	fmt.Fprintf(w, "plainws load %s\n", s.URL)
	fmt.Fprintf(w, "  connections  %d of %d opened in %.2fs, on %d loops\n", s.Connections, s.Target, s.ConnectS, s.Loops)
	fmt.Fprintf(w, "  messages     %d bytes at %g/s per connection for %.2fs\n", s.Size, s.Rate, s.DurationS)
	fmt.Fprintf(w, "  sent         %d\n  received     %d (%.0f msgs/s)\n  lost         %d\n  errors       %d\n",
		s.Sent, s.Received, s.MsgsPerS, s.Lost, s.Errors)
	fmt.Fprintf(w, "  round trip   %s\n", rttLine(&s.rtt, true))
	if s.Interrupted {
		fmt.Fprintln(w, "  interrupted")
	}
}

// rttLine formats the round trips of h, each to three significant digits
// (the histogram is good to 0.4 %); with full, p90, p99.9 and the count too.
// An empty histogram says so instead of printing zeros.
func rttLine(h *histogram, full bool) string {
	if h.n == 0 {
		return "no echo received"
	}
	qs := []struct {
		name string
		q    float64
	}{{"p50", 0.5}, {"p99", 0.99}}
	if full {
		qs = []struct {
			name string
			q    float64
		}{{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"p99.9", 0.999}}
	}
	var b strings.Builder
	for _, q := range qs {
		v, _ := h.quantile(q.q)
		fmt.Fprintf(&b, "%s %s  ", q.name, fmtDuration(time.Duration(v)))
	}
	fmt.Fprintf(&b, "max %s", fmtDuration(time.Duration(h.max)))
	if full {
		fmt.Fprintf(&b, "  (%d echoes)", h.n)
	}
	return b.String()
}

// progress prints a line a second until done is closed.
func (r *loadRun) progress(w io.Writer, done <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	start, last := time.Now(), time.Now()
	for {
		select {
		case <-done:
			if r.cfg.stderrIsTTY {
				fmt.Fprintln(w)
			}
			return
		case now := <-t.C:
			s := r.collect(withInterval)
			secs := now.Sub(last).Seconds()
			last = now
			line := fmt.Sprintf("[%4.0fs] conns %d/%d  echoes/s %.0f  rtt %s  errors %d",
				now.Sub(start).Seconds(), s.open, r.cfg.conns, float64(s.intervalRx)/secs,
				rttLine(&s.interval, false), s.errors)
			if r.cfg.stderrIsTTY {
				fmt.Fprintf(w, "\r\033[K%s", line)
			} else {
				fmt.Fprintln(w, line)
			}
		}
	}
}
