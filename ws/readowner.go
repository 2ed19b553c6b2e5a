//go:build !js

package ws

import (
	"errors"
	"io"
)

// ErrReleased is returned by the methods of a ReadOwner, and by the Read of
// a reader it handed out, after Release: the read side belongs to nobody, or
// to a newer owner.
var ErrReleased = errors.New("ws: read through a released ReadOwner")

// ReadOwner is a Conn's read side held by one goroutine, for a program whose
// reads all happen on that goroutine (the usual read loop). OwnReads takes
// the Conn's read lock once and keeps it until Release, so the reads made
// through the ReadOwner take no lock at all: each of the Conn's own read
// calls takes and releases it (two locked instructions, a third of the time
// of a 16-byte read), and a streamed message costs two such pairs, one for
// NextReader and one for its Read.
//
// What the guarantees of the lock become while a ReadOwner holds it:
//
//   - A second reader is still serialised: the Conn's own read calls
//     (ReadMessage, ReadMessageInto, NextReader, the Read of a reader the
//     Conn handed out, the context-bound reads) wait until Release, then read
//     the messages that follow. Called from the owning goroutine itself, they
//     would wait for ever, as locking a sync.Mutex twice does: the owner
//     reads through the ReadOwner, and for a context-bound read it releases
//     first (or sets a read deadline, which the ReadOwner's reads obey).
//   - Writes, WriteControl, Ping, CloseNow, the deadline setters and the
//     counters are unaffected: they never took the read lock.
//   - The Set* methods take no lock either (they store a new limit or a new
//     set of handlers atomically), so they may be called from any goroutine,
//     the owner's included; the owner's reads use the new value from the next
//     frame on.
//   - Close called by another goroutine sends its close frame and leaves the
//     peer's answer to the owner's read in progress, or to its next read
//     (RFC 6455 §7.1.2 wants that answer read before the TCP connection
//     closes); if the owner does not read within CloseTimeout, Close closes
//     the TCP connection itself. The owning goroutine closes with the
//     ReadOwner's Close instead, which releases first, so that the answer is
//     read at once.
//
// A ReadOwner and the readers its NextReader hands out belong to the owning
// goroutine: using them from another goroutine at the same time is a data
// race, as it is with any unguarded reader (the race detector reports it).
// Handing the ownership on is Release on one goroutine and OwnReads on the
// other.
type ReadOwner Conn

// OwnReads makes the calling goroutine the Conn's only reader until Release
// (see ReadOwner). It waits for a read call in progress, or for an earlier
// owner's Release, to finish.
func (c *Conn) OwnReads() *ReadOwner {
	c.readMu.Lock()
	c.owned = true
	return (*ReadOwner)(c)
}

// Release gives the read side back: the Conn's own read calls, Close's own
// reading of the peer's answer, and a later OwnReads may go on. A second
// Release does nothing; after Release, the ReadOwner's reads return
// ErrReleased.
func (o *ReadOwner) Release() {
	c := (*Conn)(o)
	// owned is read under the lock the owner holds: a second Release on
	// the owning goroutine sees false and leaves the lock alone.
	if c.owned {
		c.owned = false
		c.readMu.Unlock()
	}
}

// Conn returns the connection the ReadOwner reads from.
func (o *ReadOwner) Conn() *Conn { return (*Conn)(o) }

// Close releases the read side and runs Conn.Close: the closing handshake,
// reading the peer's answer itself. It is how the owning goroutine closes.
func (o *ReadOwner) Close(code StatusCode, reason string) error {
	o.Release()
	return (*Conn)(o).Close(code, reason)
}

// ReadMessage is Conn.ReadMessage without the read lock.
func (o *ReadOwner) ReadMessage() (Opcode, []byte, error) {
	return o.ReadMessageInto(nil)
}

// ReadMessageInto is Conn.ReadMessageInto without the read lock: the same
// fast path and the same frame-by-frame general path (read.go), with every
// rule of RFC 6455 applied alike.
func (o *ReadOwner) ReadMessageInto(buf []byte) (Opcode, []byte, error) {
	c := (*Conn)(o)
	if !c.owned {
		return 0, buf[:0], ErrReleased
	}
	if op, msg, ok := c.readBufferedFrameLocked(buf); ok {
		return op, msg, nil
	}
	return c.readMessageWaitLocked(buf)
}

// NextReader is Conn.NextReader without the read lock. The reader it returns
// takes none either; it is valid until the next read through the ReadOwner
// or Release, whichever comes first.
func (o *ReadOwner) NextReader() (Opcode, io.Reader, error) {
	c := (*Conn)(o)
	if !c.owned {
		return 0, nil, ErrReleased
	}
	if op, ok := c.openBufferedFrameLocked(); ok {
		return op, (*ownedMessageReader)(c), nil
	}
	op, err := c.nextReaderWaitLocked()
	if err != nil {
		return 0, nil, err
	}
	return op, (*ownedMessageReader)(c), nil
}

// ownedMessageReader is messageReader for a ReadOwner: the same paths, with
// the read lock already held by the owner.
type ownedMessageReader Conn

// Read reads the open message's payload, as messageReader.Read does.
func (r *ownedMessageReader) Read(p []byte) (int, error) {
	c := (*Conn)(r)
	if !c.owned {
		return 0, ErrReleased
	}
	if n, eof, ok := c.readBufferedLocked(p); ok {
		if eof {
			return n, io.EOF
		}
		return n, nil
	}
	return c.readStreamWaitLocked(p)
}
