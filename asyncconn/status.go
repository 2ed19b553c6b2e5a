package asyncconn

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/plainws/plainws/ws"
)

// Status is the state of a Conn, with the values of Workerman's TcpConnection::STATUS_* constants
// (v5.1.9 and later), so that code ported from PHP that compares or logs the numbers keeps working.
type Status int32

// The statuses a Conn moves through. Workerman's STATUS_ENDING (4) has no counterpart, because
// Conn has no end(); see the package documentation.
const (
	// StatusInitial: constructed and not connected yet, or waiting for a ReConnect to start.
	StatusInitial Status = 0
	// StatusConnecting: Connect has started TCP, the proxy tunnel and TLS.
	StatusConnecting Status = 1
	// StatusEstablished: the transport is up (OnConnect has run). As in Workerman this does not mean
	// the WebSocket is open: the upgrade may still be pending (see OnWebSocketConnect).
	StatusEstablished Status = 2
	// StatusClosing: Close or Destroy was called and OnClose has not run yet.
	StatusClosing Status = 8
	// StatusClosed: the connection has ended and OnClose has run (or is running).
	StatusClosed Status = 16
)

// String returns Workerman's name for the status (TcpConnection::STATUS_TO_STRING), so that logs
// read the same in both ports.
func (s Status) String() string {
	switch s {
	case StatusInitial:
		return "INITIAL"
	case StatusConnecting:
		return "CONNECTING"
	case StatusEstablished:
		return "ESTABLISHED"
	case StatusClosing:
		return "CLOSING"
	case StatusClosed:
		return "CLOSED"
	}
	return "Status(" + strconv.Itoa(int(s)) + ")"
}

// ErrorCode is the code OnError receives. Codes 1 and 2 are Workerman's and mean the same thing;
// the others are ours, for failures Workerman reports only with a bare onClose (docs/workerman.md §5,
// bugs B6, B21), so that a program can tell a refused upgrade from a dead network.
type ErrorCode int

// The error codes. Every one except SendFail for a full buffer is followed by OnClose, as in
// Workerman (emitError then destroy).
const (
	// ConnectFail (Workerman CONNECT_FAIL = 1): the TCP connection or the proxy tunnel could not be
	// made (refused, unreachable, DNS failure, proxy refusal or authentication failure, timeout).
	ConnectFail ErrorCode = 1
	// SendFail (Workerman SEND_FAIL = 2): a message was dropped because the send buffer was already
	// at MaxSendBufferSize (the connection stays open), or writing to the peer failed (the
	// connection then closes).
	SendFail ErrorCode = 2
	// HandshakeFail: the server refused or botched the WebSocket upgrade (a status other than 101,
	// a wrong Sec-WebSocket-Accept, a subprotocol not offered, a timeout). LastError returns the
	// *ws.HandshakeError with the status, headers and the start of the body.
	HandshakeFail ErrorCode = 3
	// TLSFail: the TLS handshake with the server failed (certificate not trusted, wrong name,
	// no common version, timeout).
	TLSFail ErrorCode = 4
	// ProtocolFail: the server broke RFC 6455 (a masked frame, a reserved opcode, invalid UTF-8 in a
	// text message, a message over MaxPackageSize, ...); the client failed the connection with the
	// close code the RFC names. LastError returns the *ws.ProtocolError.
	ProtocolFail ErrorCode = 5
	// PingTimeout: PongTimeout is set and nothing arrived from the server within it after a ping.
	PingTimeout ErrorCode = 6
)

// String names the code like Workerman's constants (CONNECT_FAIL, SEND_FAIL) and ours alike.
func (e ErrorCode) String() string {
	switch e {
	case ConnectFail:
		return "CONNECT_FAIL"
	case SendFail:
		return "SEND_FAIL"
	case HandshakeFail:
		return "HANDSHAKE_FAIL"
	case TLSFail:
		return "TLS_FAIL"
	case ProtocolFail:
		return "PROTOCOL_FAIL"
	case PingTimeout:
		return "PING_TIMEOUT"
	}
	return "ErrorCode(" + strconv.Itoa(int(e)) + ")"
}

// BinaryType selects the frame type Send uses, with the values of Workerman's Ws::BINARY_TYPE_*
// constants (the first byte of the frame: FIN plus the opcode). Despite the names, taken from the
// browser API, BinaryTypeBlob sends text frames and BinaryTypeArrayBuffer sends binary frames.
type BinaryType byte

const (
	// BinaryTypeBlob (Ws::BINARY_TYPE_BLOB, "\x81") makes Send use text frames. It is the default.
	BinaryTypeBlob BinaryType = 0x81
	// BinaryTypeArrayBuffer (Ws::BINARY_TYPE_ARRAYBUFFER, "\x82") makes Send use binary frames.
	BinaryTypeArrayBuffer BinaryType = 0x82
)

// opcode maps the type to the frame opcode; the zero value means the default, text.
func (b BinaryType) opcode() ws.Opcode {
	if b == BinaryTypeArrayBuffer {
		return ws.OpBinary
	}
	return ws.OpText
}

// Errors returned by Conn's methods and reported through LastError.
var (
	// ErrSendBufferFull is returned by Send when MaxSendBufferSize bytes are already waiting to be
	// sent: the message is dropped, as in Workerman, and OnError(SendFail) follows.
	ErrSendBufferFull = errors.New("asyncconn: send buffer full and drop package")
	// ErrNotOpen is returned by Send, Ping and Pong while the connection is closing or closed, and by
	// Ping and Pong before the upgrade: there is nothing the message could go out on. Workerman's
	// send() returns false silently in the same cases.
	ErrNotOpen = errors.New("asyncconn: connection is closing or closed")
	// ErrBadTransport is reported (with ConnectFail) when Transport is neither "tcp" nor "ssl"/"tls".
	ErrBadTransport = errors.New("asyncconn: unknown transport")
	// ErrBadProxy is reported (with ConnectFail) when ProxySocks5, ProxyHTTP or ProxyAuthorization
	// cannot be used.
	ErrBadProxy = errors.New("asyncconn: bad proxy setting")
	// ErrPongTimeout is wrapped by what LastError returns after OnError(PingTimeout) (a
	// *ws.TimeoutError: the heartbeat is package ws's keepalive). It is ws.ErrPongTimeout, so
	// errors.Is matches either name.
	ErrPongTimeout = ws.ErrPongTimeout
	// ErrNotSent is wrapped by the *LostError of an OnError(SendFail) that reports messages
	// which Send accepted and the connection ended before they could be sent.
	ErrNotSent = errors.New("asyncconn: accepted messages were not sent")
)

// LostError reports messages that Send accepted and that never went out, because the connection
// ended first: the server closed or failed it and the buffer could not drain within
// CloseTimeout, the TCP connection broke, or Close could not flush in time. It comes with
// OnError(SendFail), once per connection, before OnClose (LastError returns it during that
// call), so that no accepted message vanishes in silence. Destroy and ReConnect drop the buffer
// on purpose and report nothing.
type LostError struct {
	Messages int   // how many messages
	Bytes    int   // their payload bytes
	Err      error // why the first of them could not be sent
}

// Error says how much was lost and why.
func (e *LostError) Error() string {
	return fmt.Sprintf("%v: %d message(s), %d bytes: %v", ErrNotSent, e.Messages, e.Bytes, e.Err)
}

// Unwrap returns ErrNotSent and the cause, for errors.Is and errors.As.
func (e *LostError) Unwrap() []error { return []error{ErrNotSent, e.Err} }
