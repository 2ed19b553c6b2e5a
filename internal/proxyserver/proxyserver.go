// Package proxyserver runs small HTTP CONNECT and SOCKS5 proxies on the
// loopback interface, so that tests and examples can exercise proxy tunnels
// without any outside service. The proxies only ever dial loopback targets:
// everything else is refused with the protocol's "not allowed" reply, so a
// test can never reach the network through them.
package proxyserver

import (
	"bufio"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options configures a proxy. An empty Username turns authentication off;
// with a Username set, clients must present exactly Username and Password
// (HTTP Basic for CONNECT, RFC 1929 for SOCKS5).
type Options struct {
	Username, Password string
}

// Server is a running proxy. It records the targets clients ask for, so a
// test can assert that a tunnel really went through it.
type Server struct {
	ln    net.Listener
	opts  Options
	socks bool

	ctx    context.Context // canceled by Close: aborts dials to targets
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept loop and every connection handler

	mu      sync.Mutex
	closed  bool
	conns   map[net.Conn]struct{} // client and target connections, closed by Close
	targets []string
}

// maxTargets bounds the list Targets returns; later targets are not
// recorded, so a long-running example cannot grow it without limit.
const maxTargets = 1024

// handshakeTimeout bounds how long a client may take to send its request,
// so a silent client cannot hold a handler forever.
const handshakeTimeout = 10 * time.Second

// dialTimeout bounds the dial to a target.
const dialTimeout = 5 * time.Second

// maxRequestHead bounds an HTTP CONNECT request head.
const maxRequestHead = 16 << 10

// StartHTTPConnect starts an HTTP proxy on 127.0.0.1 that serves CONNECT
// (RFC 9110 §9.3.6) and nothing else.
func StartHTTPConnect(opts Options) (*Server, error) {
	return start(opts, false)
}

// StartSOCKS5 starts a SOCKS5 proxy on 127.0.0.1 that serves the CONNECT
// command (RFC 1928), with username/password authentication (RFC 1929)
// when opts.Username is set.
func StartSOCKS5(opts Options) (*Server, error) {
	return start(opts, true)
}

func start(opts Options, socks bool) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxyserver: listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		ln:     ln,
		opts:   opts,
		socks:  socks,
		ctx:    ctx,
		cancel: cancel,
		conns:  make(map[net.Conn]struct{}),
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Addr returns the "127.0.0.1:port" the proxy listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL returns the proxy URL a client should use: http:// or socks5://, with
// the configured credentials as user info.
func (s *Server) URL() *url.URL {
	u := &url.URL{Scheme: "http", Host: s.Addr()}
	if s.socks {
		u.Scheme = "socks5"
	}
	if s.opts.Username != "" {
		u.User = url.UserPassword(s.opts.Username, s.opts.Password)
	}
	return u
}

// Targets returns, in order, the target ("host:port") of every
// well-formed CONNECT request the proxy has read, allowed or not (at most
// the first 1024).
func (s *Server) Targets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.targets...)
}

// Close stops listening, closes every client and target connection, and
// returns once every goroutine of the server has ended.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.ln.Close()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return err
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient accept failure (e.g. too many open files): back
			// off briefly instead of spinning.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if !s.track(c) {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			if s.socks {
				s.serveSOCKS5(c)
			} else {
				s.serveHTTP(c)
			}
		}()
	}
}

// track registers c so Close can close it; it closes c and reports false
// when the server is already closed.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = c.Close()
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	_ = c.Close()
}

func (s *Server) recordTarget(t string) {
	s.mu.Lock()
	if len(s.targets) < maxTargets {
		s.targets = append(s.targets, t)
	}
	s.mu.Unlock()
}

// errNotAllowed: the target is not a loopback address.
var errNotAllowed = errors.New("proxyserver: only loopback targets are allowed")

// dialTarget dials host:port if host is a loopback IP literal or
// "localhost" (mapped to 127.0.0.1 without asking a resolver), and
// registers the connection for Close.
func (s *Server) dialTarget(host string, port uint16) (net.Conn, error) {
	var ip netip.Addr
	if strings.EqualFold(host, "localhost") {
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	} else {
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Unmap().IsLoopback() || a.Zone() != "" {
			return nil, errNotAllowed
		}
		ip = a.Unmap()
	}
	d := net.Dialer{Timeout: dialTimeout}
	c, err := d.DialContext(s.ctx, "tcp", netip.AddrPortFrom(ip, port).String())
	if err != nil {
		return nil, err
	}
	if !s.track(c) {
		return nil, net.ErrClosed
	}
	return c, nil
}

// relay copies both ways between client and target until both directions
// have ended; an EOF in one direction is passed on as a half-close. early
// holds bytes the client sent after its request, to be delivered first.
func relay(client, target net.Conn, early []byte) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if len(early) > 0 {
			if _, err := target.Write(early); err != nil {
				_ = target.Close()
				return
			}
		}
		copyHalf(target, client)
	}()
	copyHalf(client, target)
	<-done
}

// copyHalf copies src to dst; at src's EOF it half-closes dst so the peer
// sees the end, and on an error it closes both to end the other direction.
func copyHalf(dst, src net.Conn) {
	_, err := io.Copy(dst, src)
	if cw, ok := dst.(interface{ CloseWrite() error }); ok && err == nil {
		_ = cw.CloseWrite()
		return
	}
	_ = dst.Close()
	_ = src.Close()
}

// ---------------------------------------------------------------------------
// HTTP CONNECT

func (s *Server) serveHTTP(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	br := bufio.NewReader(io.LimitReader(c, maxRequestHead))
	req, err := http.ReadRequest(br)
	if err != nil {
		writeHTTPStatus(c, http.StatusBadRequest, "")
		return
	}
	if req.Method != http.MethodConnect {
		writeHTTPStatus(c, http.StatusMethodNotAllowed, "")
		return
	}
	target := req.RequestURI
	s.recordTarget(target)
	if s.opts.Username != "" && !s.httpAuthOK(req.Header.Get("Proxy-Authorization")) {
		// RFC 9110 §11.7.1: a 407 carries a Proxy-Authenticate challenge.
		writeHTTPStatus(c, http.StatusProxyAuthRequired, "Proxy-Authenticate: Basic realm=\"proxyserver\"\r\n")
		return
	}
	host, portStr, err := net.SplitHostPort(target)
	port, perr := strconv.ParseUint(portStr, 10, 16)
	if err != nil || perr != nil || port == 0 {
		writeHTTPStatus(c, http.StatusBadRequest, "")
		return
	}
	t, err := s.dialTarget(host, uint16(port))
	switch {
	case errors.Is(err, errNotAllowed):
		writeHTTPStatus(c, http.StatusForbidden, "")
		return
	case err != nil:
		writeHTTPStatus(c, http.StatusBadGateway, "")
		return
	}
	defer s.untrack(t)
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	_ = c.SetDeadline(time.Time{})
	early, _ := br.Peek(br.Buffered())
	relay(c, t, append([]byte(nil), early...))
}

func (s *Server) httpAuthOK(h string) bool {
	const prefix = "Basic "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(h[len(prefix):]))
	if err != nil {
		return false
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	return ok && s.credentialsOK(user, pass)
}

func (s *Server) credentialsOK(user, pass string) bool {
	u := subtle.ConstantTimeCompare([]byte(user), []byte(s.opts.Username))
	p := subtle.ConstantTimeCompare([]byte(pass), []byte(s.opts.Password))
	return u&p == 1
}

func writeHTTPStatus(c net.Conn, code int, extra string) {
	_, _ = fmt.Fprintf(c, "HTTP/1.1 %d %s\r\n%sContent-Length: 0\r\nConnection: close\r\n\r\n", code, http.StatusText(code), extra)
}

// ---------------------------------------------------------------------------
// SOCKS5

// SOCKS5 reply codes (RFC 1928 §6) the server sends.
const (
	repSucceeded       = 0x00
	repGeneralFailure  = 0x01
	repNotAllowed      = 0x02
	repHostUnreachable = 0x04
	repRefused         = 0x05
	repCmdUnsupported  = 0x07
	repAtypUnsupported = 0x08
)

func (s *Server) serveSOCKS5(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	var buf [512]byte
	// RFC 1928 §3: VER NMETHODS METHODS.
	if _, err := io.ReadFull(c, buf[:2]); err != nil || buf[0] != 5 {
		return
	}
	methods := buf[2 : 2+int(buf[1])]
	if _, err := io.ReadFull(c, methods); err != nil {
		return
	}
	want := byte(0x00)
	if s.opts.Username != "" {
		want = 0x02
	}
	if !containsByte(methods, want) {
		_, _ = c.Write([]byte{5, 0xFF})
		return
	}
	if _, err := c.Write([]byte{5, want}); err != nil {
		return
	}
	if want == 0x02 && !s.socksAuth(c) {
		return
	}
	// RFC 1928 §4: VER CMD RSV ATYP DST.ADDR DST.PORT.
	if _, err := io.ReadFull(c, buf[:4]); err != nil || buf[0] != 5 {
		return
	}
	cmd, atyp := buf[1], buf[3]
	var host string
	switch atyp {
	case 0x01, 0x04:
		n := 4
		if atyp == 0x04 {
			n = 16
		}
		if _, err := io.ReadFull(c, buf[:n]); err != nil {
			return
		}
		a, _ := netip.AddrFromSlice(buf[:n])
		host = a.String()
	case 0x03:
		if _, err := io.ReadFull(c, buf[:1]); err != nil {
			return
		}
		n := int(buf[0])
		if _, err := io.ReadFull(c, buf[:n]); err != nil {
			return
		}
		host = string(buf[:n])
	default:
		writeSOCKSReply(c, repAtypUnsupported, nil)
		return
	}
	if _, err := io.ReadFull(c, buf[:2]); err != nil {
		return
	}
	port := uint16(buf[0])<<8 | uint16(buf[1])
	s.recordTarget(net.JoinHostPort(host, strconv.Itoa(int(port))))
	if cmd != 0x01 {
		writeSOCKSReply(c, repCmdUnsupported, nil)
		return
	}
	t, err := s.dialTarget(host, port)
	switch {
	case errors.Is(err, errNotAllowed):
		writeSOCKSReply(c, repNotAllowed, nil)
		return
	case errors.Is(err, syscall.ECONNREFUSED):
		writeSOCKSReply(c, repRefused, nil)
		return
	case errors.Is(err, context.DeadlineExceeded):
		writeSOCKSReply(c, repHostUnreachable, nil)
		return
	case err != nil:
		writeSOCKSReply(c, repGeneralFailure, nil)
		return
	}
	defer s.untrack(t)
	if !writeSOCKSReply(c, repSucceeded, t.LocalAddr()) {
		return
	}
	_ = c.SetDeadline(time.Time{})
	relay(c, t, nil)
}

// socksAuth runs the RFC 1929 subnegotiation and reports whether the
// client's credentials matched.
func (s *Server) socksAuth(c net.Conn) bool {
	var buf [256]byte
	// RFC 1929 §2: VER ULEN UNAME PLEN PASSWD.
	if _, err := io.ReadFull(c, buf[:2]); err != nil || buf[0] != 1 {
		return false
	}
	user := make([]byte, buf[1])
	if _, err := io.ReadFull(c, user); err != nil {
		return false
	}
	if _, err := io.ReadFull(c, buf[:1]); err != nil {
		return false
	}
	pass := make([]byte, buf[0])
	if _, err := io.ReadFull(c, pass); err != nil {
		return false
	}
	if !s.credentialsOK(string(user), string(pass)) {
		// RFC 1929 §2: on failure the server MUST close the connection
		// (the handler does on return).
		_, _ = c.Write([]byte{1, 0x01})
		return false
	}
	_, err := c.Write([]byte{1, 0x00})
	return err == nil
}

// writeSOCKSReply sends VER REP RSV ATYP BND.ADDR BND.PORT (RFC 1928 §6),
// with bound as the address, or 0.0.0.0:0 when there is none.
func writeSOCKSReply(c net.Conn, rep byte, bound net.Addr) bool {
	ap := netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	if ta, ok := bound.(*net.TCPAddr); ok {
		ap = ta.AddrPort()
	}
	ip := ap.Addr().Unmap()
	msg := []byte{5, rep, 0x00}
	if ip.Is4() {
		a := ip.As4()
		msg = append(msg, 0x01)
		msg = append(msg, a[:]...)
	} else {
		a := ip.As16()
		msg = append(msg, 0x04)
		msg = append(msg, a[:]...)
	}
	msg = append(msg, byte(ap.Port()>>8), byte(ap.Port()))
	_, err := c.Write(msg)
	return err == nil
}

func containsByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}
