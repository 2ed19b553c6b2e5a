package wstest

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Server is a scripted raw server on 127.0.0.1: no net/http, no package ws,
// only the bytes its script writes. It accepts every connection, reads the
// request head, and runs the script on it.
type Server struct {
	// URL is "ws://" and Addr: the URL a client dials.
	URL string
	// Addr is the host:port the server listens on.
	Addr string

	t     testing.TB
	ln    net.Listener
	peers chan *Peer
	done  chan struct{}

	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// Peer is the server's side of one connection, handed to the script once
// the request head is read. Its Wire methods script the rest.
type Peer struct {
	Wire
	// Head is the request head byte for byte, up to and with the blank line.
	Head string
	// Req is Head parsed by net/http; nil when Err is set.
	Req *http.Request
	// Err is why the head could not be read or parsed; the script does not
	// run then.
	Err error
	// Closed is set by DrainAfter: whether the client closed the
	// connection cleanly once the script had run.
	Closed bool
}

// Script is what a Server does on each connection.
type Script func(p *Peer)

// Serve starts a scripted raw server. For each connection it reads the
// request head byte by byte (so nothing after it is consumed), parses it,
// and runs script, then closes the connection and reports the Peer to Next.
// A nil script does nothing. The server is closed, its connections with it,
// and its goroutines waited for when the test ends.
func Serve(t testing.TB, script Script) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &Server{
		URL:   "ws://" + ln.Addr().String(),
		Addr:  ln.Addr().String(),
		t:     t,
		ln:    ln,
		peers: make(chan *Peer, 64),
		done:  make(chan struct{}),
		conns: map[net.Conn]bool{},
	}
	s.wg.Add(1)
	go s.accept(script)
	t.Cleanup(s.Close)
	return s
}

func (s *Server) accept(script Script) {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[nc] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(nc, script)
	}
}

func (s *Server) serve(nc net.Conn, script Script) {
	p := &Peer{Wire: newWire(s.t, nc, s.done)}
	defer s.wg.Done()
	defer func() {
		// Deferred so that it runs when a failed expectation ends the
		// goroutine too.
		_ = nc.Close()
		s.mu.Lock()
		delete(s.conns, nc)
		s.mu.Unlock()
		select {
		case s.peers <- p:
		default: // nobody waits for this many; drop the report
		}
	}()
	p.Head, p.Req, p.Err = ReadRequest(nc)
	if p.Err != nil || script == nil {
		return
	}
	script(p)
}

// Close stops the server: the listener and every open connection are
// closed, scripts that were Silent return, and Close waits for the server's
// goroutines. It runs at the end of the test; calling it earlier is allowed.
func (s *Server) Close() {
	s.mu.Lock()
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	_ = s.ln.Close()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Next waits for the next connection whose script has ended and returns
// what the server saw of it.
func (s *Server) Next(t testing.TB) *Peer {
	t.Helper()
	select {
	case p := <-s.peers:
		return p
	case <-time.After(DefaultTimeout):
		require.FailNow(t, "wstest: the scripted server saw no connection end")
		return nil
	}
}

// ReadRequest reads a request head with ReadHead (nothing after it is
// consumed) and parses it with net/http.
func ReadRequest(r io.Reader) (string, *http.Request, error) {
	head, err := ReadHead(r)
	if err != nil {
		return head, nil, err
	}
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head)))
	return head, req, err
}

// Answer is a script that writes resp with Respond and nothing else.
func Answer(resp string) Script {
	return func(p *Peer) { p.Respond(resp) }
}

// Drained is script (which may be nil) followed by DrainAfter: the peer
// then reads until the client closes, and Next reports in Closed whether
// the client let the connection go cleanly.
func Drained(script Script) Script {
	return func(p *Peer) {
		if script != nil {
			script(p)
		}
		p.DrainAfter()
	}
}

// Key returns the request's Sec-WebSocket-Key.
func (p *Peer) Key() string { return p.Req.Header.Get("Sec-WebSocket-Key") }

// Upgrade answers the request with a 101 (RFC 6455 §4.2.2 item 5) whose
// Sec-WebSocket-Accept is computed from the request's key, with the extra
// header lines given as "Name: value".
func (p *Peer) Upgrade(extra ...string) {
	p.T.Helper()
	p.WriteString(Switching(p.Key(), extra...))
}

// Respond writes resp as it is, with "{accept}" replaced by the right
// accept value for the request (see Fill): any status, headers or body.
func (p *Peer) Respond(resp string) {
	p.T.Helper()
	p.WriteString(Fill(resp, p.Req))
}

// DrainAfter reads until the client closes and records in Closed whether it
// did so cleanly: what a script ends with to learn whether the client let
// the connection go.
func (p *Peer) DrainAfter() {
	p.Closed = p.Drain()
}

// Lines splits a request or response head into its lines, without the final
// blank one.
func Lines(head string) []string {
	return strings.Split(strings.TrimSuffix(head, "\r\n\r\n"), "\r\n")
}

// UpgradeAnd writes the 101 of Upgrade and b behind it in one write, so
// that a client can find the first frames in the same read as the
// handshake's end (RFC 6455 §4.1: bytes after the head are frames).
func (p *Peer) UpgradeAnd(b []byte) {
	p.T.Helper()
	p.Write(append([]byte(Switching(p.Key())), b...))
}
