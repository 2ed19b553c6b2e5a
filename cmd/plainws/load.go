package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"time"

	"github.com/plainws/plainws/asyncconn"
	"github.com/plainws/plainws/ws"
)

// The load generator is in three files: this one (flags and the command),
// load_drive.go (the connections and their phases), load_report.go (the
// progress line and the summary), with histogram.go for the round trips.

const loadUsage = `Usage: plainws load [flags] URL

Opens -c connections to URL on -loops asyncconn event loops (Workerman's worker
count) and sends -rate binary messages of -size bytes per second on each for -d.
Each message carries a sequence number and a timestamp; the echo of every message
is matched to measure the round-trip time. Point it at an echo server such as
"plainws serve". Flags may come before or after the URL.

A progress line goes to standard error every second; the summary goes to standard
output (as JSON with -json, with the round-trip histogram). Round-trip percentiles
(p50, p90, p99, p99.9) come from a log-linear histogram and are within 0.4 % of
the exact values; the maximum is exact. At the end sending stops, echoes still in
flight are awaited for up to -wait, then every connection is closed with 1000.
Ctrl-C ends the run early the same way (closing with 1001).

Exit status: 0 if every connection opened, no error happened and no echo was
lost; 1 otherwise; 2 on bad usage.

Flags:
`

// loadHeader is the part of each message the generator reads back: a sequence
// number and the send time (nanoseconds since the run's start).
const loadHeader = 16

// loadConfig holds the flags of plainws load.
type loadConfig struct {
	url         string
	conns       int
	size        int
	rate        float64
	dur         time.Duration
	loops       int
	jsonOut     bool
	quiet       bool
	compress    bool
	headers     headerFlag
	protocols   listFlag
	timeout     time.Duration
	wait        time.Duration
	connecting  int
	stderrIsTTY bool
}

// errLoadFailed reports a run that finished with errors, lost echoes or
// connections that never opened: exit 1.
var errLoadFailed = errors.New("load test failed")

// loadCmd is "plainws load": it checks the flags, runs the generator and
// prints the summary; an unsuccessful run is errLoadFailed (exit 1).
func loadCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg loadConfig
	fs := newFlagSet("load")
	fs.IntVar(&cfg.conns, "c", 100, "number of connections")
	fs.IntVar(&cfg.size, "size", 64, fmt.Sprintf("message size in bytes (at least %d: sequence number and timestamp)", loadHeader))
	fs.Float64Var(&cfg.rate, "rate", 10, "messages per second on each connection")
	fs.DurationVar(&cfg.dur, "d", 10*time.Second, "how long to send, once the connections are open")
	fs.IntVar(&cfg.loops, "loops", runtime.NumCPU(), "number of event loops (like Workerman's worker count)")
	fs.BoolVar(&cfg.jsonOut, "json", false, "print the summary as JSON, with the round-trip histogram")
	fs.BoolVar(&cfg.quiet, "quiet", false, "no progress line on standard error")
	fs.BoolVar(&cfg.compress, "compress", false, "offer permessage-deflate (RFC 7692); the server must accept it (serve -compress)")
	fs.Var(&cfg.headers, "H", "extra request header \"Name: value\" (repeatable)")
	fs.Var(&cfg.protocols, "subprotocol", "offer a subprotocol (repeatable)")
	fs.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "connect timeout of each connection (TCP and upgrade)")
	fs.DurationVar(&cfg.wait, "wait", 5*time.Second, "after sending stops, wait this long for echoes in flight")
	fs.IntVar(&cfg.connecting, "connecting", 256, "connection attempts in flight at once while opening")
	pos, err := parseArgs(fs, args, loadUsage, stdout)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0:
		return usagef("no URL given (want the URL of an echo server, e.g. ws://127.0.0.1:8080/)")
	case len(pos) > 1:
		return usagef("want one URL, got %d arguments: %q", len(pos), pos)
	case cfg.conns < 1:
		return usagef("-c must be at least 1 (got %d)", cfg.conns)
	case cfg.size < loadHeader || cfg.size > 16<<20:
		return usagef("-size must be between %d and %d (got %d)", loadHeader, 16<<20, cfg.size)
	case !(cfg.rate > 0) || math.IsInf(cfg.rate, 0) || cfg.rate > 1e6:
		return usagef("-rate must be above 0 and at most 1e6 (got %g)", cfg.rate)
	case cfg.dur <= 0:
		return usagef("-d must be positive (got %v)", cfg.dur)
	case cfg.loops < 1:
		return usagef("-loops must be at least 1 (got %d)", cfg.loops)
	case cfg.timeout <= 0:
		return usagef("-timeout must be positive (got %v)", cfg.timeout)
	case cfg.wait < 0:
		return usagef("-wait must not be negative (got %v)", cfg.wait)
	case cfg.connecting < 1:
		return usagef("-connecting must be at least 1 (got %d)", cfg.connecting)
	}
	cfg.url = pos[0]
	if err := checkWSURL(cfg.url); err != nil {
		return err
	}
	// Check the URL once more as asyncconn reads it, so that a mistake is a
	// usage error rather than N failures.
	if _, err := asyncconn.New(asyncconn.NewLoop(), cfg.url); err != nil {
		return usagef("URL %q: %v", cfg.url, err)
	}
	cfg.stderrIsTTY = isTerminal(stderr)

	// Every connection is a descriptor: take all the process may have.
	if limit, err := raiseFileLimit(); err != nil {
		fmt.Fprintf(stderr, "* cannot raise the open file limit: %v\n", err)
	} else if limit > 0 && limit < uint64(cfg.conns)+64 {
		fmt.Fprintf(stderr, "* warning: the open file limit (%d) is too low for %d connections\n", limit, cfg.conns)
	}

	r := newLoadRun(&cfg)
	sum := r.run(ctx, stderr)
	if cfg.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sum); err != nil {
			return err
		}
	} else {
		sum.print(stdout)
	}
	for _, e := range sum.ErrorSamples {
		fmt.Fprintf(stderr, "* error: %s\n", e)
	}
	if sum.Errors > 0 || sum.Lost > 0 || sum.Connections < sum.Target {
		return fmt.Errorf("%w: %d of %d connections opened, %d errors, %d echoes lost",
			errLoadFailed, sum.Connections, sum.Target, sum.Errors, sum.Lost)
	}
	return nil
}

// setupConn applies the flags that shape each connection's upgrade request.
func (cfg *loadConfig) setupConn(c *asyncconn.Conn) {
	c.WebsocketType = asyncconn.BinaryTypeArrayBuffer
	c.ConnectTimeout = cfg.timeout
	c.Headers = cfg.headers.header()
	if c.Headers.Get("User-Agent") == "" {
		c.Headers.Set("User-Agent", "plainws-load")
	}
	c.WebsocketClientProtocol = strings.Join(cfg.protocols, ", ")
	if cfg.compress {
		c.Compression = &ws.CompressionOptions{}
	}
}
