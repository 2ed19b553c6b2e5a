package wstest

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"strings"
)

// GUID is the globally unique identifier of RFC 6455 §1.3 that a server
// appends to the client's key before hashing it.
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// ExampleKey and ExampleAccept are the worked example of RFC 6455 §1.3: a
// server answers ExampleKey with ExampleAccept.
const (
	ExampleKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	ExampleAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

// AcceptKey returns the Sec-WebSocket-Accept value for a Sec-WebSocket-Key
// (RFC 6455 §4.2.2 item 5.4): base64 of the SHA-1 of the key, taken as the
// string it is, followed by GUID. It is written here again on purpose, not
// taken from package ws, so that the tests check ws against the RFC rather
// than against itself.
func AcceptKey(key string) string {
	sum := sha1.Sum([]byte(key + GUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// NewKey returns a fresh Sec-WebSocket-Key: 16 random bytes in base64 (RFC
// 6455 §4.1 item 7).
func NewKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// Switching returns the minimal 101 answer to a request carrying key (RFC
// 6455 §4.2.2 item 5): Upgrade, Connection and the computed
// Sec-WebSocket-Accept, followed by the extra header lines given as "Name:
// value" (no subprotocol and no extension unless one is given).
func Switching(key string, extra ...string) string {
	var b strings.Builder
	b.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ")
	b.WriteString(AcceptKey(key))
	b.WriteString("\r\n")
	for _, h := range extra {
		b.WriteString(h)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// Fill replaces "{accept}" in a scripted response with the accept value for
// req's Sec-WebSocket-Key, so that a table of responses can put the right
// value exactly where each one wants it.
func Fill(resp string, req *http.Request) string {
	return strings.ReplaceAll(resp, "{accept}", AcceptKey(req.Header.Get("Sec-WebSocket-Key")))
}
