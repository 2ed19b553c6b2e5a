//go:build !js

package ws

import (
	"bufio"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/wstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// streamingPeer is a client that keeps sending a message far over the
// server's read limit while it reads what the server sends, and behaves as
// a browser does: a write that fails (a reset) ends the connection, and a
// close frame from the server stops the upload at the next frame boundary
// and is answered. It reports the close code it read, or the error that
// ended its reading when the close frame was lost.
func streamingPeer(t *testing.T, nc net.Conn, frames func(w io.Writer, stop <-chan struct{}) error) (StatusCode, error) {
	t.Helper()
	stop := make(chan struct{})
	reply := make(chan []byte, 1)
	go func() {
		w := bufio.NewWriterSize(nc, 64<<10)
		if frames(w, stop) != nil || w.Flush() != nil {
			_ = nc.Close() // the browser gives up on a failed write
			return
		}
		if p, ok := <-reply; ok {
			_, _ = nc.Write(wstest.Frame{Fin: true, Opcode: wstest.OpClose, Payload: p}.Mask().Bytes())
		}
	}()
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(nc)
	for {
		h, err := ReadHeader(br)
		if err != nil {
			close(reply)
			return 0, err
		}
		payload := make([]byte, h.Length)
		if _, err := io.ReadFull(br, payload); err != nil {
			close(reply)
			return 0, err
		}
		if h.Opcode == OpClose {
			close(stop)
			reply <- payload
			code, _, err := ParseClosePayload(payload)
			return code, err
		}
	}
}

// stopped reports whether the peer was told to stop sending.
func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

// RFC 6455 §7.1.7 and §5.5.1: when a peer streams a message over the read
// limit, the 1009 close frame reaches it intact — the server lingers after
// sending it instead of closing a socket with unread data, which would
// answer with a reset that destroys the close frame in flight. Repeated,
// since the reset loses the race only some of the time.
func TestFailedConnectionCloseFrameSurvivesStreamingPeer(t *testing.T) {
	chunk := make([]byte, 32<<10)
	cases := map[string]func(w io.Writer, stop <-chan struct{}) error{
		// One frame declaring 16 MiB: refused at its header; the peer
		// cannot stop before the frame's end.
		"declared": func(w io.Writer, stop <-chan struct{}) error {
			h := wstest.Frame{Fin: true, Opcode: wstest.OpBinary, Masked: true, Length: wstest.Len(16 << 20)}
			if _, err := w.Write(h.Bytes()); err != nil {
				return err
			}
			for range (16 << 20) / len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return err
				}
			}
			return nil
		},
		// 32 KiB fragments: the limit is crossed inside the message.
		"fragments": func(w io.Writer, stop <-chan struct{}) error {
			op := OpBinary
			for range 2048 {
				if stopped(stop) {
					return nil
				}
				if _, err := w.Write(wstest.Frame{Opcode: byte(op), Payload: chunk}.Mask().Bytes()); err != nil {
					return err
				}
				op = OpContinuation
			}
			return nil
		},
	}
	for name, frames := range cases {
		t.Run(name, func(t *testing.T) {
			for range 8 {
				a, b := wstest.TCPPair(t)
				c := NewConn(a, nil, RoleServer, "", &Options{ReadLimit: 256 << 10, CloseTimeout: 2 * time.Second})
				readErr := make(chan error, 1)
				go func() {
					_, _, err := c.ReadMessage()
					readErr <- err
				}()
				code, err := streamingPeer(t, b, frames)
				require.NoError(t, err, "the peer must read our close frame, not a reset")
				assert.Equal(t, CloseMessageTooBig, code)
				require.ErrorIs(t, <-readErr, ErrReadLimit)
				// After the peer's close the server closes TCP
				// (RFC 6455 §7.1.1) without waiting out the timeout.
				_ = b.SetReadDeadline(time.Now().Add(time.Second))
				_, err = io.Copy(io.Discard, b)
				if err != nil && !errors.Is(err, net.ErrClosed) {
					var ne net.Error
					require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server must close TCP after the peer's close")
				}
				_ = b.Close()
				_ = c.CloseNow()
			}
		})
	}
}
