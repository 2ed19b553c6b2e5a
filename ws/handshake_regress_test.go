//go:build !js

package ws

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/wstest"
	"github.com/stretchr/testify/require"
)

// Regression tests for handshake bugs found by review and by the fuzzer;
// each names the rule it checks.

// TestRegressionMalformedResponseIsHandshakeError: a server that answers something
// that is not an HTTP response (or a broken one) fails the handshake (RFC
// 6455 §4.1: "If the server's response does not conform to the requirements
// for the server's handshake ... the client MUST _Fail the WebSocket
// Connection_"), and handshake.go promises that every handshake failure
// "reaches the caller inside a *HandshakeError", matched by ErrBadHandshake.
// dial.go's handshake returns net/http's parse error wrapped only in
// "ws: reading the handshake response: %w", so errors.Is(err,
// ErrBadHandshake) is false for, e.g., an SSH server or a broken status line.
func TestRegressionMalformedResponseIsHandshakeError(t *testing.T) {
	for name, resp := range map[string]string{
		"not HTTP":             "SSH-2.0-OpenSSH_9.6\r\n\r\n",
		"bad status code":      "HTTP/1.1 abc Switching Protocols\r\n\r\n",
		"header without colon": "HTTP/1.1 101 Switching Protocols\r\nUpgrade websocket\r\n\r\n",
		"bad Content-Length":   "HTTP/1.1 403 Forbidden\r\nContent-Length: x\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			url, _ := hsScript(t, wstest.Answer(resp))
			_, _, err := hsDial(&Dialer{}, url)
			require.Error(t, err)
			require.ErrorIs(t, err, ErrBadHandshake, "got %v", err)
			require.ErrorIs(t, err, ErrMalformedHead)
			var he *HandshakeError
			require.ErrorAs(t, err, &he)
		})
	}
}

// TestRegressionUpgradeConnKeepsIOCause: when the client goes away before its
// request is complete, accept.go's upgradeConn reports a *HandshakeError
// with ErrBadRequest whose Detail is the I/O error's text: the cause is not
// wrapped (the house rule: "wrap with %w"), so a server cannot tell a client
// that hung up (errors.Is(err, io.EOF)) from a malformed request, and a 400
// is written to a connection that is already gone.
func TestRegressionUpgradeConnKeepsIOCause(t *testing.T) {
	for name, sent := range map[string]string{
		"nothing":        "",
		"half a request": "GET /chat HTTP/1.1\r\nHost: server.exa",
	} {
		t.Run(name, func(t *testing.T) {
			a, b := wstest.TCPPair(t)
			_, err := a.Write([]byte(sent))
			require.NoError(t, err)
			require.NoError(t, a.(*net.TCPConn).CloseWrite())
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, _, err = (&Upgrader{}).UpgradeConn(ctx, b, nil)
			require.Error(t, err)
			require.True(t, errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF), "the I/O cause is wrapped: %v", err)
		})
	}
}

// TestRegressionClientSubprotocolsMustBeUniqueTokens: RFC 6455 §4.1 item 10: the
// subprotocol values "MUST be non-empty strings with characters in the range
// U+0021 to U+007E not including separator characters ... and MUST all be
// unique strings". handshake.go's writeClientRequest checks that each entry
// of Dialer.Subprotocols is a token but sends duplicates, and sends a
// Sec-WebSocket-Protocol given in Dialer.Header without any check. Either
// must fail with ErrBadHeader before anything is sent.
func TestRegressionClientSubprotocolsMustBeUniqueTokens(t *testing.T) {
	for name, d := range map[string]*Dialer{
		"duplicate in Subprotocols": {Subprotocols: []string{"chat", "chat"}},
		"duplicate in Header":       {Header: http.Header{"Sec-Websocket-Protocol": {"chat, chat"}}},
		"non-token in Header":       {Header: http.Header{"Sec-Websocket-Protocol": {"chat room"}}},
		"separator in Header":       {Header: http.Header{"Sec-Websocket-Protocol": {"chat;v=1"}}},
	} {
		t.Run(name, func(t *testing.T) {
			url, _ := hsScript(t, wstest.Answer(hsOK))
			c, _, err := hsDial(d, url)
			if c != nil {
				_ = c.CloseNow()
			}
			require.ErrorIs(t, err, ErrBadHeader)
		})
	}
}
