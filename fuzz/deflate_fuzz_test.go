package fuzz

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/require"
)

// deflateReadLimit bounds what one fuzz input may make the Conn hold.
const deflateReadLimit = 1 << 16

// scriptedServerConn is the server end of a handshake, scripted: it reads
// the client's upgrade request from what the client writes, answers 101 with
// a permessage-deflate extension header, then yields the fuzz bytes as the
// server's frames and swallows everything else the client writes.
type scriptedServerConn struct {
	req  bytes.Buffer
	ext  string
	data []byte
	out  *bytes.Reader
}

func (s *scriptedServerConn) Read(p []byte) (int, error) {
	if s.out == nil {
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(s.req.Bytes())))
		if err != nil {
			return 0, err
		}
		resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + ws.AcceptKey(req.Header.Get("Sec-WebSocket-Key")) + "\r\n" +
			"Sec-WebSocket-Extensions: " + s.ext + "\r\n\r\n"
		s.out = bytes.NewReader(append([]byte(resp), s.data...))
	}
	return s.out.Read(p)
}

func (s *scriptedServerConn) Write(p []byte) (int, error) {
	if s.out == nil {
		s.req.Write(p)
	}
	return len(p), nil
}
func (s *scriptedServerConn) Close() error                     { return nil }
func (s *scriptedServerConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (s *scriptedServerConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (s *scriptedServerConn) SetDeadline(time.Time) error      { return nil }
func (s *scriptedServerConn) SetReadDeadline(time.Time) error  { return nil }
func (s *scriptedServerConn) SetWriteDeadline(time.Time) error { return nil }

// deflateExt picks the server's answer from a fuzz byte: the takeover
// parameters and a window limit on the server's side, all of which a client
// that offered plain permessage-deflate must accept (RFC 7692 §7.1).
func deflateExt(mode byte) string {
	ext := "permessage-deflate"
	if mode&1 != 0 {
		ext += "; server_no_context_takeover"
	}
	if mode&2 != 0 {
		ext += "; client_no_context_takeover"
	}
	if mode&4 != 0 {
		ext += "; server_max_window_bits=" + strconv.Itoa(8+int(mode>>5&1))
	}
	return ext
}

// compressedFrame is a server frame (unmasked) with RSV1 set when rsv1.
func compressedFrame(fin, rsv1 bool, op ws.Opcode, payload []byte) []byte {
	h := ws.Header{Fin: fin, Opcode: op, Length: int64(len(payload))}
	if rsv1 {
		h.Rsv = ws.Rsv1
	}
	return append(ws.AppendHeader(nil, h), payload...)
}

func deflateReadSeeds(f *testing.F) {
	hello := []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}
	// RFC 7692 §7.2.3: the examples, alone and together.
	f.Add(compressedFrame(true, true, ws.OpText, hello), byte(0))
	f.Add(append(compressedFrame(true, true, ws.OpText, hello), compressedFrame(true, true, ws.OpText, []byte{0xf2, 0x00, 0x11, 0x00, 0x00})...), byte(0))
	f.Add(append(compressedFrame(false, true, ws.OpText, hello[:3]), compressedFrame(true, false, ws.OpContinuation, hello[3:])...), byte(1))
	f.Add(compressedFrame(true, true, ws.OpBinary, []byte{0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}), byte(2))
	f.Add(compressedFrame(true, true, ws.OpText, []byte{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}), byte(4))
	f.Add(compressedFrame(true, true, ws.OpText, []byte{0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00}), byte(3))
	// Empty, corrupt, RSV1 where it may not be, a ping inside a message.
	f.Add(compressedFrame(true, true, ws.OpBinary, nil), byte(0))
	f.Add(compressedFrame(true, true, ws.OpBinary, []byte{0xff, 0xff, 0xff}), byte(0))
	f.Add(append(compressedFrame(false, true, ws.OpText, hello[:2]), compressedFrame(true, true, ws.OpContinuation, hello[2:])...), byte(0))
	f.Add(append(append(compressedFrame(false, true, ws.OpText, hello[:4]), compressedFrame(true, false, ws.OpPing, []byte("p"))...), compressedFrame(true, false, ws.OpContinuation, hello[4:])...), byte(0))
	f.Add(compressedFrame(true, true, ws.OpPing, nil), byte(0))
	// A small bomb: many zeros compressed at level 9, over the read limit.
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.BestCompression)
	_, _ = fw.Write(make([]byte, 4*deflateReadLimit))
	_ = fw.Flush()
	f.Add(compressedFrame(true, true, ws.OpBinary, buf.Bytes()[:buf.Len()-4]), byte(0))
	// Text that inflates to invalid UTF-8.
	buf.Reset()
	fw.Reset(&buf)
	_, _ = fw.Write([]byte("ok \xed\xa0\x80"))
	_ = fw.Flush()
	f.Add(compressedFrame(true, true, ws.OpText, buf.Bytes()[:buf.Len()-4]), byte(0))
}

// FuzzDeflateRead: a client Conn that negotiated permessage-deflate
// through a real handshake reads an arbitrary byte stream from the server.
// No panic, no message over the read limit (inflated bytes count, so no
// decompression bomb gets through), valid UTF-8 in every text message, and
// every error is one a caller can match: a *ws.ProtocolError with the code
// RFC 6455/7692 give, the peer's *ws.CloseError, or ws.ErrAbnormalClosure
// when the stream just ends.
func FuzzDeflateRead(f *testing.F) {
	deflateReadSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte, mode byte) {
		nc := &scriptedServerConn{ext: deflateExt(mode), data: data}
		d := &ws.Dialer{Options: ws.Options{
			ReadLimit: deflateReadLimit, ReadBufferSize: 512, CloseTimeout: time.Millisecond,
			Compression: &ws.CompressionOptions{},
		}}
		c, _, err := d.Handshake(context.Background(), nc, "ws://fuzz.test/")
		require.NoError(t, err)
		_, ok := c.Compression()
		require.True(t, ok, "permessage-deflate negotiated")
		checkDeflateEnd(t, readAllBounded(t, c))
		_, _, err2 := c.ReadMessage()
		require.Error(t, err2, "errors are sticky")
	})
}

// FuzzDeflateRoundTrip: whatever messages a compressing Conn sends, with any
// combination of negotiated parameters, in either direction, whole or
// streamed, with pings between them, the peer reads exactly those messages.
// It is the context-takeover consistency check of RFC 7692 §7.2 over random
// traffic: the two ends' windows must never drift apart.
func FuzzDeflateRoundTrip(f *testing.F) {
	f.Add([]byte("Hello, Hello, Hello, Hello"), uint16(0))
	f.Add(bytes.Repeat([]byte("abcdefgh"), 600), uint16(0x1ff))
	f.Add([]byte{}, uint16(0x0a5))
	f.Add(bytes.Repeat([]byte{0, 1, 2, 3, 0xff}, 3000), uint16(0x35a))
	f.Fuzz(deflateRoundTrip)
}

func deflateRoundTrip(t *testing.T, data []byte, cfg uint16) {
	{
		if len(data) > 1<<16 {
			data = data[:1<<16]
		}
		co := &ws.CompressionOptions{
			ServerNoContextTakeover: cfg&1 != 0,
			ClientNoContextTakeover: cfg&2 != 0,
			Threshold:               []int{-1, 0, 16, 1 << 20}[cfg>>2&3],
			Level:                   []int{0, -2, 6, 9}[cfg>>4&3],
		}
		so := &ws.CompressionOptions{
			ServerNoContextTakeover: cfg&0x40 != 0,
			ClientNoContextTakeover: cfg&0x80 != 0,
			Threshold:               co.Threshold,
		}
		if cfg&0x100 != 0 {
			co.ServerMaxWindowBits = 9
		}
		if cfg&0x200 != 0 {
			co.ClientMaxWindowBits = 10
		}
		a, b := net.Pipe()
		type res struct {
			c   *ws.Conn
			err error
		}
		ch := make(chan res, 1)
		go func() {
			u := &ws.Upgrader{Options: ws.Options{Compression: so, ReadLimit: -1}}
			c, _, err := u.UpgradeConn(context.Background(), b, nil)
			ch <- res{c, err}
		}()
		client, _, err := (&ws.Dialer{Options: ws.Options{Compression: co, ReadLimit: -1, WriteBufferSize: 256}}).Handshake(context.Background(), a, "ws://fuzz.test/")
		r := <-ch
		require.NoError(t, err)
		require.NoError(t, r.err)
		server := r.c
		_, ok := client.Compression()
		require.True(t, ok)

		// Each side reads in its own goroutine (net.Pipe is synchronous,
		// and pongs must flow), handing messages over.
		type msg struct {
			op   ws.Opcode
			data []byte
		}
		inbox := func(c *ws.Conn) chan msg {
			ch := make(chan msg)
			go func() {
				defer close(ch)
				for {
					op, data, err := c.ReadMessage()
					if err != nil {
						return
					}
					ch <- msg{op, data}
				}
			}()
			return ch
		}
		toServer, toClient := inbox(server), inbox(client)
		defer func() {
			_ = client.CloseNow()
			_ = server.CloseNow()
			for range toServer {
			}
			for range toClient {
			}
		}()

		rng := rand.New(rand.NewPCG(uint64(cfg), uint64(len(data))))
		for len(data) > 0 || rng.IntN(4) == 0 {
			n := min(len(data), rng.IntN(3000))
			payload := data[:n]
			data = data[n:]
			from, in := client, toServer
			if rng.IntN(2) == 0 {
				from, in = server, toClient
			}
			if rng.IntN(4) == 0 {
				require.NoError(t, from.WritePing(payload[:min(len(payload), 125)]))
			}
			whole := rng.IntN(2) == 0
			errc := make(chan error, 1)
			go func() {
				if whole {
					errc <- from.WriteMessage(ws.OpBinary, payload)
					return
				}
				w, err := from.NextWriter(ws.OpBinary)
				if err != nil {
					errc <- err
					return
				}
				for p := payload; len(p) > 0; {
					k := min(len(p), 1+int(p[0])*4)
					if _, err := w.Write(p[:k]); err != nil {
						errc <- err
						return
					}
					p = p[k:]
				}
				errc <- w.Close()
			}()
			got, ok := <-in
			require.True(t, ok, "the reader failed")
			require.NoError(t, <-errc)
			require.Equal(t, ws.OpBinary, got.op)
			require.True(t, bytes.Equal(payload, got.data), "message of %d bytes came back as %d bytes", len(payload), len(got.data))
		}
	}
}

// readAllBounded reads messages until an error, requiring each to fit the
// read limit and text to be UTF-8, and returns the error.
func readAllBounded(t *testing.T, c *ws.Conn) error {
	var buf []byte
	for {
		op, msg, err := c.ReadMessageInto(buf)
		if err != nil {
			return err
		}
		buf = msg
		require.LessOrEqual(t, len(buf), deflateReadLimit)
		if op == ws.OpText {
			require.True(t, utf8.Valid(buf))
		}
	}
}

// checkDeflateEnd requires the error that ended a compressed stream to be
// one a caller can match: a *ws.ProtocolError with the code RFC 6455/7692
// give, the peer's *ws.CloseError, or ws.ErrAbnormalClosure at the end.
func checkDeflateEnd(t *testing.T, err error) {
	var pe *ws.ProtocolError
	var ce *ws.CloseError
	switch {
	case errors.As(err, &pe):
		require.Contains(t, []ws.StatusCode{ws.CloseProtocolError, ws.CloseInvalidFramePayloadData, ws.CloseMessageTooBig}, pe.Code, "%v", err)
		if errors.Is(err, ws.ErrBadDeflate) {
			require.Equal(t, ws.CloseInvalidFramePayloadData, pe.Code)
		}
		if errors.Is(err, ws.ErrReadLimit) {
			require.Equal(t, ws.CloseMessageTooBig, pe.Code)
		}
	case errors.As(err, &ce):
	default:
		require.ErrorIs(t, err, ws.ErrAbnormalClosure)
		require.True(t, errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF), "%v", err)
	}
}

// maskedFrames masks every frame of a client's byte stream with a fixed key,
// so that FuzzDeflateServerRead's inputs reach past the §5.1 mask check.
func maskedFrames(raw []byte) []byte {
	var out []byte
	for len(raw) > 0 {
		h, n, err := ws.ParseHeader(raw)
		if err != nil || h.Length > int64(len(raw)-n) {
			return append(out, raw...)
		}
		h.Masked, h.Mask = true, [4]byte{0x37, 0xfa, 0x21, 0x3d}
		out = ws.AppendHeader(out, h)
		start := len(out)
		out = append(out, raw[n:n+int(h.Length)]...)
		ws.Mask(out[start:], ws.MaskKeyWord(h.Mask))
		raw = raw[n+int(h.Length):]
	}
	return out
}

// requestConn is the client end of an upgrade, scripted: it sends a request
// offering permessage-deflate, then the fuzz bytes, and swallows what the
// server writes.
type requestConn struct{ r *bytes.Reader }

func (s *requestConn) Read(p []byte) (int, error)       { return s.r.Read(p) }
func (s *requestConn) Write(p []byte) (int, error)      { return len(p), nil }
func (s *requestConn) Close() error                     { return nil }
func (s *requestConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (s *requestConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (s *requestConn) SetDeadline(time.Time) error      { return nil }
func (s *requestConn) SetReadDeadline(time.Time) error  { return nil }
func (s *requestConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzDeflateServerRead is FuzzDeflateRead for the server role: a server
// Conn that accepted permessage-deflate (with the parameters mode picks)
// reads an arbitrary stream of client frames, masked for it.
func FuzzDeflateServerRead(f *testing.F) {
	deflateReadSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte, mode byte) {
		offer := "permessage-deflate"
		if mode&1 != 0 {
			offer += "; server_no_context_takeover"
		}
		if mode&2 != 0 {
			offer += "; client_no_context_takeover"
		}
		req := "GET / HTTP/1.1\r\nHost: fuzz.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
			"Sec-WebSocket-Extensions: " + offer + "\r\n\r\n"
		nc := &requestConn{r: bytes.NewReader(append([]byte(req), maskedFrames(data)...))}
		u := &ws.Upgrader{Options: ws.Options{
			ReadLimit: deflateReadLimit, ReadBufferSize: 512, CloseTimeout: time.Millisecond,
			Compression: &ws.CompressionOptions{},
		}}
		c, _, err := u.UpgradeConn(context.Background(), nc, nil)
		require.NoError(t, err)
		_, ok := c.Compression()
		require.True(t, ok, "permessage-deflate negotiated")
		checkDeflateEnd(t, readAllBounded(t, c))
	})
}
