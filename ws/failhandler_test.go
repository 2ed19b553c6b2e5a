//go:build !js

package ws

import (
	"testing"
	"time"

	"github.com/plainws/plainws/internal/wstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A layer with its own send queue flushes it from the fail handler: what it
// writes there goes out ahead of the close frame that fails the connection.
func TestFailHandlerWritesBeforeTheCloseFrame(t *testing.T) {
	for _, role := range []Role{RoleClient, RoleServer} {
		t.Run(role.String(), func(t *testing.T) {
			c, peer := newRawPeer(t, role, nil)
			var got *ProtocolError
			c.SetFailHandler(func(err *ProtocolError) {
				got = err
				require.NoError(t, c.WriteMessage(OpText, []byte("queued before the failure")))
			})
			peer.Write(wstest.Frame{Fin: true, Rsv: 0x40, Opcode: wstest.OpText, Masked: peer.masks, Key: wstest.DefaultKey, Payload: []byte("bad RSV1")}.Bytes()) // RFC 6455 §5.2
			_, _, err := c.ReadMessage()
			var pe *ProtocolError
			require.ErrorAs(t, err, &pe)
			require.Same(t, pe, got, "the handler sees the error the reader returns")
			h, p := peer.next()
			assert.Equal(t, OpText, h.Opcode)
			assert.Equal(t, "queued before the failure", string(p))
			assert.Equal(t, CloseProtocolError, peer.expectClose())
		})
	}
}

func TestFailHandlerNotCalledWhenThePeerCloses(t *testing.T) {
	c, peer := newRawPeer(t, RoleServer, &Options{CloseTimeout: 100 * time.Millisecond})
	called := false
	c.SetFailHandler(func(*ProtocolError) { called = true })
	peer.send(true, OpClose, wstest.ClosePayload(uint16(CloseNormalClosure), "bye"))
	_, _, err := c.ReadMessage()
	var ce *CloseError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, CloseNormalClosure, peer.expectClose())
	assert.False(t, called)
}
