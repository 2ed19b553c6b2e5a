package peers

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/wstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// echoSteps are the steps an echo-mode client reports, in order, before PASS.
var echoSteps = []string{
	"text-0", "text-125", "text-126", "text-65535", "text-65536", "text-1048576",
	"binary-0", "binary-125", "binary-126", "binary-65535", "binary-65536", "binary-1048576",
	"fragmented-text", "fragmented-binary", "ping", "close",
}

func otherKind(kind string) string {
	if kind == Node {
		return Python
	}
	return Node
}

// TestCrossEcho runs each language's echo-mode client against the other language's
// server: both peers must agree on every message size, fragmentation across UTF-8
// boundaries, ping/pong and the closing handshake (RFC 6455 §5, §7), with and without
// permessage-deflate (RFC 7692). This proves the harness before plainws exists.
func TestCrossEcho(t *testing.T) {
	configs := []struct {
		name    string
		args    []string
		wantExt func(t *testing.T, ext string)
	}{
		{"plain", nil, func(t *testing.T, ext string) {
			assert.Equal(t, "", ext, "compression must be off unless --deflate is given")
		}},
		{"deflate", []string{"--deflate"}, func(t *testing.T, ext string) {
			assert.True(t, strings.HasPrefix(ext, "permessage-deflate"), "extension %q", ext)
			assert.NotContains(t, ext, "no_context_takeover")
		}},
		{"deflate-no-context-takeover", []string{"--deflate", "--no-context-takeover"}, func(t *testing.T, ext string) {
			assert.True(t, strings.HasPrefix(ext, "permessage-deflate"), "extension %q", ext)
			assert.Contains(t, ext, "server_no_context_takeover")
			assert.Contains(t, ext, "client_no_context_takeover")
		}},
	}
	for _, clientKind := range Kinds {
		serverKind := otherKind(clientKind)
		for _, cfg := range configs {
			t.Run(clientKind+"-client/"+serverKind+"-server/"+cfg.name, func(t *testing.T) {
				srv := StartServer(t, serverKind, cfg.args...)
				ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
				defer cancel()
				out, err := RunClient(ctx, t, clientKind, srv.URL(), cfg.args...)
				require.NoError(t, err, "client output:\n%s", out)

				lines := ParseLines(out)
				require.NotEmpty(t, lines)
				require.True(t, strings.HasPrefix(lines[0], "EXT "), "first line must be EXT, got %q", lines[0])
				cfg.wantExt(t, strings.TrimPrefix(lines[0], "EXT "))

				want := []string{lines[0]}
				for _, step := range echoSteps {
					want = append(want, "OK "+step)
				}
				want = append(want, "PASS")
				assert.Equal(t, want, lines)

				// The server reports the close code and reason the client sent.
				assert.Equal(t, "CLOSE 4001 bye", srv.WaitLine(t, "CLOSE ", 10*time.Second))
			})
		}
	}
}

// TestServerCommands drives each peer server with a minimal hand-written client, so
// the command protocol in interop/README.md is checked frame by frame and shown to be
// the same in both languages.
func TestServerCommands(t *testing.T) {
	for _, kind := range Kinds {
		t.Run(kind, func(t *testing.T) {
			srv := StartServer(t, kind)

			t.Run("subprotocol chat is chosen when offered", func(t *testing.T) {
				c, resp := dialRaw(t, srv, http.Header{"Sec-WebSocket-Protocol": {"foo, chat"}})
				assert.Equal(t, "chat", resp.Header.Get("Sec-WebSocket-Protocol"))
				assert.Equal(t, "chat", c.command(t, "cmd:subprotocol"))
				c.closeNormally(t)
				assert.Equal(t, "CLOSE 1000 ", srv.WaitLine(t, "CLOSE ", 10*time.Second))
			})

			t.Run("no subprotocol and no extensions unless asked", func(t *testing.T) {
				c, resp := dialRaw(t, srv, http.Header{
					"Sec-WebSocket-Protocol":   {"foo"},
					"Sec-WebSocket-Extensions": {"permessage-deflate"},
				})
				assert.Empty(t, resp.Header.Values("Sec-WebSocket-Protocol"))
				assert.Empty(t, resp.Header.Values("Sec-WebSocket-Extensions"))
				assert.Equal(t, "", c.command(t, "cmd:subprotocol"))
				assert.Equal(t, "", c.command(t, "cmd:extensions"))
				c.closeNormally(t)
				srv.WaitLine(t, "CLOSE ", 10*time.Second)
			})

			t.Run("headers and echo", func(t *testing.T) {
				c, _ := dialRaw(t, srv, http.Header{"X-Test": {"hello"}})
				assert.Equal(t, "hello", c.command(t, "cmd:header:X-Test"))
				assert.Equal(t, "hello", c.command(t, "cmd:header:x-test"), "header names are case-insensitive")
				assert.Equal(t, "", c.command(t, "cmd:header:X-Missing"))
				assert.Equal(t, "cmd:no-such-command", c.command(t, "cmd:no-such-command"))

				bin := []byte{0, 1, 2, 0xff, 0xfe}
				c.writeFrame(t, true, wstest.OpBinary, bin)
				f := c.readFrame(t)
				assert.Equal(t, frame{fin: true, op: wstest.OpBinary, payload: bin}, f)
				c.closeNormally(t)
				srv.WaitLine(t, "CLOSE ", 10*time.Second)
			})

			t.Run("fragments are real continuation frames", func(t *testing.T) {
				c, _ := dialRaw(t, srv, nil)
				c.writeFrame(t, true, wstest.OpText, []byte("cmd:fragments:3:5:text"))
				assert.Equal(t, frame{fin: false, op: wstest.OpText, payload: []byte("abcde")}, c.readFrame(t))
				assert.Equal(t, frame{fin: false, op: wstest.OpContinuation, payload: []byte("fghij")}, c.readFrame(t))
				assert.Equal(t, frame{fin: true, op: wstest.OpContinuation, payload: []byte("klmno")}, c.readFrame(t))

				c.writeFrame(t, true, wstest.OpText, []byte("cmd:fragments:2:20:binary"))
				assert.Equal(t, frame{fin: false, op: wstest.OpBinary, payload: []byte("abcdefghijklmnopqrst")}, c.readFrame(t))
				assert.Equal(t, frame{fin: true, op: wstest.OpContinuation, payload: []byte("uvwxyzabcdefghijklmn")}, c.readFrame(t))

				c.writeFrame(t, true, wstest.OpText, []byte("cmd:fragments:0:5:text"))
				f := c.readFrame(t)
				assert.Equal(t, wstest.OpText, f.op)
				assert.True(t, strings.HasPrefix(string(f.payload), "error:"), "got %q", f.payload)
				c.closeNormally(t)
				srv.WaitLine(t, "CLOSE ", 10*time.Second)
			})

			t.Run("ping command waits for our pong", func(t *testing.T) {
				c, _ := dialRaw(t, srv, nil)
				c.writeFrame(t, true, wstest.OpText, []byte("cmd:ping:abc"))
				assert.Equal(t, frame{fin: true, op: wstest.OpPing, payload: []byte("abc")}, c.readFrame(t))
				// RFC 6455 §5.5.3: the pong carries the ping's application data.
				c.writeFrame(t, true, wstest.OpPong, []byte("abc"))
				assert.Equal(t, frame{fin: true, op: wstest.OpText, payload: []byte("pong:abc")}, c.readFrame(t))
				c.closeNormally(t)
				srv.WaitLine(t, "CLOSE ", 10*time.Second)
			})

			t.Run("server-initiated close carries code and reason", func(t *testing.T) {
				c, _ := dialRaw(t, srv, nil)
				c.writeFrame(t, true, wstest.OpText, []byte("cmd:close:4000:x"))
				f := c.readFrame(t)
				require.Equal(t, wstest.OpClose, f.op)
				require.Len(t, f.payload, 3)
				assert.Equal(t, uint16(4000), binary.BigEndian.Uint16(f.payload))
				assert.Equal(t, "x", string(f.payload[2:]))
				// RFC 6455 §5.5.1: echo the status code in our close frame.
				c.writeFrame(t, true, wstest.OpClose, f.payload)
				c.expectEOF(t)
				assert.Equal(t, "CLOSE 4000 x", srv.WaitLine(t, "CLOSE ", 10*time.Second))
			})

			t.Run("empty close frame is reported as 1005", func(t *testing.T) {
				c, _ := dialRaw(t, srv, nil)
				// RFC 6455 §7.1.5: a close frame without a status code means 1005.
				c.writeFrame(t, true, wstest.OpClose, nil)
				f := c.readFrame(t)
				assert.Equal(t, wstest.OpClose, f.op)
				c.expectEOF(t)
				assert.Equal(t, "CLOSE 1005 ", srv.WaitLine(t, "CLOSE ", 10*time.Second))
			})

			t.Run("dropped TCP connection is reported as 1006", func(t *testing.T) {
				c, _ := dialRaw(t, srv, nil)
				assert.Equal(t, "", c.command(t, "cmd:subprotocol"))
				require.NoError(t, c.conn.Close())
				// RFC 6455 §7.1.5: no close frame received means 1006.
				assert.Equal(t, "CLOSE 1006 ", srv.WaitLine(t, "CLOSE ", 10*time.Second))
			})

			t.Run("Lines keeps the connection reports", func(t *testing.T) {
				lines := srv.Lines()
				closes := 0
				for _, l := range lines {
					if strings.HasPrefix(l, "CLOSE ") {
						closes++
					}
				}
				assert.Equal(t, 8, closes, "lines: %q", lines)
				assert.NotContains(t, lines, "LISTENING "+srv.Port())
			})
		})
	}
}

// TestServerDeflateNegotiation checks that --deflate and --no-context-takeover give
// the response RFC 7692 §7 describes, and that cmd:extensions reports exactly the
// header that was sent.
func TestServerDeflateNegotiation(t *testing.T) {
	for _, kind := range Kinds {
		t.Run(kind, func(t *testing.T) {
			for _, nct := range []bool{false, true} {
				args := []string{"--deflate"}
				if nct {
					args = append(args, "--no-context-takeover")
				}
				srv := StartServer(t, kind, args...)
				c, resp := dialRaw(t, srv, http.Header{"Sec-WebSocket-Extensions": {"permessage-deflate"}})
				ext := resp.Header.Get("Sec-WebSocket-Extensions")
				require.True(t, strings.HasPrefix(ext, "permessage-deflate"), "response extension %q", ext)
				if nct {
					assert.Contains(t, ext, "server_no_context_takeover")
					assert.Contains(t, ext, "client_no_context_takeover")
				} else {
					assert.NotContains(t, ext, "no_context_takeover")
				}
				// Our frames go uncompressed (RSV1 clear), which RFC 7692 §6 allows;
				// the server's reply may be compressed.
				assert.Equal(t, ext, c.command(t, "cmd:extensions"))
				c.closeNormally(t)
				srv.WaitLine(t, "CLOSE ", 10*time.Second)

				// RFC 7692 §7.1.1.1: a client may ask the server not to take over its
				// context; a server that keeps context by default must still accept.
				c, resp = dialRaw(t, srv, http.Header{"Sec-WebSocket-Extensions": {"permessage-deflate; server_no_context_takeover"}})
				ext = resp.Header.Get("Sec-WebSocket-Extensions")
				require.True(t, strings.HasPrefix(ext, "permessage-deflate"), "response extension %q", ext)
				assert.Contains(t, ext, "server_no_context_takeover")
				c.closeNormally(t)
				srv.WaitLine(t, "CLOSE ", 10*time.Second)
			}
		})
	}
}

// TestClientWaitClose runs each client in wait-close mode against a minimal
// hand-written server that sends two messages and closes with 4002 "done".
func TestClientWaitClose(t *testing.T) {
	for _, kind := range Kinds {
		t.Run(kind, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			t.Cleanup(func() { _ = ln.Close() })

			serverErr := make(chan error, 1)
			go func() { serverErr <- serveWaitClose(ln) }()

			url := "ws://" + ln.Addr().String() + "/"
			out, err := RunClient(context.Background(), t, kind, url, "--mode", "wait-close")
			require.NoError(t, err, "client output:\n%s", out)
			assert.Equal(t, []string{
				"EXT ",
				"OPEN",
				"MSG text 6", // "héllo" is 6 bytes of UTF-8
				"MSG binary 70000",
				"CLOSED 4002 done",
			}, ParseLines(out))
			require.NoError(t, <-serverErr)
		})
	}
}

// TestClientReportsFailure checks that a client prints FAIL and exits non-zero when
// it cannot connect, so a broken peer can never look like a pass.
func TestClientReportsFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "ws://" + ln.Addr().String() + "/"
	require.NoError(t, ln.Close()) // nothing listens there any more
	for _, kind := range Kinds {
		t.Run(kind, func(t *testing.T) {
			out, err := RunClient(context.Background(), t, kind, url)
			var exitErr *exec.ExitError
			require.ErrorAs(t, err, &exitErr, "output:\n%s", out)
			assert.Equal(t, 1, exitErr.ExitCode())
			lines := ParseLines(out)
			require.NotEmpty(t, lines)
			assert.True(t, strings.HasPrefix(lines[len(lines)-1], "FAIL connect "), "output:\n%s", out)
			assert.NotContains(t, lines, "PASS")
		})
	}
}

func TestUnknownKind(t *testing.T) {
	require.ErrorIs(t, CheckInstalled("ruby"), ErrUnknownKind)
	_, err := Command(context.Background(), "ruby", "server")
	require.ErrorIs(t, err, ErrUnknownKind)
}

func TestRepoRoot(t *testing.T) {
	root, err := RepoRoot()
	require.NoError(t, err)
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	assert.Contains(t, string(mod), "module github.com/plainws/plainws")
}

func TestLineSink(t *testing.T) {
	l := newLineSink()
	_, err := io.WriteString(l, "LISTENING 1\nCLOSE 1000 a\r\nother\nCLO")
	require.NoError(t, err)
	_, err = io.WriteString(l, "SE 1001 b\npartial")
	require.NoError(t, err)

	line, ok, _ := l.next("CLOSE ")
	require.True(t, ok)
	assert.Equal(t, "CLOSE 1000 a", line, "carriage return is stripped")
	line, ok, _ = l.next("CLOSE ")
	require.True(t, ok)
	assert.Equal(t, "CLOSE 1001 b", line, "a line split across writes is joined")
	_, ok, changed := l.next("CLOSE ")
	require.False(t, ok, "each line is consumed once")
	assert.Equal(t, []string{"CLOSE 1000 a", "other", "CLOSE 1001 b"}, l.snapshot(), "partial line is not a line yet")

	select {
	case <-changed:
		t.Fatal("changed must not fire before a new line")
	default:
	}
	_, err = io.WriteString(l, "\n")
	require.NoError(t, err)
	select {
	case <-changed:
	default:
		t.Fatal("changed must fire when a line completes")
	}
}

func TestLineSinkIsBounded(t *testing.T) {
	l := newLineSink()
	for i := range maxLines + 10 {
		_, err := fmt.Fprintf(l, "line %d\n", i)
		require.NoError(t, err)
	}
	assert.Len(t, l.lines, maxLines)
	assert.Equal(t, "line 10", l.lines[0])
	line, ok, _ := l.next("line ")
	require.True(t, ok)
	assert.Equal(t, "line 10", line, "the cursor skips dropped lines")

	_, err := l.Write(bytes.Repeat([]byte("x"), 3*maxLineBytes))
	require.NoError(t, err)
	_, err = l.Write([]byte("\n"))
	require.NoError(t, err)
	assert.Len(t, l.lines[len(l.lines)-1], maxLineBytes, "a long line is cut")
}

func TestCappedBuffer(t *testing.T) {
	c := &cappedBuffer{limit: 4}
	n, err := c.Write([]byte("abc"))
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	n, err = c.Write([]byte("defg"))
	require.NoError(t, err)
	assert.Equal(t, 4, n, "writers must not see a short write")
	assert.Equal(t, "abcd\n[... 3 more bytes discarded]", c.String())
}

func TestParseLines(t *testing.T) {
	assert.Nil(t, ParseLines(""))
	assert.Equal(t, []string{"EXT ", "PASS"}, ParseLines("EXT \r\nPASS\n"))
	assert.Equal(t, []string{"a", "", "b"}, ParseLines("a\n\nb"))
}

// --- a minimal RFC 6455 codec, test-only, independent of the plainws library ---

type frame struct {
	fin     bool
	op      byte
	payload []byte
}

type rawConn struct {
	conn net.Conn
	br   *bufio.Reader
	// masked is true on the client side: RFC 6455 §5.3, a client masks every frame.
	masked bool
}

// dialRaw opens a WebSocket connection to srv with extra request headers and checks
// the 101 response (RFC 6455 §4.1).
func dialRaw(t *testing.T, srv *Server, extra http.Header) (*rawConn, *http.Response) {
	t.Helper()
	c := wstest.Dial(t, "127.0.0.1:"+srv.Port())
	require.NoError(t, c.Conn.SetDeadline(time.Now().Add(20*time.Second)))
	var lines []string
	for name, values := range extra {
		for _, v := range values {
			lines = append(lines, name+": "+v)
		}
	}
	resp := c.Upgrade("/", lines...)
	return &rawConn{conn: c.Conn, br: c.R, masked: true}, resp
}

func (c *rawConn) writeFrame(t *testing.T, fin bool, op byte, payload []byte) {
	t.Helper()
	require.NoError(t, writeRawFrame(c.conn, c.masked, fin, op, payload))
}

// writeRawFrame writes one frame, masked with a fresh random key when masked
// (RFC 6455 §5.3).
func writeRawFrame(w io.Writer, masked, fin bool, op byte, payload []byte) error {
	f := wstest.Frame{Fin: fin, Opcode: op, Payload: payload}
	if masked {
		f.Masked, f.Key = true, wstest.NewMaskKey()
	}
	_, err := w.Write(f.Bytes())
	return err
}

// readFrame reads one frame; for compressed frames (RSV1, RFC 7692 §6.2) it returns
// the inflated payload.
func (c *rawConn) readFrame(t *testing.T) frame {
	t.Helper()
	f, masked, rsv1, err := readRawFrame(c.br)
	require.NoError(t, err)
	// RFC 6455 §5.1: a server MUST NOT mask frames it sends to the client.
	require.Equal(t, !c.masked, masked, "mask bit")
	if rsv1 {
		f.payload = inflate(t, f.payload)
	}
	return f
}

func readRawFrame(r io.Reader) (f frame, masked, rsv1 bool, err error) {
	wf, err := wstest.ReadFrame(r)
	if err != nil {
		return f, false, false, err
	}
	return frame{fin: wf.Fin, op: wf.Opcode, payload: wf.Payload}, wf.Masked, wf.Rsv&wstest.Rsv1 != 0, nil
}

// inflate decompresses one permessage-deflate message (RFC 7692 §7.2.2: append
// 0x00 0x00 0xff 0xff, then inflate).
func inflate(t *testing.T, p []byte) []byte {
	t.Helper()
	r := flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte{0, 0, 0xff, 0xff})))
	out, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		require.NoError(t, err)
	}
	return out
}

// command sends a text command and returns the text reply.
func (c *rawConn) command(t *testing.T, cmd string) string {
	t.Helper()
	c.writeFrame(t, true, wstest.OpText, []byte(cmd))
	f := c.readFrame(t)
	require.Equal(t, frame{fin: true, op: wstest.OpText, payload: f.payload}, f, "reply to %q", cmd)
	return string(f.payload)
}

// closeNormally runs the closing handshake with status 1000 (RFC 6455 §7.1.2).
func (c *rawConn) closeNormally(t *testing.T) {
	t.Helper()
	c.writeFrame(t, true, wstest.OpClose, []byte{0x03, 0xE8})
	f := c.readFrame(t)
	require.Equal(t, wstest.OpClose, f.op)
	c.expectEOF(t)
}

// expectEOF checks that the server closes TCP after the closing handshake (RFC 6455
// §7.1.1: the server closes the underlying connection first), then closes our end as
// a client does once it has seen the server's.
func (c *rawConn) expectEOF(t *testing.T) {
	t.Helper()
	_, err := c.br.ReadByte()
	require.ErrorIs(t, err, io.EOF)
	require.NoError(t, c.conn.Close())
}

// serveWaitClose accepts one connection, checks the client's handshake and its
// "ready" message, sends "héllo" and 70000 zero bytes, then closes with 4002 "done".
func serveWaitClose(ln net.Listener) error {
	conn, err := ln.Accept()
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		return err
	}
	br := bufio.NewReader(conn)
	req, err := http.ReadRequest(br)
	if err != nil {
		return err
	}
	key := req.Header.Get("Sec-WebSocket-Key")
	if key == "" || !strings.EqualFold(req.Header.Get("Upgrade"), "websocket") {
		return fmt.Errorf("not a WebSocket upgrade: %v", req.Header)
	}
	if ext := req.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		return fmt.Errorf("client offered %q without --deflate", ext)
	}
	if _, err := io.WriteString(conn, wstest.Switching(key)); err != nil {
		return err
	}
	f, masked, _, err := readRawFrame(br)
	if err != nil {
		return err
	}
	if !masked || f.op != wstest.OpText || string(f.payload) != "ready" {
		return fmt.Errorf("want masked text \"ready\", got masked=%v %+v", masked, f)
	}
	if err := writeRawFrame(conn, false, true, wstest.OpText, []byte("héllo")); err != nil {
		return err
	}
	if err := writeRawFrame(conn, false, true, wstest.OpBinary, make([]byte, 70000)); err != nil {
		return err
	}
	if err := writeRawFrame(conn, false, true, wstest.OpClose, append([]byte{0x0F, 0xA2}, "done"...)); err != nil {
		return err
	}
	f, masked, _, err = readRawFrame(br)
	if err != nil {
		return err
	}
	if !masked || f.op != wstest.OpClose {
		return fmt.Errorf("want the client's close frame, got masked=%v %+v", masked, f)
	}
	return nil
}
