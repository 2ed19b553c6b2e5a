//go:build !js

package ws

import (
	"math/bits"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMaskKeySourceZeroValueIsLazy(t *testing.T) {
	var s maskKeySource
	require.Nil(t, s.st, "an unused source must not allocate its generator")
	s.next()
	require.NotNil(t, s.st, "the generator is created on first use")
}

func TestMaskKeySourceKeysAreFresh(t *testing.T) {
	// RFC 6455 §5.3: a fresh, unpredictable key for every frame.
	const n = 1000
	var s maskKeySource
	seen := make(map[uint32]int, n)
	var ones [32]int
	dups := 0
	for range n {
		k := s.next()
		if seen[k] > 0 {
			dups++
		}
		seen[k]++
		for bit := range 32 {
			ones[bit] += int(k >> bit & 1)
		}
	}
	// Among 1000 uniform 32-bit values a repeat has probability ~1.2e-4 and two repeats ~1e-8; a constant key, a
	// short cycle or a half-filled word produces hundreds.
	require.LessOrEqual(t, dups, 1, "masking keys repeat")
	// Every bit of the key must vary: each is set in about half the keys (binomial, σ ≈ 16; the bounds are 6σ).
	for bit, c := range ones {
		require.InDelta(t, n/2, c, 100, "key bit %d is set in %d of %d keys", bit, c, n)
	}
}

func TestMaskKeySourceConsecutiveKeysDiffer(t *testing.T) {
	// Keys are handed out in halves of one 64-bit output; neither half may repeat the other or a constant.
	var s maskKeySource
	same := 0
	prev := s.next()
	for range 1000 {
		k := s.next()
		if k == prev {
			same++
		}
		prev = k
	}
	require.Zero(t, same, "a key equal to the previous one") // probability ~2.3e-7 for a correct source
}

func TestMaskKeySourcesAreIndependent(t *testing.T) {
	// Each connection seeds its own generator from crypto/rand, so one connection's keys say nothing about
	// another's (RFC 6455 §5.3, §10.3).
	var a, b maskKeySource
	var sa, sb [16]uint32
	for i := range sa {
		sa[i] = a.next()
		sb[i] = b.next()
	}
	require.NotEqual(t, sa, sb)
	differing := 0
	for i := range sa {
		differing += bits.OnesCount32(sa[i] ^ sb[i])
	}
	// 512 bits compared; independent streams differ in about half of them (σ ≈ 11).
	require.InDelta(t, 256, differing, 80)
}

func TestMaskKeySourceDoesNotAllocateAfterWarmUp(t *testing.T) {
	var s maskKeySource
	s.next()
	allocs := testing.AllocsPerRun(1000, func() { s.next() })
	require.Zero(t, allocs)
}

func BenchmarkMaskKey(b *testing.B) {
	var s maskKeySource
	s.next() // warm up: the generator is allocated and seeded on first use
	var sink uint32
	b.ReportAllocs()
	for b.Loop() {
		sink ^= s.next()
	}
	_ = sink
}
