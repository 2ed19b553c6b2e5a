package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// usageError is a mistake on the command line. run prints its message on
// one line, then a hint to read the command's -h, and exits 2.
type usageError struct{ msg string }

// Error is the message with a "usage:" prefix, for logs; run prints msg alone.
func (e *usageError) Error() string { return "usage: " + e.msg }

// usagef makes a usageError; the message names the flag or argument at fault.
func usagef(format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...)}
}

// hintError is a failure with a way out: run prints the error, then the hint
// (which flag to use, what to try) on the next line.
type hintError struct {
	err  error
	hint string
}

// Error is the failure itself; run prints the hint on a line of its own.
func (e *hintError) Error() string { return e.err.Error() }

// Unwrap exposes the failure for errors.Is and errors.As.
func (e *hintError) Unwrap() error { return e.err }

// withHint attaches a hint to err.
func withHint(err error, hint string) error { return &hintError{err: err, hint: hint} }

// newFlagSet makes a flag set that prints nothing by itself: parseArgs turns
// its errors into usage errors, and -h into the help text on stdout.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// printHelp writes a command's help: its text, then every flag.
func printHelp(w io.Writer, fs *flag.FlagSet, usage string) {
	fmt.Fprint(w, usage)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// parseArgs parses args with flags anywhere, before or between the
// positional arguments, as wscat and most CLIs allow ("plainws dial URL
// -binary"); a "--" ends the flags. It returns the positional arguments. On
// -h it prints help to stdout and returns flag.ErrHelp; a bad flag is a
// usageError with the flag package's one-line message.
func parseArgs(fs *flag.FlagSet, args []string, usage string, stdout io.Writer) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printHelp(stdout, fs, usage)
				return nil, err
			}
			return nil, usagef("%v", err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return fmt.Sprint(*l) }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// headerFlag is the repeatable -H flag; each value must be "Name: value",
// checked when the flag is parsed so that the mistake is a usage error.
type headerFlag []string

func (h *headerFlag) String() string { return fmt.Sprint(*h) }

// Set checks and adds one -H value; a value without a name is refused here,
// so the flag package reports it as an invalid value for -H.
func (h *headerFlag) Set(v string) error {
	name, _, ok := strings.Cut(v, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") {
		return errors.New(`want "Name: value"`)
	}
	*h = append(*h, v)
	return nil
}

// header returns the headers as an http.Header.
func (h headerFlag) header() http.Header {
	hdr := http.Header{}
	for _, v := range h {
		name, value, _ := strings.Cut(v, ":")
		hdr.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	return hdr
}
