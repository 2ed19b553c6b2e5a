package fuzz

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/require"
)

// checkStreamAgainstReference is checkConnAgainstReference through the
// streaming API: NextReader, and Read into pieces of chunk bytes, which
// reaches NextReader's and Read's fast paths (ws/readstream.go) and their
// fallbacks at every split of a frame. A message counts as delivered when
// its reader returned io.EOF. owned reads through a ws.ReadOwner.
func checkStreamAgainstReference(t *testing.T, data []byte, role ws.Role, chunk int, owned bool) {
	want, wantEnd := refDecode(data, role, fuzzReadLimit)
	c := ws.NewConn(&streamConn{r: bytes.NewReader(data)}, nil, role, "", &ws.Options{ReadLimit: fuzzReadLimit, ReadBufferSize: 512, CloseTimeout: time.Millisecond})
	next := c.NextReader
	if owned {
		o := c.OwnReads()
		defer o.Release()
		next = o.NextReader
	}
	var got []refMsg
	var err error
	p := make([]byte, chunk)
	for err == nil {
		var op ws.Opcode
		var r io.Reader
		if op, r, err = next(); err != nil {
			break
		}
		var msg []byte
		for {
			var n int
			n, err = r.Read(p)
			require.LessOrEqual(t, n, len(p))
			msg = append(msg, p[:n]...)
			require.LessOrEqual(t, len(msg), fuzzReadLimit)
			if err != nil {
				break
			}
		}
		if err == io.EOF {
			err = nil
			got = append(got, refMsg{op: op, data: msg})
		}
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
	_, _, err2 := next()
	require.Error(t, err2)
}

// FuzzStreamReader feeds arbitrary bytes to a Conn of either role read
// through NextReader: what it delivers must be exactly what the reference
// decoder delivers, whatever the piece size (taken from the first byte),
// through the Conn and through a ReadOwner.
func FuzzStreamReader(f *testing.F) {
	connSeeds(f)
	f.Add([]byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58, 0x88, 0x80, 1, 2, 3, 4})
	f.Add([]byte{0x02, 0x83, 1, 2, 3, 4, 5, 6, 7, 0x80, 0x82, 1, 2, 3, 4, 5, 6})
	f.Fuzz(func(t *testing.T, data []byte) {
		chunk := 1
		if len(data) > 0 {
			chunk = 1 + int(data[0]%64)
		}
		for _, owned := range []bool{false, true} {
			checkStreamAgainstReference(t, data, ws.RoleClient, chunk, owned)
			checkStreamAgainstReference(t, data, ws.RoleServer, chunk, owned)
		}
	})
}
