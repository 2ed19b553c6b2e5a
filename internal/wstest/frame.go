package wstest

import (
	"crypto/rand"
	"encoding/binary"
)

// The opcodes of RFC 6455 §5.2 (and §11.8): data frames below 0x8, control
// frames from 0x8.
const (
	OpContinuation byte = 0x0
	OpText         byte = 0x1
	OpBinary       byte = 0x2
	OpClose        byte = 0x8
	OpPing         byte = 0x9
	OpPong         byte = 0xA
)

// The RSV bits as they stand in a frame's first byte (RFC 6455 §5.2); RSV1
// marks a compressed message under permessage-deflate (RFC 7692 §6).
const (
	Rsv1 byte = 0x40
	Rsv2 byte = 0x20
	Rsv3 byte = 0x10
)

// Length forms of the payload length (RFC 6455 §5.2): LenMinimal picks the
// shortest one that fits, as the RFC requires; Len16 and Len64 force the
// 126 or 127 form, which for a short payload is the "not minimal" encoding
// a receiver must reject.
const (
	LenMinimal = 0
	Len16      = 16
	Len64      = 64
)

// DefaultKey is the masking key Frame.Mask gives a frame that has none:
// the key of RFC 6455 §5.7's examples.
var DefaultKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// Frame is one WebSocket frame as it goes on the wire (RFC 6455 §5.2). The
// zero value is a non-final, unmasked continuation frame with no payload;
// the fields beyond the RFC's let a test build the malformed frames a
// receiver must refuse.
type Frame struct {
	Fin     bool
	Rsv     byte    // RSV1–RSV3 bits exactly as in the first byte (Rsv1|Rsv2|Rsv3)
	Opcode  byte    // any 4-bit value, reserved ones included
	Masked  bool    // masked frames are what a client sends (§5.3)
	Key     [4]byte // the masking key when Masked, used as it is (zero too)
	Payload []byte  // unmasked; Bytes masks a copy

	// LenForm forces the 16 or 64-bit length form (Len16, Len64); zero is
	// the minimal form.
	LenForm int
	// Length, when set, is written as the payload length instead of
	// len(Payload): a frame that lies about its size, or whose 64-bit
	// length has the most significant bit set (forbidden by §5.2).
	Length *uint64
}

// Bytes returns the frame's wire bytes.
func (f Frame) Bytes() []byte { return f.Append(nil) }

// Append appends the frame's wire bytes to b: the header of RFC 6455 §5.2
// and the payload, masked with Key when Masked is set (§5.3).
func (f Frame) Append(b []byte) []byte {
	b = append(b, f.Opcode&0x0F|f.Rsv&(Rsv1|Rsv2|Rsv3))
	if f.Fin {
		b[len(b)-1] |= 0x80
	}
	n := uint64(len(f.Payload))
	if f.Length != nil {
		n = *f.Length
	}
	var m byte
	if f.Masked {
		m = 0x80
	}
	switch {
	case f.LenForm == Len64 || f.LenForm == LenMinimal && n > 0xFFFF:
		b = append(b, m|127)
		b = binary.BigEndian.AppendUint64(b, n)
	case f.LenForm == Len16 || f.LenForm == LenMinimal && n > 125:
		b = append(b, m|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, m|byte(n))
	}
	if !f.Masked {
		return append(b, f.Payload...)
	}
	b = append(b, f.Key[:]...)
	start := len(b)
	b = append(b, f.Payload...)
	MaskBytes(b[start:], f.Key)
	return b
}

// Frames returns the wire bytes of several frames in a row.
func Frames(fs ...Frame) []byte {
	var b []byte
	for _, f := range fs {
		b = f.Append(b)
	}
	return b
}

// MaskBytes masks (or unmasks: the operation is its own inverse) p in place
// with key, octet i with key[i%4] (RFC 6455 §5.3). It is the plain loop of
// the RFC on purpose: the reference the optimised masking of package ws is
// checked against.
func MaskBytes(p []byte, key [4]byte) {
	for i := range p {
		p[i] ^= key[i%4]
	}
}

// Text is a final, unmasked text frame: what a server sends.
func Text(s string) Frame { return Frame{Fin: true, Opcode: OpText, Payload: []byte(s)} }

// Binary is a final, unmasked binary frame.
func Binary(p []byte) Frame { return Frame{Fin: true, Opcode: OpBinary, Payload: p} }

// Close is an unmasked close frame with the body of ClosePayload.
func Close(code uint16, reason string) Frame {
	return Frame{Fin: true, Opcode: OpClose, Payload: ClosePayload(code, reason)}
}

// Mask returns f masked, with DefaultKey unless it has a key of its own:
// the frame as a client sends it.
func (f Frame) Mask() Frame {
	f.Masked = true
	if f.Key == ([4]byte{}) {
		f.Key = DefaultKey
	}
	return f
}

// Len returns a pointer to n, for Frame.Length.
func Len(n uint64) *uint64 { return &n }

// NewMaskKey returns a random masking key, as RFC 6455 §5.3 asks of a
// client ("derived from a strong source of entropy"), for a test whose peer
// must unmask any key rather than DefaultKey.
func NewMaskKey() [4]byte {
	var k [4]byte
	_, _ = rand.Read(k[:])
	return k
}
