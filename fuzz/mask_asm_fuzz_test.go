package fuzz

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/require"
)

// captureConn is a net.Conn that keeps everything written to it and has
// nothing to read.
type captureConn struct{ out bytes.Buffer }

func (c *captureConn) Read([]byte) (int, error)         { return 0, net.ErrClosed }
func (c *captureConn) Write(p []byte) (int, error)      { return c.out.Write(p) }
func (c *captureConn) Close() error                     { return nil }
func (c *captureConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *captureConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *captureConn) SetDeadline(time.Time) error      { return nil }
func (c *captureConn) SetReadDeadline(time.Time) error  { return nil }
func (c *captureConn) SetWriteDeadline(time.Time) error { return nil }

// maskAsmMaxPayload bounds the client message of FuzzMaskAsm, so that one
// input costs at most a few 64 KiB pieces of the pooled write path.
const maskAsmMaxPayload = 200 << 10

// FuzzMaskAsm holds the assembly masking of package ws (amd64, arm64) to the
// byte-at-a-time reference maskRef (RFC 6455 §5.3), through the exported API
// only, on two paths:
//
//   - ws.Mask in place, on the data placed start bytes into a larger buffer
//     (every alignment), in pieces of piece bytes whose returned key carries
//     the key phase into the next piece: the bytes must equal the reference,
//     the final key must be the reference's, and no byte outside the data
//     may change;
//   - the masked copy of the client write path: a client ws.Conn writes the
//     data repeated reps times as one binary message; the frame it sends must
//     unmask, with the key in its header, to exactly that message, and the
//     caller's slice must be left as it was.
//
// With -tags purego it checks the portable code the same way.
func FuzzMaskAsm(f *testing.F) {
	f.Add([]byte("Hello"), uint32(0x3d21fa37), uint8(0), uint16(0), uint8(1))
	f.Add(bytes.Repeat([]byte{0x5A}, 300), uint32(0xdeadbeef), uint8(1), uint16(7), uint8(3))
	f.Add(bytes.Repeat([]byte("0123456789abcdef"), 65), uint32(0x01020304), uint8(31), uint16(129), uint8(70))
	f.Add([]byte{}, uint32(0), uint8(5), uint16(1), uint8(0))

	f.Fuzz(func(t *testing.T, data []byte, key uint32, start uint8, piece uint16, reps uint8) {
		var keyBytes [4]byte
		binary.LittleEndian.PutUint32(keyBytes[:], key)

		// In place, at an offset of 0..31 bytes, in pieces.
		const guard = 64
		off := int(start % 32)
		buf := make([]byte, off+len(data)+guard)
		for i := range buf {
			buf[i] = byte(i*7 + 1)
		}
		before := bytes.Clone(buf)
		copy(buf[off:], data)
		want := bytes.Clone(data)
		wantKey := maskRef(want, keyBytes)

		step := int(piece)
		if step == 0 {
			step = len(data) + 1 // one call
		}
		k := key
		for at := off; at < off+len(data); at += step {
			k = ws.Mask(buf[at:min(at+step, off+len(data))], k)
		}
		require.Equal(t, want, buf[off:off+len(data)], "in place, %d bytes at +%d in pieces of %d", len(data), off, step)
		require.Equal(t, wantKey, k, "returned key after %d bytes", len(data))
		require.Equal(t, before[:off], buf[:off], "a byte before the data changed")
		require.Equal(t, before[off+len(data):], buf[off+len(data):], "a byte after the data changed")

		// The client write path: a fresh key per frame, the payload masked
		// while it is copied out of the caller's slice.
		msg := bytes.Repeat(data, int(reps))
		if len(msg) > maskAsmMaxPayload {
			msg = msg[:maskAsmMaxPayload]
		}
		orig := bytes.Clone(msg)
		cc := &captureConn{}
		c := ws.NewConn(cc, nil, ws.RoleClient, "", nil)
		require.NoError(t, c.WriteMessage(ws.OpBinary, msg))
		require.Equal(t, orig, msg, "the client masked the caller's slice")

		wire := cc.out.Bytes()
		h, n, err := ws.ParseHeader(wire)
		require.NoError(t, err)
		require.True(t, h.Fin && h.Masked && h.Opcode == ws.OpBinary, "header %+v", h)
		require.Equal(t, int64(len(msg)), h.Length)
		require.Len(t, wire, n+len(msg), "one frame, nothing after it")
		payload := bytes.Clone(wire[n:])
		maskRef(payload, h.Mask)
		require.Equal(t, orig, payload, "the frame does not unmask to the message (%d bytes)", len(msg))
	})
}
