package interop

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/peers"
	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// h2ChildEnv marks the child process inH2Child starts.
const h2ChildEnv = "PLAINWS_H2_CHILD"

// inH2Child reports whether the calling test runs its body here. net/http's
// server accepts RFC 8441's extended CONNECT only when the process started
// with GODEBUG=http2xconnect=1 (it reads the environment in init), so unless
// it did, the test re-runs itself in a child of this test binary that has
// it, requires the child to pass, and returns false.
func inH2Child(t *testing.T) bool {
	t.Helper()
	if strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1") {
		return true
	}
	require.Empty(t, os.Getenv(h2ChildEnv), "child started without GODEBUG=http2xconnect=1")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v", "-test.timeout=80s")
	cmd.Env = append(os.Environ(), "GODEBUG=http2xconnect=1", h2ChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	require.NoErrorf(t, err, "child with GODEBUG=http2xconnect=1 failed:\n%s", out)
	require.Containsf(t, string(out), "--- PASS: "+t.Name(), "child did not run the test:\n%s", out)
	t.Logf("child with GODEBUG=http2xconnect=1:\n%s", out)
	return false
}

// h2Handler is the Go server the Node script talks to: an echo, plus the
// commands the script sends (see peers/node/h2client.js). What each
// connection ended with goes to ends.
func h2Handler(t *testing.T, ends chan<- error) http.HandlerFunc {
	u := &ws.Upgrader{Subprotocols: []string{"chat"}, Options: ws.Options{WriteBufferSize: 1024}}
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := u.Upgrade(w, r, nil)
		if err != nil {
			ends <- err
			return
		}
		// On HTTP/2 the handler's return ends the stream: it returns
		// only once the Conn is done.
		defer c.CloseNow()
		var pingers sync.WaitGroup
		defer pingers.Wait()
		for {
			op, msg, err := c.ReadMessage()
			if err != nil {
				ends <- err
				return
			}
			switch s := string(msg); {
			case s == "cmd:fragments":
				big := make([]byte, 5000)
				for i := range big {
					big[i] = byte('a' + i%26)
				}
				mw, err := c.NextWriter(ws.OpBinary)
				require.NoError(t, err)
				_, err = mw.Write(big) // fragments of the 1024-byte write buffer
				require.NoError(t, err)
				require.NoError(t, mw.Close())
			case strings.HasPrefix(s, "cmd:ping:"):
				p := strings.TrimPrefix(s, "cmd:ping:")
				pingers.Add(1)
				go func() {
					defer pingers.Done()
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					if _, err := c.Ping(ctx, []byte(p)); assert.NoError(t, err) {
						assert.NoError(t, c.WriteText("pong:"+p))
					}
				}()
			case s == "cmd:close":
				ends <- c.Close(ws.CloseGoingAway, "going")
				return
			default:
				require.NoError(t, c.WriteMessage(op, msg))
			}
		}
	}
}

// TestNodeH2Client: Node's own http2 client (no npm package) opens two
// WebSockets over one HTTP/2 connection with an extended CONNECT (RFC 8441)
// to a plainws server, over TLS (ALPN h2) and over h2c, and exchanges text,
// binary, fragmented, ping and close frames, the framing done by the script
// with masked client frames. Both closing handshakes end with the server's
// END_STREAM.
func TestNodeH2Client(t *testing.T) {
	if !inH2Child(t) {
		return
	}
	require.NoError(t, peers.CheckInstalled(peers.Node))
	for _, tls := range []bool{false, true} {
		name := map[bool]string{false: "h2c", true: "h2-tls"}[tls]
		t.Run(name, func(t *testing.T) {
			ends := make(chan error, 4)
			srv := httptest.NewUnstartedServer(h2Handler(t, ends))
			t.Cleanup(srv.Close)
			var args []string
			if tls {
				srv.EnableHTTP2 = true
				srv.StartTLS()
				ca := filepath.Join(t.TempDir(), "cert.pem")
				require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))
				args = []string{srv.URL + "/", "--ca", ca}
			} else {
				srv.Config.Protocols = new(http.Protocols)
				srv.Config.Protocols.SetUnencryptedHTTP2(true)
				srv.Start()
				args = []string{srv.URL + "/"}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			cmd, err := peers.Command(ctx, peers.Node, "h2client", args...)
			require.NoError(t, err)
			out, err := cmd.CombinedOutput()
			require.NoErrorf(t, err, "h2client.js:\n%s", out)
			assert.Equal(t, []string{
				"SETTINGS enableConnectProtocol",
				"RESPONSE 200 protocol=chat",
				"SECOND STREAM open",
				"ECHO text",
				"ECHO binary 70000",
				"PONG p1",
				"ECHO fragmented",
				"FRAGMENTS from server reassembled",
				"PING from server answered",
				"CLOSE 1000 done END_STREAM",
				"SERVER CLOSE 1001 going END_STREAM",
				"DONE",
			}, peers.ParseLines(string(out)))

			// What the server saw: the client's close (1000 "done") on
			// one stream, and a completed closing handshake of its own
			// on the other.
			var got []error
			for range 2 {
				select {
				case err := <-ends:
					got = append(got, err)
				case <-time.After(5 * time.Second):
					t.Fatal("a server handler did not end")
				}
			}
			var sawClientClose, sawServerClose bool
			for _, err := range got {
				if err == nil {
					sawServerClose = true
					continue
				}
				var ce *ws.CloseError
				if assert.ErrorAs(t, err, &ce) {
					assert.Equal(t, ws.CloseNormalClosure, ce.Code)
					assert.Equal(t, "done", ce.Reason)
					sawClientClose = true
				}
			}
			assert.True(t, sawClientClose && sawServerClose, "server ends: %v", got)
		})
	}
}

// TestNodeH2ClientWithoutGODEBUG: without GODEBUG=http2xconnect=1 net/http
// neither announces the extended CONNECT (RFC 8441 §3) nor accepts one: a
// client that sends :protocol anyway gets its stream reset with
// PROTOCOL_ERROR (0x1), and no handler runs.
func TestNodeH2ClientWithoutGODEBUG(t *testing.T) {
	if os.Getenv(h2ChildEnv) == "" {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v", "-test.timeout=50s")
		cmd.Env = append(os.Environ(), "GODEBUG=http2xconnect=0", h2ChildEnv+"=1")
		out, err := cmd.CombinedOutput()
		require.NoErrorf(t, err, "child without the setting failed:\n%s", out)
		require.Containsf(t, string(out), "--- PASS: "+t.Name(), "child did not run the test:\n%s", out)
		return
	}
	require.NotContains(t, os.Getenv("GODEBUG"), "http2xconnect=1")
	require.NoError(t, peers.CheckInstalled(peers.Node))
	called := make(chan struct{}, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called <- struct{}{} }))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd, err := peers.Command(ctx, peers.Node, "h2client", srv.URL+"/", "--refused")
	require.NoError(t, err)
	out, err := cmd.CombinedOutput()
	require.NoErrorf(t, err, "h2client.js:\n%s", out)
	assert.Equal(t, []string{"SETTINGS enableConnectProtocol=false", "RESET 1"}, peers.ParseLines(string(out)))
	assert.Empty(t, called, "a handler ran")
}
