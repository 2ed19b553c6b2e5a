// Package peers runs the workloads of github.com/plainws/plainws/bench
// through plainws and through the Go WebSocket libraries people compare it
// with — gorilla/websocket, coder/websocket, gobwas/ws (its low-level API)
// and lxzan/gws — each used through its documented fast path, with buffers
// reused wherever the library allows.
//
// It is a module of its own so that the root module never requires any of
// them. The benchmarks live in its _test.go files under one name,
// BenchmarkPeers/<workload>/<role>/<size>/<library>, so that one run
// interleaves the libraries workload by workload; cmd/benchtable turns
// several runs into the table in bench/README.md, and bench/run.sh does both.
package peers
