package asyncconn

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/require"
)

// idleServerEnv makes the test binary act as the WebSocket server of the idle-memory
// measurement, in a process of its own, so the measurement counts the client's memory only.
const idleServerEnv = "PLAINWS_IDLE_SERVER"

// idleConnsEnv sets how many idle connections the measurement opens (the issue asks about
// 10,000; CI uses the default). More than about 30,000 needs a higher limit of open files.
const idleConnsEnv = "PLAINWS_IDLE_CONNS"

func TestMain(m *testing.M) {
	if os.Getenv(idleServerEnv) == "1" {
		runIdleServer()
		return
	}
	os.Exit(m.Run())
}

// runIdleServer accepts WebSocket connections on loopback and keeps them open, reading, until its
// standard input closes. It prints its address first.
func runIdleServer() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.Exit(2)
	}
	os.Stdout.WriteString(ln.Addr().String() + "\n")
	go func() {
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // EOF when the test ends
		os.Exit(0)
	}()
	up := &ws.Upgrader{Options: ws.Options{ReadBufferSize: 256, WriteBufferSize: 256}}
	for {
		nc, err := ln.Accept()
		if err != nil {
			os.Exit(0)
		}
		go func() {
			c, _, err := up.UpgradeConn(context.Background(), nc, nil)
			if err != nil {
				return
			}
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
	}
}

// startIdleServer runs runIdleServer in a child process and returns its ws:// URL.
func startIdleServer(tb testing.TB) string {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), idleServerEnv+"=1")
	stdin, err := cmd.StdinPipe()
	require.NoError(tb, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(tb, err)
	require.NoError(tb, cmd.Start())
	tb.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(connWait):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(tb, err)
	return "ws://" + strings.TrimSpace(line) + "/idle"
}

func idleConnCount(tb testing.TB) int {
	n := 1000
	if s := os.Getenv(idleConnsEnv); s != "" {
		v, err := strconv.Atoi(s)
		require.NoError(tb, err, idleConnsEnv)
		require.Positive(tb, v, idleConnsEnv)
		n = v
	}
	return n
}

// memInUse returns the heap and the goroutine stacks in use after collections (several, so
// that stacks that grew while connecting can shrink back).
func memInUse() (heap, stack uint64) {
	var ms runtime.MemStats
	for range 4 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, ms.StackInuse
}

// measureIdle opens n connections to url on a fresh loop, waits until all are upgraded and idle,
// and returns the heap and stack bytes they hold each. It closes them before returning.
func measureIdle(tb testing.TB, url string, n int) (heap, stack float64) {
	tb.Helper()
	l := NewLoop()
	l.Start()
	defer func() { l.Stop(); <-l.Done() }()
	var up, failed atomic.Int64
	conns := make([]*Conn, n)

	heap0, stack0 := memInUse()
	for i := range conns {
		c, err := New(l, url)
		require.NoError(tb, err)
		c.OnWebSocketConnect = func(*Conn, *http.Response) { up.Add(1) }
		c.OnError = func(_ *Conn, _ ErrorCode, msg string) { failed.Add(1); tb.Log(msg) }
		conns[i] = c
		c.Connect()
	}
	deadline := time.Now().Add(time.Minute)
	for up.Load() < int64(n) {
		require.Zero(tb, failed.Load(), "connections failed")
		require.True(tb, time.Now().Before(deadline), "only %d of %d connections upgraded", up.Load(), n)
		time.Sleep(5 * time.Millisecond)
	}
	heap1, stack1 := memInUse()
	heap = float64(int64(heap1)-int64(heap0)) / float64(n)
	stack = float64(int64(stack1)-int64(stack0)) / float64(n)

	for _, c := range conns {
		c.Destroy()
	}
	deadline = time.Now().Add(time.Minute)
	for connGoroutines() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return heap, stack
}

// The memory an idle connection costs: its reader goroutine's stack, package ws's buffers (1 KiB
// each way by default), the socket and the bookkeeping; no writer goroutine and no timer while
// nothing is sent. The target is 10 KiB.
func TestIdleConnectionMemory(t *testing.T) {
	n := idleConnCount(t)
	url := startIdleServer(t)
	heap, stack := measureIdle(t, url, n)
	per := heap + stack
	t.Logf("%d idle connections: %.0f bytes each (heap %.0f, stacks %.0f; target ≤ 10240)", n, per, heap, stack)
	waitNoConnGoroutines(t)
	if raceEnabled {
		t.Log("race detector on: its instrumentation deepens stacks, so the target is not enforced")
		return
	}
	require.LessOrEqual(t, per, float64(10<<10), "the issue's target: at most 10 KiB per idle connection")
}

// BenchmarkIdleConnectionMemory reports the same measurement as a metric (bytes/conn); the
// connection count comes from PLAINWS_IDLE_CONNS, not from b.N.
func BenchmarkIdleConnectionMemory(b *testing.B) {
	n := idleConnCount(b)
	url := startIdleServer(b)
	var heap, stack float64
	for range b.N {
		heap, stack = measureIdle(b, url, n)
	}
	b.ReportMetric(heap+stack, "bytes/conn")
	b.ReportMetric(heap, "heap-bytes/conn")
	b.ReportMetric(stack, "stack-bytes/conn")
}
