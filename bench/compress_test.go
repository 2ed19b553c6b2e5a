package bench

import (
	"testing"

	"github.com/plainws/plainws/ws"
)

// BenchmarkCompressedIdle measures what an idle compressed connection
// holds (see MeasureCompressedIdle), for plainws's compression modes and
// without compression as the baseline. Run it with -benchtime=1x.
func BenchmarkCompressedIdle(b *testing.B) {
	for _, mode := range []struct {
		name string
		opts *ws.CompressionOptions
	}{
		{"none", nil},
		{"takeover", &ws.CompressionOptions{}},
		{"takeover-keep", &ws.CompressionOptions{IdleRelease: -1}},
		{"no-takeover", &ws.CompressionOptions{ServerNoContextTakeover: true, ClientNoContextTakeover: true}},
		{"takeover-11bits", &ws.CompressionOptions{ServerMaxWindowBits: 11, ClientMaxWindowBits: 11}},
	} {
		b.Run("plainws/"+mode.name, func(b *testing.B) { MeasureCompressedIdle(b, PlainwsCompressed(mode.opts)) })
	}
}
