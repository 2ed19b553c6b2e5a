package ws

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
)

// Opcode is the 4-bit frame type of RFC 6455 §5.2. It is a named type so that a
// switch over it reads like the RFC's table and so that its String form shows up
// in errors and logs.
type Opcode byte

// The opcodes defined by RFC 6455 §5.2 (and §11.8, the registry). 0x3–0x7 and
// 0xB–0xF are reserved; a frame carrying one fails the connection (§5.2).
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// IsControl reports whether o is a control opcode. RFC 6455 §5.5: control
// frames are identified by opcodes where the most significant bit is 1.
func (o Opcode) IsControl() bool { return o&0x8 != 0 }

// IsReserved reports whether o is one of the opcodes RFC 6455 §5.2 reserves
// for future use (0x3–0x7 non-control, 0xB–0xF control).
func (o Opcode) IsReserved() bool {
	switch o {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
		return false
	}
	return true
}

// String names the opcode as the RFC does, so that errors read naturally.
func (o Opcode) String() string {
	switch o {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return fmt.Sprintf("reserved(0x%X)", byte(o))
}

// The RSV bits as they sit in the first header byte. RFC 6455 §5.2: they MUST
// be 0 unless an extension defines them; RFC 7692 gives RSV1 to
// permessage-deflate.
const (
	Rsv1 byte = 0x40
	Rsv2 byte = 0x20
	Rsv3 byte = 0x10
)

// MaxControlPayload is the largest payload a control frame may carry. RFC 6455
// §5.5: all control frames MUST have a payload length of 125 bytes or less.
const MaxControlPayload = 125

// MaxHeaderSize is the longest header RFC 6455 §5.2 allows: 2 bytes, an 8-byte
// extended length and a 4-byte masking key.
const MaxHeaderSize = 14

// Header is one frame header (RFC 6455 §5.2) as a plain value, so that parsing
// and appending it never allocate and a fuzzer can round-trip it.
type Header struct {
	Fin    bool    // FIN: this frame is the last fragment of its message (a control frame always is)
	Rsv    byte    // RSV1–RSV3 exactly as in the first byte (Rsv1|Rsv2|Rsv3 bits); 0 when none is set
	Opcode Opcode  // what the payload is: continuation, text, binary, close, ping or pong
	Masked bool    // MASK: set on every frame a client sends, never on a server's (RFC 6455 §5.3)
	Mask   [4]byte // the masking key in wire order; meaningful only when Masked
	Length int64   // payload length; never negative
}

// Size returns how many bytes the header takes on the wire. RFC 6455 §5.2:
// lengths up to 125 fit the 7-bit field, up to 65535 the 16-bit extension, the
// rest the 64-bit one, and the minimal form MUST be used.
func (h Header) Size() int {
	n := 2
	switch {
	case h.Length > 0xFFFF:
		n += 8
	case h.Length > 125:
		n += 2
	}
	if h.Masked {
		n += 4
	}
	return n
}

// ErrShortHeader is returned by ParseHeader when b holds only the start of a
// header; the int result then says how many bytes the header needs in total,
// as far as that is known from b.
var ErrShortHeader = errors.New("ws: incomplete frame header")

// ParseHeader decodes the frame header at the start of b. It returns the
// header and the number of bytes it used. If b is too short it returns
// ErrShortHeader and the number of bytes needed (at least len(b)+1). It never
// allocates and never reads past what it needs.
func ParseHeader(b []byte) (Header, int, error) {
	if len(b) < 2 {
		return Header{}, 2, ErrShortHeader
	}
	b0, b1 := b[0], b[1]
	h := Header{
		Fin:    b0&0x80 != 0,
		Rsv:    b0 & (Rsv1 | Rsv2 | Rsv3),
		Opcode: Opcode(b0 & 0x0F),
		Masked: b1&0x80 != 0,
	}
	need := 2
	l7 := int64(b1 & 0x7F)
	switch l7 {
	case 126:
		need += 2
	case 127:
		need += 8
	}
	if h.Masked {
		need += 4
	}
	if len(b) < need {
		return Header{}, need, ErrShortHeader
	}
	p := 2
	switch l7 {
	case 126:
		// RFC 6455 §5.2 tells the sender to use the minimal encoding but does
		// not make the receiver fail on a longer one, so a non-minimal length
		// (Workerman sends 65535 in the 64-bit form) is accepted.
		h.Length = int64(binary.BigEndian.Uint16(b[2:4]))
		p = 4
	case 127:
		u := binary.BigEndian.Uint64(b[2:10])
		p = 10
		// RFC 6455 §5.2: with the 64-bit form "the most significant bit MUST
		// be 0".
		if u>>63 != 0 {
			return Header{}, need, ErrLengthOverflow
		}
		h.Length = int64(u)
	default:
		h.Length = l7
	}
	if h.Masked {
		copy(h.Mask[:], b[p:p+4])
	}
	return h, need, nil
}

// ReadHeader reads one frame header from r. It peeks at the buffered bytes
// instead of copying them, so it does not allocate; r must have a buffer of
// at least MaxHeaderSize bytes (every bufio.Reader does).
func ReadHeader(r *bufio.Reader) (Header, error) {
	b, err := r.Peek(2)
	if err != nil {
		return Header{}, err
	}
	h, n, err := ParseHeader(b)
	if err == ErrShortHeader { // ParseHeader returns the sentinel itself; errors.Is costs on the hot path
		if b, err = r.Peek(n); err != nil {
			return Header{}, err
		}
		h, n, err = ParseHeader(b)
	}
	if err != nil {
		return Header{}, err
	}
	_, _ = r.Discard(n) // cannot fail: the n bytes are buffered
	return h, nil
}

// AppendHeader appends the wire form of h to dst and returns the extended
// slice. It uses the minimal length encoding (RFC 6455 §5.2). The caller is
// responsible for h being valid (Length ≥ 0, Opcode within 4 bits).
func AppendHeader(dst []byte, h Header) []byte {
	if l := len(dst); cap(dst)-l >= MaxHeaderSize {
		// Room for the longest header: encode in place.
		n := putHeader((*[MaxHeaderSize]byte)(dst[l:l+MaxHeaderSize]), h.Fin, h.Rsv, h.Opcode, h.Masked, MaskKeyWord(h.Mask), h.Length)
		return dst[:l+n]
	}
	var b [MaxHeaderSize]byte
	n := putHeader(&b, h.Fin, h.Rsv, h.Opcode, h.Masked, MaskKeyWord(h.Mask), h.Length)
	return append(dst, b[:n]...)
}

// putHeader is the one header encoder (RFC 6455 §5.2, minimal length
// encoding; the masking key in wire order, the order MaskKeyWord reads it
// back in): it writes the header at the start of b and returns its length.
// It takes scalars rather than a Header because a Header has an array field
// and is passed in memory: on the write path, a Header assembled field by
// field and read back whole cost a store-forwarding stall (about 5 ns of a
// 64-byte client write). AppendHeader wraps it.
func putHeader(b *[MaxHeaderSize]byte, fin bool, rsv byte, op Opcode, masked bool, key uint32, n int64) int {
	b0 := byte(op&0x0F) | rsv&(Rsv1|Rsv2|Rsv3)
	if fin {
		b0 |= 0x80
	}
	var b1 byte
	if masked {
		b1 = 0x80
	}
	b[0] = b0
	var i int
	switch {
	case n <= 125:
		b[1] = b1 | byte(n)
		i = 2
	case n <= 0xFFFF:
		b[1] = b1 | 126
		binary.BigEndian.PutUint16(b[2:4], uint16(n))
		i = 4
	default:
		b[1] = b1 | 127
		binary.BigEndian.PutUint64(b[2:10], uint64(n))
		i = 10
	}
	if masked {
		binary.LittleEndian.PutUint32(b[i:i+4], key)
		i += 4
	}
	return i
}

// Role says which end of the connection we are. The RFC's masking rule
// (§5.1) and the closing order (§7.1.1) depend on it.
type Role uint8

// The two roles of RFC 6455 §1.3 and §1.4.
const (
	RoleClient Role = iota + 1
	RoleServer
)

// String names the role for errors.
func (r Role) String() string {
	switch r {
	case RoleClient:
		return "client"
	case RoleServer:
		return "server"
	}
	return "unknown role"
}

// CheckHeader validates a header received by an endpoint of the given role,
// with allowedRsv holding the RSV bits that a negotiated extension defined
// for the first frame of a message (Rsv1 for permessage-deflate, else 0). It
// returns a *ProtocolError carrying close code 1002 for the first rule the
// header breaks. Rules that need the message state (continuation order)
// live in the reader, which calls this first.
func CheckHeader(h Header, role Role, allowedRsv byte) error {
	// RFC 6455 §5.2: reserved opcodes — "the receiving endpoint MUST _Fail
	// the WebSocket Connection_".
	if h.Opcode.IsReserved() {
		return protocolErr(CloseProtocolError, ErrReservedOpcode, "opcode 0x%X", byte(h.Opcode))
	}
	// RFC 6455 §5.2: "If a nonzero value is received and none of the
	// negotiated extensions defines the meaning of such a nonzero value, the
	// receiving endpoint MUST _Fail the WebSocket Connection_." RFC 7692
	// §6: RSV1 marks the first frame of a compressed message only, never a
	// control frame or a continuation.
	if rsv := h.Rsv &^ allowedRsv; rsv != 0 || (h.Rsv != 0 && (h.Opcode.IsControl() || h.Opcode == OpContinuation)) {
		return protocolErr(CloseProtocolError, ErrReservedBits, "RSV bits 0x%X on a %s frame", h.Rsv>>4, h.Opcode)
	}
	if h.Opcode.IsControl() {
		// RFC 6455 §5.5: "Control frames themselves MUST NOT be fragmented."
		if !h.Fin {
			return protocolErr(CloseProtocolError, ErrFragmentedControl, "%s frame without FIN", h.Opcode)
		}
		// RFC 6455 §5.5: "All control frames MUST have a payload length of
		// 125 bytes or less."
		if h.Length > MaxControlPayload {
			return protocolErr(CloseProtocolError, ErrControlTooLong, "%s frame of %d bytes", h.Opcode, h.Length)
		}
	}
	// RFC 6455 §5.1: "a client MUST mask all frames that it sends to the
	// server" and "The server MUST close the connection upon receiving a
	// frame that is not masked"; "A server MUST NOT mask any frames ... A
	// client MUST close a connection if it detects a masked frame."
	switch role {
	case RoleServer:
		if !h.Masked {
			return protocolErr(CloseProtocolError, ErrMaskMismatch, "unmasked frame from the client")
		}
	case RoleClient:
		if h.Masked {
			return protocolErr(CloseProtocolError, ErrMaskMismatch, "masked frame from the server")
		}
	}
	return nil
}
