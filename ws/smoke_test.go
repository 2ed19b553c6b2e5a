//go:build !js

package ws

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSmokeEchoOverTCP(t *testing.T) {
	url, _ := echoServer(t, &Upgrader{})
	c := dialT(t, &Dialer{}, url)
	for _, size := range []int{0, 1, 125, 126, 65535, 65536, 1 << 20} {
		msg := make([]byte, size)
		for i := range msg {
			msg[i] = byte('a' + i%26)
		}
		require.NoError(t, c.WriteMessage(OpText, msg))
		op, got, err := c.ReadMessage()
		require.NoError(t, err)
		require.Equal(t, OpText, op)
		require.True(t, bytes.Equal(msg, got), "size %d", size)
	}
	require.NoError(t, c.Close(CloseNormalClosure, "bye"))
}
