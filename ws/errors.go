package ws

import (
	"errors"
	"fmt"
)

// Sentinel errors. Each failure of the peer's input is reported as a
// *ProtocolError that wraps one of these, so callers can match the cause with
// errors.Is and read the close code that was sent from the ProtocolError.
var (
	// ErrClosed is returned by operations on a connection whose closing
	// handshake has started or that was aborted locally.
	ErrClosed = errors.New("ws: connection closed")
	// ErrLengthOverflow: a 64-bit payload length with its top bit set (§5.2).
	ErrLengthOverflow = errors.New("ws: 64-bit payload length has the most significant bit set")
	// ErrReservedOpcode: an opcode RFC 6455 §5.2 reserves.
	ErrReservedOpcode = errors.New("ws: reserved opcode")
	// ErrReservedBits: an RSV bit that no negotiated extension defines (§5.2).
	ErrReservedBits = errors.New("ws: reserved bits set")
	// ErrFragmentedControl: a control frame without FIN (§5.5).
	ErrFragmentedControl = errors.New("ws: fragmented control frame")
	// ErrControlTooLong: a control frame with more than 125 bytes (§5.5).
	ErrControlTooLong = errors.New("ws: control frame payload longer than 125 bytes")
	// ErrMaskMismatch: a masked frame from a server or an unmasked one from a
	// client (§5.1).
	ErrMaskMismatch = errors.New("ws: wrong frame masking for the role")
	// ErrUnexpectedContinuation: a continuation frame with no message open
	// (§5.4).
	ErrUnexpectedContinuation = errors.New("ws: continuation frame without a message to continue")
	// ErrMessageInterrupted: a new text or binary frame while a fragmented
	// message is still open (§5.4).
	ErrMessageInterrupted = errors.New("ws: new data frame inside an unfinished message")
	// ErrInvalidUTF8: a text message or close reason that is not UTF-8
	// (§8.1, §5.5.1).
	ErrInvalidUTF8 = errors.New("ws: invalid UTF-8 in text")
	// ErrReadLimit: a message longer than the connection's read limit.
	ErrReadLimit = errors.New("ws: message exceeds the read limit")
	// ErrInvalidClosePayload: a close frame whose body is 1 byte long, or
	// whose code may not appear on the wire (§5.5.1, §7.4).
	ErrInvalidClosePayload = errors.New("ws: invalid close frame payload")
	// ErrAbnormalClosure: the connection ended without a close frame, the
	// case RFC 6455 §7.1.5 gives the code 1006. The network error that ended
	// it is wrapped too.
	ErrAbnormalClosure = errors.New("ws: connection closed without a close frame (1006)")
	// ErrCloseTimeout: the peer did not finish the closing handshake in time.
	ErrCloseTimeout = errors.New("ws: closing handshake timed out")
)

// ProtocolError reports that the peer broke the protocol and that this end
// failed the connection (RFC 6455 §7.1.7), sending Code in a close frame
// where it still could. Err is one of the sentinels above; Detail says what
// exactly was seen.
type ProtocolError struct {
	// Code is the close code this end sent, or would have sent had the
	// connection still been writable: 1002, 1007, 1009, … (RFC 6455 §7.4.1).
	Code StatusCode
	// Err is the sentinel naming the rule the peer broke, for errors.Is.
	Err error
	// Detail says what exactly was seen, for people reading logs.
	Detail string
}

// Error formats the failure with the close code we sent.
func (e *ProtocolError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("%v (sent close %d)", e.Err, e.Code)
	}
	return fmt.Sprintf("%v: %s (sent close %d)", e.Err, e.Detail, e.Code)
}

// Unwrap exposes the sentinel for errors.Is.
func (e *ProtocolError) Unwrap() error { return e.Err }

func protocolErr(code StatusCode, sentinel error, format string, args ...any) *ProtocolError {
	return &ProtocolError{Code: code, Err: sentinel, Detail: fmt.Sprintf(format, args...)}
}

// CloseError is the error a reader gets after the peer closed the connection
// with a close frame (RFC 6455 §7.1.5, §7.1.6). Code is CloseNoStatusReceived
// when the frame carried no code.
type CloseError struct {
	// Code is the status code of the peer's close frame (RFC 6455 §7.1.5),
	// or CloseNoStatusReceived (1005) when the frame had no payload.
	Code StatusCode
	// Reason is the peer's reason (RFC 6455 §7.1.6), checked to be UTF-8;
	// often empty.
	Reason string
}

// Error formats the peer's code and reason.
func (e *CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("ws: closed by peer: %d %s", e.Code, e.Code)
	}
	return fmt.Sprintf("ws: closed by peer: %d %s: %q", e.Code, e.Code, e.Reason)
}

// CloseStatus returns the close code the peer sent if err is (or wraps) a
// *CloseError, and 0 otherwise. It makes "did the peer close normally?" a
// one-liner.
func CloseStatus(err error) StatusCode {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}
