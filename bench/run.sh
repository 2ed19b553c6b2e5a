#!/usr/bin/env bash
# Runs every benchmark of plainws (bench/) and the side-by-side comparison
# with the Go peers (bench/peers), interleaved, and writes the tables.
#
#   bench/run.sh                  # COUNT=6 passes, BENCHTIME=300ms, 10,000 idle conns
#   COUNT=3 BENCHTIME=100ms PLAINWS_IDLE_CONNS=2000 bench/run.sh   # a quick look
#
# Each pass runs every benchmark once (-count 1), so the libraries of one
# workload run next to each other in time, and the passes repeat that: a
# noisy moment on the machine hits every library alike, and the medians of
# the passes are what the tables show. The idle-memory benchmarks run once
# per library in a fresh process (-benchtime 1x), so that no library
# inherits stacks or heap freed by another.
#
# Output (in $OUT, default bench/results): plainws.txt and peers.txt (raw
# go test output of all passes), plainws-benchstat.txt (when benchstat is
# installed), table.md (the comparison), machine.txt.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
COUNT="${COUNT:-6}"
BENCHTIME="${BENCHTIME:-300ms}"
OUT="${OUT:-$here/results}"
export PLAINWS_IDLE_CONNS="${PLAINWS_IDLE_CONNS:-10000}"

mkdir -p "$OUT"
# The results are not part of the tree: the directory ignores itself.
[ -e "$OUT/.gitignore" ] || printf '*\n' >"$OUT/.gitignore"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "== building the benchmark binaries"
(cd "$root" && go test -c -o "$tmp/bench.test" ./bench)
(cd "$here/peers" && go test -c -o "$tmp/peers.test" .)
(cd "$here/peers" && go build -o "$tmp/benchtable" ./cmd/benchtable)

{
	echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "go: $(go version)"
	echo "kernel: $(uname -sr)"
	grep -m1 'model name' /proc/cpuinfo 2>/dev/null || true
	echo "cpus: $(nproc 2>/dev/null || echo '?')"
	grep -m1 MemTotal /proc/meminfo 2>/dev/null || true
	echo "load before: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
	echo "passes: $COUNT, benchtime: $BENCHTIME, idle conns: $PLAINWS_IDLE_CONNS"
	(cd "$here/peers" && go list -m github.com/gorilla/websocket github.com/coder/websocket github.com/gobwas/ws github.com/lxzan/gws)
} >"$OUT/machine.txt"
cat "$OUT/machine.txt"

: >"$OUT/plainws.txt"
: >"$OUT/peers.txt"
idle_libs="plainws gorilla coder gobwas gws"
for pass in $(seq 1 "$COUNT"); do
	echo "== pass $pass/$COUNT: bench (plainws alone)"
	(cd "$root/bench" && "$tmp/bench.test" -test.run '^$' -test.bench '^Benchmark(Header|Mask|Read|Write|RoundTrip|Pipelined|Compressed|Large)$' \
		-test.benchtime "$BENCHTIME" -test.benchmem) >>"$OUT/plainws.txt"
	for sub in ws ws-stream asyncconn; do
		(cd "$root/bench" && "$tmp/bench.test" -test.run '^$' -test.bench "^BenchmarkIdle\$/^${sub}\$" -test.benchtime 1x) >>"$OUT/plainws.txt"
	done
	echo "== pass $pass/$COUNT: bench/peers"
	(cd "$here/peers" && "$tmp/peers.test" -test.run '^$' -test.bench '^Benchmark(Peers|Large)$' \
		-test.benchtime "$BENCHTIME" -test.benchmem) >>"$OUT/peers.txt"
	for lib in $idle_libs; do
		(cd "$here/peers" && "$tmp/peers.test" -test.run '^$' -test.bench "^BenchmarkIdle\$/^idle\$/^client\$/^conn\$/^${lib}\$" \
			-test.benchtime 1x) >>"$OUT/peers.txt"
	done
done

"$tmp/benchtable" -runs "$OUT/peers.txt" >"$OUT/table.md"
echo "== wrote $OUT/table.md"
if command -v benchstat >/dev/null 2>&1; then
	benchstat "$OUT/plainws.txt" >"$OUT/plainws-benchstat.txt"
	echo "== wrote $OUT/plainws-benchstat.txt"
else
	echo "== benchstat not installed (go install golang.org/x/perf/cmd/benchstat@latest); skipped plainws-benchstat.txt"
fi
cat "$OUT/table.md"
