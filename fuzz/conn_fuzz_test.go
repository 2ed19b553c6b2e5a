package fuzz

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/require"
)

// fuzzReadLimit keeps memory per input small: the Conn must never hold more.
const fuzzReadLimit = 1 << 16

// streamConn is a net.Conn that yields a fixed byte stream, then EOF, and
// swallows writes (the pongs and close frames the Conn answers with).
type streamConn struct {
	r *bytes.Reader
}

func (s *streamConn) Read(p []byte) (int, error)       { return s.r.Read(p) }
func (s *streamConn) Write(p []byte) (int, error)      { return len(p), nil }
func (s *streamConn) Close() error                     { return nil }
func (s *streamConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (s *streamConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (s *streamConn) SetDeadline(time.Time) error      { return nil }
func (s *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (s *streamConn) SetWriteDeadline(time.Time) error { return nil }

// checkConnAgainstReference reads data with a ws.Conn in role and requires
// the messages and the outcome that refDecode gives; owned reads through a
// ws.ReadOwner, whose lock-free calls must agree with the Conn's.
func checkConnAgainstReference(t *testing.T, data []byte, role ws.Role, owned bool) {
	want, wantEnd := refDecode(data, role, fuzzReadLimit)
	c := ws.NewConn(&streamConn{r: bytes.NewReader(data)}, nil, role, "", &ws.Options{ReadLimit: fuzzReadLimit, ReadBufferSize: 512, CloseTimeout: time.Millisecond})
	read := c.ReadMessage
	if owned {
		o := c.OwnReads()
		defer o.Release()
		read = o.ReadMessage
	}
	var got []refMsg
	var err error
	for {
		var op ws.Opcode
		var msg []byte
		op, msg, err = read()
		if err != nil {
			break
		}
		require.LessOrEqual(t, len(msg), fuzzReadLimit)
		got = append(got, refMsg{op: op, data: msg})
	}
	require.Equal(t, len(want), len(got), "number of messages")
	for i := range want {
		require.Equal(t, want[i].op, got[i].op, "message %d opcode", i)
		require.True(t, bytes.Equal(want[i].data, got[i].data), "message %d payload", i)
	}
	switch wantEnd.kind {
	case "eof":
		require.ErrorIs(t, err, ws.ErrAbnormalClosure)
		require.True(t, errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF), "got %v", err)
	case "close":
		var ce *ws.CloseError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, wantEnd.code, ce.Code)
	case "error":
		require.ErrorIs(t, err, wantEnd.err)
		var pe *ws.ProtocolError
		require.ErrorAs(t, err, &pe)
		require.Equal(t, wantEnd.code, pe.Code)
	}
	// Errors are sticky.
	_, _, err2 := read()
	require.Error(t, err2)
}

func connSeeds(f *testing.F) {
	// RFC 6455 §5.7 examples, alone and combined, and typical breakage.
	f.Add([]byte{0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f})
	f.Add([]byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58})
	f.Add([]byte{0x01, 0x03, 0x48, 0x65, 0x6c, 0x89, 0x00, 0x80, 0x02, 0x6c, 0x6f})
	f.Add([]byte{0x01, 0x83, 1, 2, 3, 4, 0x49, 0x67, 0x6f, 0x80, 0x82, 1, 2, 3, 4, 0x6d, 0x6d})
	f.Add([]byte{0x82, 0x7E, 0x01, 0x00})
	f.Add([]byte{0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x88, 0x02, 0x03, 0xe8, 0x88, 0x00})
	f.Add([]byte{0x88, 0x01, 0x03})
	f.Add([]byte{0x81, 0x04, 0xce, 0xba, 0xed, 0xa0})
	f.Add([]byte{0x80, 0x00})
	f.Add([]byte{0xC1, 0x00})
}

// FuzzClientConnRead feeds arbitrary bytes to a client Conn after a
// handshake: no panic, memory bounded by the read limit, every error typed,
// and what it delivers is exactly what the reference decoder delivers.
func FuzzClientConnRead(f *testing.F) {
	connSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkConnAgainstReference(t, data, ws.RoleClient, false)
		checkConnAgainstReference(t, data, ws.RoleClient, true)
	})
}

// FuzzServerConnRead is FuzzClientConnRead for the server role, where every
// frame must be masked.
func FuzzServerConnRead(f *testing.F) {
	connSeeds(f)
	f.Add([]byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58, 0x88, 0x80, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		checkConnAgainstReference(t, data, ws.RoleServer, false)
		checkConnAgainstReference(t, data, ws.RoleServer, true)
	})
}

// FuzzHeader checks the header codec: no panic on any input; a parsed
// header appended and parsed again is the same header; an appended header
// parses back to itself.
func FuzzHeader(f *testing.F) {
	f.Add([]byte{0x81, 0x05}, uint64(5), byte(0x81), true)
	f.Add([]byte{0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0}, uint64(1<<40), byte(0x02), false)
	f.Add([]byte{0x88, 0xFE, 0x01, 0x00, 1, 2, 3, 4}, uint64(126), byte(0x48), true)
	f.Fuzz(func(t *testing.T, data []byte, length uint64, b0 byte, masked bool) {
		h, n, err := ws.ParseHeader(data)
		if err == nil {
			require.LessOrEqual(t, n, len(data))
			require.LessOrEqual(t, n, ws.MaxHeaderSize)
			h2, n2, err := ws.ParseHeader(ws.AppendHeader(nil, h))
			require.NoError(t, err)
			require.Equal(t, h, h2)
			require.LessOrEqual(t, n2, n, "append uses the minimal encoding")
		} else if !errors.Is(err, ws.ErrShortHeader) {
			require.ErrorIs(t, err, ws.ErrLengthOverflow)
		}
		in := ws.Header{Fin: b0&0x80 != 0, Rsv: b0 & 0x70, Opcode: ws.Opcode(b0 & 0x0F), Masked: masked, Length: int64(length >> 1)}
		if masked {
			in.Mask = [4]byte{b0, byte(length), 7, 9}
		}
		wire := ws.AppendHeader(nil, in)
		out, n, err := ws.ParseHeader(wire)
		require.NoError(t, err)
		require.Equal(t, len(wire), n)
		require.Equal(t, in, out)
	})
}

// FuzzClosePayload checks close payload parsing against RFC 6455 §5.5.1
// and §7.4: valid payloads round-trip, invalid ones are typed errors.
func FuzzClosePayload(f *testing.F) {
	f.Add([]byte{0x03, 0xe8})
	f.Add([]byte{0x03, 0xe8, 'b', 'y', 'e'})
	f.Add([]byte{0x03})
	f.Add([]byte{0x03, 0xed, 0xff})
	f.Add([]byte{0x13, 0x88})
	f.Fuzz(func(t *testing.T, p []byte) {
		code, reason, err := ws.ParseClosePayload(p)
		if err != nil {
			var pe *ws.ProtocolError
			require.ErrorAs(t, err, &pe)
			require.Contains(t, []ws.StatusCode{ws.CloseProtocolError, ws.CloseInvalidFramePayloadData}, pe.Code)
			return
		}
		if len(p) == 0 {
			require.Equal(t, ws.CloseNoStatusReceived, code)
			return
		}
		back, err := ws.AppendClosePayload(nil, code, reason)
		require.NoError(t, err)
		require.Equal(t, p, back)
	})
}
