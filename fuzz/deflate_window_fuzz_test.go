package fuzz

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/inflatecheck"
	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/require"
)

// windowConn is the peer's end of a handshake, scripted for either role:
// as a server it answers the client's request with ext; as a client it
// sends req. Everything the Conn writes after the handshake is kept in out.
type windowConn struct {
	server bool   // the scripted end is the server
	ext    string // the server's answer (server)
	req    []byte // the client's request (client)
	in     bytes.Buffer
	resp   *bytes.Reader
	out    bytes.Buffer
}

func (w *windowConn) Read(p []byte) (int, error) {
	if !w.server {
		if len(w.req) == 0 {
			return 0, io.EOF
		}
		n := copy(p, w.req)
		w.req = w.req[n:]
		return n, nil
	}
	if w.resp == nil {
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(w.in.Bytes())))
		if err != nil {
			return 0, err
		}
		w.resp = bytes.NewReader([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + ws.AcceptKey(req.Header.Get("Sec-WebSocket-Key")) + "\r\n" +
			"Sec-WebSocket-Extensions: " + w.ext + "\r\n\r\n"))
	}
	return w.resp.Read(p)
}

func (w *windowConn) Write(p []byte) (int, error) {
	if w.server && w.resp == nil {
		return w.in.Write(p)
	}
	return w.out.Write(p)
}
func (w *windowConn) Close() error                     { return nil }
func (w *windowConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (w *windowConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (w *windowConn) SetDeadline(time.Time) error      { return nil }
func (w *windowConn) SetReadDeadline(time.Time) error  { return nil }
func (w *windowConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzDeflateWindow: a Conn whose peer limited its LZ77 window to 2^bits
// (RFC 7692 §7.1.2: client_max_window_bits in a server's answer to a
// client, server_max_window_bits in a client's offer to a server), 8 to 15
// bits, either role, with or without context takeover, at any level, sends
// the fuzz bytes as messages, whole or streamed. The independent decoder
// of internal/inflatecheck inflates every message back to itself and finds
// no back-reference further than 2^bits bytes.
func FuzzDeflateWindow(f *testing.F) {
	f.Add([]byte("Hello, Hello, Hello, Hello"), uint8(0), uint16(0))
	f.Add(bytes.Repeat([]byte("abcdefghijklmnopqrstuvwxyz0123456789"), 200), uint8(1), uint16(0x31))
	f.Add(bytes.Repeat([]byte{0, 1, 2, 3, 0xff}, 3000), uint8(6), uint16(0x1c6))
	f.Add(bytes.Repeat([]byte(`{"id":1,"user":"user7","tags":["a","b"]},`), 100), uint8(3), uint16(0x2f8))
	f.Fuzz(deflateWindow)
}

func deflateWindow(t *testing.T, data []byte, bits uint8, cfg uint16) {
	{
		// The reference decoder goes bit by bit: keep a run in milliseconds.
		if len(data) > 2<<10 {
			data = data[:2<<10]
		}
		b := 8 + int(bits%8)
		takeover := cfg&1 == 0
		server := cfg&2 != 0 // the Conn under test is a server
		level := []int{0, 1, 2, 6, 9, -2, -1, 4}[cfg>>2&7]
		repeat := 1 + int(cfg>>5&7) // messages longer than a small window
		co := &ws.CompressionOptions{Level: level, Threshold: -1}
		nc := &windowConn{server: !server}
		var c *ws.Conn
		var err error
		if server {
			offer := "permessage-deflate; server_max_window_bits=" + strconv.Itoa(b)
			if !takeover {
				offer += "; server_no_context_takeover"
			}
			nc.req = []byte("GET / HTTP/1.1\r\nHost: fuzz.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
				"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
				"Sec-WebSocket-Extensions: " + offer + "\r\n\r\n")
			c, _, err = (&ws.Upgrader{Options: ws.Options{Compression: co}}).UpgradeConn(context.Background(), nc, nil)
			require.NoError(t, err)
			nc.out.Reset() // the 101 response
		} else {
			nc.ext = "permessage-deflate; client_max_window_bits=" + strconv.Itoa(b)
			if !takeover {
				nc.ext += "; client_no_context_takeover"
			}
			c, _, err = (&ws.Dialer{Options: ws.Options{Compression: co}}).Handshake(context.Background(), nc, "ws://fuzz.test/")
			require.NoError(t, err)
		}
		p, ok := c.Compression()
		require.True(t, ok)
		require.Equal(t, !takeover, p.ServerNoContextTakeover && server || p.ClientNoContextTakeover && !server)

		// Cut the input into messages at the bytes cfg picks, each one
		// repeated, and send them whole or streamed in pieces.
		var sent [][]byte
		sep := byte(cfg >> 8)
		for i, part := range bytes.SplitN(data, []byte{sep}, 32) {
			msg := bytes.Repeat(part, repeat)
			sent = append(sent, msg)
			if i%2 == 0 {
				require.NoError(t, c.WriteMessage(ws.OpBinary, msg))
				continue
			}
			w, err := c.NextWriter(ws.OpBinary)
			require.NoError(t, err)
			for rest := msg; len(rest) > 0; {
				n := min(len(rest), 1+int(rest[0])*8)
				_, err := w.Write(rest[:n])
				require.NoError(t, err)
				rest = rest[n:]
			}
			require.NoError(t, w.Close())
		}

		// Read the frames back and inflate them, as the peer would.
		br := bufio.NewReader(&nc.out)
		var hist []byte
		for i, want := range sent {
			var payload []byte
			for first := true; ; first = false {
				h, err := ws.ReadHeader(br)
				require.NoError(t, err)
				require.Equal(t, first, h.Rsv == ws.Rsv1, "RFC 7692 §6: RSV1 on the first frame only")
				frame := make([]byte, h.Length)
				_, err = io.ReadFull(br, frame)
				require.NoError(t, err)
				if h.Masked {
					ws.Mask(frame, ws.MaskKeyWord(h.Mask))
				}
				payload = append(payload, frame...)
				if h.Fin {
					break
				}
			}
			st, err := inflatecheck.Inflate(hist, payload)
			require.NoError(t, err, "message %d", i)
			require.True(t, bytes.Equal(want, st.Out), "message %d: %d bytes inflated, %d sent", i, len(st.Out), len(want))
			require.LessOrEqual(t, st.MaxDist, 1<<b, "message %d: a back-reference beyond the %d-bit window", i, b)
			if takeover {
				hist = append(hist, want...)
				if len(hist) > 1<<15 {
					hist = hist[len(hist)-1<<15:]
				}
			} else {
				require.Zero(t, st.IntoHist, "message %d: no takeover, no reference into history", i)
			}
		}
		_, err = ws.ReadHeader(br)
		require.ErrorIs(t, err, io.EOF, "nothing but the messages")
	}
}
