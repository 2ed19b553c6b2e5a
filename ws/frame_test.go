//go:build !js

package ws

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RFC 6455 §5.7: the example frames, byte for byte.
var rfcExamples = []struct {
	name    string
	wire    []byte
	header  Header
	payload string // after unmasking
}{
	{"single-frame unmasked text", []byte{0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f},
		Header{Fin: true, Opcode: OpText, Length: 5}, "Hello"},
	{"single-frame masked text", []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58},
		Header{Fin: true, Opcode: OpText, Masked: true, Mask: [4]byte{0x37, 0xfa, 0x21, 0x3d}, Length: 5}, "Hello"},
	{"fragment 1", []byte{0x01, 0x03, 0x48, 0x65, 0x6c},
		Header{Opcode: OpText, Length: 3}, "Hel"},
	{"fragment 2", []byte{0x80, 0x02, 0x6c, 0x6f},
		Header{Fin: true, Opcode: OpContinuation, Length: 2}, "lo"},
	{"unmasked ping", []byte{0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f},
		Header{Fin: true, Opcode: OpPing, Length: 5}, "Hello"},
	{"masked pong", []byte{0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58},
		Header{Fin: true, Opcode: OpPong, Masked: true, Mask: [4]byte{0x37, 0xfa, 0x21, 0x3d}, Length: 5}, "Hello"},
}

func TestRFCExampleFrames(t *testing.T) {
	for _, ex := range rfcExamples {
		t.Run(ex.name, func(t *testing.T) {
			h, n, err := ParseHeader(ex.wire)
			require.NoError(t, err)
			assert.Equal(t, ex.header, h)
			payload := append([]byte(nil), ex.wire[n:]...)
			if h.Masked {
				Mask(payload, MaskKeyWord(h.Mask))
			}
			assert.Equal(t, ex.payload, string(payload))
			// Appending the header gives back the same bytes (§5.2).
			assert.Equal(t, ex.wire[:n], AppendHeader(nil, h))
		})
	}
}

// RFC 6455 §5.7: 256 bytes and 64 KiB binary messages use the 16- and 64-bit
// length forms.
func TestRFCExampleLengths(t *testing.T) {
	assert.Equal(t, []byte{0x82, 0x7E, 0x01, 0x00}, AppendHeader(nil, Header{Fin: true, Opcode: OpBinary, Length: 256}))
	assert.Equal(t, []byte{0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0, 0}, AppendHeader(nil, Header{Fin: true, Opcode: OpBinary, Length: 65536}))
}

// RFC 6455 §5.2: minimal length encodings at each boundary, round-tripped.
func TestHeaderRoundTrip(t *testing.T) {
	for _, l := range []int64{0, 1, 125, 126, 127, 65535, 65536, 1 << 32, 1<<63 - 1} {
		for _, masked := range []bool{false, true} {
			h := Header{Fin: l%2 == 0, Rsv: Rsv1, Opcode: OpBinary, Masked: masked, Mask: [4]byte{1, 2, 3, 4}, Length: l}
			if !masked {
				h.Mask = [4]byte{}
			}
			wire := AppendHeader(nil, h)
			require.Equal(t, h.Size(), len(wire))
			got, n, err := ParseHeader(wire)
			require.NoError(t, err)
			require.Equal(t, len(wire), n)
			require.Equal(t, h, got)
			// Every strict prefix is short, and says how much is needed.
			for i := 0; i < len(wire); i++ {
				_, need, err := ParseHeader(wire[:i])
				require.ErrorIs(t, err, ErrShortHeader)
				require.Greater(t, need, i)
				require.LessOrEqual(t, need, len(wire))
			}
		}
	}
}

// RFC 6455 §5.2: "the most significant bit MUST be 0" in a 64-bit length.
func TestHeaderLengthTopBit(t *testing.T) {
	_, _, err := ParseHeader([]byte{0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0})
	require.ErrorIs(t, err, ErrLengthOverflow)
}

// A non-minimal length is accepted: §5.2 binds the sender only.
func TestHeaderNonMinimalLengthAccepted(t *testing.T) {
	h, n, err := ParseHeader([]byte{0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF})
	require.NoError(t, err)
	require.Equal(t, 10, n)
	require.Equal(t, int64(65535), h.Length)
}

func TestReadHeader(t *testing.T) {
	var wire []byte
	for _, ex := range rfcExamples {
		wire = append(wire, ex.wire...)
	}
	br := bufio.NewReader(bytes.NewReader(wire))
	for _, ex := range rfcExamples {
		h, err := ReadHeader(br)
		require.NoError(t, err)
		require.Equal(t, ex.header, h)
		_, err = br.Discard(int(h.Length))
		require.NoError(t, err)
	}
}

func TestHeaderCodecDoesNotAllocate(t *testing.T) {
	wire := AppendHeader(nil, Header{Fin: true, Opcode: OpBinary, Masked: true, Length: 70000})
	buf := make([]byte, 0, MaxHeaderSize)
	allocs := testing.AllocsPerRun(100, func() {
		h, _, _ := ParseHeader(wire)
		buf = AppendHeader(buf[:0], h)
	})
	require.Zero(t, allocs)
}

func TestCheckHeader(t *testing.T) {
	cases := []struct {
		name    string
		h       Header
		role    Role
		allowed byte
		want    error // nil: accepted
	}{
		{"§5.2 reserved data opcode", Header{Fin: true, Opcode: 0x3}, RoleClient, 0, ErrReservedOpcode},
		{"§5.2 reserved control opcode", Header{Fin: true, Opcode: 0xB}, RoleClient, 0, ErrReservedOpcode},
		{"§5.2 RSV1 not negotiated", Header{Fin: true, Rsv: Rsv1, Opcode: OpText}, RoleClient, 0, ErrReservedBits},
		{"§5.2 RSV2", Header{Fin: true, Rsv: Rsv2, Opcode: OpText}, RoleClient, Rsv1, ErrReservedBits},
		{"RFC 7692 §6 RSV1 negotiated", Header{Fin: true, Rsv: Rsv1, Opcode: OpText}, RoleClient, Rsv1, nil},
		{"RFC 7692 §6.1 RSV1 on continuation", Header{Fin: true, Rsv: Rsv1, Opcode: OpContinuation}, RoleClient, Rsv1, ErrReservedBits},
		{"RFC 7692 §6.1 RSV1 on ping", Header{Fin: true, Rsv: Rsv1, Opcode: OpPing}, RoleClient, Rsv1, ErrReservedBits},
		{"§5.5 fragmented ping", Header{Opcode: OpPing}, RoleClient, 0, ErrFragmentedControl},
		{"§5.5 126-byte close", Header{Fin: true, Opcode: OpClose, Length: 126}, RoleClient, 0, ErrControlTooLong},
		{"§5.5 125-byte pong", Header{Fin: true, Opcode: OpPong, Length: 125}, RoleClient, 0, nil},
		{"§5.1 masked frame to client", Header{Fin: true, Opcode: OpText, Masked: true}, RoleClient, 0, ErrMaskMismatch},
		{"§5.1 unmasked frame to server", Header{Fin: true, Opcode: OpText}, RoleServer, 0, ErrMaskMismatch},
		{"§5.1 masked frame to server", Header{Fin: true, Opcode: OpText, Masked: true}, RoleServer, 0, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckHeader(tc.h, tc.role, tc.allowed)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.want)
			var pe *ProtocolError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, CloseProtocolError, pe.Code)
		})
	}
}
