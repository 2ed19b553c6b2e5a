package fuzz

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/require"
)

// maskRef is RFC 6455 §5.3 taken literally: octet i XOR masking-key octet i MOD 4, with the key octets in wire
// order. It returns the key word a continuing call must use: the key octets starting at octet len(b) MOD 4.
func maskRef(b []byte, key [4]byte) uint32 {
	for i := range b {
		b[i] ^= key[i%4]
	}
	n := len(b)
	return ws.MaskKeyWord([4]byte{key[n%4], key[(n+1)%4], key[(n+2)%4], key[(n+3)%4]})
}

// FuzzMask checks that masking in two calls, carrying the returned key from the first into the second, gives
// the byte-at-a-time reference result, and that masking twice restores the input (§5.3: one algorithm both
// masks and unmasks).
func FuzzMask(f *testing.F) {
	f.Add([]byte("Hello"), uint32(0x3d21fa37), uint(2))
	f.Add([]byte{}, uint32(0), uint(0))
	f.Add(bytes.Repeat([]byte{0xAA}, 131), uint32(0xdeadbeef), uint(67))

	f.Fuzz(func(t *testing.T, data []byte, key uint32, split uint) {
		var keyBytes [4]byte
		binary.LittleEndian.PutUint32(keyBytes[:], key)
		require.Equal(t, key, ws.MaskKeyWord(keyBytes))

		at := 0
		if len(data) > 0 {
			at = int(split % uint(len(data)))
		}

		want := bytes.Clone(data)
		wantKey := maskRef(want, keyBytes)

		got := bytes.Clone(data)
		k := ws.Mask(got[:at], key)
		k = ws.Mask(got[at:], k)
		require.Equal(t, want, got, "split at %d of %d", at, len(data))
		require.Equal(t, wantKey, k, "key after %d bytes", len(data))

		ws.Mask(got, key)
		require.Equal(t, data, got, "masking twice must restore the input")
	})
}
