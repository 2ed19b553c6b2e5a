package bench

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plainws/plainws/ws"
)

// fragServerEnv marks the child process of FragmentEcho: a server that sends
// one message as FragmentEchoSize one-byte fragments and reads the echo.
const fragServerEnv = "PLAINWS_BENCH_FRAG_SERVER"

// FragmentEchoSize is the message FragmentEcho receives: 16 MiB, as
// 16,777,216 frames of one byte each (48 MiB on the wire).
const FragmentEchoSize = 16 << 20

// FragmentEcho dials a server in a child process that sends a 16 MiB message
// as one-byte fragments (RFC 6455 §5.4), reads it whole with ReadMessage,
// echoes it with WriteMessage, and reports the peak resident set of this
// process (VmHWM) as peak-RSS-MiB: what a client pays for a hostile or naive
// peer's fragmentation, buffer growth included. Run it alone, with
// -benchtime=1x, so that the peak is this workload's.
func FragmentEcho(b *testing.B) {
	addr := startFragServer(b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	d := &ws.Dialer{Options: ws.Options{ReadLimit: FragmentEchoSize}}
	c, _, err := d.Dial(ctx, "ws://"+addr+"/")
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseNow()
	op, msg, err := c.ReadMessage()
	if err != nil {
		b.Fatal(err)
	}
	if len(msg) != FragmentEchoSize {
		b.Fatalf("got %d bytes, want %d", len(msg), FragmentEchoSize)
	}
	if err := c.WriteMessage(op, msg); err != nil {
		b.Fatal(err)
	}
	_, _, _ = c.ReadMessage() // the server's close once it has read the echo
	b.ReportMetric(float64(time.Since(start).Nanoseconds()), "ns/op")
	if hwm, ok := peakRSS(); ok {
		b.ReportMetric(float64(hwm)/(1<<20), "peak-RSS-MiB")
	}
}

// peakRSS reads VmHWM, the process's peak resident set, from
// /proc/self/status (Linux only).
func peakRSS() (int64, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

// startFragServer runs the benchmark binary again as the fragmenting server
// and returns its address.
func startFragServer(tb testing.TB) string { return startServerProcess(tb, fragServerEnv) }

// startServerProcess runs the benchmark binary again as the server that the
// environment variable env selects (IdleServerMain dispatches on it), and
// returns the address it prints.
func startServerProcess(tb testing.TB, env string) string {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), env+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _, _ = io.Copy(io.Discard, stdout); _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ADDR ")
	if err != nil || !ok {
		tb.Fatalf("%s server did not start: %q %v", env, line, err)
	}
	return addr
}

// runFragServer is the child process: for each connection it sends the
// message as one-byte fragments, 64 KiB of frames per write, then reads the
// echo, checks its length, and closes.
func runFragServer() error {
	ln, err := childListen()
	if err != nil {
		return err
	}
	up := &ws.Upgrader{Options: ws.Options{ReadLimit: FragmentEchoSize}}
	for {
		nc, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer nc.Close()
			c, _, err := up.UpgradeConn(context.Background(), nc, nil)
			if err != nil {
				return
			}
			buf := make([]byte, 0, 64<<10)
			for i := range FragmentEchoSize {
				op := ws.OpContinuation
				if i == 0 {
					op = ws.OpBinary
				}
				buf = ws.AppendHeader(buf, ws.Header{Fin: i == FragmentEchoSize-1, Opcode: op, Length: 1})
				buf = append(buf, byte(i))
				if len(buf) > cap(buf)-16 || i == FragmentEchoSize-1 {
					if _, err := nc.Write(buf); err != nil {
						return
					}
					buf = buf[:0]
				}
			}
			_, r, err := c.NextReader()
			if err != nil {
				return
			}
			n, _ := io.Copy(io.Discard, r)
			code := ws.CloseNormalClosure
			if n != FragmentEchoSize {
				code = ws.CloseProtocolError
			}
			_ = c.Close(code, "")
		}()
	}
}
