package proxyserver

import (
	"bufio"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// echoServer is a loopback TCP echo listener; closing it waits for its
// goroutines.
type echoServer struct {
	ln net.Listener
	wg sync.WaitGroup
}

func startEcho(t *testing.T) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	e := &echoServer{ln: ln}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		e.wg.Wait()
	})
	return e
}

func (e *echoServer) addr() string { return e.ln.Addr().String() }

// refusedAddr returns a loopback address nothing listens on.
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	require.NoError(t, c.SetDeadline(time.Now().Add(5*time.Second)))
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// httpConnect sends a CONNECT (with Basic credentials when auth is not
// empty) and returns the reply and the reader positioned after its head.
func httpConnect(t *testing.T, s *Server, target, auth string, early string) (*http.Response, *bufio.Reader, net.Conn) {
	t.Helper()
	c := dial(t, s.Addr())
	req := "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n"
	if auth != "" {
		req += "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(auth)) + "\r\n"
	}
	_, err := io.WriteString(c, req+"\r\n"+early)
	require.NoError(t, err)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	require.NoError(t, err)
	return resp, br, c
}

func assertEcho(t *testing.T, w io.Writer, r io.Reader, msg string) {
	t.Helper()
	_, err := io.WriteString(w, msg)
	require.NoError(t, err)
	got := make([]byte, len(msg))
	_, err = io.ReadFull(r, got)
	require.NoError(t, err)
	assert.Equal(t, msg, string(got))
}

func TestServerAddrAndURL(t *testing.T) {
	h, err := StartHTTPConnect(Options{})
	require.NoError(t, err)
	defer h.Close()
	assert.True(t, strings.HasPrefix(h.Addr(), "127.0.0.1:"))
	assert.Equal(t, "http://"+h.Addr(), h.URL().String())

	s, err := StartSOCKS5(Options{Username: "u s", Password: "p@ss"})
	require.NoError(t, err)
	defer s.Close()
	u := s.URL()
	assert.Equal(t, "socks5", u.Scheme)
	assert.Equal(t, s.Addr(), u.Host)
	assert.Equal(t, "u s", u.User.Username())
	pass, ok := u.User.Password()
	assert.True(t, ok)
	assert.Equal(t, "p@ss", pass)
}

func TestHTTPConnectTunnel(t *testing.T) {
	echo := startEcho(t)
	s, err := StartHTTPConnect(Options{})
	require.NoError(t, err)
	defer s.Close()

	resp, br, c := httpConnect(t, s, echo.addr(), "", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assertEcho(t, c, br, "hello through CONNECT")
	assert.Equal(t, []string{echo.addr()}, s.Targets())
}

func TestHTTPConnectEarlyDataIsForwarded(t *testing.T) {
	// Bytes the client sends right behind its request head are the
	// target's, and must not be dropped with the proxy's read buffer.
	echo := startEcho(t)
	s, err := StartHTTPConnect(Options{})
	require.NoError(t, err)
	defer s.Close()

	resp, br, _ := httpConnect(t, s, echo.addr(), "", "early")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	got := make([]byte, 5)
	_, err = io.ReadFull(br, got)
	require.NoError(t, err)
	assert.Equal(t, "early", string(got))
}

func TestHTTPConnectAuth(t *testing.T) {
	echo := startEcho(t)
	s, err := StartHTTPConnect(Options{Username: "alice", Password: "secret"})
	require.NoError(t, err)
	defer s.Close()

	resp, _, _ := httpConnect(t, s, echo.addr(), "", "")
	assert.Equal(t, http.StatusProxyAuthRequired, resp.StatusCode)
	// RFC 9110 §11.7.1: the 407 carries a challenge.
	assert.Contains(t, resp.Header.Get("Proxy-Authenticate"), "Basic")

	resp, _, _ = httpConnect(t, s, echo.addr(), "alice:wrong", "")
	assert.Equal(t, http.StatusProxyAuthRequired, resp.StatusCode)

	resp, br, c := httpConnect(t, s, echo.addr(), "alice:secret", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assertEcho(t, c, br, "authenticated")
}

func TestHTTPConnectRefusals(t *testing.T) {
	s, err := StartHTTPConnect(Options{})
	require.NoError(t, err)
	defer s.Close()
	closed := refusedAddr(t)

	for _, tc := range []struct {
		target string
		code   int
	}{
		{"192.0.2.1:80", http.StatusForbidden},    // not loopback: never dialed
		{"example.com:443", http.StatusForbidden}, // names other than localhost: never resolved
		{"[2001:db8::1]:80", http.StatusForbidden},
		{closed, http.StatusBadGateway}, // loopback, but nothing listens
		{"127.0.0.1:0", http.StatusBadRequest},
	} {
		resp, _, _ := httpConnect(t, s, tc.target, "", "")
		assert.Equal(t, tc.code, resp.StatusCode, tc.target)
	}
	assert.Equal(t, []string{"192.0.2.1:80", "example.com:443", "[2001:db8::1]:80", closed, "127.0.0.1:0"}, s.Targets())
}

func TestHTTPConnectOnlyServesCONNECT(t *testing.T) {
	s, err := StartHTTPConnect(Options{})
	require.NoError(t, err)
	defer s.Close()
	c := dial(t, s.Addr())
	_, err = io.WriteString(c, "GET http://127.0.0.1/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Empty(t, s.Targets())
}

// socksClient speaks just enough SOCKS5 to drive the server.
type socksClient struct {
	t *testing.T
	c net.Conn
}

func newSOCKSClient(t *testing.T, s *Server) *socksClient {
	return &socksClient{t: t, c: dial(t, s.Addr())}
}

func (sc *socksClient) write(b ...byte) {
	sc.t.Helper()
	_, err := sc.c.Write(b)
	require.NoError(sc.t, err)
}

func (sc *socksClient) read(n int) []byte {
	sc.t.Helper()
	b := make([]byte, n)
	_, err := io.ReadFull(sc.c, b)
	require.NoError(sc.t, err)
	return b
}

// connect sends a CONNECT request with the given ATYP and address bytes and
// returns VER, REP and the rest of the reply.
func (sc *socksClient) connect(cmd, atyp byte, addr []byte, port int) (rep byte) {
	sc.t.Helper()
	req := append([]byte{5, cmd, 0, atyp}, addr...)
	req = append(req, byte(port>>8), byte(port))
	sc.write(req...)
	head := sc.read(4)
	require.Equal(sc.t, byte(5), head[0])
	require.Equal(sc.t, byte(0), head[2])
	switch head[3] {
	case 1:
		sc.read(4 + 2)
	case 4:
		sc.read(16 + 2)
	default:
		sc.t.Fatalf("unexpected ATYP %d", head[3])
	}
	return head[1]
}

func splitPort(t *testing.T, addr string) (string, int) {
	host, p, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	port, err := strconv.Atoi(p)
	require.NoError(t, err)
	return host, port
}

func TestSOCKS5Tunnel(t *testing.T) {
	echo := startEcho(t)
	_, port := splitPort(t, echo.addr())
	s, err := StartSOCKS5(Options{})
	require.NoError(t, err)
	defer s.Close()

	sc := newSOCKSClient(t, s)
	sc.write(5, 1, 0x00)
	assert.Equal(t, []byte{5, 0x00}, sc.read(2))
	require.Equal(t, byte(0), sc.connect(1, 1, []byte{127, 0, 0, 1}, port))
	assertEcho(t, sc.c, sc.c, "hello through SOCKS5")

	// A domain name target: "localhost" is the one name allowed.
	sc = newSOCKSClient(t, s)
	sc.write(5, 1, 0x00)
	sc.read(2)
	require.Equal(t, byte(0), sc.connect(1, 3, append([]byte{9}, "localhost"...), port))
	assertEcho(t, sc.c, sc.c, "by name")

	assert.Equal(t, []string{echo.addr(), "localhost:" + strconv.Itoa(port)}, s.Targets())
}

func TestSOCKS5Auth(t *testing.T) {
	echo := startEcho(t)
	_, port := splitPort(t, echo.addr())
	s, err := StartSOCKS5(Options{Username: "alice", Password: "secret"})
	require.NoError(t, err)
	defer s.Close()

	// RFC 1928 §3: without username/password among the offered methods the
	// server answers X'FF'.
	sc := newSOCKSClient(t, s)
	sc.write(5, 1, 0x00)
	assert.Equal(t, []byte{5, 0xFF}, sc.read(2))

	// RFC 1929 §2: wrong password → STATUS ≠ 0 and the connection closes.
	sc = newSOCKSClient(t, s)
	sc.write(5, 2, 0x00, 0x02)
	assert.Equal(t, []byte{5, 0x02}, sc.read(2))
	sc.write(append(append([]byte{1, 5}, "alice"...), append([]byte{5}, "wrong"...)...)...)
	st := sc.read(2)
	assert.Equal(t, byte(1), st[0])
	assert.NotEqual(t, byte(0), st[1])
	_, err = sc.c.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF)

	sc = newSOCKSClient(t, s)
	sc.write(5, 2, 0x00, 0x02)
	assert.Equal(t, []byte{5, 0x02}, sc.read(2))
	sc.write(append(append([]byte{1, 5}, "alice"...), append([]byte{6}, "secret"...)...)...)
	assert.Equal(t, []byte{1, 0}, sc.read(2))
	require.Equal(t, byte(0), sc.connect(1, 1, []byte{127, 0, 0, 1}, port))
	assertEcho(t, sc.c, sc.c, "authenticated")
}

func TestSOCKS5Refusals(t *testing.T) {
	s, err := StartSOCKS5(Options{})
	require.NoError(t, err)
	defer s.Close()
	_, closedPort := splitPort(t, refusedAddr(t))

	for _, tc := range []struct {
		name string
		cmd  byte
		atyp byte
		addr []byte
		rep  byte
	}{
		{"public IPv4 not allowed", 1, 1, []byte{192, 0, 2, 1}, 0x02},
		{"public IPv6 not allowed", 1, 4, []byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}, 0x02},
		{"other names not allowed", 1, 3, append([]byte{11}, "example.com"...), 0x02},
		{"refused target", 1, 1, []byte{127, 0, 0, 1}, 0x05},
		{"BIND unsupported", 2, 1, []byte{127, 0, 0, 1}, 0x07},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := newSOCKSClient(t, s)
			sc.write(5, 1, 0x00)
			sc.read(2)
			assert.Equal(t, tc.rep, sc.connect(tc.cmd, tc.atyp, tc.addr, closedPort))
		})
	}

	// An unknown ATYP cannot even be parsed: X'08' address type not supported.
	sc := newSOCKSClient(t, s)
	sc.write(5, 1, 0x00)
	sc.read(2)
	sc.write(5, 1, 0, 0x09)
	assert.Equal(t, []byte{5, 0x08, 0}, sc.read(3))
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	echo := startEcho(t)
	_, port := splitPort(t, echo.addr())
	before := runtime.NumGoroutine()

	h, err := StartHTTPConnect(Options{})
	require.NoError(t, err)
	s, err := StartSOCKS5(Options{})
	require.NoError(t, err)

	// An open tunnel through each, an idle client that never speaks, and a
	// client whose tunnel the client itself half-closed.
	resp, br, c := httpConnect(t, h, echo.addr(), "", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assertEcho(t, c, br, "x")
	sc := newSOCKSClient(t, s)
	sc.write(5, 1, 0x00)
	sc.read(2)
	require.Equal(t, byte(0), sc.connect(1, 1, []byte{127, 0, 0, 1}, port))
	assertEcho(t, sc.c, sc.c, "y")
	dial(t, h.Addr())
	dial(t, s.Addr())
	resp, _, c2 := httpConnect(t, h, echo.addr(), "", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, c2.(*net.TCPConn).CloseWrite())

	require.NoError(t, h.Close())
	require.NoError(t, s.Close())
	assert.NoError(t, h.Close(), "Close is idempotent")

	// The tunnels are gone: the clients see the end of their streams.
	_, err = c.Read(make([]byte, 1))
	assert.Error(t, err)
	_, err = sc.c.Read(make([]byte, 1))
	assert.Error(t, err)
	// And nothing listens any more.
	_, err = net.Dial("tcp", h.Addr())
	assert.Error(t, err)

	after := runtime.NumGoroutine()
	for i := 0; i < 200 && after > before; i++ {
		time.Sleep(10 * time.Millisecond)
		after = runtime.NumGoroutine()
	}
	assert.LessOrEqual(t, after, before, "goroutines left behind after Close")
}
