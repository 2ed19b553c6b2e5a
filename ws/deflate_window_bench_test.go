//go:build !js

package ws

import (
	"compress/flate"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// textMessage is n bytes of English-like prose: words of a small
// vocabulary in random order, the kind of text a chat or a log carries.
func textMessage(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	words := strings.Fields("the of and to in is was that for it with as his on be at by had are but from or have an they which one you were all her she there would their we him been has when who will no more if out so said what up its about than into them can only other time new some could these two may first then do any like my now over such our man me even most made after also did many before must through back years where much your way well down should because each just those people how too little state good very make world still own see men work long here get both between life being under never day same another know while last might us great old year off come since against go came right used take three")
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(words[rng.IntN(len(words))])
		if rng.IntN(12) == 0 {
			b.WriteString(". ")
		} else {
			b.WriteByte(' ')
		}
	}
	return []byte(b.String()[:n])
}

// windowWorkloads are the message streams the window scheme is measured on.
func windowWorkloads() []struct {
	name string
	msgs [][]byte
} {
	return []struct {
		name string
		msgs [][]byte
	}{
		{"json300B", jsonMessages(256, 300)},
		{"json1KiB", jsonMessages(256, 1<<10)},
		{"json5KiB", jsonMessages(64, 5<<10)},
		{"text1MiB", [][]byte{textMessage(1, 1<<20), textMessage(2, 1<<20)}},
	}
}

// BenchmarkDeflateWindowRatio measures the windowed scheme
// (deflate_window.go) against Huffman-only output, the other way to honour
// a window below 15 bits: for each window, with and without context
// takeover, on each workload. wire/raw is the compression ratio.
func BenchmarkDeflateWindowRatio(b *testing.B) {
	for _, wl := range windowWorkloads() {
		for _, bits := range []int{8, 9, 10, 11, 12, 13, 14, 15} {
			for _, takeover := range []bool{true, false} {
				for _, huff := range []bool{false, true} {
					if huff && (bits != 15 || !takeover) {
						continue
					}
					name := fmt.Sprintf("%s/bits=%d/takeover=%v", wl.name, bits, takeover)
					level := flate.BestSpeed
					if huff {
						name = fmt.Sprintf("%s/huffman-only", wl.name)
						level = flate.HuffmanOnly
					}
					b.Run(name, func(b *testing.B) {
						p := deflateParams{serverNoContextTakeover: !takeover, serverMaxWindowBits: bits}
						nc := &benchConn{}
						c := NewConn(nc, nil, RoleServer, "", nil)
						c.compression = newDeflateState(&CompressionOptions{Level: level}, p, RoleServer)
						var raw int64
						b.SetBytes(int64(len(wl.msgs[0])))
						b.ReportAllocs()
						for i := 0; b.Loop(); i++ {
							m := wl.msgs[i%len(wl.msgs)]
							raw += int64(len(m))
							if err := c.WriteMessage(OpText, m); err != nil {
								b.Fatal(err)
							}
						}
						b.ReportMetric(float64(nc.written)/float64(raw), "wire/raw")
					})
				}
			}
		}
	}
}

// BenchmarkDeflateRebuild measures what IdleRelease costs the message after
// a pause: a 1 KiB JSON message under context takeover with the compressor
// kept (kept) and with it given back before every message (rebuilt: taken
// from the pool and primed with the 32 KiB history, as after an idle
// period), at levels 1 and 6.
func BenchmarkDeflateRebuild(b *testing.B) {
	msgs := jsonMessages(256, 1<<10)
	for _, level := range []int{flate.BestSpeed, flate.DefaultCompression} {
		for _, rebuild := range []bool{false, true} {
			name := fmt.Sprintf("level=%d/kept", level)
			if rebuild {
				name = fmt.Sprintf("level=%d/rebuilt", level)
			}
			b.Run(name, func(b *testing.B) {
				nc := &benchConn{}
				c := NewConn(nc, nil, RoleServer, "", nil)
				c.compression = newDeflateState(&CompressionOptions{Level: level, IdleRelease: -1}, deflateParams{}, RoleServer)
				for _, m := range msgs[:64] { // a full 32 KiB history
					if err := c.WriteMessage(OpText, m); err != nil {
						b.Fatal(err)
					}
				}
				b.SetBytes(1 << 10)
				b.ReportAllocs()
				var raw int64
				w0 := nc.written
				for i := 0; b.Loop(); i++ {
					if d := c.compression; rebuild && d.own != nil {
						putWriter(d.level, d.own)
						d.own = nil
					}
					m := msgs[i%len(msgs)]
					raw += int64(len(m))
					if err := c.WriteMessage(OpText, m); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(nc.written-w0)/float64(raw), "wire/raw")
			})
		}
	}
}
