package bench

import (
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plainws/plainws/ws"
)

// TestLargeText checks the text of the large workload is what its rows
// claim: exactly n bytes of valid UTF-8, deterministic, mostly ASCII with
// multi-byte characters of every length.
func TestLargeText(t *testing.T) {
	for _, n := range []int{0, 1, 3, 255, 64 << 10, 1 << 20} {
		p := LargeText(n)
		require.Len(t, p, n)
		require.True(t, utf8.Valid(p), "size %d", n)
		assert.Equal(t, p, LargeText(n), "size %d: not deterministic", n)
	}
	p := LargeText(1 << 20)
	lens := map[int]int{}
	for i := 0; i < len(p); {
		_, size := utf8.DecodeRune(p[i:])
		lens[size]++
		i += size
	}
	for size := 1; size <= 4; size++ {
		assert.Positive(t, lens[size], "no %d-byte characters", size)
	}
	nonASCII := len(p) - lens[1]
	assert.Less(t, nonASCII, len(p)/10, "mostly ASCII")
	assert.Greater(t, nonASCII, len(p)/100, "some multi-byte text")
}

// TestCheckEcho checks the echo check rejects the wrong type, length and
// invalid text, and trusts a library that validated.
func TestCheckEcho(t *testing.T) {
	text := LargeText(100)
	require.NoError(t, CheckEcho(ws.OpText, ws.OpText, 100, text, false))
	require.Error(t, CheckEcho(ws.OpText, ws.OpBinary, 100, text, false))
	require.Error(t, CheckEcho(ws.OpText, ws.OpText, 100, text[:99], false))
	bad := append([]byte(nil), text...)
	bad[50] = 0xFF
	require.Error(t, CheckEcho(ws.OpText, ws.OpText, 100, bad, false))
	require.NoError(t, CheckEcho(ws.OpBinary, ws.OpBinary, 100, bad, false))
}

// TestLargeEchoFragments runs one fragmented text echo through plainws,
// 256-byte pieces cutting through multi-byte characters both ways.
func TestLargeEchoFragments(t *testing.T) {
	res := testing.Benchmark(func(b *testing.B) { LargeEcho(b, ws.OpText, 64<<10, 256) })
	require.Positive(t, res.N)
}
