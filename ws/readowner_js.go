//go:build js

package ws

import (
	"bytes"
	"errors"
	"io"
)

// ErrReleased is returned by the methods of a ReadOwner after Release.
var ErrReleased = errors.New("ws: read through a released ReadOwner")

// ReadOwner is a Conn's read side held by one goroutine (see the native
// build's documentation). In the browser the lock it saves is not where
// the time goes, so it exists for the native build's code to compile and
// behave alike: OwnReads takes the read lock until Release, and a second
// reader waits for it.
type ReadOwner Conn

// OwnReads makes the calling goroutine the Conn's only reader until Release.
func (c *Conn) OwnReads() *ReadOwner {
	c.readMu.Lock()
	c.owned = true
	return (*ReadOwner)(c)
}

// Release gives the read side back; a second Release does nothing.
func (o *ReadOwner) Release() {
	if o.owned {
		o.owned = false
		o.readMu.Unlock()
	}
}

// Conn returns the connection the ReadOwner reads from.
func (o *ReadOwner) Conn() *Conn { return (*Conn)(o) }

// Close releases the read side and runs Conn.Close.
func (o *ReadOwner) Close(code StatusCode, reason string) error {
	o.Release()
	return (*Conn)(o).Close(code, reason)
}

// ReadMessage is Conn.ReadMessage without the read lock.
func (o *ReadOwner) ReadMessage() (Opcode, []byte, error) { return o.ReadMessageInto(nil) }

// ReadMessageInto is Conn.ReadMessageInto without the read lock.
func (o *ReadOwner) ReadMessageInto(buf []byte) (Opcode, []byte, error) {
	if !o.owned {
		return 0, buf[:0], ErrReleased
	}
	return (*Conn)(o).readMessageIntoLocked(buf)
}

// NextReader is Conn.NextReader without the read lock.
func (o *ReadOwner) NextReader() (Opcode, io.Reader, error) {
	op, p, err := o.ReadMessage()
	if err != nil {
		return 0, nil, err
	}
	return op, bytes.NewReader(p), nil
}
