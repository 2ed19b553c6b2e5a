package wstest

import (
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// Listen returns a TCP listener on 127.0.0.1 with a port the kernel picks,
// closed when the test ends.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// TCPPair returns the two ends of a loopback TCP connection, closed when the
// test ends. Unlike net.Pipe, writes do not wait for the reader (the kernel
// buffers them), so a test can script one end's bytes before the other
// reads.
func TCPPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() { c, err := ln.Accept(); ch <- res{c, err} }()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		_ = ln.Close()
		<-ch
		require.NoError(t, err)
	}
	r := <-ch
	require.NoError(t, r.err)
	t.Cleanup(func() { _ = a.Close(); _ = r.c.Close() })
	return a, r.c
}

// UnusedPort returns a loopback TCP port that nobody listens on: one the
// kernel handed out and that was released at once, for tests of a refused
// connection or of binding a chosen local port. Another process could take
// it in between; on a test machine that is rare enough.
func UnusedPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

// UnusedAddr is UnusedPort as "127.0.0.1:port".
func UnusedAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(UnusedPort(t)))
}
