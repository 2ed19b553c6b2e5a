package bench

import "testing"

// BenchmarkIdleServer measures an idle server-side connection, its handler
// parked in the read: "ws" accepted through Upgrader under net/http (see
// MeasureIdleServer), "ws-conn" through UpgradeConn on a plain accept loop
// (MeasureIdleServerConn), and "floor" net/http with no WebSocket library
// at all (IdleHandlerFloor). Run it with -benchtime=1x, one sub-benchmark
// per process.
func BenchmarkIdleServer(b *testing.B) {
	b.Run("ws", func(b *testing.B) { MeasureIdleServer(b, IdleHandlerWS) })
	b.Run("ws-conn", func(b *testing.B) { MeasureIdleServerConn(b) })
	b.Run("floor", func(b *testing.B) { MeasureIdleServer(b, IdleHandlerFloor) })
}

// BenchmarkFragmentEcho reports the client's peak RSS while it receives a
// 16 MiB message as one-byte fragments and echoes it (see FragmentEcho).
// Run it alone with -benchtime=1x.
func BenchmarkFragmentEcho(b *testing.B) { FragmentEcho(b) }

// BenchmarkEchoBurstAsync reports an asyncconn echo client's peak RSS while
// it echoes a million-message burst (see EchoBurstAsync). Run it alone with
// -benchtime=1x.
func BenchmarkEchoBurstAsync(b *testing.B) { EchoBurstAsync(b) }
