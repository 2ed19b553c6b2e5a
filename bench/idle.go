package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plainws/plainws/ws"
)

// IdleConnsEnv names the environment variable that sets how many connections
// the idle-memory workloads open (DefaultIdleConns when unset). CI runs every
// benchmark once; a smaller count keeps that quick on a slow machine.
const IdleConnsEnv = "PLAINWS_IDLE_CONNS"

// IdleHeapProfileEnv names the environment variable that, when set to a
// path, makes MeasureIdle write a heap profile there while the connections
// are still open (run with -memprofilerate=1 to see every allocation, and
// read it with go tool pprof -sample_index=inuse_space). -memprofile is no
// help here: it is written after the benchmark, when they are closed.
const IdleHeapProfileEnv = "PLAINWS_IDLE_HEAPPROFILE"

// DefaultIdleConns is the number of idle connections measured: enough that
// per-connection costs drown the process's fixed costs and GC noise.
const DefaultIdleConns = 10000

// idleServerEnv marks a process started by StartIdleServer.
const idleServerEnv = "PLAINWS_BENCH_IDLE_SERVER"

// IdleConns returns the connection count from IdleConnsEnv, or
// DefaultIdleConns.
func IdleConns() int {
	if n, err := strconv.Atoi(os.Getenv(IdleConnsEnv)); err == nil && n > 0 {
		return n
	}
	return DefaultIdleConns
}

// IdleServerMain turns this process into the idle server when
// StartIdleServer started it, and then returns true; otherwise it returns
// false at once. A benchmark binary's TestMain calls it first, since the
// server is the benchmark binary itself, run again.
func IdleServerMain() bool {
	if spec := os.Getenv(idleClientsEnv); spec != "" {
		// The clients of MeasureIdleServer; runIdleClients exits the process itself.
		err := runIdleClients(spec)
		fmt.Fprintln(os.Stderr, "idle clients:", err)
		os.Exit(1)
	}
	for env, run := range childServers {
		if os.Getenv(env) == "1" {
			// A server returns only on failure: it exits the process itself when stdin closes.
			err := run()
			fmt.Fprintln(os.Stderr, env+":", err)
			os.Exit(1)
		}
	}
	return false
}

// childServers are the servers a benchmark runs in a child process
// (startServerProcess), by the environment variable that selects each.
var childServers = map[string]func() error{
	idleServerEnv:  runIdleServer,
	fragServerEnv:  runFragServer,
	burstServerEnv: runBurstServer,
}

// childListen is how a child server starts: a listener on 127.0.0.1, its
// address printed for startServerProcess, and an exit when stdin closes,
// i.e. when the benchmark that started it is done.
func childListen() (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	fmt.Println("ADDR", ln.Addr())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	return ln, nil
}

// runIdleServer answers WebSocket handshakes on 127.0.0.1 and then only
// waits for each conn to close. It prints its address on stdout and exits
// when stdin closes, i.e. when the benchmark that started it is done.
func runIdleServer() error {
	if _, err := RaiseFileLimit(1 << 20); err != nil {
		return err
	}
	ln, err := childListen()
	if err != nil {
		return err
	}
	for {
		nc, err := ln.Accept()
		if err != nil {
			return err
		}
		go serveIdle(nc)
	}
}

// serveIdle answers one opening handshake (RFC 6455 §4.2.2) with the least
// possible code, then reads until the client goes away.
func serveIdle(nc net.Conn) {
	defer func() { _ = nc.Close() }()
	br := bufio.NewReaderSize(nc, 1024)
	key := ""
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		if name, value, ok := strings.Cut(line, ":"); ok && strings.EqualFold(name, "Sec-WebSocket-Key") {
			key = strings.TrimSpace(value)
		}
	}
	if _, err := io.WriteString(nc, UpgradeResponse(key)); err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, br)
}

// StartIdleServer starts the idle server in a child process and returns its
// address. The server lives in another process so that its memory never
// mixes with the clients' being measured, and so that each process needs
// only one file descriptor per connection. It stops when the benchmark ends.
func StartIdleServer(tb testing.TB) string { return startServerProcess(tb, idleServerEnv) }

// IdleDialer opens one client connection to the idle server at addr (with
// the library's own dial and handshake), starts the goroutine that waits for
// its next message, and returns what closes it at the end (the TCP conn when
// the library exposes it, so that it can be reset without a TIME_WAIT) and
// the library's connection (kept alive while measuring). Whatever it returns
// must not allocate per connection beyond what the library does, or the
// figure would include it.
type IdleDialer func(ctx context.Context, addr string) (io.Closer, any, error)

// MeasureIdle opens IdleConns() connections with dial, each with a reader
// waiting for a message that never comes, and reports the heap and stack
// they hold per connection: B/conn (the sum), heap-B/conn (live heap after a
// full GC) and stack-B/conn. ns/op is the time to dial and upgrade one
// connection. The figure is the client's side alone: the server runs in
// another process. It runs once whatever b.N is; run it with -benchtime=1x.
func MeasureIdle(b *testing.B, dial IdleDialer) {
	n := IdleConns()
	if lim, err := RaiseFileLimit(n + 512); err != nil || lim < n+64 {
		b.Fatalf("open-file limit %d too low for %d connections (%v); lower %s", lim, n, err, IdleConnsEnv)
	}
	addr := StartIdleServer(b)
	raws := make([]io.Closer, n)
	keep := make([]any, n)
	b.Cleanup(func() {
		for _, nc := range raws {
			if nc == nil {
				continue
			}
			// No TIME_WAIT: thousands of them per run would pile up.
			if tc, ok := nc.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = nc.Close()
		}
	})
	ctx := context.Background()
	before := settledMemory()
	start := time.Now()
	for i := range n {
		var err error
		if raws[i], keep[i], err = dial(ctx, addr); err != nil {
			b.Fatalf("connection %d: %v", i, err)
		}
	}
	elapsed := time.Since(start)
	after := settledMemory()
	if path := os.Getenv(IdleHeapProfileEnv); path != "" {
		if err := writeHeapProfile(path); err != nil {
			b.Fatal(err)
		}
	}
	runtime.KeepAlive(keep)
	heap := float64(after.HeapAlloc) - float64(before.HeapAlloc)
	stack := float64(after.StackInuse) - float64(before.StackInuse)
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(n), "ns/op")
	b.ReportMetric(heap/float64(n), "heap-B/conn")
	b.ReportMetric(stack/float64(n), "stack-B/conn")
	b.ReportMetric((heap+stack)/float64(n), "B/conn")
}

// writeHeapProfile writes the heap profile of the last garbage collection
// to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("heap profile: %w", err)
	}
	return f.Close()
}

// settledMemory waits until the number of goroutines stops changing (every
// reader has parked), collects garbage twice (the second pass frees what
// finalizers released) and reads the memory statistics.
func settledMemory() runtime.MemStats {
	prev := -1
	for range 100 {
		g := runtime.NumGoroutine()
		if g == prev {
			break
		}
		prev = g
		time.Sleep(20 * time.Millisecond)
	}
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}

// DialIdle is plainws's IdleDialer: ws.Dialer's DialNet and Handshake, then
// a goroutine parked in ReadMessageInto.
func DialIdle(ctx context.Context, addr string) (io.Closer, any, error) {
	return dialIdleWith(ctx, addr, waitMessage)
}

// DialIdleStream is DialIdle with the goroutine parked in NextReader, as a
// program that streams its messages waits.
func DialIdleStream(ctx context.Context, addr string) (io.Closer, any, error) {
	return dialIdleWith(ctx, addr, waitStream)
}

func dialIdleWith(ctx context.Context, addr string, wait func(*ws.Conn)) (io.Closer, any, error) {
	url := "ws://" + addr + "/"
	nc, err := idleDialer.DialNet(ctx, url)
	if err != nil {
		return nil, nil, err
	}
	c, _, err := idleDialer.Handshake(ctx, nc, url)
	if err != nil {
		_ = nc.Close()
		return nil, nil, err
	}
	go wait(c)
	return nc, c, nil
}

var idleDialer = &ws.Dialer{}

func waitMessage(c *ws.Conn) { _, _, _ = c.ReadMessageInto(nil) }

func waitStream(c *ws.Conn) { _, _, _ = c.NextReader() }
