//go:build !js

package ws

import (
	"bytes"
	"cmp"
	"compress/flate"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/inflatecheck"
	"github.com/plainws/plainws/internal/wstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// refInflate is inflatecheck.Inflate, the independent decoder that reports
// every back-reference (see there).
func refInflate(hist, payload []byte) (refStats, error) { return inflatecheck.Inflate(hist, payload) }

type refStats = inflatecheck.Stats

// RFC 7692 §7.2.3: the reference decoder agrees with the RFC's own examples
// (and so is worth trusting for the checks below).
func TestRefInflateRFC7692Examples(t *testing.T) {
	for name, payload := range map[string][]byte{
		"7.2.3.1 one compressed block": {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00},
		"7.2.3.3 stored block":         {0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00},
		"7.2.3.4 BFINAL set":           {0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00},
		"7.2.3.5 two blocks":           {0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00},
	} {
		st, err := refInflate(nil, payload)
		require.NoError(t, err, name)
		assert.Equal(t, "Hello", string(st.Out), name)
	}
	// §7.2.3.2: the second "Hello" is one back-reference into the first.
	st, err := refInflate([]byte("Hello"), []byte{0xf2, 0x00, 0x11, 0x00, 0x00})
	require.NoError(t, err)
	assert.Equal(t, "Hello", string(st.Out))
	assert.Equal(t, 1, st.IntoHist)
	_, err = refInflate(nil, []byte{0xf2, 0x00, 0x11, 0x00, 0x00})
	assert.Error(t, err, "without the window the reference must fail")
}

// ---- Helpers ----

// deflatePair runs a real opening handshake over loopback TCP between a
// Dialer and an Upgrader with the given options, and returns both ends.
func deflatePair(t *testing.T, copts, sopts Options) (*Conn, *Conn) {
	t.Helper()
	a, b := wstest.TCPPair(t)
	type res struct {
		c   *Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		u := &Upgrader{Options: sopts}
		c, _, err := u.UpgradeConn(context.Background(), b, nil)
		ch <- res{c, err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := (&Dialer{Options: copts}).Handshake(ctx, a, "ws://127.0.0.1/")
	r := <-ch
	require.NoError(t, err)
	require.NoError(t, r.err)
	t.Cleanup(func() { _ = c.CloseNow(); _ = r.c.CloseNow() })
	return c, r.c
}

// newDeflatePeer is newRawPeer with permessage-deflate in force with params.
func newDeflatePeer(t *testing.T, role Role, opts *Options, co CompressionOptions, p deflateParams) (*Conn, *rawPeer) {
	t.Helper()
	c, peer := newRawPeer(t, role, opts)
	c.compression = newDeflateState(&co, p, role)
	return c, peer
}

// peerCompress compresses msg as a peer would, as RFC 7692 §7.2.1 says:
// sync flush, then drop the 00 00 ff ff tail. w may carry history.
func peerCompress(t *testing.T, w *flate.Writer, buf *bytes.Buffer, msg []byte) []byte {
	t.Helper()
	buf.Reset()
	_, err := w.Write(msg)
	require.NoError(t, err)
	require.NoError(t, w.Flush())
	out := buf.Bytes()
	require.True(t, bytes.HasSuffix(out, deflateTail))
	return append([]byte(nil), out[:len(out)-4]...)
}

// sendCompressed writes one compressed frame (RSV1 set) from the peer.
func (p *rawPeer) sendCompressed(fin bool, op Opcode, payload []byte) {
	p.T.Helper()
	p.Write(wstest.Frame{Fin: fin, Rsv: Rsv1, Opcode: byte(op), Masked: p.masks, Key: wstest.DefaultKey, Payload: payload}.Bytes())
}

// randText is letters from a small alphabet: compressible only by
// back-references (and a little by Huffman coding), so a test can tell the
// two apart.
func randText(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + rng.IntN(26))
	}
	return b
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	return b
}

// ---- Negotiation (RFC 7692 §5, §7.1) ----

// RFC 6455 §9.1: the Sec-WebSocket-Extensions grammar, tolerant of OWS,
// empty list elements and several header lines, strict about the rest.
func TestParseExtensions(t *testing.T) {
	good := []struct {
		in   []string
		want []extElement
	}{
		{[]string{"permessage-deflate"}, []extElement{{name: "permessage-deflate"}}},
		{[]string{"permessage-deflate; client_max_window_bits"}, []extElement{{name: "permessage-deflate", params: []extParam{{name: "client_max_window_bits"}}}}},
		{[]string{" permessage-deflate ;server_max_window_bits = 10 ; client_no_context_takeover , foo"}, []extElement{
			{name: "permessage-deflate", params: []extParam{{name: "server_max_window_bits", value: "10", hasValue: true}, {name: "client_no_context_takeover"}}},
			{name: "foo"},
		}},
		{[]string{`permessage-deflate; server_max_window_bits="10"`}, []extElement{{name: "permessage-deflate", params: []extParam{{name: "server_max_window_bits", value: "10", hasValue: true}}}}},
		{[]string{`x; a="\1\2"`}, []extElement{{name: "x", params: []extParam{{name: "a", value: "12", hasValue: true}}}}},
		{[]string{"a, , b,", "c"}, []extElement{{name: "a"}, {name: "b"}, {name: "c"}}},
		{[]string{""}, nil},
	}
	for _, tc := range good {
		got, err := parseExtensions(tc.in)
		require.NoError(t, err, "%q", tc.in)
		assert.Equal(t, tc.want, got, "%q", tc.in)
	}
	for _, in := range []string{
		"; a",                   // no extension token
		"permessage-deflate;",   // no parameter name
		"permessage-deflate; =", // no parameter name
		"permessage-deflate; a=",
		`permessage-deflate; a="10`,
		`permessage-deflate; a="1 0"`, // §9.1: unescaped value must be a token
		`permessage-deflate; a=""`,
		`permessage-deflate; a="\`,
		"permessage-deflate x",
		"permessage-deflate; a=b c",
		"permessage/deflate",
		"é",
	} {
		_, err := parseExtensions([]string{in})
		assert.Error(t, err, "%q", in)
	}
}

// RFC 7692 §7.1.2: "a decimal integer value without leading zeroes between
// 8 to 15, inclusive".
func TestParseWindowBits(t *testing.T) {
	for v := 8; v <= 15; v++ {
		n, ok := parseWindowBits(fmt.Sprint(v))
		assert.True(t, ok)
		assert.Equal(t, v, n)
	}
	for _, v := range []string{"", "7", "16", "08", "010", "0", "-9", "+9", "9.0", "1e1", "99999999999999999999"} {
		_, ok := parseWindowBits(v)
		assert.False(t, ok, "%q", v)
	}
}

// The client offers exactly what its options ask for (RFC 7692 §7.1), and
// client_max_window_bits unless told not to.
func TestClientOffer(t *testing.T) {
	for _, tc := range []struct {
		o    CompressionOptions
		want string
	}{
		// §7.1.2.2: by default we offer client_max_window_bits without a
		// value, since we can honour any window the server picks.
		{CompressionOptions{}, "permessage-deflate; client_max_window_bits"},
		{CompressionOptions{OmitClientMaxWindowBits: true}, "permessage-deflate"},
		{CompressionOptions{ServerNoContextTakeover: true}, "permessage-deflate; server_no_context_takeover; client_max_window_bits"},
		{CompressionOptions{ClientNoContextTakeover: true, OmitClientMaxWindowBits: true}, "permessage-deflate; client_no_context_takeover"},
		{CompressionOptions{ServerMaxWindowBits: 10}, "permessage-deflate; server_max_window_bits=10; client_max_window_bits"},
		{CompressionOptions{ClientMaxWindowBits: 12, OmitClientMaxWindowBits: true}, "permessage-deflate; client_max_window_bits=12"},
		{CompressionOptions{ClientMaxWindowBits: 15}, "permessage-deflate; client_max_window_bits=15"},
		{CompressionOptions{ServerNoContextTakeover: true, ClientNoContextTakeover: true, ServerMaxWindowBits: 8, ClientMaxWindowBits: 9, Level: 9, Threshold: -1},
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=9"},
	} {
		got, err := tc.o.clientOffer()
		require.NoError(t, err)
		assert.Equal(t, tc.want, got)
		// What we offer must parse as a valid offer.
		els, err := parseExtensions([]string{got})
		require.NoError(t, err)
		require.Len(t, els, 1)
		_, err = parseDeflateParams(els[0].params, true)
		require.NoError(t, err)
	}
	for _, o := range []CompressionOptions{{Level: 10}, {Level: -3}, {ServerMaxWindowBits: 7}, {ServerMaxWindowBits: 16}, {ClientMaxWindowBits: 1}, {ClientMaxWindowBits: -1}} {
		_, err := o.clientOffer()
		assert.ErrorIs(t, err, ErrCompressionOptions, "%+v", o)
	}
}

// RFC 7692 §5, §7.1: the server accepts the first acceptable offer, answers
// each parameter as the RFC allows, and declines (never fails on) invalid
// offers.
func TestServerNegotiation(t *testing.T) {
	type want struct {
		resp                        string
		writeTakeover, readTakeover bool
		level, window               int
	}
	accept := func(resp string, wt, rt bool, level int, window ...int) want {
		w := want{resp, wt, rt, level, windowSize}
		if len(window) > 0 {
			w.window = window[0]
		}
		return w
	}
	decline := want{}
	const pmd = "permessage-deflate"
	for _, tc := range []struct {
		opts   CompressionOptions
		offers []string
		want   want
	}{
		{CompressionOptions{}, []string{pmd}, accept(pmd, true, true, 1)},
		// Node ws and Python websockets offer this by default.
		{CompressionOptions{}, []string{pmd + "; client_max_window_bits"}, accept(pmd, true, true, 1)},
		{CompressionOptions{Level: 9}, []string{"PerMessage-Deflate"}, accept(pmd, true, true, 9)},
		// §7.1.1.1: server_no_context_takeover is accepted by echoing it.
		{CompressionOptions{}, []string{pmd + "; server_no_context_takeover"}, accept(pmd+"; server_no_context_takeover", false, true, 1)},
		{CompressionOptions{ServerNoContextTakeover: true}, []string{pmd}, accept(pmd+"; server_no_context_takeover", false, true, 1)},
		// §7.1.1.2: the client's hint is echoed; the server may also ask.
		{CompressionOptions{}, []string{pmd + "; client_no_context_takeover"}, accept(pmd+"; client_no_context_takeover", true, false, 1)},
		{CompressionOptions{ClientNoContextTakeover: true}, []string{pmd}, accept(pmd+"; client_no_context_takeover", true, false, 1)},
		// ... unless told to ignore the hint (and so keep the client's window).
		{CompressionOptions{IgnoreClientNoContextTakeoverHint: true}, []string{pmd + "; client_no_context_takeover"}, accept(pmd, true, true, 1)},
		{CompressionOptions{IgnoreClientNoContextTakeoverHint: true, ClientNoContextTakeover: true}, []string{pmd + "; client_no_context_takeover"}, accept(pmd+"; client_no_context_takeover", true, false, 1)},
		// §7.1.2.1: the same or a smaller value, which bounds our references.
		{CompressionOptions{}, []string{pmd + "; server_max_window_bits=15"}, accept(pmd+"; server_max_window_bits=15", true, true, 1)},
		{CompressionOptions{}, []string{pmd + "; server_max_window_bits=10"}, accept(pmd+"; server_max_window_bits=10", true, true, 1, 1<<10)},
		{CompressionOptions{}, []string{pmd + `; server_max_window_bits="9"`}, accept(pmd+"; server_max_window_bits=9", true, true, 1, 1<<9)},
		{CompressionOptions{ServerMaxWindowBits: 12}, []string{pmd + "; server_max_window_bits=14"}, accept(pmd+"; server_max_window_bits=12", true, true, 1, 1<<12)},
		{CompressionOptions{ServerMaxWindowBits: 12}, []string{pmd + "; server_max_window_bits=9"}, accept(pmd+"; server_max_window_bits=9", true, true, 1, 1<<9)},
		{CompressionOptions{ServerMaxWindowBits: 15}, []string{pmd}, accept(pmd+"; server_max_window_bits=15", true, true, 1)},
		// §7.1.2.2: answered only when offered, with no larger a value.
		{CompressionOptions{ClientMaxWindowBits: 10}, []string{pmd + "; client_max_window_bits"}, accept(pmd+"; client_max_window_bits=10", true, true, 1)},
		{CompressionOptions{ClientMaxWindowBits: 10}, []string{pmd + "; client_max_window_bits=9"}, accept(pmd+"; client_max_window_bits=9", true, true, 1)},
		{CompressionOptions{ClientMaxWindowBits: 10}, []string{pmd + "; client_max_window_bits=12"}, accept(pmd+"; client_max_window_bits=10", true, true, 1)},
		{CompressionOptions{ClientMaxWindowBits: 10}, []string{pmd}, accept(pmd, true, true, 1)},
		{CompressionOptions{}, []string{pmd + "; client_max_window_bits=9"}, accept(pmd, true, true, 1)},
		{CompressionOptions{}, []string{pmd + "; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=15; client_max_window_bits=15"},
			accept(pmd+"; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=15", false, false, 1)},
		// §7.1: invalid offers are declined ...
		{CompressionOptions{}, []string{pmd + "; foo"}, decline},
		{CompressionOptions{}, []string{pmd + "; server_no_context_takeover; server_no_context_takeover"}, decline},
		{CompressionOptions{}, []string{pmd + "; server_no_context_takeover=1"}, decline},
		{CompressionOptions{}, []string{pmd + "; client_no_context_takeover=true"}, decline},
		{CompressionOptions{}, []string{pmd + "; server_max_window_bits"}, decline},
		{CompressionOptions{}, []string{pmd + "; server_max_window_bits=7"}, decline},
		{CompressionOptions{}, []string{pmd + "; server_max_window_bits=16"}, decline},
		{CompressionOptions{}, []string{pmd + "; server_max_window_bits=010"}, decline},
		{CompressionOptions{}, []string{pmd + "; client_max_window_bits=0"}, decline},
		{CompressionOptions{}, []string{pmd + "; client_max_window_bits; client_max_window_bits=10"}, decline},
		// ... and the next one is tried (§5: offers in order of preference).
		{CompressionOptions{}, []string{pmd + "; server_max_window_bits=20, " + pmd + "; client_no_context_takeover"}, accept(pmd+"; client_no_context_takeover", true, false, 1)},
		{CompressionOptions{}, []string{pmd + "; foo", pmd}, accept(pmd, true, true, 1)},
		{CompressionOptions{}, []string{"x-webkit-deflate-frame, " + pmd + "; server_no_context_takeover"}, accept(pmd+"; server_no_context_takeover", false, true, 1)},
		{CompressionOptions{}, []string{"x-webkit-deflate-frame"}, decline},
	} {
		resp, ds, err := tc.opts.serverAccept(tc.offers)
		require.NoError(t, err, "%q", tc.offers)
		assert.Equal(t, tc.want.resp, resp, "%q", tc.offers)
		if tc.want.resp == "" {
			assert.Nil(t, ds, "%q", tc.offers)
			continue
		}
		require.NotNil(t, ds)
		assert.Equal(t, tc.want.writeTakeover, ds.writeTakeover, "%q: our context takeover", tc.offers)
		assert.Equal(t, tc.want.readTakeover, ds.readTakeover, "%q: the client's context takeover", tc.offers)
		assert.Equal(t, tc.want.level, ds.level, "%q: level", tc.offers)
		assert.Equal(t, tc.want.window, ds.writeWindow, "%q: our window", tc.offers)
		// Whatever we answer must be a valid response (§7.1) that the
		// offering client accepts.
		els, err := parseExtensions([]string{resp})
		require.NoError(t, err)
		_, err = parseDeflateParams(els[0].params, false)
		require.NoError(t, err, resp)
	}
	// A header that is not the RFC 6455 §9.1 list fails the handshake.
	_, _, err := (&CompressionOptions{}).serverAccept([]string{`permessage-deflate; a="`})
	assert.Error(t, err)
	_, _, err = (&CompressionOptions{Level: 42}).serverAccept([]string{"permessage-deflate"})
	assert.ErrorIs(t, err, ErrCompressionOptions)
}

// RFC 7692 §7.1: the client fails the connection on a response that is
// invalid or that it did not allow, and otherwise honours it.
func TestClientNegotiation(t *testing.T) {
	const pmd = "permessage-deflate"
	type want struct {
		writeTakeover, readTakeover bool
		window                      int // ours
	}
	const full = windowSize
	for _, tc := range []struct {
		opts CompressionOptions
		resp []string
		want want
	}{
		{CompressionOptions{}, []string{pmd}, want{true, true, full}},
		{CompressionOptions{}, []string{"Permessage-Deflate"}, want{true, true, full}},
		// §7.1.1.1: a server may refuse takeover for itself unasked.
		{CompressionOptions{}, []string{pmd + "; server_no_context_takeover"}, want{true, false, full}},
		{CompressionOptions{ServerNoContextTakeover: true}, []string{pmd + "; server_no_context_takeover"}, want{true, false, full}},
		// §7.1.1.2: the server may forbid our takeover; our own hint holds anyway.
		{CompressionOptions{}, []string{pmd + "; client_no_context_takeover"}, want{false, true, full}},
		{CompressionOptions{ClientNoContextTakeover: true}, []string{pmd}, want{false, true, full}},
		// §7.1.2.1: the server may limit its own window unasked; we inflate any.
		{CompressionOptions{}, []string{pmd + "; server_max_window_bits=8"}, want{true, true, full}},
		{CompressionOptions{ServerMaxWindowBits: 10}, []string{pmd + "; server_max_window_bits=10"}, want{true, true, full}},
		{CompressionOptions{ServerMaxWindowBits: 10}, []string{pmd + "; server_max_window_bits=9"}, want{true, true, full}},
		// §7.1.2.2: a limit on our window is honoured (deflate_window.go);
		// our own offered value binds us even if not answered.
		{CompressionOptions{ClientMaxWindowBits: 15}, []string{pmd + "; client_max_window_bits=15"}, want{true, true, full}},
		{CompressionOptions{ClientMaxWindowBits: 15}, []string{pmd + "; client_max_window_bits=10"}, want{true, true, 1 << 10}},
		// By default we offered client_max_window_bits bare: any answer
		// from 8 to 15 is honoured.
		{CompressionOptions{}, []string{pmd + "; client_max_window_bits=8"}, want{true, true, 1 << 8}},
		{CompressionOptions{}, []string{pmd + "; client_max_window_bits=9; client_no_context_takeover"}, want{false, true, 1 << 9}},
		{CompressionOptions{}, []string{pmd + "; client_max_window_bits=15"}, want{true, true, full}},
		{CompressionOptions{ClientMaxWindowBits: 15}, []string{pmd}, want{true, true, full}},
		{CompressionOptions{ClientMaxWindowBits: 11}, []string{pmd}, want{true, true, 1 << 11}},
		{CompressionOptions{Level: -1}, []string{pmd + `; server_max_window_bits="12"`}, want{true, true, full}},
		// An empty header accepts nothing.
		{CompressionOptions{}, []string{""}, want{}},
	} {
		ds, err := tc.opts.clientAccept(tc.resp, RoleClient)
		require.NoError(t, err, "%+v %q", tc.opts, tc.resp)
		if tc.want == (want{}) {
			assert.Nil(t, ds)
			continue
		}
		require.NotNil(t, ds)
		assert.Equal(t, tc.want, want{ds.writeTakeover, ds.readTakeover, ds.writeWindow}, "%+v %q", tc.opts, tc.resp)
	}
	for _, tc := range []struct {
		opts CompressionOptions
		resp []string
	}{
		{CompressionOptions{}, []string{pmd + ", " + pmd}},  // two accepted
		{CompressionOptions{}, []string{pmd, pmd}},          // on two lines
		{CompressionOptions{}, []string{"x-other"}},         // not offered
		{CompressionOptions{}, []string{pmd + ", x-other"}}, // not offered
		{CompressionOptions{}, []string{pmd + "; foo"}},     // unknown parameter
		{CompressionOptions{}, []string{pmd + "; server_no_context_takeover; server_no_context_takeover"}},
		{CompressionOptions{}, []string{pmd + "; client_no_context_takeover=1"}},                           // takes no value
		{CompressionOptions{}, []string{pmd + "; server_max_window_bits"}},                                 // value required
		{CompressionOptions{}, []string{pmd + "; server_max_window_bits=7"}},                               // out of range
		{CompressionOptions{}, []string{pmd + "; server_max_window_bits=016"}},                             // leading zero
		{CompressionOptions{OmitClientMaxWindowBits: true}, []string{pmd + "; client_max_window_bits=10"}}, // not offered
		{CompressionOptions{ClientMaxWindowBits: 10}, []string{pmd + "; client_max_window_bits"}},          // value required in a response
		{CompressionOptions{ClientMaxWindowBits: 10}, []string{pmd + "; client_max_window_bits=11"}},       // larger than offered
		{CompressionOptions{ServerMaxWindowBits: 10}, []string{pmd}},                                       // limit not accepted
		{CompressionOptions{ServerMaxWindowBits: 10}, []string{pmd + "; server_max_window_bits=11"}},       // larger than asked
		{CompressionOptions{ServerNoContextTakeover: true}, []string{pmd}},                                 // not accepted
		{CompressionOptions{}, []string{pmd + `; server_max_window_bits="1 0"`}},                           // bad syntax
	} {
		ds, err := tc.opts.clientAccept(tc.resp, RoleClient)
		assert.Error(t, err, "%+v %q", tc.opts, tc.resp)
		assert.Nil(t, ds)
	}
}

// Both roles against each other through real handshakes, for every
// combination of the four parameters on each side: both ends agree on what
// was negotiated, and messages flow both ways (the inflaters' takeover
// matching the peers' compressors').
func TestNegotiationMatrix(t *testing.T) {
	var all []CompressionOptions
	for mask := range 32 {
		o := CompressionOptions{
			ServerNoContextTakeover: mask&1 != 0,
			ClientNoContextTakeover: mask&2 != 0,
			Threshold:               -1,
		}
		if mask&4 != 0 {
			o.ServerMaxWindowBits = 10
		}
		if mask&8 != 0 {
			o.ClientMaxWindowBits = 11
		}
		// The fifth option means one thing to a client and another to a
		// server; each side ignores the other's.
		o.OmitClientMaxWindowBits = mask&16 != 0
		o.IgnoreClientNoContextTakeoverHint = mask&16 != 0
		all = append(all, o)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	base := randText(rng, 3000)
	for _, co := range all {
		for _, so := range all {
			co, so := co, so
			c, s := deflatePair(t, Options{Compression: &co}, Options{Compression: &so})
			cp, ok := c.Compression()
			require.True(t, ok)
			sp, ok := s.Compression()
			require.True(t, ok)
			desc := fmt.Sprintf("client %+v server %+v", co, so)
			// What each side believes about the server's compressor and
			// the client's takeover must match.
			assert.Equal(t, sp.ServerNoContextTakeover, cp.ServerNoContextTakeover, desc)
			assert.Equal(t, sp.ServerMaxWindowBits, cp.ServerMaxWindowBits, desc)
			// A client's own promises may be stricter than the answer.
			assert.True(t, cp.ClientNoContextTakeover || !sp.ClientNoContextTakeover, desc)
			assert.Equal(t, co.ServerNoContextTakeover || so.ServerNoContextTakeover, cp.ServerNoContextTakeover, desc)
			assert.Equal(t, co.ClientNoContextTakeover || so.ClientNoContextTakeover, cp.ClientNoContextTakeover, desc)
			assert.Equal(t, co.ClientNoContextTakeover && !so.IgnoreClientNoContextTakeoverHint || so.ClientNoContextTakeover, sp.ClientNoContextTakeover, desc)
			// §7.1.2.2: the server limits the client's window only if the
			// client offered client_max_window_bits (by default it does).
			if so.ClientMaxWindowBits != 0 && (co.ClientMaxWindowBits != 0 || !co.OmitClientMaxWindowBits) {
				assert.Equal(t, min(so.ClientMaxWindowBits, cmp.Or(co.ClientMaxWindowBits, 15)), cp.ClientMaxWindowBits, desc)
			} else {
				assert.Equal(t, co.ClientMaxWindowBits, cp.ClientMaxWindowBits, desc)
			}
			// Each side compresses within the window the other keeps.
			assert.Equal(t, sendWindow(cp.ClientMaxWindowBits), c.compression.writeWindow, desc)
			assert.Equal(t, sendWindow(sp.ServerMaxWindowBits), s.compression.writeWindow, desc)
			assert.LessOrEqual(t, c.compression.writeWindow, s.compression.readWindow, desc)
			assert.LessOrEqual(t, s.compression.writeWindow, c.compression.readWindow, desc)
			for i := range 2 {
				msg := append(base[i*100:], byte(i))
				require.NoError(t, c.WriteMessage(OpBinary, msg))
				_, got, err := s.ReadMessage()
				require.NoError(t, err, desc)
				require.Equal(t, msg, got, desc)
				require.NoError(t, s.WriteMessage(OpText, msg[:len(msg)-1]))
				_, got, err = c.ReadMessage()
				require.NoError(t, err, desc)
				require.Equal(t, msg[:len(msg)-1], got, desc)
			}
			_ = c.CloseNow()
			_ = s.CloseNow()
		}
	}
}

// scriptedServer answers upgrade requests with extension header value ext
// (omitted when nil) and returns its URL.
func scriptedServer(t *testing.T, ext []string) string {
	t.Helper()
	var extra []string
	for _, e := range ext {
		extra = append(extra, "Sec-WebSocket-Extensions: "+e)
	}
	return wstest.Serve(t, wstest.Drained(func(p *wstest.Peer) { p.Upgrade(extra...) })).URL + "/"
}

// RFC 7692 §7.1: "A client MUST _Fail the WebSocket Connection_" on a bad
// response; Dial reports it as a *HandshakeError wrapping ErrBadExtension.
func TestDialFailsOnBadExtensionResponse(t *testing.T) {
	for _, ext := range [][]string{
		{"permessage-deflate; foo"},
		{"permessage-deflate, permessage-deflate"},
		{"permessage-deflate; server_max_window_bits=20"},
		{"x-other"},
	} {
		url := scriptedServer(t, ext)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _, err := (&Dialer{Options: Options{Compression: &CompressionOptions{}}}).Dial(ctx, url)
		cancel()
		var he *HandshakeError
		require.ErrorAs(t, err, &he, "%q", ext)
		assert.ErrorIs(t, err, ErrBadExtension, "%q", ext)
	}
	// A server that ignores the offer gives an uncompressed connection.
	url := scriptedServer(t, nil)
	c := dialT(t, &Dialer{Options: Options{Compression: &CompressionOptions{}}}, url)
	_, ok := c.Compression()
	assert.False(t, ok)
	// Compression is off by default: no offer, and an answer with an
	// extension is refused (RFC 6455 §4.1 item 5).
	url = scriptedServer(t, []string{"permessage-deflate"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, err := (&Dialer{}).Dial(ctx, url)
	assert.ErrorIs(t, err, ErrBadExtension)
}

// Invalid options fail the handshake on both sides, before compressing
// anything wrongly: Dial with ErrCompressionOptions, Upgrade with a 500.
func TestInvalidCompressionOptions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	url, _ := echoServer(t, &Upgrader{Options: Options{Compression: &CompressionOptions{}}})
	_, _, err := (&Dialer{Options: Options{Compression: &CompressionOptions{Level: 11}}}).Dial(ctx, url)
	assert.ErrorIs(t, err, ErrCompressionOptions)

	url, _ = echoServer(t, &Upgrader{Options: Options{Compression: &CompressionOptions{ServerMaxWindowBits: 3}}})
	_, resp, err := (&Dialer{Options: Options{Compression: &CompressionOptions{}}}).Dial(ctx, url)
	require.Error(t, err)
	require.NotNil(t, resp)
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
}

// The server's side of the handshake on the wire: a declined offer still
// upgrades, without the extension; a malformed header gets a 400.
func TestUpgradeExtensionHeader(t *testing.T) {
	_, srv := echoServer(t, &Upgrader{Options: Options{Compression: &CompressionOptions{}}})
	for _, tc := range []struct {
		offer      string
		status     int
		wantHeader string
	}{
		{"permessage-deflate; client_max_window_bits", 101, "permessage-deflate"},
		{"permessage-deflate; server_max_window_bits=9", 101, "permessage-deflate; server_max_window_bits=9"},
		{"permessage-deflate; bogus", 101, ""},
		{`permessage-deflate; a="b`, 400, ""},
	} {
		req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
		require.NoError(t, err)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		req.Header.Set("Sec-WebSocket-Extensions", tc.offer)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		assert.Equal(t, tc.status, resp.StatusCode, tc.offer)
		assert.Equal(t, tc.wantHeader, resp.Header.Get("Sec-WebSocket-Extensions"), tc.offer)
		_ = resp.Body.Close()
	}
}

// ---- Compressing (RFC 7692 §7.2.1) ----

// What goes on the wire, checked with the independent decoder: RSV1 on
// compressed messages only, the tail removed, a threshold, control frames
// untouched, and for a stream RSV1 on the first fragment only.
func TestCompressedFramesOnWire(t *testing.T) {
	for _, role := range []Role{RoleClient, RoleServer} {
		t.Run(role.String(), func(t *testing.T) {
			c, p := newDeflatePeer(t, role, &Options{WriteBufferSize: 512}, CompressionOptions{Threshold: 64},
				deflateParams{serverNoContextTakeover: true, clientNoContextTakeover: true})
			rng := rand.New(rand.NewPCG(1, 1))
			big := bytes.Repeat(randText(rng, 100), 50)

			require.NoError(t, c.WriteMessage(OpText, big))
			h, payload := p.next()
			assert.Equal(t, Rsv1, h.Rsv, "RFC 7692 §6: RSV1 marks a compressed message")
			assert.True(t, h.Fin)
			assert.Equal(t, OpText, h.Opcode)
			assert.Less(t, len(payload), len(big)/5)
			assert.False(t, bytes.HasSuffix(payload, deflateTail), "§7.2.1: the 00 00 ff ff tail is removed")
			st, err := refInflate(nil, payload)
			require.NoError(t, err)
			assert.Equal(t, big, st.Out)

			// Under the threshold: sent as is, RSV1 clear.
			require.NoError(t, c.WriteMessage(OpBinary, big[:63]))
			h, payload = p.next()
			assert.Equal(t, byte(0), h.Rsv)
			assert.Equal(t, big[:63], payload)

			// Control frames are never compressed (§6: data messages only).
			require.NoError(t, c.WritePing(big[:100]))
			h, payload = p.next()
			assert.Equal(t, byte(0), h.Rsv)
			assert.Equal(t, big[:100], payload)

			// A stream: RSV1 on its first fragment only.
			noise := randBytes(rng, 5000) // incompressible: several fragments
			w, err := c.NextWriter(OpBinary)
			require.NoError(t, err)
			for i := 0; i < len(noise); i += 300 {
				_, err := w.Write(noise[i:min(i+300, len(noise))])
				require.NoError(t, err)
			}
			require.NoError(t, w.Close())
			var joined []byte
			for i := 0; ; i++ {
				h, payload := p.next()
				if i == 0 {
					assert.Equal(t, OpBinary, h.Opcode)
					assert.Equal(t, Rsv1, h.Rsv)
				} else {
					assert.Equal(t, OpContinuation, h.Opcode)
					assert.Equal(t, byte(0), h.Rsv, "§6: no RSV1 on a continuation")
				}
				assert.LessOrEqual(t, len(payload), 512)
				joined = append(joined, payload...)
				if h.Fin {
					assert.Greater(t, i, 2, "a 5000-byte stream through a 512-byte buffer")
					break
				}
			}
			assert.False(t, bytes.HasSuffix(joined, deflateTail))
			st, err = refInflate(nil, joined)
			require.NoError(t, err)
			assert.Equal(t, noise, st.Out)

			// Empty messages still carry a valid compressed payload, one
			// octet 0x00 (§7.2.3.6), whichever way they are written.
			w, err = c.NextWriter(OpText)
			require.NoError(t, err)
			require.NoError(t, w.Close())
			h, payload = p.next()
			assert.Equal(t, Rsv1, h.Rsv)
			assert.True(t, h.Fin)
			assert.Equal(t, []byte{0x00}, payload)
			c.compression.threshold = 0
			require.NoError(t, c.WriteMessage(OpText, nil))
			h, payload = p.next()
			assert.Equal(t, Rsv1, h.Rsv)
			assert.Equal(t, []byte{0x00}, payload)
		})
	}
}

// RFC 7692 §7.2.1 with context takeover — the window-pollution bug class
// (GO-PEERS.md §2.6): the compressor's history must hold exactly the bytes
// of the compressed messages, never pings, pongs, closes or messages sent
// uncompressed. The wire is decoded by the independent decoder with a
// history made only of earlier compressed messages; a later message that
// refers back must still decode.
func TestContextTakeoverHistoryHoldsOnlyCompressedMessages(t *testing.T) {
	for _, role := range []Role{RoleClient, RoleServer} {
		for _, level := range []int{flate.BestSpeed, flate.DefaultCompression, flate.BestCompression} {
			t.Run(fmt.Sprintf("%s/level%d", role, level), func(t *testing.T) {
				c, p := newDeflatePeer(t, role, nil, CompressionOptions{Level: level}, deflateParams{})
				rng := rand.New(rand.NewPCG(2, uint64(level+10)))
				var hist []byte
				expect := func(msg []byte) refStats {
					t.Helper()
					h, payload := p.next()
					require.Equal(t, Rsv1, h.Rsv)
					st, err := refInflate(hist, payload)
					require.NoError(t, err, "the peer's inflater, whose window holds only compressed messages, must decode it")
					require.Equal(t, msg, st.Out)
					hist = append(hist, msg...)
					return st
				}
				a := randText(rng, 2000)
				require.NoError(t, c.WriteMessage(OpText, a))
				expect(a)
				for round := range 5 {
					ping := randText(rng, 120)
					small := randText(rng, 100) // under the threshold
					require.NoError(t, c.WritePing(ping))
					h, _ := p.next()
					require.Equal(t, OpPing, h.Opcode)
					require.NoError(t, c.WritePong(ping))
					h, _ = p.next()
					require.Equal(t, OpPong, h.Opcode)
					require.NoError(t, c.WriteMessage(OpText, small))
					h, got := p.next()
					require.Equal(t, byte(0), h.Rsv)
					require.Equal(t, small, got)
					// The next message repeats the ping, the small message
					// and earlier compressed data: a compressor that had
					// seen the ping or the small message would refer to
					// them, and the peer would decode garbage.
					b := append(append(append(append([]byte(nil), ping...), small...), a[round*100:round*100+1500]...), ping...)
					if round%2 == 1 {
						w, err := c.NextWriter(OpText)
						require.NoError(t, err)
						_, err = w.Write(b)
						require.NoError(t, err)
						require.NoError(t, w.Close())
					} else {
						require.NoError(t, c.WriteMessage(OpText, b))
					}
					st := expect(b)
					assert.Positive(t, st.IntoHist, "context takeover is in effect: the message refers to earlier ones")
				}
			})
		}
	}
}

// RFC 7692 §7.1.1: without context takeover each message stands alone.
func TestNoContextTakeoverMessagesStandAlone(t *testing.T) {
	for _, role := range []Role{RoleClient, RoleServer} {
		params := deflateParams{clientNoContextTakeover: role == RoleClient, serverNoContextTakeover: role == RoleServer}
		c, p := newDeflatePeer(t, role, nil, CompressionOptions{Level: 6}, params)
		rng := rand.New(rand.NewPCG(3, 3))
		a := randText(rng, 3000)
		for i := range 4 {
			require.NoError(t, c.WriteMessage(OpBinary, a))
			_, payload := p.next()
			st, err := refInflate(nil, payload)
			require.NoError(t, err, "message %d must decode with an empty window", i)
			assert.Equal(t, a, st.Out)
		}
		assert.Nil(t, c.compression.own, "no per-connection compressor without takeover")
	}
}

// Memory: without takeover compressors are borrowed from the pool per
// message; with it one stays with the connection; inflaters are borrowed
// per message either way; an oversized output buffer is not kept.
func TestDeflateMemoryState(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	big := randBytes(rng, 300<<10) // over maxKeptDeflateBuf even compressed
	c, s := deflatePair(t, Options{Compression: &CompressionOptions{}}, Options{Compression: &CompressionOptions{ServerNoContextTakeover: true, ClientNoContextTakeover: true}})
	for _, pair := range [][2]*Conn{{c, s}, {s, c}} {
		require.NoError(t, pair[0].WriteMessage(OpBinary, big))
		_, got, err := pair[1].ReadMessage()
		require.NoError(t, err)
		require.Equal(t, big, got)
		assert.Nil(t, pair[0].compression.own)
		assert.Nil(t, pair[1].compression.inf, "the inflater goes back to the pool after the message")
		assert.Nil(t, pair[1].compression.rwin.buf, "no window is kept without takeover")
		assert.LessOrEqual(t, cap(pair[0].compression.sink.buf), maxKeptDeflateBuf)
	}
	// IdleRelease off: on a loaded machine a second can pass before the
	// check, and the idle timer would rightly have taken the compressor.
	c, s = deflatePair(t, Options{Compression: &CompressionOptions{IdleRelease: -1}}, Options{Compression: &CompressionOptions{}})
	require.NoError(t, c.WriteMessage(OpBinary, big))
	_, _, err := s.ReadMessage()
	require.NoError(t, err)
	c.msgMu.Lock() // the idle timer's lock (deflate_idle.go)
	own := c.compression.own
	c.msgMu.Unlock()
	assert.NotNil(t, own, "under takeover the compressor stays with the connection")
	assert.Nil(t, s.compression.inf)
	assert.Equal(t, big[len(big)-windowSize:], s.compression.rwin.appendTo(nil))
	assert.Len(t, s.compression.rwin.buf, windowSize, "the peer's window, no more")
	assert.Equal(t, big[len(big)-rebuildHistory:], c.compression.whist.appendTo(nil), "our own: rebuildHistory")
	assert.Nil(t, c.compression.sink.buf, "the output buffer went back to its pool")

	// A server that limited the client's window keeps only that much.
	c, s = deflatePair(t, Options{Compression: &CompressionOptions{}}, Options{Compression: &CompressionOptions{ClientMaxWindowBits: 9}})
	require.NoError(t, c.WriteMessage(OpBinary, big[:5000]))
	_, got, err := s.ReadMessage()
	require.NoError(t, err)
	require.Equal(t, big[:5000], got)
	assert.Len(t, s.compression.rwin.buf, 1<<9)
	assert.LessOrEqual(t, cap(c.compression.seg.win), 1<<9, "the client's history is its window")
}

// ---- Decompressing (RFC 7692 §7.2.2) ----

// The RFC's own examples arrive from a peer and read back as "Hello",
// including the fragmented one, the shared window and the BFINAL variant.
func TestReadRFC7692Examples(t *testing.T) {
	c, p := newDeflatePeer(t, RoleClient, nil, CompressionOptions{}, deflateParams{})
	hello := []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}
	p.sendCompressed(true, OpText, hello)
	// §7.2.3.2: the same message again, compressed against the window.
	p.sendCompressed(true, OpText, []byte{0xf2, 0x00, 0x11, 0x00, 0x00})
	// §7.2.3.1: one compressed message in two fragments: RSV1 on the first.
	p.sendCompressed(false, OpText, hello[:3])
	p.send(true, OpContinuation, hello[3:])
	// §7.2.3.3, §7.2.3.4, §7.2.3.5.
	p.sendCompressed(true, OpText, []byte{0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00})
	p.sendCompressed(true, OpText, []byte{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00})
	p.sendCompressed(true, OpText, []byte{0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00})
	// After a BFINAL message the window still holds its data: a
	// back-reference to "Hello" right after it still works.
	p.sendCompressed(true, OpText, []byte{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00})
	p.sendCompressed(true, OpText, []byte{0xf2, 0x00, 0x11, 0x00, 0x00})
	for i := range 8 {
		op, msg, err := c.ReadMessage()
		require.NoError(t, err, "message %d", i)
		assert.Equal(t, OpText, op)
		assert.Equal(t, "Hello", string(msg), "message %d", i)
	}
	// Empty messages: the canonical 0x00, an empty payload, and an empty
	// compressed message in three fragments.
	p.sendCompressed(true, OpBinary, []byte{0x00})
	p.sendCompressed(true, OpBinary, nil)
	p.sendCompressed(false, OpBinary, nil)
	p.send(false, OpContinuation, []byte{0x00})
	p.send(true, OpContinuation, nil)
	for range 3 {
		op, msg, err := c.ReadMessage()
		require.NoError(t, err)
		assert.Equal(t, OpBinary, op)
		assert.Empty(t, msg)
	}
	// An uncompressed message in between does not touch the window.
	p.send(true, OpText, []byte("plain"))
	p.sendCompressed(true, OpText, []byte{0xf2, 0x00, 0x11, 0x00, 0x00})
	_, msg, err := c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, "plain", string(msg))
	_, msg, err = c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, "Hello", string(msg), "the window holds the last compressed message, not 'plain'")
}

// RFC 7692 §7.2.2 with takeover from a peer's compressor that keeps its
// history, messages fragmented at random and pings between the fragments
// (RFC 6455 §5.4), read through NextReader with small buffers.
func TestReadStreamingWithTakeover(t *testing.T) {
	for _, takeover := range []bool{true, false} {
		c, p := newDeflatePeer(t, RoleServer, &Options{ReadBufferSize: 300}, CompressionOptions{},
			deflateParams{clientNoContextTakeover: !takeover})
		var buf bytes.Buffer
		fw, err := flate.NewWriter(&buf, flate.BestCompression)
		require.NoError(t, err)
		rng := rand.New(rand.NewPCG(6, 6))
		seed := randText(rng, 4000)
		var msgs [][]byte
		var wire []byte
		for i := range 30 {
			msg := append(append([]byte(nil), seed[rng.IntN(2000):][:rng.IntN(2000)]...), randText(rng, 50)...)
			msgs = append(msgs, msg)
			if !takeover {
				fw.Reset(&buf)
			}
			payload := peerCompress(t, fw, &buf, msg)
			for first := true; ; first = false {
				n := min(len(payload), rng.IntN(200))
				op, rsv := OpContinuation, byte(0)
				if first {
					op, rsv = OpText, Rsv1
				}
				fin := n == len(payload)
				wire = append(wire, wstest.Frame{Fin: fin, Rsv: rsv, Opcode: byte(op), Payload: payload[:n]}.Mask().Bytes()...)
				if i%3 == 0 {
					wire = append(wire, wstest.Frame{Fin: true, Opcode: wstest.OpPing, Payload: []byte("between")}.Mask().Bytes()...)
				}
				payload = payload[n:]
				if fin {
					break
				}
			}
		}
		go func() { _, _ = p.Conn.Write(wire) }()
		small := make([]byte, 7)
		for i := range 30 {
			op, r, err := c.NextReader()
			require.NoError(t, err)
			require.Equal(t, OpText, op)
			var got []byte
			for {
				n, err := r.Read(small)
				got = append(got, small[:n]...)
				if err == io.EOF {
					break
				}
				require.NoError(t, err)
			}
			require.Equal(t, msgs[i], got, "message %d", i)
		}
	}
}

// A streamed compressed message from our own writer, read by our own
// streaming reader, both roles, with the other side pinging meanwhile.
func TestStreamWriterToStreamReader(t *testing.T) {
	c, s := deflatePair(t, Options{WriteBufferSize: 1000, Compression: &CompressionOptions{}}, Options{ReadBufferSize: 512, Compression: &CompressionOptions{Level: 5}})
	rng := rand.New(rand.NewPCG(8, 8))
	for _, pair := range [][2]*Conn{{c, s}, {s, c}} {
		w, r := pair[0], pair[1]
		for i := range 5 {
			msg := append(bytes.Repeat(randText(rng, 700), 20), randBytes(rng, 3000)...)
			errc := make(chan error, 1)
			go func() {
				mw, err := w.NextWriter(OpBinary)
				if err != nil {
					errc <- err
					return
				}
				for k := 0; k < len(msg); k += 333 {
					if _, err := mw.Write(msg[k:min(k+333, len(msg))]); err != nil {
						errc <- err
						return
					}
					if k%3333 == 0 {
						if err := w.WritePing([]byte("hi")); err != nil {
							errc <- err
							return
						}
					}
				}
				errc <- mw.Close()
			}()
			op, rd, err := r.NextReader()
			require.NoError(t, err)
			require.Equal(t, OpBinary, op)
			got, err := io.ReadAll(rd)
			require.NoError(t, err)
			require.NoError(t, <-errc)
			require.Equal(t, msg, got, "message %d", i)
		}
	}
}

// RFC 7692 §7.2.2: data that does not inflate fails the connection with
// ErrBadDeflate and close code 1007 (see ErrBadDeflate for why 1007).
func TestCorruptDeflateFails(t *testing.T) {
	valid := []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}
	for name, payload := range map[string][]byte{
		"reserved block type":   {0xff, 0xff, 0xff, 0xff},
		"truncated":             valid[:3],
		"stored length":         {0x00, 0x05, 0x00, 0x00, 0x00, 'H'},
		"distance before start": {0xf2, 0x00, 0x11, 0x00, 0x00},
		"garbage":               []byte("this is not deflate data at all, not at all"),
	} {
		t.Run(name, func(t *testing.T) {
			c, p := newDeflatePeer(t, RoleClient, nil, CompressionOptions{}, deflateParams{})
			p.sendCompressed(true, OpText, payload)
			_, _, err := c.ReadMessage()
			var pe *ProtocolError
			require.ErrorAs(t, err, &pe)
			assert.ErrorIs(t, err, ErrBadDeflate)
			assert.Equal(t, CloseInvalidFramePayloadData, pe.Code)
			assert.Equal(t, CloseInvalidFramePayloadData, p.expectClose())
			_, _, err2 := c.ReadMessage()
			assert.ErrorIs(t, err2, ErrBadDeflate, "the error is sticky")
		})
	}
}

// RFC 7692 §6: RSV1 only on the first frame of a data message; RFC 6455
// §5.2: other RSV bits, or RSV1 without the extension, fail with 1002.
func TestRsv1Rules(t *testing.T) {
	hello := []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}
	for name, tc := range map[string]struct {
		compression bool
		frames      [][]byte
	}{
		"RSV1 on a continuation": {true, [][]byte{wstest.Frame{Rsv: Rsv1, Opcode: wstest.OpText, Payload: hello[:2]}.Bytes(), wstest.Frame{Fin: true, Rsv: Rsv1, Opcode: wstest.OpContinuation, Payload: hello[2:]}.Bytes()}},
		"RSV1 on a ping":         {true, [][]byte{wstest.Frame{Fin: true, Rsv: Rsv1, Opcode: wstest.OpPing}.Bytes()}},
		"RSV1 on a close":        {true, [][]byte{wstest.Frame{Fin: true, Rsv: Rsv1, Opcode: wstest.OpClose}.Bytes()}},
		"RSV2":                   {true, [][]byte{wstest.Frame{Fin: true, Rsv: Rsv2, Opcode: wstest.OpText, Payload: []byte("x")}.Bytes()}},
		"RSV1|RSV3":              {true, [][]byte{wstest.Frame{Fin: true, Rsv: Rsv1 | Rsv3, Opcode: wstest.OpText, Payload: hello}.Bytes()}},
		"RSV1 not negotiated":    {false, [][]byte{wstest.Frame{Fin: true, Rsv: Rsv1, Opcode: wstest.OpText, Payload: hello}.Bytes()}},
	} {
		t.Run(name, func(t *testing.T) {
			c, p := newRawPeer(t, RoleClient, nil)
			if tc.compression {
				c.compression = newDeflateState(&CompressionOptions{}, deflateParams{}, RoleClient)
			}
			for _, f := range tc.frames {
				p.Write(f)
			}
			_, _, err := c.ReadMessage()
			var pe *ProtocolError
			require.ErrorAs(t, err, &pe)
			assert.ErrorIs(t, err, ErrReservedBits)
			assert.Equal(t, CloseProtocolError, pe.Code)
			assert.Equal(t, CloseProtocolError, p.expectClose())
		})
	}
}

// bombPayload builds a raw DEFLATE stream by hand (RFC 1951 §3.2.7): one
// dynamic block whose codes give "copy 258 bytes at distance 1" two bits,
// after a single literal 0. Each zero byte that follows is four such copies,
// so zeros bytes of payload inflate to about 1032 times as many zero bytes,
// the most DEFLATE allows. The block never ends.
func bombPayload(zeros int) []byte {
	var b []byte
	var n uint
	bit := func(v int) {
		if n%8 == 0 {
			b = append(b, 0)
		}
		b[len(b)-1] |= byte(v&1) << (n % 8)
		n++
	}
	bits := func(v, count int) { // extra bits and header fields: LSB first
		for i := range count {
			bit(v >> i)
		}
	}
	code := func(c, count int) { // Huffman codes: MSB first
		for i := count - 1; i >= 0; i-- {
			bit(c >> i)
		}
	}
	bits(0, 1)       // BFINAL = 0
	bits(2, 2)       // BTYPE = 10, dynamic
	bits(286-257, 5) // HLIT: literal/length codes 0..285
	bits(0, 5)       // HDIST: one distance code
	bits(18-4, 4)    // HCLEN: code length codes up to '1' in the order below
	// Code length code lengths, in RFC 1951 order 16 17 18 0 8 7 9 6 10 5
	// 11 4 12 3 13 2 14 1: symbol 18 gets 1 bit, symbols 1 and 2 get 2.
	for _, sym := range inflatecheck.CodeLengthOrder[:18] {
		switch sym {
		case 18:
			bits(1, 3)
		case 1, 2:
			bits(2, 3)
		default:
			bits(0, 3)
		}
	}
	// Canonical codes: 18 -> 0, 1 -> 10, 2 -> 11.
	two, one := func() { code(3, 2) }, func() { code(2, 2) }
	zerosRun := func(k int) { code(0, 1); bits(k-11, 7) }
	two()         // literal 0: length 2
	zerosRun(138) // literals 1..138
	zerosRun(117) // literals 139..255
	two()         // 256 (end of block): length 2
	zerosRun(28)  // 257..284
	one()         // 285 (length 258): length 1
	one()         // distance code 0 (distance 1): length 1
	// Literal/length codes: 285 -> 0, 0 -> 10, 256 -> 11. Distance: 0 -> 0.
	code(2, 2) // the literal 0
	for n%8 != 0 {
		bit(0) // pairs of zero bits: copies of 258 bytes at distance 1
	}
	return append(b, make([]byte, zeros)...)
}

func TestBombPayloadIsWhatItClaims(t *testing.T) {
	r := flate.NewReader(bytes.NewReader(bombPayload(1000)))
	var buf [1 << 15]byte
	total := 0
	for {
		n, err := r.Read(buf[:])
		require.Equal(t, n, bytes.Count(buf[:n], []byte{0}), "only zero bytes")
		total += n
		if err != nil {
			require.ErrorIs(t, err, io.ErrUnexpectedEOF, "the block never ends")
			break
		}
	}
	assert.GreaterOrEqual(t, total, 1000*4*258)
}

// A decompression bomb: a 1 MiB frame that inflates to about 1 GiB, read with
// a 1 MiB limit, fails with ErrReadLimit and 1009 after inflating little more
// than the limit — memory stays bounded by the limit, not by the bomb.
func TestDecompressionBomb(t *testing.T) {
	const limit = 1 << 20
	bomb := bombPayload(1 << 20)
	c, p := newDeflatePeer(t, RoleClient, &Options{ReadLimit: limit}, CompressionOptions{}, deflateParams{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = p.Conn.Write(wstest.Frame{Fin: true, Rsv: Rsv1, Opcode: wstest.OpBinary, Payload: bomb}.Bytes())
	}()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, _, err := c.ReadMessage()
	runtime.ReadMemStats(&after)
	var pe *ProtocolError
	require.ErrorAs(t, err, &pe)
	assert.ErrorIs(t, err, ErrReadLimit)
	assert.Equal(t, CloseMessageTooBig, pe.Code)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(16<<20), "memory bounded by the read limit")
	assert.Equal(t, CloseMessageTooBig, p.expectClose())
	<-done

	// The same through NextReader with a tiny buffer: the limit counts
	// inflated bytes as they stream.
	c, p = newDeflatePeer(t, RoleServer, &Options{ReadLimit: 1000}, CompressionOptions{}, deflateParams{})
	done = make(chan struct{})
	go func() {
		defer close(done)
		_, _ = p.Conn.Write(wstest.Frame{Fin: true, Rsv: Rsv1, Opcode: wstest.OpBinary, Payload: bombPayload(10000)}.Mask().Bytes())
	}()
	_, r, err := c.NextReader()
	require.NoError(t, err)
	n, err := io.Copy(io.Discard, r)
	assert.ErrorIs(t, err, ErrReadLimit)
	assert.LessOrEqual(t, n, int64(1000))
	assert.Equal(t, CloseMessageTooBig, p.expectClose())
	<-done
}

// The read limit counts inflated bytes exactly: a message of the limit
// passes, one byte more fails, however small its compressed form.
func TestCompressedReadLimitExact(t *testing.T) {
	const limit = 5000
	msg := bytes.Repeat([]byte("z"), limit)
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, 9)
	ok := peerCompress(t, fw, &buf, msg)
	fw.Reset(&buf)
	over := peerCompress(t, fw, &buf, append(msg, 'z'))
	require.Less(t, len(over), 100)

	c, p := newDeflatePeer(t, RoleClient, &Options{ReadLimit: limit}, CompressionOptions{}, deflateParams{serverNoContextTakeover: true})
	p.sendCompressed(true, OpBinary, ok)
	p.sendCompressed(true, OpBinary, over)
	_, got, err := c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, msg, got)
	_, _, err = c.ReadMessage()
	assert.ErrorIs(t, err, ErrReadLimit)
	assert.Equal(t, CloseMessageTooBig, p.expectClose())
}

// UTF-8 is validated on the inflated text (RFC 6455 §8.1).
func TestCompressedTextUTF8(t *testing.T) {
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, 1)
	c, p := newDeflatePeer(t, RoleClient, nil, CompressionOptions{}, deflateParams{})
	p.sendCompressed(true, OpText, peerCompress(t, fw, &buf, []byte("κόσμε, fine")))
	p.sendCompressed(true, OpText, peerCompress(t, fw, &buf, []byte("bad \xed\xa0\x80 surrogate")))
	_, msg, err := c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, "κόσμε, fine", string(msg))
	_, _, err = c.ReadMessage()
	assert.ErrorIs(t, err, ErrInvalidUTF8)
	assert.Equal(t, CloseInvalidFramePayloadData, p.expectClose())
}

// Read deadlines: waiting for the next compressed message times out
// harmlessly; a deadline inside one fails the connection with
// ErrInflateInterrupted and 1011, since compress/flate cannot resume.
func TestCompressedReadDeadline(t *testing.T) {
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, 1)
	rng := rand.New(rand.NewPCG(9, 9))
	msg := randText(rng, 5000)
	c, p := newDeflatePeer(t, RoleClient, nil, CompressionOptions{}, deflateParams{})

	require.NoError(t, c.SetReadDeadline(time.Now().Add(30*time.Millisecond)))
	_, _, err := c.ReadMessage()
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout())
	require.NoError(t, c.SetReadDeadline(time.Time{}))
	p.sendCompressed(true, OpText, peerCompress(t, fw, &buf, msg))
	_, got, err := c.ReadMessage()
	require.NoError(t, err)
	require.Equal(t, msg, got)

	payload := peerCompress(t, fw, &buf, msg)
	p.sendCompressed(false, OpText, payload[:len(payload)/2])
	require.NoError(t, c.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
	_, _, err = c.ReadMessage()
	require.ErrorIs(t, err, ErrInflateInterrupted)
	assert.ErrorIs(t, err, ErrInflateInterrupted)
	assert.Equal(t, CloseInternalServerErr, p.expectClose())
	_, _, err = c.ReadMessage()
	assert.ErrorIs(t, err, ErrInflateInterrupted, "sticky")
}

// A close frame between the fragments of a compressed message ends the read
// with the peer's CloseError, not an inflate error.
func TestCloseInsideCompressedMessage(t *testing.T) {
	c, p := newDeflatePeer(t, RoleClient, &Options{CloseTimeout: 50 * time.Millisecond}, CompressionOptions{}, deflateParams{})
	p.sendCompressed(false, OpText, []byte{0xf2, 0x48})
	p.send(true, OpClose, wstest.ClosePayload(uint16(CloseGoingAway), "bye"))
	_, _, err := c.ReadMessage()
	var ce *CloseError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, CloseGoingAway, ce.Code)
	assert.NotErrorIs(t, err, ErrBadDeflate)
}

// Off by default: with no CompressionOptions nothing is offered or accepted,
// and a client offer to such a server is simply not answered.
func TestCompressionOffByDefault(t *testing.T) {
	c, s := deflatePair(t, Options{}, Options{Compression: &CompressionOptions{}})
	_, ok := c.Compression()
	assert.False(t, ok)
	_, ok = s.Compression()
	assert.False(t, ok)
	c, s = deflatePair(t, Options{Compression: &CompressionOptions{}}, Options{})
	_, ok = c.Compression()
	assert.False(t, ok)
	_, ok = s.Compression()
	assert.False(t, ok)
	require.NoError(t, c.WriteMessage(OpText, []byte(strings.Repeat("a", 1000))))
	_, msg, err := s.ReadMessage()
	require.NoError(t, err)
	assert.Len(t, msg, 1000)
}
