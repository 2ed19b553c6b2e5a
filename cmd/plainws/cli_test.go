package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every usage error prints exactly two lines on stderr: the problem, naming
// the flag or argument, then the hint "see plainws CMD -h"; nothing on
// stdout, exit 2. The first cases are the ones issue #15 reports.
func TestUsageErrorsNameTheProblem(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in the first line
	}{
		{[]string{"dial", "-H", "bad header", "ws://127.0.0.1:1/"}, `invalid value "bad header" for flag -H: want "Name: value"`},
		{[]string{"dial"}, "no URL given"},
		{[]string{"serve", "-mode", "bogus", ":0"}, `-mode "bogus": want echo or broadcast`},
		{[]string{"load", "-c", "0", "ws://x"}, "-c must be at least 1"},
		{[]string{"load", "localhost:9401"}, "did you mean ws://localhost:9401"},
		{[]string{"dial", "localhost:9201"}, "did you mean ws://localhost:9201"},
		{[]string{"dial", "-nosuch", "ws://127.0.0.1:1/"}, "flag provided but not defined: -nosuch"},
		{[]string{"dial", "ws://127.0.0.1:1/", "-timeout"}, "flag needs an argument: -timeout"},
		{[]string{"dial", "ws://a/", "ws://b/"}, "want one URL, got 2"},
		{[]string{"dial", "ftp://x/"}, `scheme "ftp" is not ws:// or wss://`},
		{[]string{"dial", "-timeout", "0s", "ws://x/"}, "-timeout must be positive"},
		{[]string{"dial", "-cacert", "/nonexistent/ca.pem", "wss://x/"}, "-cacert"},
		{[]string{"serve"}, "no address given"},
		{[]string{"serve", "-tls-cert", "c.pem", ":0"}, "-tls-cert needs -tls-key"},
		{[]string{"serve", "-tls-key", "k.pem", ":0"}, "-tls-key needs -tls-cert"},
		{[]string{"serve", "-tls-write-cert", "c.pem", ":0"}, "-tls-write-cert needs -tls-self-signed"},
		{[]string{"serve", "-origin", "a.example", "-any-origin", ":0"}, "-origin and -any-origin exclude each other"},
		{[]string{"serve", "-origin", "bad host", ":0"}, `invalid value "bad host" for flag -origin: pattern "bad host": ' ' cannot be in a host`},
		{[]string{"serve", "-ping-interval", "-1s", ":0"}, "must not be negative"},
		{[]string{"serve", "host:port:x"}, `address "host:port:x"`},
		{[]string{"serve", "99999"}, `address "99999"`},
		{[]string{"load"}, "no URL given"},
		{[]string{"load", "-size", "15", "ws://x/"}, "-size must be between 16"},
		{[]string{"load", "-rate", "0", "ws://x/"}, "-rate must be above 0"},
		{[]string{"load", "-d", "0s", "ws://x/"}, "-d must be positive"},
		{[]string{"load", "-loops", "0", "ws://x/"}, "-loops must be at least 1"},
		{[]string{"load", "-H", "nocolon", "ws://x/"}, "flag -H"},
		{[]string{"load", "ws://"}, "has no host"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), tc.args, nil, &out, &errb)
		assert.Equal(t, exitUsage, code, "%q", tc.args)
		assert.Empty(t, out.String(), "%q: nothing on stdout", tc.args)
		lines := strings.Split(strings.TrimSuffix(errb.String(), "\n"), "\n")
		if assert.Len(t, lines, 2, "%q: %s", tc.args, errb.String()) {
			assert.True(t, strings.HasPrefix(lines[0], "plainws "+tc.args[0]+": "), "%q: %q", tc.args, lines[0])
			assert.Contains(t, lines[0], tc.want, "%q", tc.args)
			assert.Equal(t, "see plainws "+tc.args[0]+" -h", lines[1], "%q", tc.args)
		}
	}

	// Unknown commands are usage errors too.
	for _, args := range [][]string{{"nope"}, {"help", "nope"}, {"help", "dial", "extra"}} {
		var out, errb bytes.Buffer
		assert.Equal(t, exitUsage, run(context.Background(), args, nil, &out, &errb), "%q", args)
		assert.Contains(t, errb.String(), "unknown command", "%q", args)
		assert.Contains(t, errb.String(), "see plainws -h", "%q", args)
	}
	var out, errb bytes.Buffer
	assert.Equal(t, exitUsage, run(context.Background(), nil, nil, &out, &errb))
	assert.Contains(t, errb.String(), "plainws dial")
}

// "plainws help CMD" prints what "plainws CMD -h" prints, on stdout, exit 0;
// the help documents the exit codes.
func TestHelpCommand(t *testing.T) {
	for _, name := range []string{"dial", "serve", "load"} {
		var viaHelp, viaFlag, errb bytes.Buffer
		assert.Equal(t, exitOK, run(context.Background(), []string{"help", name}, nil, &viaHelp, &errb))
		assert.Equal(t, exitOK, run(context.Background(), []string{name, "-h"}, nil, &viaFlag, &errb))
		assert.Empty(t, errb.String())
		assert.Equal(t, viaFlag.String(), viaHelp.String(), name)
		assert.True(t, strings.HasPrefix(viaHelp.String(), "Usage: plainws "+name+" [flags]"), name)
		assert.Contains(t, viaHelp.String(), "Exit status", name)
		assert.Contains(t, viaHelp.String(), "  -", name) // the flags follow
	}
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		var out, errb bytes.Buffer
		assert.Equal(t, exitOK, run(context.Background(), args, nil, &out, &errb), "%q", args)
		assert.Contains(t, out.String(), "plainws help COMMAND")
	}
	// serve -h says what each Origin default means for a browser page, and
	// gives the keepalive defaults.
	var out, errb bytes.Buffer
	run(context.Background(), []string{"serve", "-h"}, nil, &out, &errb)
	for _, s := range []string{"any page, from any site", "-any-origin=false", "only pages from those hosts",
		"-idle-timeout duration", "(default 5m0s)", "(default 30s)", "(default 20s)", "16 KiB"} {
		assert.Contains(t, out.String(), s)
	}
	out.Reset()
	run(context.Background(), []string{"dial", "-h"}, nil, &out, &errb)
	for _, s := range []string{"/ping [payload]", "/close [code [reason]]", "/binary <hex>", "/help", "3000-4999"} {
		assert.Contains(t, out.String(), s)
	}
}

// --version names the module version and the Go release.
func TestVersion(t *testing.T) {
	for _, arg := range []string{"--version", "-version", "version"} {
		var out, errb bytes.Buffer
		assert.Equal(t, exitOK, run(context.Background(), []string{arg}, nil, &out, &errb))
		line := out.String()
		assert.True(t, strings.HasPrefix(line, "plainws "), line)
		assert.Contains(t, line, runtime.Version())
		assert.Equal(t, 1, strings.Count(line, "\n"), "one line")
	}
	bin := buildBinary(t)
	out, err := exec.Command(bin, "--version").Output()
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(out), "plainws "), string(out))
	assert.Contains(t, string(out), runtime.GOOS+"/"+runtime.GOARCH)
}

// A binary built from a git clone names the commit it was built from. The
// test clones the current commit, since a worktree (whose .git is a file)
// is not stamped by the go command, and forces -buildvcs in case GOFLAGS
// turns it off.
func TestVersionNamesRevision(t *testing.T) {
	git := func(dir string, args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %q: %s", args, out)
		return strings.TrimSpace(string(out))
	}
	head := git(".", "rev-parse", "HEAD")
	repo := git(".", "rev-parse", "--path-format=absolute", "--git-common-dir")
	src := filepath.Join(t.TempDir(), "src")
	git(".", "clone", "-q", "--no-checkout", repo, src)
	git(src, "checkout", "-q", head)
	bin := filepath.Join(t.TempDir(), "plainws")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, "./cmd/plainws")
	build.Dir = src
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))
	out, err = exec.Command(bin, "--version").Output()
	require.NoError(t, err)
	assert.Contains(t, string(out), ", revision "+head+" (")
	assert.NotContains(t, string(out), "(devel)", "the go command derives a pseudo-version from the commit")
}

// Flags go before, between or after the positional arguments; "--" ends
// them.
func TestParseArgsFlagsAnywhere(t *testing.T) {
	fs := newFlagSet("x")
	b := fs.Bool("b", false, "")
	d := fs.Duration("d", 0, "")
	pos, err := parseArgs(fs, []string{"one", "-b", "two", "-d", "2s", "--", "-three", "-b"}, "", nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"one", "two", "-three", "-b"}, pos)
	assert.True(t, *b)
	assert.Equal(t, 2*time.Second, *d)

	var help bytes.Buffer
	_, err = parseArgs(newFlagSet("x"), []string{"arg", "-h"}, "Usage: x\n", &help)
	assert.ErrorIs(t, err, flag.ErrHelp)
	assert.Equal(t, "Usage: x\n", help.String())
}

// "plainws dial URL -binary": a flag after the URL applies.
func TestDialFlagAfterURL(t *testing.T) {
	url, _ := echoServer(t)
	for _, args := range [][]string{
		{"dial", url, "-binary"},
		{"dial", "-binary", url},
		{"dial", url, "-wait", "1s", "-binary", "-base64"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), args, strings.NewReader("hi\n"), &out, &errb)
		require.Equal(t, exitOK, code, "%q: %s", args, errb.String())
		if slices.Contains(args, "-base64") {
			assert.Equal(t, "aGk=\n", out.String(), "%q", args)
		} else {
			assert.Equal(t, "6869\n", out.String(), "%q", args)
		}
	}
	var out, errb bytes.Buffer
	require.Equal(t, exitOK, run(context.Background(), []string{"dial", "--", url}, strings.NewReader("text\n"), &out, &errb))
	assert.Equal(t, "text\n", out.String())
}

// echoServer is an in-process echo server; closes receives each close the
// clients sent (code and reason), in order.
func echoServer(t *testing.T) (string, <-chan *ws.CloseError) {
	t.Helper()
	closes := make(chan *ws.CloseError, 16)
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
					closes <- ce
				}
				return
			}
			if c.WriteMessage(op, msg) != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), closes
}
