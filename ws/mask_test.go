//go:build !js

package ws

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// maskReference is RFC 6455 §5.3 written out literally: octet i is XORed with masking-key octet (pos+i) MOD 4,
// where pos is how many octets of the frame came before b.
func maskReference(b []byte, key [4]byte, pos int) {
	for i := range b {
		b[i] ^= key[(pos+i)%4]
	}
}

// maskKeyAt returns the word Mask should return after pos octets: the key bytes starting at octet pos MOD 4.
func maskKeyAt(key [4]byte, pos int) uint32 {
	var k [4]byte
	for j := range k {
		k[j] = key[(pos+j)%4]
	}
	return MaskKeyWord(k)
}

func TestMaskRFCExample(t *testing.T) {
	// RFC 6455 §5.7: "Hello" masked with key 37 fa 21 3d is 7f 9f 4d 51 58.
	key := MaskKeyWord([4]byte{0x37, 0xfa, 0x21, 0x3d})
	b := []byte("Hello")
	Mask(b, key)
	require.Equal(t, []byte{0x7f, 0x9f, 0x4d, 0x51, 0x58}, b)

	// §5.3: the same algorithm unmasks.
	Mask(b, key)
	require.Equal(t, []byte("Hello"), b)
}

func TestMaskKeyWordIsWireOrder(t *testing.T) {
	// The first wire byte masks payload octet 0, so it must be the word's lowest byte.
	require.Equal(t, uint32(0x3d21fa37), MaskKeyWord([4]byte{0x37, 0xfa, 0x21, 0x3d}))
	b := []byte{0, 0, 0, 0}
	Mask(b, MaskKeyWord([4]byte{1, 2, 3, 4}))
	require.Equal(t, []byte{1, 2, 3, 4}, b)
}

func TestMaskReturnsRotatedKey(t *testing.T) {
	key := [4]byte{0x11, 0x22, 0x33, 0x44}
	w := MaskKeyWord(key)
	for n := range 20 {
		got := Mask(make([]byte, n), w)
		require.Equal(t, maskKeyAt(key, n), got, "after %d bytes", n)
	}
	require.Equal(t, uint32(0x11443322), Mask(make([]byte, 1), 0x44332211))
	require.Equal(t, uint32(0x22114433), Mask(make([]byte, 2), 0x44332211))
	require.Equal(t, uint32(0x33221144), Mask(make([]byte, 3), 0x44332211))
	require.Equal(t, uint32(0x44332211), Mask(nil, 0x44332211))
}

func TestMaskMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const maxLen = 2000
	for iter := range 3000 {
		n := rng.IntN(maxLen + 1)
		if iter < 200 {
			n = iter // every small length, where the tail logic lives
		}
		off := rng.IntN(16) // odd and even alignments inside a larger buffer
		var key [4]byte
		binary.LittleEndian.PutUint32(key[:], rng.Uint32())

		buf := make([]byte, off+n+16)
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		want := bytes.Clone(buf)
		maskReference(want[off:off+n], key, 0)

		got := bytes.Clone(buf)
		next := Mask(got[off:off+n], MaskKeyWord(key))
		// Bytes outside the slice (before and after) must be untouched.
		require.Equal(t, want, got, "n=%d off=%d", n, off)
		require.Equal(t, maskKeyAt(key, n), next, "n=%d", n)
	}
}

func TestMaskSplitEqualsWhole(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 3000 {
		n := rng.IntN(2001)
		split := rng.IntN(n + 1)
		off := rng.IntN(8)
		key := rng.Uint32()
		buf := make([]byte, off+n)
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		whole := bytes.Clone(buf[off:])
		wantKey := Mask(whole, key)

		parts := bytes.Clone(buf[off:])
		k := Mask(parts[:split], key)
		k = Mask(parts[split:], k)
		require.Equal(t, whole, parts, "n=%d split=%d", n, split)
		require.Equal(t, wantKey, k, "n=%d split=%d", n, split)
	}
}

func TestMaskManyPiecesEqualsReference(t *testing.T) {
	// A streaming reader unmasks a frame in whatever pieces its reads return.
	rng := rand.New(rand.NewPCG(5, 6))
	for range 200 {
		n := rng.IntN(5000)
		var key [4]byte
		binary.LittleEndian.PutUint32(key[:], rng.Uint32())
		payload := make([]byte, n)
		for i := range payload {
			payload[i] = byte(rng.Uint32())
		}
		want := bytes.Clone(payload)
		maskReference(want, key, 0)

		k := MaskKeyWord(key)
		for rest := payload; len(rest) > 0; {
			m := min(len(rest), rng.IntN(100))
			k = Mask(rest[:m], k)
			rest = rest[m:]
		}
		require.Equal(t, want, payload)
		require.Equal(t, maskKeyAt(key, n), k)
	}
}

func TestMaskDoesNotAllocate(t *testing.T) {
	b := make([]byte, 1000)
	allocs := testing.AllocsPerRun(100, func() { Mask(b[3:], 0x01020304) })
	require.Zero(t, allocs)
}

func BenchmarkMask(b *testing.B) {
	for _, size := range []int{8, 16, 32, 64, 512, 4096, 65536, 1 << 20} {
		for _, off := range []int{0, 1} {
			name := fmt.Sprintf("size=%d/aligned", size)
			if off != 0 {
				name = fmt.Sprintf("size=%d/offset=%d", size, off)
			}
			b.Run(name, func(b *testing.B) {
				buf := make([]byte, size+off)[off:]
				key := uint32(0x3d21fa37)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					key = Mask(buf, key)
				}
			})
		}
	}
}

// maskCopy must agree with Mask (and so with the byte-at-a-time reference)
// for every length and split, and leave its source untouched.
func TestMaskCopyMatchesMask(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	for range 2000 {
		n := r.IntN(300)
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(r.Uint32())
		}
		orig := append([]byte(nil), src...)
		key := r.Uint32()
		want := append([]byte(nil), src...)
		wantKey := Mask(want, key)
		dst := make([]byte, n+3)
		split := 0
		if n > 0 {
			split = r.IntN(n + 1)
		}
		k := maskCopy(dst[:split], src[:split], key)
		k = maskCopy(dst[split:], src[split:], k)
		require.True(t, bytes.Equal(want, dst[:n]), "n=%d split=%d", n, split)
		require.Equal(t, wantKey, k)
		require.True(t, bytes.Equal(orig, src), "the source is never modified")
	}
}

// maskCopy must write exactly what RFC 6455 §5.3 makes of src, octet by
// octet from any key phase (the reference Mask is held to), for every length
// through several 64-byte blocks and the 8-byte and byte tails, at any
// alignment of source and destination; it must return the same rotated key,
// leave src untouched and write nothing past len(src) in dst.
func TestMaskCopyEveryLengthPhaseAndOffset(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 13))
	wire := [4]byte{0x8e, 0x01, 0x5c, 0xf3}
	const guard = 0xA5
	for n := 0; n <= 300; n++ {
		for phase := range 4 {
			key := maskKeyAt(wire, phase)
			for _, srcOff := range []int{0, 1, 3, 7} {
				for _, dstOff := range []int{0, 1, 5, 8} {
					srcBuf := make([]byte, srcOff+n)
					for i := range srcBuf {
						srcBuf[i] = byte(r.Uint32())
					}
					src := srcBuf[srcOff:]
					orig := bytes.Clone(src)

					want := bytes.Clone(src)
					maskReference(want, wire, phase)
					dstBuf := bytes.Repeat([]byte{guard}, dstOff+n+16)
					got := maskCopy(dstBuf[dstOff:], src, key)

					require.True(t, bytes.Equal(want, dstBuf[dstOff:dstOff+n]), "n=%d phase=%d src+%d dst+%d", n, phase, srcOff, dstOff)
					require.Equal(t, maskKeyAt(wire, phase+n), got, "n=%d phase=%d: returned key", n, phase)
					require.True(t, bytes.Equal(orig, src), "the source is never modified")
					require.Equal(t, dstOff, bytes.Count(dstBuf[:dstOff], []byte{guard}), "n=%d: a byte before dst written", n)
					require.Equal(t, 16, bytes.Count(dstBuf[dstOff+n:], []byte{guard}), "n=%d: a byte past len(src) written", n)
				}
			}
		}
	}
}

// maskCopy over a frame cut into pieces at every 64-byte block boundary and
// off it gives the same bytes as one call: the returned key carries the phase
// from one piece to the next, as writePooled relies on for 64 KiB pieces.
func TestMaskCopyPiecesEqualWhole(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	src := make([]byte, 4096+13)
	for i := range src {
		src[i] = byte(r.Uint32())
	}
	key := r.Uint32()
	whole := make([]byte, len(src))
	wantKey := maskCopy(whole, src, key)
	for _, piece := range []int{1, 3, 7, 8, 63, 64, 65, 127, 1000, 4096} {
		got := make([]byte, len(src))
		k := key
		for off := 0; off < len(src); off += piece {
			end := min(off+piece, len(src))
			k = maskCopy(got[off:end], src[off:end], k)
		}
		require.True(t, bytes.Equal(whole, got), "pieces of %d", piece)
		require.Equal(t, wantKey, k, "pieces of %d", piece)
	}
}

// maskImpl is one path of Mask and maskCopy that the differential tests
// hold to the portable reference; maskImpls (mask_amd64_test.go,
// mask_impls_test.go) lists those of this build. use switches to the path
// and returns the function that switches back.
type maskImpl struct {
	name string
	use  func() (restore func())
}

// maskDiffMaxLen is the longest buffer of the differential tests: every
// length up to it is tried, which covers every combination of the vector
// loops (128, 64, 32, 16 bytes), the alignment steps and the 8/4/2/1 tails.
const maskDiffMaxLen = 4096

// maskDiffOffsets are the start offsets tried for a length: all 32 residues
// modulo the 32-byte vector width up to a length past the alignment
// threshold and a few of each loop's iterations, a spread of them beyond.
func maskDiffOffsets(n int) []int {
	if n <= 700 {
		return []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31}
	}
	return []int{0, 1, 3, 8, 15, 17, 31}
}

// randomBytes returns n bytes from r.
func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// Mask on every path of this build (the assembly's, on amd64 and arm64) must
// do exactly what maskGeneric, the pure-Go reference, and RFC 6455 §5.3
// octet by octet do: for every length 0..4096, every key phase 0..3 and
// start offsets covering every alignment, the same bytes, the same returned
// key, and nothing written before or after the slice.
func TestMaskAsmMatchesGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 19))
	wire := [4]byte{0x6b, 0xd2, 0x07, 0x9e}
	const pad = 64 // room for the offsets before, and a guard after
	orig := randomBytes(r, pad+maskDiffMaxLen+pad)
	for _, impl := range maskImpls() {
		t.Run(impl.name, func(t *testing.T) {
			defer impl.use()()
			asm := make([]byte, len(orig))
			gen := make([]byte, len(orig))
			for phase := range 4 {
				key := maskKeyAt(wire, phase)
				// The reference result of every prefix of orig[off:], for each
				// offset: §5.3 works octet by octet, so a prefix of the
				// masked whole is the masked prefix.
				want := make(map[int][]byte)
				for n := 0; n <= maskDiffMaxLen; n++ {
					for _, off := range maskDiffOffsets(n) {
						w, ok := want[off]
						if !ok {
							w = bytes.Clone(orig[off : off+maskDiffMaxLen])
							maskReference(w, wire, phase)
							want[off] = w
						}
						end := off + n
						copy(asm, orig[:end+pad])
						copy(gen, orig[:end+pad])
						gotKey := Mask(asm[off:end], key)
						genKey := maskGeneric(gen[off:end], key)
						if !bytes.Equal(asm[off:end], w[:n]) || !bytes.Equal(gen[off:end], w[:n]) {
							require.Equal(t, w[:n], asm[off:end], "n=%d phase=%d off=%d: assembly", n, phase, off)
							require.Equal(t, w[:n], gen[off:end], "n=%d phase=%d off=%d: maskGeneric", n, phase, off)
						}
						require.True(t, bytes.Equal(orig[:off], asm[:off]) && bytes.Equal(orig[end:end+pad], asm[end:end+pad]),
							"n=%d phase=%d off=%d: a byte outside the slice was written", n, phase, off)
						require.Equal(t, maskKeyAt(wire, phase+n), gotKey, "n=%d phase=%d off=%d: returned key", n, phase, off)
						require.Equal(t, genKey, gotKey, "n=%d phase=%d: returned key", n, phase)
					}
				}
			}
		})
	}
}

// maskCopy on every path of this build must match maskCopyGeneric and §5.3
// for every length 0..4096 and key phase, at destination offsets covering
// every alignment (the assembly aligns its stores) paired with varying
// source offsets: the same bytes in dst, nothing written outside dst[:n],
// src untouched, the same returned key.
func TestMaskCopyAsmMatchesGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 29))
	wire := [4]byte{0xc1, 0x5a, 0x33, 0x80}
	const pad = 64
	orig := randomBytes(r, pad+maskDiffMaxLen+pad)
	guard := bytes.Repeat([]byte{0xA5}, pad+maskDiffMaxLen+pad)
	for _, impl := range maskImpls() {
		t.Run(impl.name, func(t *testing.T) {
			defer impl.use()()
			src := bytes.Clone(orig)
			asm := make([]byte, len(guard))
			gen := make([]byte, len(guard))
			for phase := range 4 {
				key := maskKeyAt(wire, phase)
				want := make(map[int][]byte) // by source offset, as in TestMaskAsmMatchesGeneric
				for n := 0; n <= maskDiffMaxLen; n++ {
					for _, dstOff := range maskDiffOffsets(n) {
						srcOff := (dstOff*7 + n) % 32
						w, ok := want[srcOff]
						if !ok {
							w = bytes.Clone(orig[srcOff : srcOff+maskDiffMaxLen])
							maskReference(w, wire, phase)
							want[srcOff] = w
						}
						end := dstOff + n
						copy(asm, guard[:end+pad])
						copy(gen, guard[:end+pad])
						gotKey := maskCopy(asm[dstOff:end+pad], src[srcOff:srcOff+n], key)
						genKey := maskCopyGeneric(gen[dstOff:end+pad], src[srcOff:srcOff+n], key)
						if !bytes.Equal(asm[dstOff:end], w[:n]) || !bytes.Equal(gen[dstOff:end], w[:n]) {
							require.Equal(t, w[:n], asm[dstOff:end], "n=%d phase=%d dst+%d src+%d: assembly", n, phase, dstOff, srcOff)
							require.Equal(t, w[:n], gen[dstOff:end], "n=%d phase=%d dst+%d src+%d: maskCopyGeneric", n, phase, dstOff, srcOff)
						}
						require.True(t, bytes.Equal(guard[:dstOff], asm[:dstOff]) && bytes.Equal(guard[end:end+pad], asm[end:end+pad]),
							"n=%d phase=%d dst+%d: a byte outside dst[:n] was written", n, phase, dstOff)
						require.Equal(t, maskKeyAt(wire, phase+n), gotKey, "n=%d phase=%d: returned key", n, phase)
						require.Equal(t, genKey, gotKey, "n=%d phase=%d: returned key", n, phase)
					}
				}
				require.True(t, bytes.Equal(orig, src), "phase %d: the source was modified", phase)
			}
		})
	}
}

// A destination shorter than the source is a programming error: maskCopy
// panics before the assembly can write past the end of dst.
func TestMaskCopyShortDstPanicsBeforeWriting(t *testing.T) {
	for _, impl := range maskImpls() {
		t.Run(impl.name, func(t *testing.T) {
			defer impl.use()()
			for _, n := range []int{1, 15, 64, 300} {
				buf := bytes.Repeat([]byte{0xA5}, n+8)
				require.Panics(t, func() { maskCopy(buf[:n-1], make([]byte, n), 0x01020304) }, "n=%d", n)
				require.Equal(t, bytes.Repeat([]byte{0xA5}, n+8), buf, "n=%d: nothing written", n)
			}
		})
	}
}
