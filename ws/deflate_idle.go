package ws

import "time"

// DefaultIdleRelease is CompressionOptions.IdleRelease when unset: a
// connection that sent nothing compressed for a second gives its
// compressor back. Rebuilding it costs compressing the window once (about
// 0.1 ms at level 1 for 32 KiB, see BenchmarkDeflateRebuild), so a
// connection that sends faster than once a second never pays it.
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
