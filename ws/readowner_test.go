//go:build !js

package ws

import (
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/wstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A ReadOwner reads what the Conn's own calls read, under the same rules:
// whole messages, a fragmented one with a ping between its fragments
// (answered, RFC 6455 §5.4, §5.5.2), one larger than the read buffer,
// streamed ones, and a protocol error that fails the connection.
func TestReadOwnerReadsLikeTheConn(t *testing.T) {
	for _, role := range []Role{RoleClient, RoleServer} {
		t.Run(role.String(), func(t *testing.T) {
			c, p := newRawPeer(t, role, nil)
			big := randomBytes(rand.New(rand.NewPCG(1, 2)), 100<<10)
			go func() {
				p.send(true, OpText, []byte("hello"))
				p.send(false, OpBinary, []byte("frag"))
				p.send(true, OpPing, []byte("in between"))
				p.send(false, OpContinuation, []byte("ment"))
				p.send(true, OpContinuation, []byte("ed"))
				p.send(true, OpBinary, big)
				p.send(true, OpText, []byte("streamed"))
				p.send(false, OpBinary, []byte("stream "))
				p.send(true, OpContinuation, []byte("in two"))
				p.send(true, OpText, []byte{0xC0, 0x80}) // overlong: invalid UTF-8 (§8.1)
			}()
			o := c.OwnReads()
			defer o.Release()
			assert.Same(t, c, o.Conn())

			op, msg, err := o.ReadMessage()
			require.NoError(t, err)
			assert.Equal(t, OpText, op)
			assert.Equal(t, "hello", string(msg))

			op, msg, err = o.ReadMessageInto(msg)
			require.NoError(t, err)
			assert.Equal(t, OpBinary, op)
			assert.Equal(t, "fragmented", string(msg))
			h, payload := p.next()
			assert.Equal(t, OpPong, h.Opcode)
			assert.Equal(t, "in between", string(payload))

			_, msg, err = o.ReadMessageInto(msg)
			require.NoError(t, err)
			assert.Equal(t, big, msg)

			for _, want := range []string{"streamed", "stream in two"} {
				_, r, err := o.NextReader()
				require.NoError(t, err)
				got, err := io.ReadAll(r)
				require.NoError(t, err)
				assert.Equal(t, want, string(got))
			}

			_, _, err = o.ReadMessage()
			var perr *ProtocolError
			require.ErrorAs(t, err, &perr)
			assert.Equal(t, CloseInvalidFramePayloadData, perr.Code)
			assert.Equal(t, CloseInvalidFramePayloadData, p.expectClose())
			_, _, again := o.ReadMessage()
			assert.Equal(t, err, again, "the failure is sticky")
		})
	}
}

// A second reader is serialised with the owner, as with the Conn's lock: it
// waits until Release, then reads the message after the owner's.
func TestReadOwnerSerialisesOtherReaders(t *testing.T) {
	c, p := newRawPeer(t, RoleServer, nil)
	o := c.OwnReads()
	other := make(chan string, 1)
	go func() {
		_, msg, err := c.ReadMessage()
		assert.NoError(t, err)
		other <- string(msg)
	}()
	p.send(true, OpText, []byte("first"))
	p.send(true, OpText, []byte("second"))
	_, msg, err := o.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, "first", string(msg))
	require.Never(t, func() bool { return len(other) > 0 }, 100*time.Millisecond, 10*time.Millisecond,
		"a Conn read ran while the reads were owned")
	o.Release()
	select {
	case got := <-other:
		assert.Equal(t, "second", got)
	case <-time.After(5 * time.Second):
		t.Fatal("the Conn's read did not go on after Release")
	}
}

// Release gives the read side back once: a second Release does nothing,
// the ReadOwner and a reader it handed out report ErrReleased, and the
// Conn's own reads and a new owner go on from where it stopped.
func TestReadOwnerRelease(t *testing.T) {
	c, p := newRawPeer(t, RoleClient, nil)
	p.send(false, OpBinary, []byte("left "))
	p.send(true, OpContinuation, []byte("half read"))
	p.send(true, OpText, []byte("after"))
	p.send(true, OpText, []byte("new owner"))
	o := c.OwnReads()
	_, r, err := o.NextReader()
	require.NoError(t, err)
	part := make([]byte, 5)
	_, err = io.ReadFull(r, part)
	require.NoError(t, err)
	assert.Equal(t, "left ", string(part))
	o.Release()
	o.Release()

	_, err = r.Read(part)
	assert.ErrorIs(t, err, ErrReleased)
	_, _, err = o.ReadMessage()
	assert.ErrorIs(t, err, ErrReleased)
	_, _, err = o.NextReader()
	assert.ErrorIs(t, err, ErrReleased)

	// The half-read message is skipped by the next read, as a dropped
	// reader's would be.
	_, msg, err := c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, "after", string(msg))
	o2 := c.OwnReads()
	defer o2.Release()
	_, msg, err = o2.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, "new owner", string(msg))
}

// The setters take no lock: called from another goroutine while the owner
// (or the Conn's own read) waits on a silent peer, they return at once, and
// the read uses the new handler and limit from the next frame on.
func TestSettersDoNotWaitForAReader(t *testing.T) {
	for _, owned := range []bool{false, true} {
		name := map[bool]string{false: "conn", true: "owner"}[owned]
		t.Run(name, func(t *testing.T) {
			c, p := newRawPeer(t, RoleServer, nil)
			readErr := make(chan error, 1)
			waiting := make(chan struct{})
			go func() {
				var err error
				if owned {
					o := c.OwnReads()
					close(waiting)
					_, _, err = o.ReadMessage()
					o.Release()
				} else {
					close(waiting)
					_, _, err = c.ReadMessage()
				}
				readErr <- err
			}()
			<-waiting
			pinged := make(chan string, 1)
			set := make(chan struct{})
			go func() {
				c.SetPingHandler(func(b []byte) { pinged <- string(b) })
				c.SetReadLimit(10)
				close(set)
			}()
			select {
			case <-set:
			case <-time.After(5 * time.Second):
				t.Fatal("a setter waited for the read in progress")
			}
			p.send(true, OpPing, []byte("ping"))
			select {
			case got := <-pinged:
				assert.Equal(t, "ping", got)
			case <-time.After(5 * time.Second):
				t.Fatal("the new ping handler was not called")
			}
			p.send(true, OpBinary, make([]byte, 11))
			err := <-readErr
			require.ErrorIs(t, err, ErrReadLimit)
			assert.Equal(t, CloseMessageTooBig, p.expectClose(), "RFC 6455 §7.4.1: 1009")
		})
	}
}

// Close from another goroutine leaves the peer's answer to the owner's read
// in progress, which finishes the closing handshake (RFC 6455 §7.1.2).
func TestReadOwnerCloseFromAnotherGoroutine(t *testing.T) {
	c, p := newRawPeer(t, RoleServer, nil)
	readErr := make(chan error, 1)
	owned := make(chan struct{})
	go func() {
		o := c.OwnReads()
		defer o.Release()
		close(owned)
		_, _, err := o.ReadMessage()
		readErr <- err
	}()
	<-owned
	go func() {
		code, reason := p.ExpectClose()
		assert.Equal(t, uint16(CloseNormalClosure), code)
		assert.Equal(t, "bye", reason)
		p.send(true, OpClose, wstest.ClosePayload(code, reason))
	}()
	require.NoError(t, c.Close(CloseNormalClosure, "bye"))
	err := <-readErr
	require.Error(t, err)
	assert.Equal(t, CloseNormalClosure, CloseStatus(err))
}

// The owning goroutine closes through the ReadOwner: it releases first, so
// Close reads the peer's answer itself and returns as soon as it arrives,
// not after CloseTimeout.
func TestReadOwnerCloseFromTheOwner(t *testing.T) {
	c, p := newRawPeer(t, RoleServer, &Options{CloseTimeout: time.Minute})
	go func() {
		code, reason := p.ExpectClose()
		p.send(true, OpClose, wstest.ClosePayload(code, reason))
	}()
	o := c.OwnReads()
	done := make(chan error, 1)
	go func() { done <- o.Close(CloseGoingAway, "restart") }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("Close waited for a reader that was the closing goroutine")
	}
	_, _, err := o.ReadMessage()
	assert.ErrorIs(t, err, ErrReleased)
}

// The owner's reads obey the read deadline, as the Conn's do: a timeout
// inside a message leaves the connection usable, and the next read through
// the owner resumes that message where it stopped.
func TestReadOwnerReadDeadline(t *testing.T) {
	c, p := newRawPeer(t, RoleServer, nil)
	o := c.OwnReads()
	defer o.Release()
	p.send(false, OpText, []byte("first half, "))
	require.NoError(t, c.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
	_, part, err := o.ReadMessageInto(nil)
	require.Error(t, err)
	var ne interface{ Timeout() bool }
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	assert.Equal(t, "first half, ", string(part), "the bytes read before the deadline")
	require.NoError(t, c.SetReadDeadline(time.Time{}))
	p.send(true, OpContinuation, []byte("second half"))
	_, msg, err := o.ReadMessageInto(part)
	require.NoError(t, err)
	assert.Equal(t, "first half, second half", string(msg))
}

// Setters of different handlers racing each other lose none: each stores a
// copy of the set with its own change, by compare-and-swap (setHook).
func TestConcurrentSettersKeepEveryHandler(t *testing.T) {
	c, _ := newRawPeer(t, RoleServer, nil)
	for round := range 200 {
		c.hooks.Store(nil)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for _, set := range []func(){
			func() { c.SetPingHandler(func([]byte) {}) },
			func() { c.SetPongHandler(func([]byte) {}) },
			func() { c.SetCloseHandler(func(StatusCode, string) {}) },
			func() { c.SetFailHandler(func(*ProtocolError) {}) },
		} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				set()
			}()
		}
		close(start)
		wg.Wait()
		h := c.hooks.Load()
		require.NotNil(t, h)
		require.True(t, h.ping != nil && h.pong != nil && h.close != nil && h.fail != nil, "round %d lost a handler", round)
	}
}
