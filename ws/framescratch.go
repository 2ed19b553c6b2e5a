//go:build !js

package ws

import (
	"net"
	"sync"
)

// frameScratch is where writeFrameLocked builds a frame: small frames
// (header and payload, up to smallFrame bytes) in one array, the two
// buffers of a writev for large unmasked ones. A Conn makes it on the first
// frame it writes, under writeMu, and keeps it, so that a connection that
// never wrote (an idle client waiting for its first message, a server
// whose handler only reads) holds a nil pointer rather than 330 bytes. It
// is not lent from a pool for each frame, which would add a Get and a Put
// to every write of a small message, a path that takes under 40 ns on a
// server (write/server/64B in bench/README.md).
type frameScratch struct {
	small  [smallFrame]byte
	iovArr [2][]byte
	iov    net.Buffers
}

// framesLocked returns c.frames, made on first use. writeMu must be held.
func (c *Conn) framesLocked() *frameScratch {
	if c.frames == nil {
		c.frames = new(frameScratch)
	}
	return c.frames
}

// ctrlBuf holds the payload of one control frame, at most 125 bytes (RFC
// 6455 §5.5): a ping, pong or close frame read, the body of a close frame
// to send, or the discard buffer of the closing reads.
type ctrlBuf = [MaxControlPayload]byte

// ctrlPool lends ctrlBufs for the length of one control frame. Control
// frames are rare next to data frames, so a Conn does not keep one: the
// pool's cost falls on the rare path, and idle connections hold none.
var ctrlPool = sync.Pool{New: func() any { return new(ctrlBuf) }}

func getCtrl() *ctrlBuf  { return ctrlPool.Get().(*ctrlBuf) }
func putCtrl(b *ctrlBuf) { ctrlPool.Put(b) }
