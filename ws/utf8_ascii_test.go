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

// TestUTF8ValidatorRunsBetweenCharacters covers how Write skips ASCII after a multi-byte character (its own test
// of the next 32 bytes, then asciiRun, 16 bytes per test): a second sequence, valid or not, at every distance up to
// 70 bytes after a first character, so that it falls in either half of both 32-byte steps and in the word-by-word
// tail, with the stream cut anywhere.
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

// TestUTF8ValidatorEveryLeadWord holds Write's one-branch check of a character (a 32-bit word and its utf8Seqs
// entry) to utf8.Valid for every non-ASCII first byte and every second byte, with the third and fourth bytes
// below, inside and above the continuation range 80..BF (RFC 3629 §4). That includes the bytes that start no
// sequence, whose entries must fail every word. ASCII around the word puts it on the path after asciiPrefix
// and a character after it on the path after a run.
func TestUTF8ValidatorEveryLeadWord(t *testing.T) {
	tails := []byte{0x41, 0x7F, 0x80, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF}
	p := []byte("ab\x00\x00\x00\x00" + strings.Repeat("c", 20) + "é" + strings.Repeat("d", 40))
	for lead := 0x80; lead <= 0xFF; lead++ {
		for second := range 256 {
			for _, third := range tails {
				for _, fourth := range tails {
					p[2], p[3], p[4], p[5] = byte(lead), byte(second), third, fourth
					var v UTF8Validator
					if got, want := v.Write(p) && v.Complete(), utf8.Valid(p); got != want {
						require.Equal(t, want, got, "% x", p[2:6])
					}
				}
			}
		}
	}
}
