package bench

import (
	"bufio"
	"context"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/plainws/plainws/ws"
)

// The loopback workloads: a client and an echo server in the same process,
// over TCP on 127.0.0.1. A round trip writes one message and waits for its
// echo; a pipelined run writes b.N messages from one goroutine while another
// reads the b.N echoes. The ceiling is plain TCP doing the same writes (one
// per message, the bytes of a frame) through the same 4 KiB read buffers.

// StartServer listens on 127.0.0.1, runs serve on every accepted conn in its
// own goroutine, and stops (closing the listener and every conn) when the
// benchmark ends. It returns the listener's address.
func StartServer(tb testing.TB, serve func(net.Conn)) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
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
			conns = append(conns, nc)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { _ = nc.Close() }()
				serve(nc)
			}()
		}
	}()
	tb.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, nc := range conns {
			_ = nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// ServeEcho is plainws's echo server: upgrade a raw conn (RFC 6455 §4.2),
// then send every message back with its opcode, reusing one buffer.
func ServeEcho(nc net.Conn) {
	u := ws.Upgrader{}
	c, _, err := u.UpgradeConn(context.Background(), nc, nil)
	if err != nil {
		return
	}
	defer func() { _ = c.CloseNow() }()
	var buf []byte
	for {
		var op ws.Opcode
		if op, buf, err = c.ReadMessageInto(buf); err != nil {
			return
		}
		if err = c.WriteMessage(op, buf); err != nil {
			return
		}
	}
}

// TCPEcho returns the plain-TCP ceiling's echo server: it reads in bytes (a
// client frame) and writes out bytes (a server frame) back, one write per
// message, reading through a 4 KiB bufio.Reader as the WebSocket server does.
func TCPEcho(in, out int) func(net.Conn) {
	return func(nc net.Conn) {
		br := bufio.NewReaderSize(nc, ws.DefaultBufferSize)
		buf := make([]byte, max(in, out))
		for {
			if _, err := io.ReadFull(br, buf[:in]); err != nil {
				return
			}
			if _, err := nc.Write(buf[:out]); err != nil {
				return
			}
		}
	}
}

// DialWS dials plainws's echo server at addr.
func DialWS(tb testing.TB, addr string) *ws.Conn {
	tb.Helper()
	c, _, err := (&ws.Dialer{}).Dial(context.Background(), "ws://"+addr+"/")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// RunRoundTrip times b.N calls of write followed by read: the latency of one
// message there and back. Libraries plug in their own write and read.
func RunRoundTrip(b *testing.B, size int, write, read func() error) {
	prepare(b, size)
	for range b.N {
		if err := write(); err != nil {
			b.Fatal(err)
		}
		if err := read(); err != nil {
			b.Fatal(err)
		}
	}
}

// RunPipelined times b.N writes from one goroutine against b.N reads in
// another: the throughput of a stream of messages, with as many in flight as
// TCP's windows allow.
func RunPipelined(b *testing.B, size int, write, read func() error) {
	n := b.N
	werr := make(chan error, 1)
	prepare(b, size)
	go func() {
		for range n {
			if err := write(); err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	}()
	for range n {
		if err := read(); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-werr; err != nil {
		b.Fatal(err)
	}
}

// RoundTrip is plainws's round trip: a client WriteMessage and
// ReadMessageInto against ServeEcho.
func RoundTrip(b *testing.B, size int) {
	c := DialWS(b, StartServer(b, ServeEcho))
	write, read := wsClientOps(c, size)
	RunRoundTrip(b, size, write, read)
}

// Pipelined is plainws's pipelined echo: a writer goroutine and a reader on
// one client connection against ServeEcho.
func Pipelined(b *testing.B, size int) {
	c := DialWS(b, StartServer(b, ServeEcho))
	write, read := wsClientOps(c, size)
	RunPipelined(b, size, write, read)
}

func wsClientOps(c *ws.Conn, size int) (write, read func() error) {
	p := Payload(size)
	buf := make([]byte, 0, size)
	write = func() error { return c.WriteMessage(ws.OpBinary, p) }
	read = func() error {
		var err error
		if _, buf, err = c.ReadMessageInto(buf); err == nil && len(buf) != size {
			err = errShortMessage
		}
		return err
	}
	return write, read
}

// RoundTripTCP is the ceiling of RoundTrip: plain TCP writes of a client
// frame's size, echoed as a server frame's size.
func RoundTripTCP(b *testing.B, size int) {
	write, read := tcpClientOps(b, size)
	RunRoundTrip(b, size, write, read)
}

// PipelinedTCP is the ceiling of Pipelined, with the writes of RoundTripTCP.
func PipelinedTCP(b *testing.B, size int) {
	write, read := tcpClientOps(b, size)
	RunPipelined(b, size, write, read)
}

func tcpClientOps(b *testing.B, size int) (write, read func() error) {
	in, out := FrameSize(size, true), FrameSize(size, false)
	nc, err := net.Dial("tcp", StartServer(b, TCPEcho(in, out)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = nc.Close() })
	br := bufio.NewReaderSize(nc, ws.DefaultBufferSize)
	wbuf := make([]byte, in)
	copy(wbuf[in-size:], Payload(size))
	rbuf := make([]byte, out)
	write = func() error {
		_, err := nc.Write(wbuf)
		return err
	}
	read = func() error {
		_, err := io.ReadFull(br, rbuf)
		return err
	}
	return write, read
}
