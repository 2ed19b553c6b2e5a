//go:build !js

package ws

import (
	"bytes"
	"net"
	"sync/atomic"
	"testing"

	"github.com/plainws/plainws/internal/wstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countingConn counts the writes that reach the socket.
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// TestNextWriterFragments checks a streamed message leaves as fragments of
// exactly the write buffer size, the first with the message's opcode, the
// rest continuations, FIN on the last alone (RFC 6455 §5.4), masked with a
// fresh key each by a client (§5.3), whatever the sizes of the Write calls;
// and that small fragments handed over in one Write are gathered into few
// socket writes.
func TestNextWriterFragments(t *testing.T) {
	for _, role := range []Role{RoleClient, RoleServer} {
		for _, frag := range []int{128, 256, 4 << 10, 20 << 10} {
			for _, size := range []int{1, frag, 4 * frag, 3*frag + 17, 64 << 10} {
				for _, split := range []int{0, 1, frag + 3} {
					t.Run("", func(t *testing.T) {
						a, b := wstest.TCPPair(t)
						cc := &countingConn{Conn: a}
						c := NewConn(cc, nil, role, "", &Options{WriteBufferSize: frag})
						t.Cleanup(func() { _ = c.CloseNow() })
						peer := peerOn(t, b, role == RoleServer)
						msg := bytes.Repeat([]byte("0123456789abcdef€"), size/19+1)[:size]
						done := make(chan error, 1)
						go func() {
							w, err := c.NextWriter(OpBinary)
							if err != nil {
								done <- err
								return
							}
							parts := [][]byte{msg}
							if split > 0 && split < len(msg) {
								parts = [][]byte{msg[:split], msg[split:]}
							}
							for _, part := range parts {
								if _, err := w.Write(part); err != nil {
									done <- err
									return
								}
							}
							done <- w.Close()
						}()
						var got []byte
						var keys [][4]byte
						for i := 0; ; i++ {
							h, payload := peer.next()
							if i == 0 {
								require.Equal(t, OpBinary, h.Opcode)
							} else {
								require.Equal(t, OpContinuation, h.Opcode)
							}
							got = append(got, payload...)
							if h.Masked {
								keys = append(keys, h.Mask)
							}
							if h.Fin {
								require.LessOrEqual(t, len(payload), frag)
								break
							}
							require.Len(t, payload, frag, "fragment %d", i)
						}
						require.NoError(t, <-done)
						require.Equal(t, msg, got)
						for i := 1; i < len(keys); i++ {
							assert.NotEqual(t, keys[i-1], keys[i], "RFC 6455 §5.3: a fresh key per frame")
						}
						frames := (size + frag - 1) / frag
						if split == 0 && frag <= gatherMax && size >= 4*frag {
							// One Write: the full fragments gathered into
							// writes of up to ~64 KiB, then the final one.
							wire := (Header{Masked: role == RoleClient, Length: int64(frag)}.Size() + frag) * (frames - 1)
							assert.LessOrEqual(t, cc.writes.Load(), int64(wire/(64<<10)+2), "%d frames", frames)
						}
					})
				}
			}
		}
	}
}
