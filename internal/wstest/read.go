package wstest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxReadPayload bounds the payload ReadFrame accepts, so that a test that
// reads garbage fails instead of allocating what a stray length asks for.
const MaxReadPayload = 64 << 20

// ReadFrame reads one frame from r (RFC 6455 §5.2) and unmasks its payload
// (§5.3). Masked and Key say how it came; LenForm is set only when the
// length did not use the minimal form, so that a frame built with Frame
// reads back equal to itself.
func ReadFrame(r io.Reader) (Frame, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return Frame{}, err
	}
	f := Frame{
		Fin:    h[0]&0x80 != 0,
		Rsv:    h[0] & (Rsv1 | Rsv2 | Rsv3),
		Opcode: h[0] & 0x0F,
		Masked: h[1]&0x80 != 0,
	}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return f, fmt.Errorf("wstest: 16-bit length: %w", err)
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
		if n <= 125 {
			f.LenForm = Len16
		}
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return f, fmt.Errorf("wstest: 64-bit length: %w", err)
		}
		n = binary.BigEndian.Uint64(b[:])
		if n <= 0xFFFF {
			f.LenForm = Len64
		}
	}
	if n > MaxReadPayload {
		return f, fmt.Errorf("wstest: payload length %d over %d", n, MaxReadPayload)
	}
	if f.Masked {
		if _, err := io.ReadFull(r, f.Key[:]); err != nil {
			return f, fmt.Errorf("wstest: masking key: %w", err)
		}
	}
	f.Payload = make([]byte, n)
	if _, err := io.ReadFull(r, f.Payload); err != nil {
		return f, fmt.Errorf("wstest: payload of %d bytes: %w", n, err)
	}
	if f.Masked {
		MaskBytes(f.Payload, f.Key)
	}
	return f, nil
}

// MaxHead bounds ReadHead.
const MaxHead = 64 << 10

// ErrHeadTooLong is what ReadHead returns past MaxHead bytes.
var ErrHeadTooLong = errors.New("wstest: HTTP head too long")

// ReadHead reads an HTTP head (RFC 9112 §2.1: start line, header lines, the
// blank line) one byte at a time, so that nothing sent after the blank line
// is consumed: the frames that follow a handshake are still there for the
// next reader. It returns what it read even on error.
func ReadHead(r io.Reader) (string, error) {
	var head []byte
	var b [1]byte
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		if len(head) > MaxHead {
			return string(head), ErrHeadTooLong
		}
		if _, err := r.Read(b[:]); err != nil {
			return string(head), err
		}
		head = append(head, b[0])
	}
	return string(head), nil
}
