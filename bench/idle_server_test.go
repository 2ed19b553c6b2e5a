package bench

import "testing"

// BenchmarkIdleServer measures an idle server-side connection accepted
// through Upgrader under net/http, its handler parked in ReadMessageInto
// (see MeasureIdleServer). Run it with -benchtime=1x.
func BenchmarkIdleServer(b *testing.B) {
	b.Run("ws", func(b *testing.B) { MeasureIdleServer(b, IdleHandlerWS) })
}

// BenchmarkFragmentEcho reports the client's peak RSS while it receives a
// 16 MiB message as one-byte fragments and echoes it (see FragmentEcho).
// Run it alone with -benchtime=1x.
func BenchmarkFragmentEcho(b *testing.B) { FragmentEcho(b) }

// BenchmarkEchoBurstAsync reports an asyncconn echo client's peak RSS while
// it echoes a million-message burst (see EchoBurstAsync). Run it alone with
// -benchtime=1x.
func BenchmarkEchoBurstAsync(b *testing.B) { EchoBurstAsync(b) }
