package asyncconn

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/plainws/plainws/ws"
)

// Backoff is a reconnect policy: the delay grows from Min by Factor after every reconnect that
// does not reach an upgraded connection, up to Max, and is shortened by a random fraction of at
// most Jitter, so that many clients dropped together by one server do not come back together.
//
// It is used by ReConnect with a negative delay and by AutoReconnect. The count of failed
// attempts is reset by every successful upgrade, so a connection that stayed up for a while comes
// back quickly the first time it drops.
type Backoff struct {
	// Min is the first delay. 0 means reconnect at once the first time.
	Min time.Duration
	// Max caps the delay. 0 means no cap.
	Max time.Duration
	// Factor multiplies the delay after each failed attempt; below 1 it counts as 1.
	Factor float64
	// Jitter is the largest fraction taken off a delay at random, from 0 (none) to 1.
	Jitter float64
}

// DefaultBackoff is the policy when ReconnectPolicy is nil: 1 s, doubling up to 30 s, with up to
// 20% jitter. Its first delay is Workerman's customary reConnect(1).
var DefaultBackoff = Backoff{Min: time.Second, Max: 30 * time.Second, Factor: 2, Jitter: 0.2}

// Delay returns the delay before reconnect number n (0 for the first after a success).
func (b Backoff) Delay(n int) time.Duration {
	d := float64(b.Min)
	f := b.Factor
	if f < 1 {
		f = 1
	}
	if n > 0 {
		d *= math.Pow(f, float64(n))
	}
	if b.Max > 0 && d > float64(b.Max) {
		d = float64(b.Max)
	}
	if d > float64(math.MaxInt64) {
		d = float64(math.MaxInt64)
	}
	if j := min(max(b.Jitter, 0), 1); j > 0 {
		d -= d * j * rand.Float64()
	}
	return time.Duration(d)
}

// policyDelayLocked gives the next delay of the reconnect policy and counts the attempt. c.mu
// must be held.
func (c *Conn) policyDelayLocked() time.Duration {
	b := DefaultBackoff
	if c.ReconnectPolicy != nil {
		b = *c.ReconnectPolicy
	}
	d := b.Delay(c.failures)
	if c.failures < 1<<20 {
		c.failures++
	}
	return d
}

// Connect starts connecting (Workerman's connect()): TCP, the proxy tunnel, TLS, then the upgrade.
// It returns at once; the outcome arrives as callbacks (OnConnect and OnWebSocketConnect, or
// OnError then OnClose). It does nothing while a connection is being made or is up; during Close
// it acts as ReConnect(0). It is safe from any goroutine.
func (c *Conn) Connect() {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.status {
	case StatusConnecting, StatusEstablished:
		return
	case StatusClosing:
		c.reconnectLocked(0)
		return
	}
	c.explicitClose = false
	if c.closingAtt != nil {
		c.reconnectLocked(0)
		return
	}
	c.cancelReconnectLocked()
	c.startLocked()
}

// ReConnect connects again after delay (Workerman's reConnect), from any callback or goroutine.
// A live connection is closed first (with a closing handshake, close code 1000), its OnClose
// runs, and the delay counts from then; any other pending reconnect is replaced, so the last call
// wins, also when OnClose itself calls ReConnect. A negative delay asks ReconnectPolicy (or
// DefaultBackoff) for it.
//
// The new connection runs TCP, the proxy, TLS and the upgrade again with a fresh key. Callbacks,
// settings, ID and Context stay; messages sent from now on wait for the new connection. Close,
// Destroy and CancelReconnect cancel a pending reconnect.
func (c *Conn) ReConnect(delay time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if delay < 0 {
		delay = c.policyDelayLocked()
	}
	c.reconnectLocked(delay)
}

// reconnectLocked implements ReConnect. c.mu must be held.
func (c *Conn) reconnectLocked(delay time.Duration) {
	c.explicitClose = false
	if a := c.cur; a != nil {
		a.detached = true
		c.closeAttemptLocked(a, &closeReq{code: ws.CloseNormalClosure})
		c.cur = nil
		c.closingAtt = a
	}
	c.status = StatusInitial
	c.cancelReconnectLocked()
	c.reconnPending = true
	c.reconnDelay = delay
	if c.closingAtt == nil {
		c.armReconnectLocked()
	}
}

// armReconnectLocked starts the timer of a pending reconnect. c.mu must be held.
func (c *Conn) armReconnectLocked() {
	c.reconnGen++
	gen := c.reconnGen
	c.reconnTimer = c.loop.Delay(c.reconnDelay, func() { c.fireReconnect(gen) })
}

// fireReconnect runs on the loop when the reconnect delay has passed.
func (c *Conn) fireReconnect(gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.reconnPending || gen != c.reconnGen {
		return
	}
	c.reconnPending = false
	c.reconnTimer = 0
	if c.cur == nil && c.closingAtt == nil && c.status == StatusInitial {
		c.startLocked()
	}
}

// CancelReconnect cancels a pending ReConnect (Workerman's cancelReconnect). The status stays
// StatusInitial; Connect can still be called.
func (c *Conn) CancelReconnect() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cancelReconnectLocked()
}

// cancelReconnectLocked drops a pending reconnect and its timer. c.mu must be held.
func (c *Conn) cancelReconnectLocked() {
	c.reconnPending = false
	c.reconnGen++
	if c.reconnTimer != 0 {
		c.loop.Del(c.reconnTimer)
		c.reconnTimer = 0
	}
}
