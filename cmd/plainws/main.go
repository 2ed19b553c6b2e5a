// Command plainws is a WebSocket client and server for the terminal, built on package ws:
//
//	plainws dial [flags] URL     interactive client (like wscat/websocat)
//	plainws serve [flags] ADDR   echo or broadcast server for testing
//	plainws load [flags] URL     load generator on asyncconn loops: connections, rate, round-trip latency
//
// Flags may come before or after the URL or address; "--" ends them.
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

const topUsage = `plainws: WebSocket tools built on plainws

Usage:
  plainws dial [flags] URL     connect, send stdin lines, print what arrives
  plainws serve [flags] ADDR   run an echo (or broadcast) server
  plainws load [flags] URL     load an echo server: N connections, latency, msgs/s
  plainws help COMMAND         the flags of a command (same as plainws COMMAND -h)
  plainws --version            the module version and source revision

Flags may come before or after the URL or address.
Exit status: 0 success, 1 failure, 2 bad usage.
`

// main runs the command with Ctrl-C and SIGTERM as the end of its context,
// so each command can close its connections cleanly.
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
	name := args[0]
	var err error
	switch name {
	case "dial":
		err = dialCmd(ctx, args[1:], stdin, stdout, stderr)
	case "serve":
		err = serveCmd(ctx, args[1:], stdout, stderr)
	case "load":
		err = loadCmd(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help":
		fmt.Fprint(stdout, topUsage)
		return exitOK
	case "help":
		// "plainws help dial" is "plainws dial -h".
		if len(args) == 1 {
			fmt.Fprint(stdout, topUsage)
			return exitOK
		}
		if len(args) > 2 || !isCommand(args[1]) {
			fmt.Fprintf(stderr, "plainws help: unknown command %q (want dial, serve or load)\nsee plainws -h\n", args[1:])
			return exitUsage
		}
		return run(ctx, []string{args[1], "-h"}, stdin, stdout, stderr)
	case "-version", "--version", "version":
		fmt.Fprintln(stdout, versionString())
		return exitOK
	default:
		fmt.Fprintf(stderr, "plainws: unknown command %q (want dial, serve, load or help)\nsee plainws -h\n", name)
		return exitUsage
	}
	var ue *usageError
	var he *hintError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		// One line that names the problem, then where to read more.
		fmt.Fprintf(stderr, "plainws %s: %s\nsee plainws %s -h\n", name, ue.msg, name)
		return exitUsage
	case errors.As(err, &he):
		fmt.Fprintf(stderr, "plainws %s: %v\n  %s\n", name, err, he.hint)
		return exitFail
	default:
		fmt.Fprintf(stderr, "plainws %s: %v\n", name, err)
		return exitFail
	}
}

// isCommand reports whether s names a command, for "plainws help".
func isCommand(s string) bool { return s == "dial" || s == "serve" || s == "load" }
