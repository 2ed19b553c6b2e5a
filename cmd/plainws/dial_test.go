package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/wstest"
	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// closingServer upgrades and then ends the connection as the path says:
// /close/CODE sends a close frame with CODE and reason "bye"; /drop closes
// the TCP connection with no close frame (1006 for the client).
func closingServer(t *testing.T) string {
	t.Helper()
	up := &ws.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		go func() { // read, so that Close sees the answer
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
		if code, ok := strings.CutPrefix(r.URL.Path, "/close/"); ok {
			n, _ := strconv.Atoi(code)
			_ = c.Close(ws.StatusCode(n), "bye")
			return
		}
		_ = c.CloseNow()
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// dialUntilEnd runs dial on url with an input that stays open, so that
// only the server ends the connection, and returns the exit code and stderr.
func dialUntilEnd(t *testing.T, url string) (int, string) {
	t.Helper()
	pr, pw := io.Pipe()
	defer pw.Close()
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run(context.Background(), []string{"dial", url}, pr, &out, &errb) }()
	select {
	case code := <-done:
		return code, errb.String()
	case <-time.After(20 * time.Second):
		t.Fatalf("dial %s did not end", url)
		return 0, ""
	}
}

// A close by the server is printed once. The exit status is 0 for the
// normal codes and for an application's (3000-4999, RFC 6455 §7.4.2), 1 for
// the codes that report an error and for a connection that broke without a
// close frame.
func TestDialExitCodeOfServerClose(t *testing.T) {
	url := closingServer(t)
	for _, tc := range []struct {
		path string
		code int
		line string
	}{
		{"/close/1000", exitOK, "* closed by server: 1000 normal closure \"bye\"\n"},
		{"/close/1001", exitOK, "* closed by server: 1001 going away \"bye\"\n"},
		{"/close/4000", exitOK, "* closed by server: 4000 (application code) \"bye\"\n"},
		{"/close/3001", exitOK, "* closed by server: 3001 (application code) \"bye\"\n"},
		{"/close/1011", exitFail, "plainws dial: closed by server: 1011 internal server error \"bye\"\n"},
		{"/close/1008", exitFail, "plainws dial: closed by server: 1008 policy violation \"bye\"\n"},
	} {
		code, stderr := dialUntilEnd(t, url+tc.path)
		assert.Equal(t, tc.code, code, "%s: %s", tc.path, stderr)
		assert.Contains(t, stderr, tc.line, tc.path)
		assert.Equal(t, 1, strings.Count(stderr, "closed by server"), "%s: the close is printed once:\n%s", tc.path, stderr)
		assert.Equal(t, 1, strings.Count(stderr, `"bye"`), "%s: the close is printed once:\n%s", tc.path, stderr)
	}
	code, stderr := dialUntilEnd(t, url+"/drop")
	assert.Equal(t, exitFail, code, stderr)
	assert.Contains(t, stderr, "1006")
}

// interactive drives dial -i through pipes: the same code path as a
// terminal, without one.
type interactive struct {
	t         *testing.T
	in        *io.PipeWriter
	out, errb *syncBuffer
	done      chan int
	cancel    context.CancelFunc
}

func startInteractive(t *testing.T, url string, args ...string) *interactive {
	t.Helper()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	s := &interactive{t: t, in: pw, out: &syncBuffer{}, errb: &syncBuffer{}, done: make(chan int, 1), cancel: cancel}
	go func() {
		s.done <- run(ctx, append(append([]string{"dial", "-i"}, args...), url), pr, s.out, s.errb)
	}()
	t.Cleanup(func() { cancel(); _ = pw.Close() })
	s.waitErr("* connected to ")
	return s
}

func (s *interactive) send(line string) {
	s.t.Helper()
	_, err := io.WriteString(s.in, line+"\n")
	require.NoError(s.t, err)
}

func (s *interactive) waitOut(want string) {
	s.t.Helper()
	if !assert.Eventually(s.t, func() bool { return strings.Contains(s.out.String(), want) }, 10*time.Second, 5*time.Millisecond) {
		s.t.Fatalf("stdout never had %q:\n%s", want, s.out.String())
	}
}

func (s *interactive) waitErr(want string) {
	s.t.Helper()
	if !assert.Eventually(s.t, func() bool { return strings.Contains(s.errb.String(), want) }, 10*time.Second, 5*time.Millisecond) {
		s.t.Fatalf("stderr never had %q:\n%s", want, s.errb.String())
	}
}

func (s *interactive) exit() int {
	s.t.Helper()
	select {
	case code := <-s.done:
		return code
	case <-time.After(20 * time.Second):
		s.t.Fatal("dial did not exit")
		return 0
	}
}

// Interactive mode marks what is sent ("> ") and what arrives ("< "), and
// runs the slash commands: /ping reports its pong's round trip (and only
// once), /binary sends bytes, // sends a leading slash, /help lists, an
// unknown command says so, /close closes with the code and reason given.
func TestDialInteractiveSlashCommands(t *testing.T) {
	url, closes := echoServer(t)
	s := startInteractive(t, url)
	s.waitErr("/help lists the commands")

	s.send("hello")
	s.waitOut("> hello\n< hello\n")

	s.send("/ping abc")
	s.waitErr(`* pong "abc": round trip `)
	s.send("/ping")
	s.waitErr(`* pong "1": round trip `)

	s.send("/binary 68 69")
	s.waitOut("> (binary, 2 bytes) 6869\n< (binary, 2 bytes) 6869\n")
	s.send("/binary zz")
	s.waitErr("/binary wants hex digits")

	s.send("//etc")
	s.waitOut("< /etc\n")

	s.send("/nope")
	s.waitErr("unknown command /nope")
	s.send("/help")
	s.waitErr("*   /close [code [reason]]")

	s.send("/close 1005")
	s.waitErr("cannot close with 1005")
	s.send("/close 4001 all done")
	assert.Equal(t, exitOK, s.exit(), s.errb.String())
	assert.Contains(t, s.errb.String(), `* closed with 4001 (application code) "all done"`)
	select {
	case ce := <-closes:
		assert.Equal(t, ws.StatusCode(4001), ce.Code)
		assert.Equal(t, "all done", ce.Reason)
	case <-time.After(10 * time.Second):
		t.Fatal("the server saw no close frame")
	}

	// The pong of a /ping is reported with its round trip, not a second time
	// as a bare pong event.
	assert.Equal(t, 1, strings.Count(s.errb.String(), `pong "abc"`), s.errb.String())
	// Every line on stdout is marked.
	for _, l := range strings.Split(strings.TrimSuffix(s.out.String(), "\n"), "\n") {
		assert.True(t, strings.HasPrefix(l, "> ") || strings.HasPrefix(l, "< "), "%q", l)
	}
	// Piped, the same commands are plain messages (TestDialPipedInputAgainstServe);
	// -i=false forces that at a terminal too.
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"dial", "-i=false", url}, strings.NewReader("/help\n"), &out, &errb)
	assert.Equal(t, exitOK, code)
	assert.Equal(t, "/help\n", out.String())
}

// Ctrl-D in interactive mode closes with 1000, like the end of piped input.
func TestDialInteractiveEndOfInput(t *testing.T) {
	url, closes := echoServer(t)
	s := startInteractive(t, url)
	require.NoError(t, s.in.Close())
	assert.Equal(t, exitOK, s.exit())
	assert.Contains(t, s.errb.String(), "* closed (1000)")
	ce := <-closes
	assert.Equal(t, ws.CloseNormalClosure, ce.Code)
}

// A server that accepts the TCP connection and never answers the upgrade
// is reported as such, with the timeout, not as a bare I/O error.
func TestDialSilentServer(t *testing.T) {
	srv := wstest.Serve(t, func(p *wstest.Peer) { p.Silent() })
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"dial", "-timeout", "300ms", srv.URL + "/"}, strings.NewReader(""), &out, &errb)
	assert.Equal(t, exitFail, code)
	assert.Contains(t, errb.String(), "plainws dial: no handshake response within 300ms")
	assert.Contains(t, errb.String(), "is it a WebSocket server")
}

// A server that answers with something else than 101 is shown status line
// first, then at most a few hundred bytes of its body, then the error.
func TestDialNonWebSocketAnswer(t *testing.T) {
	body := "<html><title>No such page</title>\n" + strings.Repeat("x", 900) + "\n</html>"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, body)
	}))
	defer srv.Close()
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"dial", "ws" + strings.TrimPrefix(srv.URL, "http") + "/chat"}, strings.NewReader(""), &out, &errb)
	assert.Equal(t, exitFail, code)
	stderr := errb.String()
	lines := strings.Split(stderr, "\n")
	assert.Equal(t, "* server answered HTTP/1.1 404 Not Found", lines[0])
	assert.Equal(t, "* body: <html><title>No such page</title>", lines[1])
	shown := strings.Count(stderr, "x")
	assert.Positive(t, shown)
	assert.LessOrEqual(t, len("<html><title>No such page</title>\n")+shown, maxBodyShown)
	assert.Contains(t, stderr, "more bytes)")
	assert.Contains(t, stderr, "plainws dial: ws: server did not switch protocols")
	assert.Contains(t, stderr, "check the URL's path")
	assert.Less(t, strings.Index(stderr, "server answered"), strings.Index(stderr, "plainws dial:"), "status line first")
}

// Nothing listening: the error says how to start a server.
func TestDialConnectionRefused(t *testing.T) {
	addr := wstest.UnusedAddr(t)
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"dial", "ws://" + addr + "/"}, strings.NewReader(""), &out, &errb)
	assert.Equal(t, exitFail, code)
	assert.Contains(t, errb.String(), "connection refused")
	assert.Contains(t, errb.String(), "plainws serve PORT")
}
