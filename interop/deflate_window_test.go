package interop

import (
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/peers"
	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Window sizes below 15 bits (RFC 7692 §7.1.2) against Node ws and Python
// websockets, issue 13's matrix: every window from 9 to 15 bits (zlib, under
// both peers, refuses 8 for raw deflate), both roles, with and without
// context takeover, the limit imposed by the server or asked for by the
// client, in both directions at once, and messages of 0 B, 1 B, 300 B,
// 5 KiB and 1 MiB, of text and of random bytes.

// windowSizes are the message sizes of issue 13.
var windowSizes = []int{0, 1, 300, 5 << 10, 1 << 20}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

// windowCase is one cell of the matrix.
type windowCase struct {
	bits     int
	takeover bool
	ask      bool // the client asks for the limits; otherwise the server imposes them
}

func (w windowCase) name() string {
	who := "server-imposes"
	if w.ask {
		who = "client-asks"
	}
	return fmt.Sprintf("bits=%d/takeover=%v/%s", w.bits, w.takeover, who)
}

func windowCases() []windowCase {
	var cs []windowCase
	for bits := 9; bits <= 15; bits++ {
		for _, takeover := range []bool{true, false} {
			for _, ask := range []bool{false, true} {
				cs = append(cs, windowCase{bits, takeover, ask})
			}
		}
	}
	return cs
}

// peerWindowArgs are the peer's flags for a case, as the side that
// imposes (server) or asks (client) according to w.ask and role.
func peerWindowArgs(w windowCase, limits bool) []string {
	args := []string{"--deflate"}
	if !w.takeover {
		args = append(args, "--no-context-takeover")
	}
	if limits {
		b := strconv.Itoa(w.bits)
		args = append(args, "--server-max-window-bits", b, "--client-max-window-bits", b)
	}
	return args
}

// requireWindows checks that both windows were agreed at w.bits.
func requireWindows(t *testing.T, c *ws.Conn, w windowCase) {
	t.Helper()
	p, ok := c.Compression()
	require.True(t, ok, "permessage-deflate negotiated")
	assert.Equal(t, w.bits, p.ServerMaxWindowBits, "server window %+v", p)
	assert.Equal(t, w.bits, p.ClientMaxWindowBits, "client window %+v", p)
	assert.Equal(t, !w.takeover, p.ServerNoContextTakeover, "%+v", p)
	assert.Equal(t, !w.takeover, p.ClientNoContextTakeover, "%+v", p)
}

// Our client against each peer's server: the server limits both windows
// (answering our bare client_max_window_bits offer), or we ask for them;
// every message comes back intact through both windowed compressors.
func TestWindowBitsOurClientAgainstPeerServers(t *testing.T) {
	for _, kind := range peers.Kinds {
		for _, w := range windowCases() {
			t.Run(kind+"/"+w.name(), func(t *testing.T) {
				srv := peers.StartServer(t, kind, peerWindowArgs(w, !w.ask)...)
				co := &ws.CompressionOptions{Threshold: -1, ServerNoContextTakeover: !w.takeover, ClientNoContextTakeover: !w.takeover}
				if w.ask {
					co.ServerMaxWindowBits, co.ClientMaxWindowBits = w.bits, w.bits
				}
				c := dial(t, srv.URL(), ws.Options{ReadLimit: 64 << 20, Compression: co}, nil)
				requireWindows(t, c, w)
				for _, n := range windowSizes {
					if n > 64<<10 && w.ask {
						// 1 MiB once per window and takeover mode (when
						// imposed): the race detector makes it slow.
						continue
					}
					roundTrip(t, c, ws.OpText, payload(n, true))
					roundTrip(t, c, ws.OpBinary, randomBytes(t, n))
				}
				// Streamed, in pieces that straddle segment boundaries.
				msg := randomBytes(t, 64<<10)
				mw, err := c.NextWriter(ws.OpBinary)
				require.NoError(t, err)
				for rest := msg; len(rest) > 0; {
					k := min(len(rest), 777)
					_, err := mw.Write(rest[:k])
					require.NoError(t, err)
					rest = rest[k:]
				}
				require.NoError(t, mw.Close())
				_, got, err := c.ReadMessage()
				require.NoError(t, err)
				require.Equal(t, msg, got)
				require.NoError(t, c.Close(ws.CloseNormalClosure, ""))
			})
		}
	}
}

// Each peer's client against our server: our server limits both windows
// unasked, or the peer client asks for them; the peer's echo sequence with
// issue 13's sizes (random binary messages) passes.
func TestWindowBitsPeerClientsAgainstOurServer(t *testing.T) {
	for _, kind := range peers.Kinds {
		for _, w := range windowCases() {
			t.Run(kind+"/"+w.name(), func(t *testing.T) {
				co := &ws.CompressionOptions{Threshold: -1, ServerNoContextTakeover: !w.takeover, ClientNoContextTakeover: !w.takeover}
				if !w.ask {
					co.ServerMaxWindowBits, co.ClientMaxWindowBits = w.bits, w.bits
				}
				s := startOurServer(t, &ws.Upgrader{Options: ws.Options{ReadLimit: 64 << 20, Compression: co}})
				// Issue 13's sizes, random binary messages; 1 MiB once
				// per window and takeover mode (when we impose).
				args := append(peerWindowArgs(w, w.ask), "--window-payloads")
				if w.ask {
					args = append(args, "--max-size", "65536")
				}
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				out, err := peers.RunClient(ctx, t, kind, s.url, args...)
				require.NoError(t, err, out)
				assert.Contains(t, out, "PASS")
				assert.Contains(t, out, "server_max_window_bits="+strconv.Itoa(w.bits), out)
				if !w.ask {
					// We answer client_max_window_bits only when we limit
					// the client; a client that asked binds itself.
					assert.Contains(t, out, "client_max_window_bits="+strconv.Itoa(w.bits), out)
				}
			})
		}
	}
}
