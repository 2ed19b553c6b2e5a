// Command plainws is a WebSocket client and server for the terminal, built on package ws:
//
//	plainws dial [flags] URL     interactive client (like wscat/websocat)
//	plainws serve [flags] ADDR   echo or broadcast server for testing
//	plainws load [flags] URL     load generator on asyncconn loops: connections, rate, round-trip latency
//
// Exit codes: 0 success (a clean close; for load, every connection opened and
// no error), 1 the connection failed or closed abnormally (for load: errors,
// lost echoes or connections that did not open), 2 bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes scripts can rely on.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// errUsage marks a usage error: the command prints its help and exits 2.
var errUsage = errors.New("usage")

const topUsage = `plainws: WebSocket tools built on plainws

Usage:
  plainws dial [flags] URL     connect, send stdin lines, print what arrives
  plainws serve [flags] ADDR   run an echo (or broadcast) server
  plainws load [flags] URL     load an echo server: N connections, latency, msgs/s

Run "plainws COMMAND -h" for the flags of a command.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, topUsage)
		return exitUsage
	}
	var err error
	switch args[0] {
	case "dial":
		err = dialCmd(ctx, args[1:], stdin, stdout, stderr)
	case "serve":
		err = serveCmd(ctx, args[1:], stdout, stderr)
	case "load":
		err = loadCmd(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, topUsage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "plainws: unknown command %q\n\n%s", args[0], topUsage)
		return exitUsage
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		return exitUsage
	default:
		fmt.Fprintf(stderr, "plainws %s: %v\n", args[0], err)
		return exitFail
	}
}

// newFlagSet makes a flag set whose errors are usage errors.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and maps flag errors to errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return nil
}

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return fmt.Sprint(*l) }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }
