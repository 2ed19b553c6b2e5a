package wstest

import (
	"encoding/binary"
	"errors"
)

// Close status codes of RFC 6455 §7.4.1 that tests name most.
const (
	CloseNormal          uint16 = 1000
	CloseGoingAway       uint16 = 1001
	CloseProtocolError   uint16 = 1002
	CloseUnsupported     uint16 = 1003
	CloseNoStatus        uint16 = 1005 // never on the wire
	CloseAbnormal        uint16 = 1006 // never on the wire
	CloseInvalidPayload  uint16 = 1007
	ClosePolicyViolation uint16 = 1008
	CloseTooBig          uint16 = 1009
	CloseInternalError   uint16 = 1011
)

// ClosePayload returns the body of a close frame (RFC 6455 §5.5.1): the
// code as a 16-bit big-endian integer followed by the reason. Nothing is
// checked, so a test can send codes and reasons that are not allowed; code
// 0 with an empty reason gives the empty body.
func ClosePayload(code uint16, reason string) []byte {
	if code == 0 && reason == "" {
		return nil
	}
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

// ErrCloseBody is what ParseClose returns for a one-byte body, which RFC
// 6455 §5.5.1 does not allow.
var ErrCloseBody = errors.New("wstest: a close body of one byte")

// ParseClose splits a close frame's body (RFC 6455 §5.5.1) into its code and
// reason; an empty body gives code 0.
func ParseClose(p []byte) (code uint16, reason string, err error) {
	switch len(p) {
	case 0:
		return 0, "", nil
	case 1:
		return 0, "", ErrCloseBody
	}
	return binary.BigEndian.Uint16(p), string(p[2:]), nil
}
