package wstest

import (
	"io"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// ServeTCP starts a raw TCP server on 127.0.0.1 that runs handle on each
// connection it accepts, each on a goroutine of its own. It returns the
// server's host:port. The connection is handle's: ServeTCP does not close
// it when handle returns, since what handle passed it to (a ws.Conn that
// lingers after its close frame, RFC 6455 §7.1.1) may still be using it.
// When the test ends the listener and the connections whose handle is
// still running are closed, and ServeTCP waits for its goroutines. It is the accept loop under tests that
// need no HTTP at all (a TCP echo, a peer that upgrades with
// ws.Upgrader.UpgradeConn); Serve is the one for scripted handshakes.
func ServeTCP(t testing.TB, handle func(nc net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[nc] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					mu.Lock()
					delete(conns, nc)
					mu.Unlock()
				}()
				handle(nc)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// Echo starts a TCP server that sends back every byte it reads, until the
// client closes: a target for proxies and tunnels.
func Echo(t testing.TB) string {
	t.Helper()
	return ServeTCP(t, func(nc net.Conn) {
		defer nc.Close()
		_, _ = io.Copy(nc, nc)
	})
}
