//go:build !js

package ws

import "time"

// DefaultIdleRelease is CompressionOptions.IdleRelease when unset: a
// connection that sent nothing compressed for a second gives its
// compressor back. Rebuilding it costs priming a pooled one with the last
// rebuildHistory bytes sent (BenchmarkDeflateRebuild: about 0.1 ms at
// level 1 against 25 µs for a message to a kept one), so a connection that
// sends faster than once a second never pays it.
const DefaultIdleRelease = time.Second

// armIdle starts the timer that gives d.own back once the connection stops
// sending. Called with Conn.msgMu held, when d.own was just made.
func (d *deflateState) armIdle(c *Conn) {
	if d.idleRelease < 0 || d.armed {
		return
	}
	d.armed, d.seen = true, d.sent
	if d.idle == nil {
		d.idle = time.AfterFunc(d.idleRelease, func() { d.idleCheck(c) })
		return
	}
	d.idle.Reset(d.idleRelease)
}

// idleCheck runs on the timer: if no compressed message went out since the
// previous check, the compressor goes back to the pool and only the
// history (whist) stays; otherwise it checks again later. A message being
// streamed holds msgMu, so the compressor is never taken from under it.
func (d *deflateState) idleCheck(c *Conn) {
	c.msgMu.Lock()
	defer c.msgMu.Unlock()
	if d.sent != d.seen {
		d.seen = d.sent
		d.idle.Reset(d.idleRelease)
		return
	}
	d.armed = false
	if d.own != nil {
		putWriter(d.level, d.own)
		d.own = nil
	}
}

// rebuildHistory is how much of what we sent a connection keeps, under
// takeover with the full window, to prime a rebuilt compressor with: the
// peer's window holds more, but a compressor may always refer to less
// (RFC 7692 §7.2.1 allows, never requires, references into history).
// BenchmarkDeflateRebuild chose it: on 1 KiB JSON at level 1, priming with
// 4, 8 or 32 KiB gives 0.303, 0.305 and 0.305 of the raw bytes, and the
// time to prime grows with it. (A kept level-1 compressor refers only to
// the previous flush, one message: 0.353.)
const rebuildHistory = 4 << 10
