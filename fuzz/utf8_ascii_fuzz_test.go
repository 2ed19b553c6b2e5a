package fuzz

import (
	"sort"
	"testing"
	"unicode/utf8"

	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/require"
)

// FuzzUTF8ValidatorASCIIRuns drives the validator's ASCII fast path (whole words of ASCII skipped at a time,
// resumed after every multi-byte character): the fuzzer's bytes are spread out between runs of ASCII whose
// lengths come from runs, so that every non-ASCII byte, valid or not, lands at every offset within a word and
// at every distance from the end of a piece. As in FuzzUTF8Validator, every Write must answer exactly whether
// the stream so far can still become valid UTF-8 (RFC 6455 §8.1), and the verdict must equal utf8.Valid.
func FuzzUTF8ValidatorASCIIRuns(f *testing.F) {
	f.Add([]byte("é€😀"), []byte{7, 0, 33}, []byte{40, 9})
	f.Add([]byte("\xed\xa0\x80"), []byte{15, 1}, []byte{16, 16})
	f.Add([]byte("\xf0\x9f\x98"), []byte{31}, []byte{32, 1, 1})
	f.Add([]byte("\xc2\xa9\xff"), []byte{8, 8, 8}, []byte{})
	f.Add([]byte("語\x80"), []byte{63, 2}, []byte{64, 3})

	f.Fuzz(func(t *testing.T, data, runs, splits []byte) {
		var stream []byte
		for i, c := range data {
			if len(runs) > 0 {
				for k := range int(runs[i%len(runs)]) % 70 {
					stream = append(stream, 'A'+byte(k%26))
				}
			}
			stream = append(stream, c)
		}
		if len(runs) > 0 {
			for range int(runs[len(runs)-1]) % 70 {
				stream = append(stream, 'z')
			}
		}
		firstBad := sort.Search(len(stream)+1, func(k int) bool { return !isValidPrefix(stream[:k]) })
		var v ws.UTF8Validator
		rest, fed, allOK := stream, 0, true
		feed := func(n int) {
			got := v.Write(rest[:n])
			rest = rest[n:]
			fed += n
			if want := fed < firstBad; got != want {
				t.Fatalf("Write after %d of %d bytes returned %v, want %v (first invalid prefix: %d bytes)",
					fed, len(stream), got, want, firstBad)
			}
			allOK = allOK && got
		}
		for _, s := range splits {
			feed(min(int(s), len(rest)))
		}
		feed(len(rest))
		require.Equal(t, utf8.Valid(stream), allOK && v.Complete())
	})
}
