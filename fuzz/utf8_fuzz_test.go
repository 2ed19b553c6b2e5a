package fuzz

import (
	"sort"
	"testing"
	"unicode/utf8"

	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/require"
)

// isValidPrefix reports whether b is a prefix of some valid UTF-8 text: it is valid as it stands, or appending
// 1..3 bytes (a second byte from {80, 90, A0}, which covers the narrowed ranges after E0, ED, F0 and F4, then
// 80s) makes it valid. It depends on unicode/utf8.Valid only, not on the code under test.
func isValidPrefix(b []byte) bool {
	if utf8.Valid(b) {
		return true
	}
	ext := make([]byte, len(b), len(b)+3)
	copy(ext, b)
	for _, second := range []byte{0x80, 0x90, 0xA0} {
		e := append(ext[:len(b)], second)
		for range 3 {
			if utf8.Valid(e) {
				return true
			}
			e = append(e, 0x80)
		}
	}
	return false
}

// FuzzUTF8Validator feeds data to a ws.UTF8Validator in pieces whose sizes come from splits, and checks that
// every Write answers exactly whether the stream fed so far can still become valid UTF-8 (RFC 6455 §8.1: fail
// at the first invalid byte, never on a valid prefix), and that the final verdict, every Write true and
// Complete, equals utf8.Valid on the whole.
func FuzzUTF8Validator(f *testing.F) {
	f.Add([]byte("κόσμε"), []byte{3})
	f.Add([]byte("κόσμε\xf4\x90\x80\x80edited"), []byte{11, 1, 1})
	f.Add([]byte("ok\xed\xa0\x80"), []byte{3, 1})
	f.Add([]byte("\xf0\x9f\x98\x80 done"), []byte{1, 1, 1, 1})
	f.Add([]byte("abc\xe2\x82"), []byte{})

	f.Fuzz(func(t *testing.T, data []byte, splits []byte) {
		// Being a valid prefix is inherited by shorter prefixes, so one binary search finds the shortest prefix
		// that is not one; every Write that has fed fewer bytes must succeed and every later one must fail.
		firstBad := sort.Search(len(data)+1, func(k int) bool { return !isValidPrefix(data[:k]) })

		var v ws.UTF8Validator
		rest := data
		fed := 0
		allOK := true
		feed := func(n int) {
			got := v.Write(rest[:n])
			rest = rest[n:]
			fed += n
			if want := fed < firstBad; got != want {
				t.Fatalf("Write after %d of %d bytes returned %v, want %v (first invalid prefix: %d bytes)",
					fed, len(data), got, want, firstBad)
			}
			allOK = allOK && got
		}
		for _, s := range splits {
			feed(min(int(s), len(rest)))
		}
		feed(len(rest))
		require.Equal(t, utf8.Valid(data), allOK && v.Complete())
	})
}
