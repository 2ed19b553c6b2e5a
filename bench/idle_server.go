package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plainws/plainws/ws"
)

// idleClientsEnv marks a process started by startIdleClients: it holds
// "addr n", the server to open n idle connections to.
const idleClientsEnv = "PLAINWS_BENCH_IDLE_CLIENTS"

// IdleHandler returns a library's server side for MeasureIdleServer: an
// http.Handler that upgrades the request, calls upgraded, and then parks its
// goroutine in the library's blocking read, as a server's handler waits for
// the next message of a silent client.
type IdleHandler func(upgraded func()) http.Handler

// MeasureIdleServer serves IdleConns() WebSocket connections through
// handler under a net/http server in this process, with the clients in a
// child process, and reports the heap and stack each idle server-side
// connection holds (net/http's own per-connection state included, since a
// server pays for it too): B/conn, heap-B/conn and stack-B/conn, as
// MeasureIdle does for clients. Run it with -benchtime=1x.
func MeasureIdleServer(b *testing.B, handler IdleHandler) {
	measureIdleServe(b, func(ln net.Listener, upgraded func()) func() {
		srv := &http.Server{
			Handler:           handler(upgraded),
			ReadHeaderTimeout: 10 * time.Second,
			MaxHeaderBytes:    16 << 10,
		}
		go func() { _ = srv.Serve(ln) }()
		return func() { _ = srv.Close() }
	})
}

// MeasureIdleServerConn is MeasureIdleServer without net/http: a plain
// accept loop hands each connection to Upgrader.UpgradeConn in a goroutine
// of its own, which then parks in ReadMessageInto. It is what a server
// that needs the least memory per connection does, and shows how much of
// MeasureIdleServer's figure is net/http's.
func MeasureIdleServerConn(b *testing.B) {
	measureIdleServe(b, func(ln net.Listener, upgraded func()) func() {
		up := &ws.Upgrader{}
		go func() {
			for {
				nc, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					c, _, err := up.UpgradeConn(context.Background(), nc, nil)
					if err != nil {
						_ = nc.Close()
						return
					}
					defer c.CloseNow()
					upgraded()
					_, _, _ = c.ReadMessageInto(nil)
				}()
			}
		}()
		return func() { _ = ln.Close() }
	})
}

// measureIdleServe is the measurement of MeasureIdleServer and
// MeasureIdleServerConn: serve starts serving ln, calls upgraded once per
// upgraded connection, and returns what stops it.
func measureIdleServe(b *testing.B, serve func(ln net.Listener, upgraded func()) (stop func())) {
	n := IdleConns()
	if lim, err := RaiseFileLimit(n + 512); err != nil || lim < n+64 {
		b.Fatalf("open-file limit %d too low for %d connections (%v); lower %s", lim, n, err, IdleConnsEnv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var upgraded atomic.Int64
	before := settledMemory()
	stopServe := serve(ln, func() { upgraded.Add(1) })
	b.Cleanup(stopServe)

	start := time.Now()
	stop := startIdleClients(b, ln.Addr().String(), n)
	defer stop()
	for upgraded.Load() < int64(n) {
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("only %d of %d connections upgraded", upgraded.Load(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	elapsed := time.Since(start)
	after := settledMemory()
	heap := float64(after.HeapAlloc) - float64(before.HeapAlloc)
	stack := float64(after.StackInuse) - float64(before.StackInuse)
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(n), "ns/op")
	b.ReportMetric(heap/float64(n), "heap-B/conn")
	b.ReportMetric(stack/float64(n), "stack-B/conn")
	b.ReportMetric((heap+stack)/float64(n), "B/conn")
}

// startIdleClients runs the benchmark binary again as a client process that
// opens n connections to addr, and returns what stops it.
func startIdleClients(tb testing.TB, addr string, n int) func() {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d", idleClientsEnv, addr, n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	return func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
}

// runIdleClients is the client process: it opens the connections with the
// least possible code (RFC 6455 §4.1 request, the 101 read and not checked
// further), keeps them open, and exits when stdin closes.
func runIdleClients(spec string) error {
	addr, count, _ := strings.Cut(spec, " ")
	n, err := strconv.Atoi(count)
	if err != nil {
		return err
	}
	if _, err := RaiseFileLimit(n + 512); err != nil {
		return err
	}
	conns := make([]net.Conn, 0, n)
	for range n {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
		if _, err := io.WriteString(nc, req); err != nil {
			return err
		}
		br := bufio.NewReaderSize(nc, 256)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return err
			}
			if line == "\r\n" {
				break
			}
		}
		conns = append(conns, nc)
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, nc := range conns {
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // no TIME_WAIT pile-up between runs
		}
		_ = nc.Close()
	}
	os.Exit(0)
	return nil
}

// IdleHandlerWS is plainws's IdleHandler: Upgrader.Upgrade, then a goroutine
// parked in ReadMessageInto with no buffer of its own.
func IdleHandlerWS(upgraded func()) http.Handler {
	up := &ws.Upgrader{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		upgraded()
		_, _, _ = c.ReadMessageInto(nil)
	})
}

// IdleHandlerFloor is the floor under every library's IdleHandler: it
// hijacks the connection, writes the 101 response (RFC 6455 §4.2.2) by
// hand, empties net/http's buffers as Upgrade does, and parks in a one-byte
// Read of the bare connection. What it costs per connection is net/http's
// state and the handler goroutine's stack, which no WebSocket library that
// keeps its handler running can go below.
func IdleHandlerFloor(upgraded func()) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Time{})
		resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + ws.AcceptKey(r.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\n"
		if _, err := io.WriteString(nc, resp); err != nil {
			return
		}
		*brw.Reader = bufio.Reader{}
		*brw.Writer = bufio.Writer{}
		upgraded()
		var one [1]byte
		_, _ = nc.Read(one[:])
	})
}
