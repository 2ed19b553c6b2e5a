package bench

import (
	"testing"
	"unicode/utf8"

	"github.com/plainws/plainws/ws"
)

var sinkBool bool

// BenchmarkUTF8 compares the streaming validator the Conn uses on text
// (ws.UTF8Validator, fed in pieces as reads and fragments arrive) with the
// standard library's utf8.Valid over the whole message, on the large
// workload's text (LargeText) and on pure ASCII.
func BenchmarkUTF8(b *testing.B) {
	const size = 1 << 20
	texts := []struct {
		name string
		p    []byte
	}{
		{"text", LargeText(size)},
		{"ascii", Payload(size)},
	}
	for _, tx := range texts {
		b.Run(tx.name+"/utf8.Valid", func(b *testing.B) {
			b.SetBytes(size)
			for range b.N {
				sinkBool = utf8.Valid(tx.p)
			}
		})
		for _, piece := range []int{size, 4 << 10, 256} {
			b.Run(tx.name+"/validator-"+sizeName(piece), func(b *testing.B) {
				b.SetBytes(size)
				var v ws.UTF8Validator
				for range b.N {
					v.Reset()
					ok := true
					for p := tx.p; len(p) > 0; p = p[min(piece, len(p)):] {
						ok = v.Write(p[:min(piece, len(p))]) && ok
					}
					sinkBool = ok && v.Complete()
				}
			})
		}
	}
}
