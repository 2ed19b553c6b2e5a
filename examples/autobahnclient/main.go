// Command autobahnclient runs plainws's client against the Autobahn|Testsuite
// fuzzing server (wstest --mode fuzzingserver), the field's conformance test:
//
//	go run ./examples/autobahnclient -url ws://127.0.0.1:9001 -agent plainws
//
// It asks the server for the number of cases, runs each one by echoing every
// message back with its type, and finally asks the server to write its
// reports. It uses the library's defaults (UTF-8 validation on) except for a
// read limit large enough for the suite's 16 MiB messages. -compress offers
// permessage-deflate with context takeover, for sections 12 and 13. -async runs
// the cases through package asyncconn (async.go) instead of ws.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/plainws/plainws/ws"
)

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "autobahnclient: runs plainws's client against the Autobahn|Testsuite fuzzing server and has it write its reports.\n\nUsage: go run ./examples/autobahnclient [flags]\n")
		flag.PrintDefaults()
	}
	base := flag.String("url", "ws://127.0.0.1:9001", "fuzzing server URL")
	agent := flag.String("agent", "plainws", "agent name in the reports")
	cases := flag.String("cases", "", "range of cases to run, e.g. 1-10 (default: all)")
	compress := flag.Bool("compress", false, "negotiate permessage-deflate with context takeover (sections 12 and 13)")
	async := flag.Bool("async", false, "run the cases through package asyncconn instead of ws")
	flag.Parse()
	var opts *ws.CompressionOptions
	if *compress {
		opts = &ws.CompressionOptions{}
	}
	runner := run
	if *async {
		runner = runAsync
	}
	if err := runner(*base, *agent, *cases, opts); err != nil {
		log.Fatal(err)
	}
}

func run(base, agent, cases string, compression *ws.CompressionOptions) error {
	d := &ws.Dialer{Options: ws.Options{ReadLimit: 64 << 20, Compression: compression}}
	count, err := caseCount(d, base)
	if err != nil {
		return err
	}
	first, last, err := parseRange(cases, count)
	if err != nil {
		return err
	}
	for i := first; i <= last; i++ {
		u := fmt.Sprintf("%s/runCase?case=%d&agent=%s", base, i, url.QueryEscape(agent))
		if err := echoCase(d, u); err != nil {
			fmt.Printf("case %d: %v\n", i, err)
		}
	}
	if err := updateReports(d, base, agent); err != nil {
		return err
	}
	fmt.Printf("ran cases %d-%d of %d; reports updated for agent %q\n", first, last, count, agent)
	return nil
}

// updateReports asks the fuzzing server to write its reports for agent and
// waits until it has (it closes the connection then).
func updateReports(d *ws.Dialer, base, agent string) error {
	u := fmt.Sprintf("%s/updateReports?agent=%s", base, url.QueryEscape(agent))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, _, err := d.Dial(ctx, u)
	if err != nil {
		return fmt.Errorf("updateReports: %w", err)
	}
	_, _, _ = c.ReadMessage() // the server closes when the reports are written
	return c.CloseNow()
}

func caseCount(d *ws.Dialer, base string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := d.Dial(ctx, base+"/getCaseCount")
	if err != nil {
		return 0, fmt.Errorf("getCaseCount: %w", err)
	}
	defer c.CloseNow()
	_, msg, err := c.ReadMessage()
	if err != nil {
		return 0, fmt.Errorf("getCaseCount: %w", err)
	}
	return strconv.Atoi(strings.TrimSpace(string(msg)))
}

// parseRange reads "a-b" or "n"; empty means every case.
func parseRange(s string, count int) (int, int, error) {
	if s == "" {
		return 1, count, nil
	}
	a, b, found := strings.Cut(s, "-")
	first, err := strconv.Atoi(a)
	if err != nil {
		return 0, 0, fmt.Errorf("bad -cases %q", s)
	}
	last := first
	if found {
		if last, err = strconv.Atoi(b); err != nil {
			return 0, 0, fmt.Errorf("bad -cases %q", s)
		}
	}
	return max(first, 1), min(last, count), nil
}

// echoCase echoes every message until the server ends the case.
func echoCase(d *ws.Dialer, u string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	c, _, err := d.Dial(ctx, u)
	cancel()
	if err != nil {
		return err
	}
	defer c.CloseNow()
	var buf []byte
	for {
		op, msg, err := c.ReadMessageInto(buf)
		if err != nil {
			var ce *ws.CloseError
			if errors.As(err, &ce) {
				return nil
			}
			return err
		}
		buf = msg
		if err := c.WriteMessage(op, msg); err != nil {
			return err
		}
	}
}
