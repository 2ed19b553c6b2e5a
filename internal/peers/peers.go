// Package peers starts the interoperability peers in interop/peers (a Node `ws` server
// and client, a Python `websockets` server and client) from Go tests.
//
// The peers are real, independent WebSocket implementations: a test that passes against
// them shows that plainws speaks RFC 6455 as others understand it, not only as its own
// tests do. Their command protocol and output lines are documented in interop/README.md.
//
// Missing prerequisites (node, the npm install of ws, Debian's python3-websockets) fail
// the calling test with a message that says to run scripts/test.sh; they never skip it,
// so a machine without the peers cannot silently pass the interoperability tests.
package peers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Kinds of peer accepted by StartServer and RunClient. Each names the implementation
// behind the peer so a test table can iterate over both.
const (
	// Node is the npm package ws, run by the node on PATH.
	Node = "node"
	// Python is Debian's python3-websockets, run by /usr/bin/python3 (not a pyenv
	// python3 that may come first on PATH and lack the package).
	Python = "python"
)

// Kinds lists every peer kind, so tests can run the same check against all of them.
var Kinds = []string{Node, Python}

// SystemPython is the interpreter that has Debian's python3-websockets installed.
const SystemPython = "/usr/bin/python3"

const (
	// startTimeout bounds how long a server may take to print LISTENING.
	startTimeout = 20 * time.Second
	// clientTimeout bounds a RunClient call whose context has no deadline; the peer
	// clients give up by themselves after 30 s, so this only catches a wedged process.
	clientTimeout = 60 * time.Second
	// maxLines caps how many stdout lines a Server keeps; older lines are dropped.
	maxLines = 4096
	// maxLineBytes caps one stdout line; longer lines are cut.
	maxLineBytes = 64 << 10
	// maxCapture caps captured stderr and client output; the first bytes are kept,
	// since they carry the cause of a failure.
	maxCapture = 1 << 20
)

// ErrUnknownKind is wrapped by the errors of Command and CheckInstalled for a peer kind
// other than Node or Python, so a typo in a test table is reported as such rather than
// as a missing install.
var ErrUnknownKind = errors.New("peers: unknown peer kind")

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error
)

// RepoRoot returns the repository root: the nearest directory at or above the working
// directory that holds go.mod. Tests run with the package directory as working
// directory, so this finds the root wherever the package lives.
func RepoRoot() (string, error) {
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			rootErr = fmt.Errorf("peers: working directory: %w", err)
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				rootDir = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				rootErr = errors.New("peers: no go.mod found above the working directory")
				return
			}
			dir = parent
		}
	})
	return rootDir, rootErr
}

var (
	pythonOnce sync.Once
	pythonErr  error
)

// CheckInstalled reports whether the peers of kind can run here: the interpreter, the
// peer scripts and the WebSocket library they import. Its error says what is missing
// and how to install it, so tests can fail with it as is.
func CheckInstalled(kind string) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	const hint = "run scripts/test.sh (it installs the interoperability peers)"
	switch kind {
	case Node:
		if _, err := exec.LookPath("node"); err != nil {
			return fmt.Errorf("peers: node not found on PATH (%w); %s", err, hint)
		}
		wsPkg := filepath.Join(root, "interop", "peers", "node", "node_modules", "ws", "package.json")
		if _, err := os.Stat(wsPkg); err != nil {
			return fmt.Errorf("peers: npm package ws is not installed (%w); %s", err, hint)
		}
		return nil
	case Python:
		pythonOnce.Do(func() {
			out, err := exec.Command(SystemPython, "-c", "import websockets").CombinedOutput()
			if err != nil {
				pythonErr = fmt.Errorf("peers: %s cannot import websockets (%w: %s); %s",
					SystemPython, err, strings.TrimSpace(string(out)), hint)
			}
		})
		return pythonErr
	default:
		return fmt.Errorf("%w %q (want %q or %q)", ErrUnknownKind, kind, Node, Python)
	}
}

// Command builds (without starting) the command that runs script ("server" or
// "client") of the peer kind with args. Node runs with the peer directory as working
// directory and NODE_PATH set, so require('ws') finds the committed lockfile's install.
func Command(ctx context.Context, kind, script string, args ...string) (*exec.Cmd, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	var cmd *exec.Cmd
	switch kind {
	case Node:
		dir := filepath.Join(root, "interop", "peers", "node")
		cmd = exec.CommandContext(ctx, "node", append([]string{filepath.Join(dir, script+".js")}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	case Python:
		dir := filepath.Join(root, "interop", "peers", "python")
		// -u: unbuffered, so each line reaches us when it is printed.
		cmd = exec.CommandContext(ctx, SystemPython, append([]string{"-u", filepath.Join(dir, script+".py")}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	default:
		return nil, fmt.Errorf("%w %q (want %q or %q)", ErrUnknownKind, kind, Node, Python)
	}
	// If the process leaves children holding its output open, give up on them
	// rather than wait forever.
	cmd.WaitDelay = 5 * time.Second
	return cmd, nil
}

// Server is a running peer server. Its stdout is collected line by line so tests can
// wait for what it reports about each connection (for example "CLOSE 4001 bye").
type Server struct {
	kind string
	port string
	cmd  *exec.Cmd

	stdout *lineSink
	stderr *cappedBuffer
	exited chan struct{} // closed when the process has exited and been reaped
	exitMu sync.Mutex
	exitEr error
}

// StartServer starts a peer server of kind with args (for example "--deflate"),
// listening on an ephemeral 127.0.0.1 port, and waits at most 20 s for it to print
// LISTENING. t.Cleanup kills and reaps the process. Any failure is fatal to t.
func StartServer(t testing.TB, kind string, args ...string) *Server {
	t.Helper()
	if err := CheckInstalled(kind); err != nil {
		t.Fatalf("%v", err)
	}
	if !slices.Contains(args, "--port") {
		args = append([]string{"--port", "0"}, args...)
	}
	cmd, err := Command(context.Background(), kind, "server", args...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	s := &Server{
		kind:   kind,
		cmd:    cmd,
		stdout: newLineSink(),
		stderr: &cappedBuffer{limit: maxCapture},
		exited: make(chan struct{}),
	}
	cmd.Stdout = s.stdout
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("peers: start %s server: %v", kind, err)
	}
	go func() {
		err := cmd.Wait()
		s.exitMu.Lock()
		s.exitEr = err
		s.exitMu.Unlock()
		close(s.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("peers: %s server (pid %d) not reaped 10 s after kill", kind, cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("peers: %s server stdout:\n%s", kind, strings.Join(s.Lines(), "\n"))
			t.Logf("peers: %s server stderr:\n%s", kind, s.stderr.String())
		}
	})

	line, err := s.waitLine("LISTENING ", startTimeout)
	if err != nil {
		t.Fatalf("peers: %s server did not start: %v\nstderr:\n%s", kind, err, s.stderr.String())
	}
	s.port = strings.TrimSpace(strings.TrimPrefix(line, "LISTENING "))
	if s.port == "" || strings.ContainsFunc(s.port, func(r rune) bool { return r < '0' || r > '9' }) {
		t.Fatalf("peers: %s server printed a bad LISTENING line %q", kind, line)
	}
	return s
}

// Kind returns the peer kind this server runs ("node" or "python").
func (s *Server) Kind() string { return s.kind }

// Port returns the loopback TCP port the server listens on.
func (s *Server) Port() string { return s.port }

// URL returns the server's WebSocket URL, ws://127.0.0.1:<port>/.
func (s *Server) URL() string { return "ws://127.0.0.1:" + s.port + "/" }

// Lines returns a copy of the stdout lines the server printed after LISTENING that
// are still kept (at most the last 4096), oldest first. Use it to assert on the whole
// output; use WaitLine to wait for a line that has not arrived yet.
func (s *Server) Lines() []string { return s.stdout.snapshot() }

// WaitLine waits at most timeout for the next stdout line that starts with prefix and
// returns it. Lines are consumed in order: each call looks only after the line the
// previous call returned, so waiting for "CLOSE " twice waits for two connections.
// It fails t (with the server's stderr) on timeout or if the server exits first.
func (s *Server) WaitLine(t testing.TB, prefix string, timeout time.Duration) string {
	t.Helper()
	line, err := s.waitLine(prefix, timeout)
	if err != nil {
		t.Fatalf("peers: %s server: %v\nstdout so far:\n%s\nstderr:\n%s",
			s.kind, err, strings.Join(s.Lines(), "\n"), s.stderr.String())
	}
	return line
}

func (s *Server) waitLine(prefix string, timeout time.Duration) (string, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		line, ok, changed := s.stdout.next(prefix)
		if ok {
			return line, nil
		}
		select {
		case <-changed:
		case <-s.exited:
			// The process is gone; lines it printed before exiting are all in.
			if line, ok, _ := s.stdout.next(prefix); ok {
				return line, nil
			}
			s.exitMu.Lock()
			err := s.exitEr
			s.exitMu.Unlock()
			return "", fmt.Errorf("exited (%v) before printing a line starting with %q", err, prefix)
		case <-deadline.C:
			return "", fmt.Errorf("no line starting with %q within %v", prefix, timeout)
		}
	}
}

// RunClient runs the peer client of kind against url with args (for example
// "--deflate" or "--mode", "wait-close") and returns its combined stdout and stderr
// and the error from running it (an *exec.ExitError when it printed FAIL). Without a
// deadline on ctx the run is bounded at 60 s. Missing prerequisites are fatal to t.
func RunClient(ctx context.Context, t testing.TB, kind, url string, args ...string) (string, error) {
	t.Helper()
	if err := CheckInstalled(kind); err != nil {
		t.Fatalf("%v", err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, clientTimeout)
		defer cancel()
	}
	cmd, err := Command(ctx, kind, "client", append([]string{url}, args...)...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	out := &cappedBuffer{limit: maxCapture}
	cmd.Stdout = out
	cmd.Stderr = out
	err = cmd.Run()
	if err != nil {
		err = fmt.Errorf("peers: %s client %s: %w", kind, url, err)
	}
	return out.String(), err
}

// lineSink is an io.Writer that splits what it is given into lines, keeps the last
// maxLines of them and lets readers consume them in order.
type lineSink struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	dropped int           // lines dropped from the front to respect maxLines
	cursor  int           // absolute index of the next line next() looks at
	changed chan struct{} // closed and replaced whenever a line is added
}

func newLineSink() *lineSink { return &lineSink{changed: make(chan struct{})} }

func (l *lineSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			room := maxLineBytes - len(l.partial)
			l.partial = append(l.partial, p[:min(len(p), max(room, 0))]...)
			break
		}
		room := maxLineBytes - len(l.partial)
		l.partial = append(l.partial, p[:min(i, max(room, 0))]...)
		l.add(strings.TrimSuffix(string(l.partial), "\r"))
		l.partial = l.partial[:0]
		p = p[i+1:]
	}
	return n, nil
}

// add appends a complete line; l.mu is held.
func (l *lineSink) add(line string) {
	l.lines = append(l.lines, line)
	if len(l.lines) > maxLines {
		drop := len(l.lines) - maxLines
		l.lines = slices.Delete(l.lines, 0, drop)
		l.dropped += drop
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

// next returns the first line at or after the cursor that starts with prefix and
// moves the cursor past it. When there is none it returns a channel that is closed
// when the next line arrives.
func (l *lineSink) next(prefix string) (string, bool, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	start := max(l.cursor-l.dropped, 0)
	for i := start; i < len(l.lines); i++ {
		if strings.HasPrefix(l.lines[i], prefix) {
			l.cursor = l.dropped + i + 1
			return l.lines[i], true, nil
		}
	}
	return "", false, l.changed
}

// snapshot returns the kept lines after the LISTENING line.
func (l *lineSink) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.lines))
	seenListening := l.dropped > 0
	for _, line := range l.lines {
		if !seenListening && strings.HasPrefix(line, "LISTENING ") {
			seenListening = true
			continue
		}
		if seenListening {
			out = append(out, line)
		}
	}
	return out
}

// cappedBuffer is a goroutine-safe io.Writer keeping the first limit bytes written;
// the rest is counted and discarded, so a chatty process cannot grow it without bound.
type cappedBuffer struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	limit     int
	discarded int
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	room := c.limit - c.buf.Len()
	if room >= len(p) {
		c.buf.Write(p)
	} else {
		if room > 0 {
			c.buf.Write(p[:room])
		}
		c.discarded += len(p) - max(room, 0)
	}
	return len(p), nil
}

func (c *cappedBuffer) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.discarded > 0 {
		return c.buf.String() + fmt.Sprintf("\n[... %d more bytes discarded]", c.discarded)
	}
	return c.buf.String()
}

// ParseLines splits peer output into lines without line terminators, so tests can
// assert on RunClient's output line by line (require.Contains, require.Equal).
func ParseLines(out string) []string {
	out = strings.TrimSuffix(out, "\n")
	if out == "" {
		return nil
	}
	lines := strings.Split(out, "\n")
	for i, line := range lines {
		lines[i] = strings.TrimSuffix(line, "\r")
	}
	return lines
}
