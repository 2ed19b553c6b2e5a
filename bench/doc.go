// Package bench measures plainws on its own: frame headers, masking, reading
// and writing messages over in-memory connections, echo over loopback TCP and
// the memory an idle connection holds. Every workload has a ceiling next to
// it — a bare loop doing only the unavoidable work, a plain copy of the same
// bytes, or plain TCP doing the same writes — so that a figure says how far
// the library is from what the machine allows, not only how fast it is.
//
// The workloads are exported functions taking a *testing.B, and the in-memory
// connections and frame builders are exported too, because the separate
// module bench/peers runs the very same workloads through gorilla/websocket,
// coder/websocket, gobwas/ws and lxzan/gws: one definition of each workload
// keeps the comparison honest. The Benchmark functions of this package (in
// its _test.go files) only call them; bench/README.md lists every workload,
// the commands, and the numbers.
//
// Nothing here is used by the library itself; the package exists only to be
// benchmarked.
package bench
