//go:build !js

// Package wasmtest runs the js/wasm build of package ws where it is meant to
// run: it builds ws's test binary for GOOS=js GOARCH=wasm, starts a plainws
// server on loopback, and runs the binary under Node with Go's own
// go_js_wasm_exec, Node's global WebSocket standing in for a browser's. The
// tests inside the binary are ws/js_test.go; this side serves them and
// checks what the server saw.
package wasmtest

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// jsTests are the tests of ws/js_test.go; each must pass under Node.
var jsTests = []string{
	"TestJSEcho",
	"TestJSReadMessageIntoReuses",
	"TestJSPeerClose",
	"TestJSReadLimit",
	"TestJSReadDeadline",
	"TestJSDialContext",
	"TestJSDialErrors",
	"TestJSBrowserLimits",
	"TestJSAbnormalClosure",
	"TestJSCloseTimeout",
	"TestJSWriteBackpressure",
	"TestJSBrowserChecksUTF8",
}

// record is what the server saw of one connection's end.
type record struct {
	path, subprotocol string
	code              ws.StatusCode
	reason            string
}

type server struct {
	mu      sync.Mutex
	records []record
	up      ws.Upgrader
}

func (s *server) add(r record) {
	s.mu.Lock()
	s.records = append(s.records, r)
	s.mu.Unlock()
}

// serve handles the paths ws/js_test.go dials.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/refuse":
		http.Error(w, "no WebSocket here", http.StatusForbidden)
		return
	case "/hang":
		// Never answer the handshake; the client's context must end it.
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
		return
	}
	c, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	switch r.URL.Path {
	case "/close":
		_ = c.WriteText("closing soon")
		_ = c.Close(4001, "server says bye")
		return
	case "/big":
		_ = c.WriteMessage(ws.OpBinary, make([]byte, 1<<20))
		_ = c.WriteMessage(ws.OpBinary, make([]byte, 1<<20+1))
	case "/drop":
		// End the TCP connection without a close frame (1006).
		_ = c.WriteText("dropping")
		_ = c.NetConn().Close()
		return
	case "/deaf":
		// Read nothing: the client's close gets no answer and its
		// writes fill the socket buffers.
		<-r.Context().Done()
		return
	case "/badutf8":
		// RFC 6455 §8.1: the browser must fail the connection.
		_ = c.WriteMessage(ws.OpText, []byte{'a', 0xff, 'b'})
	case "/bigtext":
		// 1200 bytes of UTF-8 in 600 UTF-16 code units.
		_ = c.WriteText(strings.Repeat("é", 600))
	}
	// Echo until the client closes, then record how it closed.
	var buf []byte
	for {
		var op ws.Opcode
		op, buf, err = c.ReadMessageInto(buf)
		if err != nil {
			rec := record{path: r.URL.Path, subprotocol: c.Subprotocol(), code: ws.CloseStatus(err)}
			if ce, ok := err.(*ws.CloseError); ok {
				rec.reason = ce.Reason
			}
			s.add(rec)
			return
		}
		if err := c.WriteMessage(op, buf); err != nil {
			return
		}
	}
}

// goJSWasmExec finds Go's runner for js/wasm binaries: lib/wasm since Go
// 1.24, misc/wasm before.
func goJSWasmExec(t *testing.T, goBin string) string {
	out, err := exec.Command(goBin, "env", "GOROOT").Output()
	require.NoError(t, err, "go env GOROOT")
	root := strings.TrimSpace(string(out))
	for _, dir := range []string{"lib/wasm", "misc/wasm"} {
		p := filepath.Join(root, dir, "go_js_wasm_exec")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("no go_js_wasm_exec under %s/lib/wasm or %s/misc/wasm", root, root)
	return ""
}

// nodeOptions returns NODE_OPTIONS that give Node a global WebSocket: Node
// 22 has one, Node 20 only with --experimental-websocket.
func nodeOptions(t *testing.T, node string) string {
	opts := os.Getenv("NODE_OPTIONS")
	hasWS := func(opts string) bool {
		cmd := exec.Command(node, "-e", "process.exit(typeof WebSocket === 'function' ? 0 : 1)")
		cmd.Env = append(os.Environ(), "NODE_OPTIONS="+opts)
		return cmd.Run() == nil
	}
	if hasWS(opts) {
		return opts
	}
	opts = strings.TrimSpace(opts + " --experimental-websocket")
	if !hasWS(opts) {
		v, _ := exec.Command(node, "--version").Output()
		t.Fatalf("node %s has no global WebSocket, even with --experimental-websocket: Node 20.10 or later is needed (Debian bookworm's own nodejs is 18; NodeSource's 20 or 22 works)", bytes.TrimSpace(v))
	}
	return opts
}

// buildWasm builds ws's tests for js/wasm and returns the binary's path.
func buildWasm(ctx context.Context, t *testing.T, goBin string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ws.test.wasm")
	build := exec.CommandContext(ctx, goBin, "test", "-c", "-o", bin, "github.com/plainws/plainws/ws")
	// GOFLAGS of the host run (-race, say) do not apply to js/wasm.
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0", "GOFLAGS=")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "building ws's tests for js/wasm (a ws file that needs the native Conn, "+
		"net.Conn or the server side takes //go:build !js, its tests too):\n%s", out)
	return bin
}

// newServer is the plainws server the js tests talk to.
func newServer() *server {
	return &server{up: ws.Upgrader{
		Subprotocols: []string{"chat.v2", "chat.v1"},
		// Node sends no Origin; a browser page sends its own, which is this server's.
		CheckOrigin: func(*http.Request) bool { return true },
		// Negotiated if the client offers it (undici 6.x does not yet; a browser does).
		Options: ws.Options{Compression: &ws.CompressionOptions{}},
	}}
}

// checkRun asserts that every js test ran and passed, and that the server saw
// the closes the tests make.
func checkRun(t *testing.T, s *server, out string) {
	t.Helper()
	// Each test ran and passed; none was skipped or missing.
	for _, name := range jsTests {
		assert.Regexp(t, regexp.MustCompile(`(?m)^--- PASS: `+name+` `), out)
	}
	assert.NotContains(t, out, "--- SKIP")
	ran := regexp.MustCompile(`(?m)^=== RUN   (TestJS\w+)$`).FindAllStringSubmatch(out, -1)
	assert.Len(t, ran, len(jsTests), "TestJS* tests in ws/js_test.go and jsTests here differ")

	// What the server saw: the close codes and reasons the browser client
	// sent, and the subprotocol it took. The js tests wait for each close
	// to finish; the server may record it a moment after the client saw
	// the end.
	want := []record{
		{path: "/echo", subprotocol: "chat.v2", code: 4000, reason: "bye from wasm"},
		{path: "/echo", code: ws.CloseNormalClosure},
		{path: "/echo", code: ws.CloseNormalClosure, reason: "done"},
		// CloseNow and the read limit: the browser sends a close frame
		// without a code.
		{path: "/echo", code: ws.CloseNoStatusReceived},
		{path: "/big", code: ws.CloseNoStatusReceived},
		{path: "/bigtext", code: ws.CloseNoStatusReceived},
	}
	seen := func() []record {
		s.mu.Lock()
		defer s.mu.Unlock()
		return slices.Clone(s.records)
	}
	for _, w := range want {
		assert.Eventually(t, func() bool { return slices.Contains(seen(), w) }, 5*time.Second, 10*time.Millisecond,
			"the server saw no close %+v; it saw %+v", w, seen())
	}
}

func TestWasmClientUnderNode(t *testing.T) {
	node, err := exec.LookPath("node")
	require.NoError(t, err, "node is not installed: run scripts/test.sh, which installs nodejs, or install Node 20+")
	goBin, err := exec.LookPath("go")
	require.NoError(t, err, "the go command is needed to build the js/wasm test binary")
	execJS := goJSWasmExec(t, goBin)
	nodeOpts := nodeOptions(t, node)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := buildWasm(ctx, t, goBin)

	s := newServer()
	srv := httptest.NewServer(s)
	defer srv.Close()
	require.True(t, strings.HasPrefix(srv.URL, "http://127.0.0.1:"), srv.URL)

	run := exec.CommandContext(ctx, execJS, bin, "-test.v", "-test.count=1", "-test.run", "^TestJS")
	run.Env = append(os.Environ(),
		"PLAINWS_WASM_URL=ws://"+strings.TrimPrefix(srv.URL, "http://"),
		"NODE_OPTIONS="+nodeOpts)
	out, err := run.CombinedOutput()
	t.Logf("js/wasm tests under %s (NODE_OPTIONS=%q):\n%s", node, nodeOpts, out)
	require.NoError(t, err, "the js/wasm tests failed")
	checkRun(t, s, string(out))
}
