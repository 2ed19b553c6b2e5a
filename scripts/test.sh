#!/usr/bin/env bash
# scripts/test.sh: the one entry point that installs the interoperability peers and
# runs every check of plainws. CI runs it through .ci/run (as root, CI=true, no stdin,
# in a fresh clone); developers run it the same way: bash scripts/test.sh
#
# Steps (each prints its name first; the first failing step stops the run, non-zero):
#   1. install peers   Debian python3-websockets (for /usr/bin/python3), node + npm if
#                      missing, Debian chromium (headless browser peer), and `npm ci` of
#                      the pinned ws in interop/peers/node
#   2. format, vet     gofmt -l must print nothing; go vet ./...; staticcheck ./... (pinned,
#      and lint      installed with go install) in the root module and bench/peers
#   3. tests           go test -race -count=1 -timeout 25m ./...; then ./ws and ./fuzz with
#                      -tags purego (the pure-Go masking), and an arm64 build and vet
# The masking assembly's reference: the pure-Go code must pass the same tests
# (-tags purego), and the arm64 assembly must build and vet.
go vet -tags purego ./ws/ ./fuzz/
go test -tags purego -count=1 ./ws/ ./fuzz/
GOARCH=arm64 go vet ./ws/ ./fuzz/
GOARCH=arm64 go test -c -o /dev/null ./ws/
#   4. fuzz smoke      every Fuzz* target in ./fuzz for ${FUZZTIME:-15s}
#   5. benchmarks      every benchmark under ./bench once (-benchtime 1x)
#
# Environment: FUZZTIME (default 15s) sets the time per fuzz target.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

FUZZTIME="${FUZZTIME:-15s}"
NODE_PEER_DIR="interop/peers/node"
SYSTEM_PYTHON=/usr/bin/python3

current_step="setup"
step_no=0
steps_total=5
started=$SECONDS

step() {
	step_no=$((step_no + 1))
	current_step="$*"
	echo
	echo "==> [${step_no}/${steps_total}] $*"
}

on_exit() {
	local rc=$?
	if [ "$rc" -ne 0 ]; then
		echo
		echo "scripts/test.sh: FAILED at step ${step_no}/${steps_total} (${current_step}), exit code ${rc}"
	fi
}
trap on_exit EXIT

# as_root runs a command as root: directly when we are root (CI), else through sudo.
as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		echo "need root to run: $*" >&2
		return 1
	fi
}

# sha256 of a file, used to tell whether node_modules matches the committed lockfile.
file_sha() {
	sha256sum "$1" | cut -d' ' -f1
}

# ---------------------------------------------------------------------------------
step "install interoperability peers"

apt_packages=()
if ! "$SYSTEM_PYTHON" -c 'import websockets' >/dev/null 2>&1; then
	apt_packages+=(python3-websockets)
fi
if ! command -v node >/dev/null 2>&1; then
	apt_packages+=(nodejs)
	# Debian's nodejs comes without npm; a nodesource nodejs has it built in and
	# conflicts with Debian's npm, so add npm only when it is absent.
	if ! command -v npm >/dev/null 2>&1; then
		apt_packages+=(npm)
	fi
elif ! command -v npm >/dev/null 2>&1; then
	apt_packages+=(npm)
fi

# Headless Chromium, the browser peer of interop/browser_test.go.
if ! command -v chromium >/dev/null 2>&1; then
	apt_packages+=(chromium)
fi

if [ "${#apt_packages[@]}" -gt 0 ]; then
	echo "installing with apt-get: ${apt_packages[*]}"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update </dev/null
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		"${apt_packages[@]}" </dev/null
fi
"$SYSTEM_PYTHON" -c 'import websockets; print("python websockets", websockets.__version__, "at", websockets.__file__)'
echo "node $(node --version), npm $(npm --version)"
chromium --version

# npm ci when node_modules is missing or was installed from another lockfile.
stamp="$NODE_PEER_DIR/node_modules/.plainws-lock-sha256"
want_sha="$(file_sha "$NODE_PEER_DIR/package-lock.json")"
if [ ! -f "$NODE_PEER_DIR/node_modules/ws/package.json" ] || [ ! -f "$stamp" ] ||
	[ "$(cat "$stamp")" != "$want_sha" ]; then
	echo "running npm ci in $NODE_PEER_DIR"
	(cd "$NODE_PEER_DIR" && npm ci --no-audit --no-fund </dev/null)
	echo "$want_sha" >"$stamp"
else
	echo "node_modules up to date with package-lock.json"
fi
(cd "$NODE_PEER_DIR" && node -e 'console.log("node ws", require("ws/package.json").version)')

# ---------------------------------------------------------------------------------
step "format (gofmt -l), vet (go vet ./...) and staticcheck"

go version
unformatted="$(gofmt -l .)"
if [ -n "$unformatted" ]; then
	echo "gofmt -l found files that are not gofmt-formatted:"
	echo "$unformatted"
	exit 1
fi
echo "gofmt: clean"
go vet ./...
echo "go vet: clean"
go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
sc_bin="$(go env GOBIN)"
[ -n "$sc_bin" ] || sc_bin="$(go env GOPATH)/bin"
"$sc_bin/staticcheck" ./...
(cd bench/peers && "$sc_bin/staticcheck" ./...)
echo "staticcheck: clean"

# ---------------------------------------------------------------------------------
step "tests (go test -race -count=1 -timeout 25m ./...)"

go test -race -count=1 -timeout 25m ./...
# The masking assembly's reference: the pure-Go code must pass the same tests
# (-tags purego), and the arm64 assembly must build and vet.
go vet -tags purego ./ws/ ./fuzz/
go test -tags purego -count=1 ./ws/ ./fuzz/
GOARCH=arm64 go vet ./ws/ ./fuzz/
GOARCH=arm64 go test -c -o /dev/null ./ws/

# ---------------------------------------------------------------------------------
step "fuzz smoke (${FUZZTIME} per target)"

fuzz_targets=0
if [ ! -d fuzz ]; then
	echo "no ./fuzz directory yet: skipping fuzz smoke"
else
	# -list prints the matching names, then an "ok" line; keep the names only.
	list_out="$(go test -list '^Fuzz' ./fuzz)"
	mapfile -t names < <(printf '%s\n' "$list_out" | grep -E '^Fuzz[A-Za-z0-9_]*$' || true)
	if [ "${#names[@]}" -eq 0 ]; then
		echo "no Fuzz* targets in ./fuzz: skipping fuzz smoke"
	fi
	fuzz_log="$(mktemp)"
	for name in "${names[@]}"; do
		for attempt in 1 2; do
			echo "--- fuzz ${name} for ${FUZZTIME} (attempt ${attempt})"
			# A short minimisation time keeps a smoke run near FUZZTIME even when
			# it finds new coverage (minimising a large input can take a minute).
			if go test -run '^$' -fuzz "^${name}\$" -fuzztime "${FUZZTIME}" -fuzzminimizetime 5s ./fuzz 2>&1 | tee "$fuzz_log"; then
				break
			fi
			# Go 1.26's fuzz coordinator can fail a target with a bare "context
			# deadline exceeded" when -fuzztime expires while a worker is busy
			# (golang/go#75804, fixed in Go 1.27). A real finding always writes
			# its input ("Failing input written to testdata/fuzz/..."); only a
			# failure without one is run again, once.
			if [ "$attempt" -eq 1 ] && grep -q 'context deadline exceeded' "$fuzz_log" &&
				! grep -q 'Failing input written' "$fuzz_log"; then
				echo "--- ${name}: the fuzztime deadline race of golang/go#75804, no failing input: running it again"
				continue
			fi
			rm -f "$fuzz_log"
			exit 1
		done
		fuzz_targets=$((fuzz_targets + 1))
	done
	rm -f "$fuzz_log"
fi

# ---------------------------------------------------------------------------------
step "benchmarks, once each (go test -run '^\$' -bench . -benchtime 1x ./bench/...)"

bench_pkgs=""
if [ -d bench ]; then
	# Packages of this module under bench/ that have test files (bench/peers is a
	# separate module and is not part of ./bench/... here).
	bench_pkgs="$(go list -e -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' ./bench/... 2>/dev/null || true)"
fi
if [ -z "$bench_pkgs" ]; then
	echo "no Go test files under ./bench: skipping benchmarks"
else
	go test -run '^$' -bench . -benchtime 1x ./bench/...
fi

# ---------------------------------------------------------------------------------
echo
echo "scripts/test.sh: ALL ${steps_total} STEPS PASSED (peers, gofmt+vet, go test -race, fuzz smoke: ${fuzz_targets} target(s), benchmarks) in $((SECONDS - started))s"
