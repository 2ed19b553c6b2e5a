//go:build !js

package ws

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/flate"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// windowConn is a Conn in role whose own window is limited to bits (RFC
// 7692 §7.1.2: server_max_window_bits for a server, client_max_window_bits
// for a client) and whose output is kept in out.
func windowConn(role Role, bits int, takeover bool, level int) (*Conn, *capture) {
	out := &capture{}
	c := NewConn(out, nil, role, "", nil)
	p := deflateParams{serverNoContextTakeover: !takeover, clientNoContextTakeover: !takeover}
	if role == RoleServer {
		p.serverMaxWindowBits = bits
	} else {
		p.clientMaxWindowBits = bits
	}
	c.compression = newDeflateState(&CompressionOptions{Level: level, Threshold: -1}, p, role)
	return c, out
}

// wireMessages splits what a Conn wrote into its messages' payloads
// (unmasked, continuation frames joined), checking that every one is
// compressed (RSV1 on its first frame only, RFC 7692 §6).
func wireMessages(t testing.TB, b []byte) [][]byte {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(b))
	var msgs [][]byte
	var cur []byte
	open := false
	for {
		h, err := ReadHeader(br)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		payload := make([]byte, h.Length)
		_, err = io.ReadFull(br, payload)
		require.NoError(t, err)
		if h.Masked {
			Mask(payload, MaskKeyWord(h.Mask))
		}
		if !open {
			require.Equal(t, Rsv1, h.Rsv, "a compressed message's first frame has RSV1")
			cur = nil
		} else {
			require.Zero(t, h.Rsv, "continuation frames have no RSV1")
		}
		cur = append(cur, payload...)
		open = !h.Fin
		if h.Fin {
			msgs = append(msgs, cur)
		}
	}
	require.False(t, open)
	return msgs
}

// checkWindow inflates each payload with the independent decoder, against
// the whole history under takeover, and checks that it yields the message
// and that no back-reference reaches further than window bytes (RFC 7692
// §7.1.2.1, §7.1.2.2). It returns the wire bytes.
func checkWindow(t testing.TB, sent, payloads [][]byte, window int, takeover bool, desc string) int {
	t.Helper()
	require.Len(t, payloads, len(sent), desc)
	var hist []byte
	wire := 0
	for i, payload := range payloads {
		st, err := refInflate(hist, payload)
		require.NoError(t, err, "%s message %d", desc, i)
		require.True(t, bytes.Equal(sent[i], st.Out), "%s message %d: inflates to %d bytes, not its own %d", desc, i, len(st.Out), len(sent[i]))
		require.LessOrEqual(t, st.MaxDist, window, "%s message %d: a back-reference beyond the window", desc, i)
		if takeover {
			hist = append(hist, sent[i]...)
			if len(hist) > windowSize {
				// The decoder keeps the full 32 KiB, more than the
				// window: reaching too far back is caught above, not
				// turned into a decoding error.
				hist = hist[len(hist)-windowSize:]
			}
		} else {
			assert.Zero(t, st.IntoHist, desc)
		}
		wire += len(payload)
	}
	return wire
}

// windowMessages is a stream of messages of the sizes the issue names (0 B,
// 1 B, 300 B, 5 KiB, 64 KiB here; 1 MiB in the interop tests), of text and
// of random bytes, interleaved so that each follows different history.
func windowMessages(rng *rand.Rand) [][]byte {
	json := jsonMessages(8, 5<<10)
	var msgs [][]byte
	for _, n := range []int{0, 1, 300, 5 << 10, 64 << 10, 300, 1} {
		text := bytes.Repeat(json[len(msgs)%len(json)], n/len(json[0])+1)[:n]
		msgs = append(msgs, text, randBytes(rng, n), json[rng.IntN(len(json))][:min(n, 5<<10)])
	}
	return msgs
}

// Every window size from 8 to 15 bits, in both roles, with and without
// context takeover, whole and streamed: each message inflates to itself,
// and no back-reference reaches beyond 2^bits bytes.
func TestWindowedCompressionStaysInWindow(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 13))
	msgs := windowMessages(rng)
	for _, role := range []Role{RoleServer, RoleClient} {
		for bits := 8; bits <= 15; bits++ {
			for _, takeover := range []bool{true, false} {
				for _, stream := range []bool{false, true} {
					desc := fmt.Sprintf("%s bits=%d takeover=%v stream=%v", role, bits, takeover, stream)
					c, out := windowConn(role, bits, takeover, flate.BestSpeed)
					for _, m := range msgs {
						if !stream {
							require.NoError(t, c.WriteMessage(OpBinary, m), desc)
							continue
						}
						w, err := c.NextWriter(OpBinary)
						require.NoError(t, err)
						for rest := m; len(rest) > 0; {
							n := min(len(rest), 1+rng.IntN(3000))
							_, err := w.Write(rest[:n])
							require.NoError(t, err)
							rest = rest[n:]
						}
						require.NoError(t, w.Close())
					}
					checkWindow(t, msgs, wireMessages(t, out.data), 1<<bits, takeover, desc)
				}
			}
		}
	}
}

// The levels other than BestSpeed go through the same scheme.
func TestWindowedCompressionLevels(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	msgs := [][]byte{jsonMessages(1, 5<<10)[0], randText(rng, 3000), jsonMessages(1, 1<<10)[0]}
	for _, level := range []int{flate.HuffmanOnly, flate.DefaultCompression, 2, 9} {
		for _, bits := range []int{9, 12} {
			desc := fmt.Sprintf("level=%d bits=%d", level, bits)
			c, out := windowConn(RoleServer, bits, true, level)
			for _, m := range msgs {
				require.NoError(t, c.WriteMessage(OpText, m), desc)
			}
			checkWindow(t, msgs, wireMessages(t, out.data), 1<<bits, true, desc)
		}
	}
}

// The point of the scheme: under a limited window, JSON messages compress
// much better than the Huffman-only output that was sent before (0.61 of
// the raw bytes on 1 KiB JSON), and history is used under takeover.
func TestWindowedCompressionBeatsHuffmanOnly(t *testing.T) {
	msgs := jsonMessages(32, 1<<10)
	huff, hout := windowConn(RoleServer, 15, true, flate.HuffmanOnly)
	for _, m := range msgs {
		require.NoError(t, huff.WriteMessage(OpText, m))
	}
	huffWire := checkWindow(t, msgs, wireMessages(t, hout.data), 0, true, "huffman-only")
	for bits := 9; bits <= 14; bits++ {
		for _, takeover := range []bool{true, false} {
			desc := fmt.Sprintf("bits=%d takeover=%v", bits, takeover)
			c, out := windowConn(RoleServer, bits, takeover, flate.BestSpeed)
			for _, m := range msgs {
				require.NoError(t, c.WriteMessage(OpText, m))
			}
			payloads := wireMessages(t, out.data)
			wire := checkWindow(t, msgs, payloads, 1<<bits, takeover, desc)
			assert.Less(t, wire, huffWire*8/10, "%s: %d bytes vs %d Huffman-only", desc, wire, huffWire)
			if takeover && bits >= 11 {
				st, err := refInflate(msgs[len(msgs)-2], payloads[len(payloads)-1])
				require.NoError(t, err)
				assert.NotZero(t, st.IntoHist, "%s: the previous message is referred to", desc)
			}
		}
	}
}

// The history ring keeps exactly the last size bytes, in order, however
// the writes fall, and grows only as far as needed.
func TestHistRing(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, size := range []int{256, 1 << 10, 1 << 15} {
		r := histRing{size: size}
		var all []byte
		for range 300 {
			p := randBytes(rng, rng.IntN(size*3/2)/(1+rng.IntN(8)))
			r.write(p)
			all = append(all, p...)
			want := all[max(0, len(all)-size):]
			require.Equal(t, want, r.appendTo([]byte{}), "size %d after %d bytes", size, len(all))
			require.LessOrEqual(t, len(r.buf), size)
			if len(all) < size/2 {
				assert.LessOrEqual(t, len(r.buf), max(512, 2*len(all)), "grows with what was written")
			}
		}
	}
}

// IdleRelease: a connection that stops sending gives its compressor back
// and keeps only the end of its history; the next message is compressed
// by a rebuilt one, refers to that history, and reads back right.
func TestIdleReleaseRebuildsFromHistory(t *testing.T) {
	opts := &CompressionOptions{IdleRelease: 20 * time.Millisecond}
	c, s := deflatePair(t, Options{Compression: opts}, Options{Compression: opts})
	msgs := jsonMessages(6, 1<<10)
	send := func(m []byte) {
		require.NoError(t, c.WriteMessage(OpText, m))
		_, got, err := s.ReadMessage()
		require.NoError(t, err)
		require.Equal(t, m, got)
	}
	owned := func() bool {
		c.msgMu.Lock()
		defer c.msgMu.Unlock()
		return c.compression.own != nil
	}
	for _, m := range msgs[:3] {
		send(m)
	}
	require.True(t, owned(), "the compressor stays while messages flow")
	require.Eventually(t, func() bool { return !owned() }, 5*time.Second, 5*time.Millisecond, "and goes back once idle")
	c.msgMu.Lock()
	kept := len(c.compression.whist.appendTo(nil))
	c.msgMu.Unlock()
	assert.Equal(t, 3<<10, kept, "the history stays, up to rebuildHistory")
	for _, m := range msgs[3:] {
		send(m)
	}
	require.True(t, owned())

	// A negative IdleRelease keeps the compressor.
	keep := &CompressionOptions{IdleRelease: -1}
	c, s = deflatePair(t, Options{Compression: keep}, Options{Compression: keep})
	send(msgs[0])
	time.Sleep(50 * time.Millisecond)
	assert.True(t, owned())
	assert.Nil(t, c.compression.idle, "no timer")
}

// RFC 7692 §7.1.2 for every value: whatever windows from 8 to 15 bits each
// side asks for or imposes, the offer, the answer and the client's reading
// of it agree, each compressor stays within what the other side keeps, and
// no answer exceeds what was offered.
func TestWindowBitsNegotiationAllValues(t *testing.T) {
	for cs := 0; cs <= 15; cs++ { // client's ServerMaxWindowBits (0: unset)
		for cc := 0; cc <= 15; cc++ { // client's ClientMaxWindowBits
			for ss := 0; ss <= 15; ss++ { // server's ServerMaxWindowBits
				for sc := 0; sc <= 15; sc++ { // server's ClientMaxWindowBits
					if (cs > 0 && cs < 8) || (cc > 0 && cc < 8) || (ss > 0 && ss < 8) || (sc > 0 && sc < 8) {
						continue
					}
					co := CompressionOptions{ServerMaxWindowBits: cs, ClientMaxWindowBits: cc}
					so := CompressionOptions{ServerMaxWindowBits: ss, ClientMaxWindowBits: sc}
					desc := fmt.Sprintf("client %d/%d server %d/%d", cs, cc, ss, sc)
					offer, err := co.clientOffer()
					require.NoError(t, err, desc)
					resp, sd, err := so.serverAccept([]string{offer})
					require.NoError(t, err, desc)
					require.NotNil(t, sd, desc)
					cd, err := co.clientAccept([]string{resp}, RoleClient)
					require.NoError(t, err, "%s: %q answered %q", desc, offer, resp)
					// Each side sends within what the other keeps.
					assert.LessOrEqual(t, cd.writeWindow, sd.readWindow, desc)
					assert.LessOrEqual(t, sd.writeWindow, cd.readWindow, desc)
					// The server's window is the smaller of the two asks.
					wantS := min(cmp.Or(cs, 15), cmp.Or(ss, 15))
					assert.Equal(t, 1<<wantS, sd.writeWindow, desc)
					// The client's: what it pinned, lowered by the server.
					wantC := min(cmp.Or(cc, 15), cmp.Or(sc, 15))
					assert.Equal(t, 1<<wantC, cd.writeWindow, desc)
				}
			}
		}
	}
}
