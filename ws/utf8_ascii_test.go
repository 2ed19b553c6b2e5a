package ws

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// TestUTF8ValidatorASCIIOffsets puts valid and invalid sequences at every offset of the ASCII fast path's
// words (8 bytes) and steps (32 bytes), before and after ASCII runs of every length up to 40, and checks the
// validator agrees with utf8.Valid whole and cut into two pieces anywhere (RFC 6455 §8.1, RFC 3629 §3).
func TestUTF8ValidatorASCIIOffsets(t *testing.T) {
	seqs := []string{
		"é", "€", "😀", "\U0010FFFF", "\uFFFD",
		"\xed\xa0\x80", "\xe0\x80\xaf", "\xf4\x90\x80\x80", "\xf0\x8f\xbf\xbf", "\xc0\xaf", "\x80", "\xff",
		"\xe2\x82", "\xf0\x9f\x98", "\xc3",
	}
	for _, seq := range seqs {
		for before := 0; before <= 40; before++ {
			for _, after := range []int{0, 1, 7, 8, 9, 31, 33} {
				p := append(append(bytes.Repeat([]byte("a"), before), seq...), bytes.Repeat([]byte("b"), after)...)
				want := utf8.Valid(p)
				for cut := 0; cut <= len(p); cut++ {
					var v UTF8Validator
					got := v.Write(p[:cut])
					got = v.Write(p[cut:]) && got
					require.Equal(t, want, got && v.Complete(), "%q at %d, %d after, cut at %d", seq, before, after, cut)
				}
			}
		}
	}
}

// TestUTF8ValidatorRunsBetweenCharacters covers the skipper Write uses after a multi-byte character (asciiRun,
// 16 bytes per test): a second sequence, valid or not, at every distance up to 70 bytes after a first character,
// so that it falls in either half of a 32-byte step and in the word-by-word tail, with the stream cut anywhere.
func TestUTF8ValidatorRunsBetweenCharacters(t *testing.T) {
	seqs := []string{"é", "€", "😀", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf", "\x80", "\xff", "\xe2\x82"}
	for _, first := range []string{"ß", "語", "😀"} {
		for _, seq := range seqs {
			for gap := 0; gap <= 70; gap++ {
				p := []byte(first + strings.Repeat("x", gap) + seq + strings.Repeat("y", 5))
				want := utf8.Valid(p)
				for cut := 0; cut <= len(p); cut += 3 {
					var v UTF8Validator
					got := v.Write(p[:cut])
					got = v.Write(p[cut:]) && got
					require.Equal(t, want, got && v.Complete(), "%q, %d bytes, %q, cut at %d", first, gap, seq, cut)
				}
			}
		}
	}
}
