package loadtest

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/require"
)

// loadConns is how many connections a load test opens.
func loadConns() int {
	if n, err := strconv.Atoi(os.Getenv("PLAINWS_LOAD_CONNS")); err == nil && n > 0 {
		return n
	}
	return 1000
}

// raiseFileLimit lifts RLIMIT_NOFILE to its hard limit for this process and
// the servers it starts.
func raiseFileLimit(t *testing.T, need int) {
	t.Helper()
	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	lim.Cur = lim.Max
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim))
	require.GreaterOrEqual(t, int(lim.Cur), need+100, "the descriptor limit is too low for %d connections", need)
}

// startServe builds cmd/plainws and runs "plainws serve" on a free port.
func startServe(t *testing.T, args ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "plainws")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/plainws").CombinedOutput()
	require.NoError(t, err, string(out))
	cmd := exec.Command(bin, append(append([]string{"serve", "-quiet"}, args...), "127.0.0.1:0")...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	return strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
}

// memInUse is heap plus stack in use, after a collection.
func memInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// TestManyConnectionsWS holds N ws.Conn open at once, each with a reader
// goroutine, sends numbered messages on all of them and checks every echo
// arrives once and in order; it reports memory per idle connection.
func TestManyConnectionsWS(t *testing.T) {
	n := loadConns()
	raiseFileLimit(t, n)
	url := startServe(t)
	const perConn = 5

	before := memInUse()
	conns := make([]*ws.Conn, n)
	d := &ws.Dialer{HandshakeTimeout: 30 * time.Second}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	errs := make(chan error, n)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, _, err := d.Dial(context.Background(), url)
			if err != nil {
				errs <- fmt.Errorf("conn %d: %w", i, err)
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	t.Cleanup(func() {
		for _, c := range conns {
			_ = c.CloseNow()
		}
	})

	// Every connection reads in its own goroutine, as a server would.
	received := make([][]uint32, n)
	var readers sync.WaitGroup
	for i, c := range conns {
		readers.Add(1)
		go func() {
			defer readers.Done()
			buf := make([]byte, 0, 16)
			for range perConn {
				_, msg, err := c.ReadMessageInto(buf)
				if err != nil {
					return
				}
				buf = msg
				received[i] = append(received[i], binary.BigEndian.Uint32(msg))
			}
		}()
	}
	time.Sleep(100 * time.Millisecond) // let the readers block: the idle state
	perIdle := float64(memInUse()-before) / float64(n)
	t.Logf("%d idle ws.Conn with a blocked reader: %.0f bytes of heap+stack each (client side only)", n, perIdle)

	for seq := range perConn {
		for i, c := range conns {
			var b [8]byte
			binary.BigEndian.PutUint32(b[:], uint32(seq))
			binary.BigEndian.PutUint32(b[4:], uint32(i))
			require.NoError(t, c.WriteMessage(ws.OpBinary, b[:]))
		}
	}
	done := make(chan struct{})
	go func() { readers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("echoes did not all arrive")
	}
	for i, got := range received {
		require.Len(t, got, perConn, "conn %d lost messages", i)
		for seq, v := range got {
			require.Equal(t, uint32(seq), v, "conn %d: message %d out of order", i, seq)
		}
	}
	for _, c := range conns {
		require.NoError(t, c.Close(ws.CloseNormalClosure, ""))
	}
}
