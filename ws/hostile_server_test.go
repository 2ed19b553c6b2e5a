//go:build !js

package ws

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/wstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// This file attacks a server built on Upgrader, the way a hostile client
// would, through both entry points: Upgrade under a net/http server (with
// the http.Server settings SECURITY.md tells operators to use) and
// UpgradeConn on a raw listener. ws/hostile_test.go does the same to the
// client role.

// hostileHTTPServer is the http.Server configuration SECURITY.md
// recommends: net/http reads the upgrade request, so its limits are the
// ones that bound a slow or endless request head.
func hostileHTTPServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: time.Second, MaxHeaderBytes: 16 << 10}
}

// hostileServer serves upgrades with u in mode ("Upgrade" or
// "UpgradeConn") on 127.0.0.1 and runs handle on every Conn; what handle
// returns arrives on ended. Conns still open when the test ends are
// aborted.
func hostileServer(t *testing.T, mode string, u *Upgrader, handle func(*Conn) error) (string, <-chan error) {
	t.Helper()
	ended := make(chan error, 4096)
	var mu sync.Mutex
	open := map[*Conn]bool{}
	run := func(c *Conn) {
		mu.Lock()
		open[c] = true
		mu.Unlock()
		err := handle(c)
		_ = c.CloseNow()
		mu.Lock()
		delete(open, c)
		mu.Unlock()
		ended <- err
	}
	var wg sync.WaitGroup
	stop := func() {}
	var addr string
	switch mode {
	case "Upgrade":
		ln := wstest.Listen(t)
		addr = ln.Addr().String()
		srv := hostileHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c, err := u.Upgrade(w, r, nil); err == nil {
				run(c)
			}
		}))
		wg.Add(1)
		go func() { defer wg.Done(); _ = srv.Serve(ln) }()
		stop = func() { _ = srv.Close() }
	case "UpgradeConn":
		addr = wstest.ServeTCP(t, func(nc net.Conn) {
			if c, _, err := u.UpgradeConn(context.Background(), nc, nil); err == nil {
				run(c)
			}
		})
	default:
		t.Fatalf("mode %q", mode)
	}
	t.Cleanup(func() {
		stop()
		mu.Lock()
		for c := range open {
			_ = c.CloseNow()
		}
		mu.Unlock()
		wg.Wait()
	})
	return addr, ended
}

// hostileDial upgrades a raw connection to addr (wstest checks the 101
// and its accept value, RFC 6455 §4.1); the frames it then sends are the
// test's to script. Nothing after the response head is left in a buffer.
func hostileDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c := wstest.Dial(t, addr)
	c.Upgrade("/")
	return c.Conn
}

// memInUse is the heap and the goroutine stacks in use after a GC.
func memInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}

// The attack of the declared length: each client sends a header declaring
// 16 MiB (within the read limit) and 1 KiB of payload, then nothing. The
// server's memory must follow the 1 KiB that arrived, not the 16 MiB
// announced: at most 64 KiB per connection, heap and stacks, both sides of
// the test included.
func TestHostileServerDeclaredLength(t *testing.T) {
	const conns, sent = 100, 1 << 10
	for _, mode := range hsModes {
		t.Run(mode, func(t *testing.T) {
			var mu sync.Mutex
			var servers []*Conn
			addr, ended := hostileServer(t, mode, &Upgrader{}, func(c *Conn) error {
				mu.Lock()
				servers = append(servers, c)
				mu.Unlock()
				_, _, err := c.ReadMessage()
				return err
			})
			// A header declaring 16 MiB, then only sent bytes of payload.
			hdr := wstest.Frame{Fin: true, Opcode: wstest.OpBinary, Masked: true, Key: [4]byte{1, 2, 3, 4}, Length: wstest.Len(16 << 20)}.Bytes()
			frame := append(hdr, make([]byte, sent)...)
			before := memInUse()
			clients := make([]net.Conn, conns)
			for i := range clients {
				clients[i] = hostileDial(t, addr)
				_, err := clients[i].Write(frame)
				require.NoError(t, err)
			}
			// Wait until every server conn has read the frame's bytes.
			require.Eventually(t, func() bool {
				mu.Lock()
				defer mu.Unlock()
				if len(servers) < conns {
					return false
				}
				for _, c := range servers {
					if c.BytesReceived() < int64(len(frame)) {
						return false
					}
				}
				return true
			}, 10*time.Second, 10*time.Millisecond)
			perConn := (memInUse() - before) / conns
			t.Logf("%s: %d bytes per connection", mode, perConn)
			assert.LessOrEqual(t, perConn, int64(64<<10), "memory follows the bytes that arrived")
			for _, nc := range clients {
				_ = nc.Close()
			}
			for range conns {
				require.ErrorIs(t, <-ended, ErrAbnormalClosure)
			}
		})
	}
}

// A head that never ends and a head that trickles in: under the http.Server
// settings SECURITY.md gives, net/http refuses the first with 431 and drops
// the second after ReadHeaderTimeout; UpgradeConn has its own limits
// (TestUpgradeConnHeadTooLarge, TestUpgradeConnSlowloris).
func TestHostileServerHeadFloodAndSlowloris(t *testing.T) {
	addr, _ := hostileServer(t, "Upgrade", &Upgrader{}, func(c *Conn) error { return nil })
	t.Run("flood", func(t *testing.T) {
		nc, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer nc.Close()
		go func() {
			_, _ = nc.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n"))
			line := []byte(strings.Repeat("X-Flood: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", 64))
			for range 1024 {
				if _, err := nc.Write(line); err != nil {
					return
				}
			}
		}()
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		require.NoError(t, err)
		assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
	})
	t.Run("slowloris", func(t *testing.T) {
		nc, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer nc.Close()
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for _, b := range []byte("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n") {
				select {
				case <-stop:
					return
				case <-time.After(200 * time.Millisecond):
				}
				if _, err := nc.Write([]byte{b}); err != nil {
					return
				}
			}
		}()
		start := time.Now()
		_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = io.Copy(io.Discard, nc)
		var ne net.Error
		require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server must drop a trickling head")
		assert.Less(t, time.Since(start), 5*time.Second)
	})
}

// Every malformed frame and close payload, sent by a client to a server
// built on Upgrader: the handler gets the typed error, the client the close
// code, and the server closes TCP once the client has answered (RFC 6455
// §7.1.1: the server closes first).
func TestHostileServerMalformedFrames(t *testing.T) {
	for _, mode := range hsModes {
		for _, tc := range failCases() {
			if tc.role == RoleClient && errors.Is(tc.want, ErrMaskMismatch) {
				continue // a server's frames, not a client's
			}
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				addr, ended := hostileServer(t, mode, &Upgrader{}, func(c *Conn) error {
					for {
						if _, _, err := c.ReadMessage(); err != nil {
							return err
						}
					}
				})
				nc := hostileDial(t, addr)
				for _, f := range tc.frames(true) {
					_, err := nc.Write(f)
					require.NoError(t, err)
				}
				p := peerOn(t, nc, true)
				require.Equal(t, tc.code, p.expectClose())
				p.Write(wstest.Frame{Fin: true, Opcode: wstest.OpClose, Payload: wstest.ClosePayload(uint16(tc.code), "")}.Mask().Bytes())
				p.ExpectEOF()
				require.ErrorIs(t, <-ended, tc.want)
			})
		}
	}
}

// A message of 2^20 one-byte fragments, 7 MiB on the wire, reaches the
// handler whole, in memory bounded by the message, not the fragments.
func TestHostileServerMillionFragments(t *testing.T) {
	n := (1 << 20) * hostileScale()
	got := make(chan []byte, 1)
	addr, ended := hostileServer(t, "Upgrade", &Upgrader{Options: Options{ReadLimit: int64(n)}}, func(c *Conn) error {
		_, msg, err := c.ReadMessage()
		got <- msg
		return err
	})
	nc := hostileDial(t, addr)
	before := memInUse()
	go func() {
		w := bufio.NewWriterSize(nc, 64<<10)
		for i := range n {
			op, fin := OpContinuation, false
			if i == 0 {
				op = OpBinary
			}
			if i == n-1 {
				fin = true
			}
			_, _ = w.Write(wstest.Frame{Fin: fin, Opcode: byte(op), Payload: []byte{byte(i)}}.Mask().Bytes())
		}
		_ = w.Flush()
	}()
	msg := <-got
	require.NoError(t, <-ended)
	require.Len(t, msg, n)
	for i, b := range msg {
		if b != byte(i) {
			require.Failf(t, "wrong byte", "at %d", i)
		}
	}
	assert.Less(t, memInUse()-before, int64(4*n), "the message and its last growth step, not a copy per fragment")
}

// A client that never reads while the server writes: the server's writes
// fill the socket buffers and then block — nothing is queued in memory
// beyond the frame being written — and a blocked write returns when its
// deadline expires; with a keepalive, the pong timeout ends it too.
func TestHostileServerClientNeverReads(t *testing.T) {
	msg := make([]byte, 64<<10)
	t.Run("write deadline", func(t *testing.T) {
		addr, ended := hostileServer(t, "UpgradeConn", &Upgrader{}, func(c *Conn) error {
			for {
				_ = c.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
				if err := c.WriteMessage(OpBinary, msg); err != nil {
					if c.BytesSent() > 256<<20 {
						return errors.New("wrote far more than socket buffers hold")
					}
					return err
				}
			}
		})
		hostileDial(t, addr)
		select {
		case err := <-ended:
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		case <-time.After(10 * time.Second):
			require.FailNow(t, "a blocked write outlived its deadline")
		}
	})
	t.Run("keepalive", func(t *testing.T) {
		u := &Upgrader{Options: Options{PingInterval: 200 * time.Millisecond}}
		addr, ended := hostileServer(t, "Upgrade", u, func(c *Conn) error {
			for {
				if err := c.WriteMessage(OpBinary, msg); err != nil {
					return err
				}
			}
		})
		hostileDial(t, addr)
		select {
		case err := <-ended:
			// The blocked writer is woken by the keepalive's close.
			require.Error(t, err)
		case <-time.After(10 * time.Second):
			require.FailNow(t, "a writer blocked on a silent client was never woken")
		}
	})
}

// A client that disappears in the middle of a frame, by reset, by FIN, or
// by falling silent: the handler gets a typed error and returns.
func TestHostileServerClientVanishesMidFrame(t *testing.T) {
	half := wstest.Frame{Fin: true, Opcode: wstest.OpBinary, Payload: make([]byte, 1000)}.Mask().Bytes()[:500]
	for _, tc := range []struct {
		name string
		end  func(nc net.Conn)
		want error
	}{
		{"reset", func(nc net.Conn) { _ = nc.(*net.TCPConn).SetLinger(0); _ = nc.Close() }, ErrAbnormalClosure},
		{"fin", func(nc net.Conn) { _ = nc.Close() }, ErrAbnormalClosure},
		{"silence", func(net.Conn) {}, ErrIdleTimeout},
	} {
		for _, mode := range hsModes {
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				u := &Upgrader{Options: Options{IdleTimeout: 300 * time.Millisecond}}
				addr, ended := hostileServer(t, mode, u, func(c *Conn) error {
					_, _, err := c.ReadMessage()
					return err
				})
				nc := hostileDial(t, addr)
				_, err := nc.Write(half)
				require.NoError(t, err)
				tc.end(nc)
				select {
				case err := <-ended:
					require.ErrorIs(t, err, tc.want)
				case <-time.After(10 * time.Second):
					require.FailNow(t, "the handler never returned")
				}
			})
		}
	}
}

// openFDs counts this process's open file descriptors (Linux's
// /proc/self/fd, where CI runs).
func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(entries)
}

// 1,000 connections opened and dropped in five ways leave no goroutine and
// no file descriptor behind.
func TestHostileServerChurnLeavesNothing(t *testing.T) {
	const perWay = 200
	ways := []struct {
		name string
		run  func(t *testing.T, addr string)
	}{
		{"tcp only", func(t *testing.T, addr string) {
			nc, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			_ = nc.Close()
		}},
		{"half a request", func(t *testing.T, addr string) {
			nc, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			_, _ = nc.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nUpg"))
			_ = nc.Close()
		}},
		{"reset after the upgrade", func(t *testing.T, addr string) {
			nc := hostileDial(t, addr)
			_ = nc.(*net.TCPConn).SetLinger(0)
			_ = nc.Close()
		}},
		{"half a frame", func(t *testing.T, addr string) {
			nc := hostileDial(t, addr)
			_, _ = nc.Write(wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte("hello")}.Mask().Bytes()[:4])
			_ = nc.Close()
		}},
		{"closing handshake", func(t *testing.T, addr string) {
			nc := hostileDial(t, addr)
			p := peerOn(t, nc, true)
			p.Write(wstest.Frame{Fin: true, Opcode: wstest.OpClose, Payload: wstest.ClosePayload(uint16(CloseNormalClosure), "bye")}.Mask().Bytes())
			require.Equal(t, CloseNormalClosure, p.expectClose())
			p.ExpectEOF()
			_ = nc.Close()
		}},
	}
	for _, mode := range hsModes {
		t.Run(mode, func(t *testing.T) {
			u := &Upgrader{Options: Options{IdleTimeout: 2 * time.Second}}
			addr, ended := hostileServer(t, mode, u, func(c *Conn) error {
				for {
					if _, _, err := c.ReadMessage(); err != nil {
						return err
					}
				}
			})
			// Warm up, so that lazily started runtime goroutines do not
			// count as leaks.
			ways[4].run(t, addr)
			<-ended
			goroutines, fds := runtime.NumGoroutine(), openFDs(t)
			upgraded := 0
			for _, w := range ways {
				for range perWay {
					w.run(t, addr)
				}
				if w.name != "tcp only" && w.name != "half a request" {
					upgraded += perWay
				}
			}
			for range upgraded {
				select {
				case <-ended:
				case <-time.After(10 * time.Second):
					require.FailNow(t, "a handler never returned")
				}
			}
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) && (runtime.NumGoroutine() > goroutines || openFDs(t) > fds) {
				time.Sleep(20 * time.Millisecond)
			}
			assert.LessOrEqual(t, runtime.NumGoroutine(), goroutines, "goroutines left behind")
			assert.LessOrEqual(t, openFDs(t), fds, "file descriptors left behind")
		})
	}
}
