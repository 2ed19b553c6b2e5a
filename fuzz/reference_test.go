package fuzz

import (
	"encoding/binary"
	"unicode/utf8"

	"github.com/plainws/plainws/ws"
)

// refMsg is one message as the reference decoder delivers it.
type refMsg struct {
	op   ws.Opcode
	data []byte
}

// refDecode is a deliberately plain, byte-at-a-time decoder of a WebSocket
// byte stream, written from RFC 6455 without any of package ws's code. The
// connection fuzz targets check that ws.Conn delivers exactly what it does
// and ends with the same outcome. The outcome is "eof" (the stream ended
// without a close frame), "close <code>", or the sentinel the first broken
// rule maps to (compared with errors.Is) together with its close code.
func refDecode(data []byte, role ws.Role, limit int) (msgs []refMsg, end refEnd) {
	var (
		open    ws.Opcode // opcode of the open message, 0 if none
		current []byte
	)
	pos := 0
	take := func(n int) ([]byte, bool) {
		if n < 0 || len(data)-pos < n {
			return nil, false
		}
		b := data[pos : pos+n]
		pos += n
		return b, true
	}
	for {
		hdr, ok := take(2)
		if !ok {
			return msgs, refEnd{kind: "eof"}
		}
		fin := hdr[0]&0x80 != 0
		rsv := hdr[0] & 0x70
		op := ws.Opcode(hdr[0] & 0x0F)
		masked := hdr[1]&0x80 != 0
		length := uint64(hdr[1] & 0x7F)
		switch length {
		case 126:
			ext, ok := take(2)
			if !ok {
				return msgs, refEnd{kind: "eof"}
			}
			length = uint64(binary.BigEndian.Uint16(ext))
		case 127:
			ext, ok := take(8)
			if !ok {
				return msgs, refEnd{kind: "eof"}
			}
			length = binary.BigEndian.Uint64(ext)
		}
		var key []byte
		if masked {
			if key, ok = take(4); !ok {
				return msgs, refEnd{kind: "eof"}
			}
		}
		// §5.2: the 64-bit length's top bit must be 0.
		if length>>63 != 0 {
			return msgs, refEnd{kind: "error", err: ws.ErrLengthOverflow, code: ws.CloseProtocolError}
		}
		control := op >= 8
		switch {
		case op != 0 && op != 1 && op != 2 && op != 8 && op != 9 && op != 10:
			return msgs, refEnd{kind: "error", err: ws.ErrReservedOpcode, code: ws.CloseProtocolError}
		case rsv != 0:
			return msgs, refEnd{kind: "error", err: ws.ErrReservedBits, code: ws.CloseProtocolError}
		case control && !fin:
			return msgs, refEnd{kind: "error", err: ws.ErrFragmentedControl, code: ws.CloseProtocolError}
		case control && length > 125:
			return msgs, refEnd{kind: "error", err: ws.ErrControlTooLong, code: ws.CloseProtocolError}
		case masked != (role == ws.RoleServer):
			return msgs, refEnd{kind: "error", err: ws.ErrMaskMismatch, code: ws.CloseProtocolError}
		}
		unmask := func(p []byte, offset int) []byte {
			out := make([]byte, len(p))
			for i := range p {
				out[i] = p[i]
				if masked {
					out[i] ^= key[(offset+i)%4]
				}
			}
			return out
		}
		if control {
			raw, ok := take(int(length))
			if !ok {
				return msgs, refEnd{kind: "eof"}
			}
			payload := unmask(raw, 0)
			if op == ws.OpClose {
				switch {
				case len(payload) == 0:
					return msgs, refEnd{kind: "close", code: ws.CloseNoStatusReceived}
				case len(payload) == 1:
					return msgs, refEnd{kind: "error", err: ws.ErrInvalidClosePayload, code: ws.CloseProtocolError}
				}
				code := ws.StatusCode(binary.BigEndian.Uint16(payload))
				valid := (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)
				if !valid {
					return msgs, refEnd{kind: "error", err: ws.ErrInvalidClosePayload, code: ws.CloseProtocolError}
				}
				if !utf8.Valid(payload[2:]) {
					return msgs, refEnd{kind: "error", err: ws.ErrInvalidUTF8, code: ws.CloseInvalidFramePayloadData}
				}
				return msgs, refEnd{kind: "close", code: code}
			}
			continue // ping and pong carry nothing for the application
		}
		// §5.4: fragment order.
		if op == ws.OpContinuation && open == 0 {
			return msgs, refEnd{kind: "error", err: ws.ErrUnexpectedContinuation, code: ws.CloseProtocolError}
		}
		if op != ws.OpContinuation && open != 0 {
			return msgs, refEnd{kind: "error", err: ws.ErrMessageInterrupted, code: ws.CloseProtocolError}
		}
		if op != ws.OpContinuation {
			open, current = op, []byte{}
		}
		if uint64(len(current))+length > uint64(limit) {
			return msgs, refEnd{kind: "error", err: ws.ErrReadLimit, code: ws.CloseMessageTooBig}
		}
		avail := min(uint64(len(data)-pos), length)
		raw, _ := take(int(avail))
		current = append(current, unmask(raw, 0)...)
		// §8.1, failing fast: what has arrived of a text message must be
		// the start of valid UTF-8.
		if open == ws.OpText && !validPrefix(current) {
			return msgs, refEnd{kind: "error", err: ws.ErrInvalidUTF8, code: ws.CloseInvalidFramePayloadData}
		}
		if avail < length {
			return msgs, refEnd{kind: "eof"}
		}
		if fin {
			if open == ws.OpText && !utf8.Valid(current) {
				return msgs, refEnd{kind: "error", err: ws.ErrInvalidUTF8, code: ws.CloseInvalidFramePayloadData}
			}
			msgs = append(msgs, refMsg{op: open, data: current})
			open = 0
		}
	}
}

// refEnd is how the reference decoder's stream ended.
type refEnd struct {
	kind string // "eof", "close" or "error"
	err  error
	code ws.StatusCode
}

// validPrefix reports whether b can be extended to valid UTF-8: it is valid
// except for an incomplete last character that some continuation completes.
// It tries the completions that cover every second-byte range of RFC 3629's
// table (80, 90, A0), then plain continuation bytes.
func validPrefix(b []byte) bool {
	if utf8.Valid(b) {
		return true
	}
	for cut := 1; cut <= 3 && cut <= len(b); cut++ {
		if !utf8.Valid(b[:len(b)-cut]) {
			continue
		}
		tail := b[len(b)-cut:]
		for _, second := range []byte{0x80, 0x90, 0xA0} {
			cand := append([]byte{}, tail...)
			for len(cand) < 4 {
				if len(cand) == 1 {
					cand = append(cand, second)
				} else {
					cand = append(cand, 0x80)
				}
				if utf8.Valid(cand) {
					return true
				}
			}
		}
	}
	return false
}
