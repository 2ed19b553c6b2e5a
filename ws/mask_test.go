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
	for _, size := range []int{8, 64, 512, 4096, 65536, 1 << 20} {
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
