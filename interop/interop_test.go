package interop

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/peers"
	"github.com/plainws/plainws/internal/wstest"
	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// variant is one configuration of the peers and of our side.
type variant struct {
	name     string
	peerArgs []string
	ourOpts  *ws.CompressionOptions
	wantExt  bool
	takeover bool
}

// variants: without compression, and with permessage-deflate (RFC 7692)
// with and without context takeover, in both directions.
var variants = []variant{
	{name: "plain"},
	{name: "deflate-takeover", peerArgs: []string{"--deflate"}, ourOpts: &ws.CompressionOptions{Threshold: -1}, wantExt: true, takeover: true},
	{name: "deflate-no-takeover", peerArgs: []string{"--deflate", "--no-context-takeover"}, ourOpts: &ws.CompressionOptions{Threshold: -1, ServerNoContextTakeover: true, ClientNoContextTakeover: true}, wantExt: true},
	{name: "deflate-we-ask-no-takeover", peerArgs: []string{"--deflate"}, ourOpts: &ws.CompressionOptions{Threshold: -1, ServerNoContextTakeover: true, ClientNoContextTakeover: true}, wantExt: true},
}

func dial(t *testing.T, url string, opts ws.Options, header http.Header, protocols ...string) *ws.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := &ws.Dialer{Options: opts, Header: header, Subprotocols: protocols}
	c, _, err := d.Dial(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

func payload(n int, text bool) []byte {
	b := make([]byte, n)
	for i := range b {
		if text {
			b[i] = byte('a' + i%26)
		} else {
			b[i] = byte(i * 31)
		}
	}
	if text && n >= 8 {
		copy(b[n/2:], "κό") // multi-byte UTF-8 in the middle
	}
	return b
}

// roundTrip sends a message and requires the identical echo.
func roundTrip(t *testing.T, c *ws.Conn, op ws.Opcode, p []byte) {
	t.Helper()
	require.NoError(t, c.WriteMessage(op, p))
	gotOp, got, err := c.ReadMessage()
	require.NoError(t, err)
	require.Equal(t, op, gotOp)
	require.True(t, bytes.Equal(p, got), "echo of %d bytes differs", len(p))
}

// Our client against each peer's server: every size boundary of RFC 6455
// §5.2 in both types, fragments both ways (§5.4), pings both ways (§5.5.2),
// subprotocol and headers (§4.1), and the closing handshake (§7) from
// either side.
func TestOurClientAgainstPeerServers(t *testing.T) {
	for _, kind := range peers.Kinds {
		for _, v := range variants {
			t.Run(kind+"/"+v.name, func(t *testing.T) {
				srv := peers.StartServer(t, kind, v.peerArgs...)
				opts := ws.Options{ReadLimit: 64 << 20, Compression: v.ourOpts}
				hdr := http.Header{"X-Plainws-Test": {"interop"}, "Cookie": {"a=b"}}
				c := dial(t, srv.URL(), opts, hdr, "chat")
				assert.Equal(t, "chat", c.Subprotocol())
				params, negotiated := c.Compression()
				require.Equal(t, v.wantExt, negotiated)
				if negotiated {
					assert.Equal(t, !v.takeover, params.ServerNoContextTakeover, "negotiated %+v", params)
				}

				for _, n := range []int{0, 125, 126, 65535, 65536, 1 << 20} {
					roundTrip(t, c, ws.OpText, payload(n, true))
					roundTrip(t, c, ws.OpBinary, payload(n, false))
				}

				// A fragmented message from us, with a multi-byte
				// character split across fragments.
				mw, err := c.NextWriter(ws.OpText)
				require.NoError(t, err)
				for _, part := range []string{"fragmented ", "\xce", "\xba", "ό", "σμε"} {
					_, err := mw.Write([]byte(part))
					require.NoError(t, err)
				}
				require.NoError(t, mw.Close())
				op, got, err := c.ReadMessage()
				require.NoError(t, err)
				assert.Equal(t, ws.OpText, op)
				assert.Equal(t, "fragmented κόσμε", string(got))

				// A fragmented message from the peer.
				require.NoError(t, c.WriteText("cmd:fragments:5:1000:binary"))
				op, got, err = c.ReadMessage()
				require.NoError(t, err)
				assert.Equal(t, ws.OpBinary, op)
				require.Len(t, got, 5000)
				assert.Equal(t, byte('a'), got[0])
				assert.Equal(t, byte('a'+4999%26), got[4999])

				// The peer pings; our read path answers with the same payload.
				require.NoError(t, c.WriteText("cmd:ping:hello"))
				_, got, err = c.ReadMessage()
				require.NoError(t, err)
				assert.Equal(t, "pong:hello", string(got))

				// We ping; the peer's pong reaches our handler.
				pongs := make(chan string, 1)
				c.SetPongHandler(func(p []byte) { pongs <- string(p) })
				require.NoError(t, c.WritePing([]byte("from plainws")))
				roundTrip(t, c, ws.OpText, []byte("after ping"))
				select {
				case p := <-pongs:
					assert.Equal(t, "from plainws", p)
				case <-time.After(5 * time.Second):
					t.Fatal("no pong")
				}

				require.NoError(t, c.WriteText("cmd:header:X-Plainws-Test"))
				_, got, err = c.ReadMessage()
				require.NoError(t, err)
				assert.Equal(t, "interop", string(got))

				require.NoError(t, c.WriteText("cmd:extensions"))
				_, got, err = c.ReadMessage()
				require.NoError(t, err)
				assert.Equal(t, v.wantExt, strings.Contains(string(got), "permessage-deflate"), "negotiated %q", got)

				require.NoError(t, c.Close(4001, "bye"))
				assert.Equal(t, "CLOSE 4001 bye", srv.WaitLine(t, "CLOSE ", 10*time.Second))
			})
		}
	}
}

// The peer closes first: our reader sees its code and reason (§7.1.5) and
// the handshake completes.
func TestPeerServerCloses(t *testing.T) {
	for _, kind := range peers.Kinds {
		t.Run(kind, func(t *testing.T) {
			srv := peers.StartServer(t, kind)
			c := dial(t, srv.URL(), ws.Options{}, nil)
			require.NoError(t, c.WriteText("cmd:close:4002:server-bye"))
			_, _, err := c.ReadMessage()
			var ce *ws.CloseError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, ws.StatusCode(4002), ce.Code)
			assert.Equal(t, "server-bye", ce.Reason)
			// Our echo carried the same code back (§5.5.1).
			assert.Equal(t, "CLOSE 4002 server-bye", srv.WaitLine(t, "CLOSE ", 10*time.Second))

			c2 := dial(t, srv.URL(), ws.Options{}, nil)
			require.NoError(t, c2.WriteText("cmd:close::"))
			_, _, err = c2.ReadMessage()
			assert.Equal(t, ws.CloseNoStatusReceived, ws.CloseStatus(err))
		})
	}
}

// ourServer is an echo server built on ws.Upgrader that records the close
// each connection ended with.
type ourServer struct {
	url    string
	mu     sync.Mutex
	closes []string
}

func startOurServer(t *testing.T, u *ws.Upgrader) *ourServer {
	t.Helper()
	ln := wstest.Listen(t)
	s := &ourServer{url: "ws://" + ln.Addr().String() + "/"}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := u.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		var buf []byte
		for {
			op, msg, err := c.ReadMessageInto(buf)
			if err != nil {
				var ce *ws.CloseError
				s.mu.Lock()
				if ws.CloseStatus(err) != 0 && assert.ErrorAs(t, err, &ce) {
					s.closes = append(s.closes, ce.Error())
				} else {
					s.closes = append(s.closes, "error: "+err.Error())
				}
				s.mu.Unlock()
				return
			}
			buf = msg
			if err := c.WriteMessage(op, msg); err != nil {
				return
			}
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// Each peer's client against our server: the same sequence in the other
// direction — masked frames from the peer (§5.1), its fragments, its ping,
// and its close with 4001 "bye" answered by our echo.
func TestPeerClientsAgainstOurServer(t *testing.T) {
	for _, kind := range peers.Kinds {
		for _, v := range variants {
			t.Run(kind+"/"+v.name, func(t *testing.T) {
				s := startOurServer(t, &ws.Upgrader{Options: ws.Options{ReadLimit: 64 << 20, Compression: v.ourOpts}})
				out, err := peers.RunClient(context.Background(), t, kind, s.url, v.peerArgs...)
				require.NoError(t, err, out)
				assert.Contains(t, out, "PASS")
				require.Eventually(t, func() bool {
					s.mu.Lock()
					defer s.mu.Unlock()
					return len(s.closes) == 1
				}, 5*time.Second, 10*time.Millisecond)
				s.mu.Lock()
				assert.Contains(t, s.closes[0], "4001")
				assert.Contains(t, s.closes[0], `"bye"`)
				s.mu.Unlock()
				if v.wantExt {
					assert.Contains(t, out, "EXT permessage-deflate")
				}
			})
		}
	}
}
