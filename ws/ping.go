//go:build !js

package ws

import (
	"context"
	"fmt"
	"time"
)

// Ping sends a ping with payload (at most 125 bytes, RFC 6455 §5.5) and
// waits for the pong that carries the same payload (§5.5.2: the answer
// carries "identical Application data"), returning the round-trip time:
// dead-peer detection with a measured RTT. It returns ctx's error if the
// pong does not come in time, and the connection's error if it ends first.
//
// Pongs are read by the goroutine that reads messages, so Ping needs one:
// on a connection nobody reads, it waits until ctx ends. Pings with equal
// payloads are answered by the first matching pong, which is right when the
// peer answers only the latest (§5.5.3 allows that); give concurrent calls
// distinct payloads to time each one. The pong handler, if any, still sees
// every pong.
func (c *Conn) Ping(ctx context.Context, payload []byte) (time.Duration, error) {
	if len(payload) > MaxControlPayload {
		return 0, fmt.Errorf("%w: %d bytes", ErrControlTooLong, len(payload))
	}
	pw := &pongWaiter{payload: string(payload), sent: time.Now(), rtt: make(chan time.Duration, 1)}
	pongs := c.pongWaiters()
	pongs.add(pw)
	defer pongs.remove(pw)
	if err := c.WriteControl(OpPing, payload); err != nil {
		return 0, err
	}
	select {
	case rtt := <-pw.rtt:
		return rtt, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-c.tcpClosedChan():
		return 0, c.closedErr()
	}
}

// closedErr is what a call that found the connection closed reports: the
// reason this end gave up, the peer's close, or ErrClosed.
func (c *Conn) closedErr() error {
	if lf := c.localErr.Load(); lf != nil {
		return lf.err
	}
	if ce := c.peerClose.Load(); ce != nil {
		return ce
	}
	return ErrClosed
}

// pongWaiters returns c.pongs, made by the first Ping: most connections never
// call Ping, and the reader only looks for waiters once there are some.
func (c *Conn) pongWaiters() *pongWaiters {
	if w := c.pongs.Load(); w != nil {
		return w
	}
	c.pongs.CompareAndSwap(nil, new(pongWaiters))
	return c.pongs.Load()
}
