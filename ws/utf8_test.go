//go:build !js

package ws

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// validPrefixRef reports whether b is a prefix of some valid UTF-8 string, independently of UTF8Validator: b is
// valid as it stands, or appending 1..3 bytes makes it valid. The appended bytes are a second byte from
// {80, 90, A0} (one of them is in range after every lead byte: E0 needs A0..BF, F0 needs 90..BF, ED and F4
// need 80..) followed by 80s.
func validPrefixRef(b []byte) bool {
	if utf8.Valid(b) {
		return true
	}
	buf := make([]byte, len(b), len(b)+3)
	copy(buf, b)
	for _, second := range []byte{0x80, 0x90, 0xA0} {
		ext := append(buf[:len(b)], second)
		for range 3 {
			if utf8.Valid(ext) {
				return true
			}
			ext = append(ext, 0x80)
		}
	}
	return false
}

var utf8Cases = []struct {
	name     string
	in       string
	valid    bool // utf8.Valid of the whole: Write && Complete
	validPfx bool // a prefix of valid UTF-8: what Write alone returns
}{
	{"empty", "", true, true},
	{"ascii", "Hello, world", true, true},
	{"kosme", "κόσμε", true, true},
	{"U+0000", "\x00", true, true},
	{"U+007F", "\x7f", true, true},
	{"U+0080", "\xc2\x80", true, true},
	{"U+07FF", "\xdf\xbf", true, true},
	{"U+0800", "\xe0\xa0\x80", true, true},
	{"U+D7FF", "\xed\x9f\xbf", true, true},
	{"U+E000", "\xee\x80\x80", true, true},
	{"U+FFFD", "\xef\xbf\xbd", true, true},
	{"U+FFFF", "\xef\xbf\xbf", true, true},
	{"U+10000", "\xf0\x90\x80\x80", true, true},
	{"U+10FFFF", "\xf4\x8f\xbf\xbf", true, true},
	{"mixed", "a€b𝄞c\u00e9\U0001F600z", true, true},

	// RFC 3629 §3: overlong encodings are invalid.
	{"overlong 2-byte C0", "\xc0\x80", false, false},
	{"overlong 2-byte C1", "\xc1\xbf", false, false},
	{"overlong 3-byte", "\xe0\x80\x80", false, false},
	{"overlong 3-byte max", "\xe0\x9f\xbf", false, false},
	{"overlong 4-byte", "\xf0\x80\x80\x80", false, false},
	{"overlong 4-byte max", "\xf0\x8f\xbf\xbf", false, false},
	// RFC 3629 §3: the surrogates U+D800..U+DFFF are invalid.
	{"surrogate D800", "\xed\xa0\x80", false, false},
	{"surrogate DFFF", "\xed\xbf\xbf", false, false},
	{"surrogate pair", "\xed\xa0\x80\xed\xb0\x80", false, false},
	// RFC 3629 §3: nothing above U+10FFFF.
	{"U+110000", "\xf4\x90\x80\x80", false, false},
	{"lead F5", "\xf5\x80\x80\x80", false, false},
	{"lead F8", "\xf8\x88\x80\x80\x80", false, false},
	{"lead FE", "\xfe", false, false},
	{"lead FF", "\xff", false, false},
	// Stray and missing continuation bytes.
	{"lone continuation", "\x80", false, false},
	{"continuation after ascii", "a\xbf", false, false},
	{"too many continuations", "\xc2\x80\x80", false, false},
	{"lead then ascii", "\xc2A", false, false},
	{"3-byte lead then ascii", "\xe2\x82A", false, false},
	{"lead then lead", "\xe2\xe2\x82\xac", false, false},
	// Truncated: a valid prefix that is not a whole stream.
	{"truncated 2-byte", "\xc2", false, true},
	{"truncated 3-byte", "\xe2\x82", false, true},
	{"truncated 3-byte lead only", "ab\xe0", false, true},
	{"truncated 4-byte", "\xf0\x9f\x98", false, true},
	{"truncated 4-byte F4", "\xf4\x8f\xbf", false, true},
	{"kosme truncated", "κόσμ\xce", false, true},
}

func TestUTF8ValidatorTable(t *testing.T) {
	for _, tc := range utf8Cases {
		t.Run(tc.name, func(t *testing.T) {
			// The table itself must agree with the standard library and the prefix reference.
			require.Equal(t, utf8.Valid([]byte(tc.in)), tc.valid, "table entry disagrees with utf8.Valid")
			require.Equal(t, validPrefixRef([]byte(tc.in)), tc.validPfx, "table entry disagrees with the prefix reference")

			var v UTF8Validator
			require.Equal(t, tc.validPfx, v.Write([]byte(tc.in)))
			require.Equal(t, tc.valid, v.Complete())
		})
	}
}

// checkUTF8Pieces feeds pieces to a fresh validator and checks, after each piece, that Write returns exactly whether
// everything fed so far is still a valid prefix (fail-fast, and never a false alarm), and that the final answer
// matches utf8.Valid on the whole.
func checkUTF8Pieces(t *testing.T, pieces [][]byte) {
	t.Helper()
	var v UTF8Validator
	var fed []byte
	ok := true
	for i, p := range pieces {
		fed = append(fed, p...)
		got := v.Write(p)
		require.Equal(t, validPrefixRef(fed), got, "piece %d of %q", i, pieces)
		ok = ok && got
	}
	require.Equal(t, utf8.Valid(fed), ok && v.Complete(), "pieces %q", pieces)
}

func TestUTF8ValidatorEverySplit(t *testing.T) {
	inputs := make([]string, 0, len(utf8Cases)+4)
	for _, tc := range utf8Cases {
		inputs = append(inputs, tc.in)
	}
	inputs = append(inputs,
		"κόσμε\xf4\x90\x80\x80edited",
		"0123456789abcdef€0123456789abcdef", // non-ASCII past the 8-byte fast path
		"0123456789abcdef\xed\xa0\x80xyz",
		"\xf0\x9f\x98\x80\xf0\x9f\x98\x81\xe2\x82\xac\xc2\xa9",
	)
	for _, in := range inputs {
		b := []byte(in)
		for i := 0; i <= len(b); i++ {
			checkUTF8Pieces(t, [][]byte{b[:i], b[i:]})
			for j := i; j <= len(b); j++ {
				checkUTF8Pieces(t, [][]byte{b[:i], b[i:j], b[j:]})
			}
		}
	}
}

func TestUTF8ValidatorRandomPieces(t *testing.T) {
	// Random mixes of valid runes, ASCII runs and the odd bad byte, cut into random pieces.
	rng := rand.New(rand.NewPCG(7, 8))
	atoms := []string{"a", "hello world ", "é", "€", "𝄞", "\U0010FFFF", "\ud7ff", "\ue000",
		"\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80", "\x80", "\xff", "\xe2\x82"}
	for range 2000 {
		var sb strings.Builder
		for range rng.IntN(30) {
			a := atoms[rng.IntN(len(atoms))]
			if rng.IntN(4) > 0 {
				a = atoms[rng.IntN(8)] // mostly valid, so failures happen late as well as early
			}
			sb.WriteString(a)
		}
		b := []byte(sb.String())
		var pieces [][]byte
		for rest := b; len(rest) > 0; {
			n := min(len(rest), rng.IntN(20))
			pieces = append(pieces, rest[:n])
			rest = rest[n:]
		}
		checkUTF8Pieces(t, pieces)
	}
}

func TestUTF8ValidatorFailsFast(t *testing.T) {
	t.Run("surrogate lead and second byte in separate pieces", func(t *testing.T) {
		// 0xED 0xA0 can only begin a surrogate, so the piece holding 0xA0 fails without waiting for the third byte.
		var v UTF8Validator
		require.True(t, v.Write([]byte("ok\xed")))
		require.False(t, v.Write([]byte("\xa0")))
	})
	t.Run("surrogate prefix at the end of a piece", func(t *testing.T) {
		var v UTF8Validator
		require.False(t, v.Write([]byte("ok\xed\xa0")))
	})
	t.Run("overlong prefix at the end of a piece", func(t *testing.T) {
		var v UTF8Validator
		require.False(t, v.Write([]byte("ok\xe0\x9f")))
	})
	t.Run("above U+10FFFF prefix", func(t *testing.T) {
		var v UTF8Validator
		require.True(t, v.Write([]byte("\xf4")))
		require.False(t, v.Write([]byte("\x90")))
	})
	t.Run("invalid lead alone", func(t *testing.T) {
		for _, c := range []byte{0xc0, 0xc1, 0xf5, 0xf8, 0xfe, 0xff} {
			var v UTF8Validator
			require.False(t, v.Write([]byte{'x', c}), "lead %#x", c)
		}
	})
	t.Run("bad byte deep in a large ASCII piece", func(t *testing.T) {
		b := []byte(strings.Repeat("a", 1000) + "\xff" + strings.Repeat("b", 1000))
		var v UTF8Validator
		require.False(t, v.Write(b))
	})
}

func TestUTF8ValidatorAutobahnKosme(t *testing.T) {
	// Autobahn 6.4.x: "κόσμε" followed by F4 90 80 80 (above U+10FFFF) and "edited", in various fragmentations.
	// The connection must fail at the fragment holding 0x90, not at the end of the message.
	kosme := "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"
	cases := []struct {
		pieces []string
		want   []bool
	}{
		{[]string{kosme, "\xf4\x90\x80\x80", "edited"}, []bool{true, false, false}},
		{[]string{kosme + "\xf4", "\x90\x80\x80edited"}, []bool{true, false}},
		{[]string{kosme + "\xf4", "\x90", "\x80\x80edited"}, []bool{true, false, false}},
	}
	for _, tc := range cases {
		var v UTF8Validator
		for i, p := range tc.pieces {
			require.Equal(t, tc.want[i], v.Write([]byte(p)), "piece %d of %q", i, tc.pieces)
		}
		require.False(t, v.Complete())
	}

	// Byte by byte: every byte up to F4 is accepted, the 0x90 is refused.
	msg := []byte(kosme + "\xf4\x90\x80\x80edited")
	var v UTF8Validator
	for i, c := range msg {
		require.Equal(t, i < len(kosme)+1, v.Write([]byte{c}), "byte %d (%#x)", i, c)
	}
}

func TestUTF8ValidatorStickyAndReset(t *testing.T) {
	var v UTF8Validator
	require.False(t, v.Write([]byte{0xff}))
	require.False(t, v.Write([]byte("valid ascii")), "failure must be sticky")
	require.False(t, v.Write(nil))
	require.False(t, v.Complete())

	v.Reset()
	require.True(t, v.Complete(), "a reset validator is at the start of an empty, valid stream")
	require.True(t, v.Write([]byte("€")))
	require.True(t, v.Complete())

	// Reset also drops a pending sequence.
	require.True(t, v.Write([]byte{0xe2, 0x82}))
	require.False(t, v.Complete())
	v.Reset()
	require.True(t, v.Complete())
	require.False(t, v.Write([]byte{0xac}), "a continuation byte cannot start a stream")
}

func TestUTF8ValidatorPendingAcrossEmptyPieces(t *testing.T) {
	var v UTF8Validator
	require.True(t, v.Write([]byte{0xf0}))
	require.True(t, v.Write(nil))
	require.True(t, v.Write([]byte{0x9f}))
	require.True(t, v.Write([]byte{}))
	require.True(t, v.Write([]byte{0x98}))
	require.False(t, v.Complete())
	require.True(t, v.Write([]byte{0x80, 'x'}))
	require.True(t, v.Complete())
}

func TestUTF8ValidatorDoesNotAllocate(t *testing.T) {
	b := []byte(strings.Repeat("héllo wörld € 𝄞 ", 20))
	var v UTF8Validator
	allocs := testing.AllocsPerRun(100, func() {
		v.Reset()
		v.Write(b[:7])
		v.Write(b[7:])
		v.Complete()
	})
	require.Zero(t, allocs)
}

// utf8MixedText returns n bytes of valid UTF-8 that mixes ASCII with 2-, 3- and 4-byte sequences, as chat and
// JSON text in many languages does.
func utf8MixedText(n int) []byte {
	const sample = "Hello, κόσμε! Привет, 世界 🌍 — naïve café ✓ "
	b := make([]byte, 0, n+utf8.UTFMax)
	for len(b) < n {
		for _, r := range sample {
			if len(b)+utf8.RuneLen(r) > n {
				break
			}
			b = utf8.AppendRune(b, r)
		}
		if len(b)+utf8.UTFMax > n {
			for len(b) < n {
				b = append(b, ' ')
			}
		}
	}
	return b
}

func TestUTF8MixedTextIsValid(t *testing.T) {
	for _, n := range []int{64, 4 << 10, 1 << 20} {
		b := utf8MixedText(n)
		require.Len(t, b, n)
		require.True(t, utf8.Valid(b))
	}
}

func BenchmarkUTF8Validator(b *testing.B) {
	for _, kind := range []string{"ascii", "mixed"} {
		for _, size := range []int{64, 4 << 10, 1 << 20} {
			var data []byte
			if kind == "ascii" {
				data = []byte(strings.Repeat("The quick brown fox jumps over the lazy dog. ", size/45+1)[:size])
			} else {
				data = utf8MixedText(size)
			}
			b.Run(fmt.Sprintf("%s/%d", kind, size), func(b *testing.B) {
				var v UTF8Validator
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					v.Reset()
					if !v.Write(data) || !v.Complete() {
						b.Fatal("valid text rejected")
					}
				}
			})
		}
	}
}
