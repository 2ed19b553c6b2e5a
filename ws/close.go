package ws

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// StatusCode is a close status code (RFC 6455 §7.4). It is a named type so
// that its String form names the code in errors.
type StatusCode uint16

// The status codes of RFC 6455 §7.4.1 and the IANA registry (§11.7).
const (
	CloseNormalClosure           StatusCode = 1000
	CloseGoingAway               StatusCode = 1001
	CloseProtocolError           StatusCode = 1002
	CloseUnsupportedData         StatusCode = 1003
	CloseNoStatusReceived        StatusCode = 1005 // never on the wire
	CloseAbnormalClosure         StatusCode = 1006 // never on the wire
	CloseInvalidFramePayloadData StatusCode = 1007
	ClosePolicyViolation         StatusCode = 1008
	CloseMessageTooBig           StatusCode = 1009
	CloseMandatoryExtension      StatusCode = 1010
	CloseInternalServerErr       StatusCode = 1011
	CloseServiceRestart          StatusCode = 1012
	CloseTryAgainLater           StatusCode = 1013
	CloseBadGateway              StatusCode = 1014
	CloseTLSHandshake            StatusCode = 1015 // never on the wire
)

// String names the code as the RFC and the IANA registry do.
func (c StatusCode) String() string {
	switch c {
	case CloseNormalClosure:
		return "normal closure"
	case CloseGoingAway:
		return "going away"
	case CloseProtocolError:
		return "protocol error"
	case CloseUnsupportedData:
		return "unsupported data"
	case CloseNoStatusReceived:
		return "no status received"
	case CloseAbnormalClosure:
		return "abnormal closure"
	case CloseInvalidFramePayloadData:
		return "invalid frame payload data"
	case ClosePolicyViolation:
		return "policy violation"
	case CloseMessageTooBig:
		return "message too big"
	case CloseMandatoryExtension:
		return "mandatory extension"
	case CloseInternalServerErr:
		return "internal server error"
	case CloseServiceRestart:
		return "service restart"
	case CloseTryAgainLater:
		return "try again later"
	case CloseBadGateway:
		return "bad gateway"
	case CloseTLSHandshake:
		return "TLS handshake"
	}
	switch {
	case c >= 3000 && c <= 3999:
		return "registered"
	case c >= 4000 && c <= 4999:
		return "private"
	}
	return "unknown"
}

// ValidOnWire reports whether c may appear in a close frame. RFC 6455 §7.4.1
// forbids 1004 (reserved), 1005, 1006 and 1015 on the wire; §7.4.2 leaves
// 0–999 unused and 1016–2999 to future RFCs; 3000–4999 belong to libraries
// and applications. 1012–1014 were registered with IANA after the RFC
// (§11.7) and are accepted.
func (c StatusCode) ValidOnWire() bool {
	switch {
	case c >= 1000 && c <= 1003:
		return true
	case c >= 1007 && c <= 1014:
		return true
	case c >= 3000 && c <= 4999:
		return true
	}
	return false
}

// MaxCloseReason is the longest close reason that fits a control frame: 125
// bytes of payload less the 2-byte code (RFC 6455 §5.5).
const MaxCloseReason = MaxControlPayload - 2

// ParseClosePayload decodes the body of a close frame (RFC 6455 §5.5.1). An
// empty body means no code was sent and yields CloseNoStatusReceived. A body of
// one byte or a code that may not appear on the wire is a protocol error
// (1002); a reason that is not UTF-8 is invalid payload data (1007). The
// reason is returned as a string copy, so p may be reused.
func ParseClosePayload(p []byte) (StatusCode, string, error) {
	switch {
	case len(p) == 0:
		return CloseNoStatusReceived, "", nil
	case len(p) == 1:
		// RFC 6455 §5.5.1: "If there is a body, the first two bytes of the
		// body MUST be a 2-byte unsigned integer".
		return 0, "", protocolErr(CloseProtocolError, ErrInvalidClosePayload, "1-byte close payload")
	case len(p) > MaxControlPayload:
		return 0, "", protocolErr(CloseProtocolError, ErrControlTooLong, "close payload of %d bytes", len(p))
	}
	code := StatusCode(binary.BigEndian.Uint16(p))
	if !code.ValidOnWire() {
		// RFC 6455 §7.4: codes outside the defined ranges fail the
		// connection; Autobahn 7.9 checks exactly this.
		return 0, "", protocolErr(CloseProtocolError, ErrInvalidClosePayload, "close code %d", uint16(code))
	}
	// RFC 6455 §5.5.1: the reason is UTF-8; §8.1: invalid UTF-8 fails the
	// connection with 1007.
	if !utf8.Valid(p[2:]) {
		return 0, "", protocolErr(CloseInvalidFramePayloadData, ErrInvalidUTF8, "close reason")
	}
	return code, string(p[2:]), nil
}

// AppendClosePayload appends the body of a close frame with code and reason to
// dst. Code 0 means "no status": the body is then empty (RFC 6455 §5.5.1
// allows a close frame without a body) and reason must be empty. It returns
// an error, and dst unchanged, for a code that may not be sent or a reason
// that is too long or not UTF-8, so that we never send what we would reject.
func AppendClosePayload(dst []byte, code StatusCode, reason string) ([]byte, error) {
	if code == 0 {
		if reason != "" {
			return dst, fmt.Errorf("%w: a reason needs a status code", ErrInvalidClosePayload)
		}
		return dst, nil
	}
	if !code.ValidOnWire() {
		return dst, fmt.Errorf("%w: code %d may not be sent", ErrInvalidClosePayload, uint16(code))
	}
	if len(reason) > MaxCloseReason {
		return dst, fmt.Errorf("%w: reason of %d bytes (max %d)", ErrInvalidClosePayload, len(reason), MaxCloseReason)
	}
	if !utf8.ValidString(reason) {
		return dst, fmt.Errorf("%w: reason is not UTF-8", ErrInvalidClosePayload)
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	return append(dst, reason...), nil
}
