//go:build !js

package ws

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/wstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readInPieces drains r through a buffer of size bytes and returns what it
// read, requiring io.EOF at the end.
func readInPieces(t *testing.T, r io.Reader, size int) []byte {
	t.Helper()
	var got []byte
	p := make([]byte, size)
	for {
		n, err := r.Read(p)
		got = append(got, p[:n]...)
		if err == io.EOF {
			return got
		}
		require.NoError(t, err)
	}
}

// Whole frames already in the read buffer take NextReader's and Read's fast
// paths; read in pieces of every small size, a masked payload must come out
// unmasked with the key phase carried from piece to piece (RFC 6455 §5.3),
// and text and binary alike must arrive intact.
func TestStreamFastPathPieces(t *testing.T) {
	for _, role := range []Role{RoleClient, RoleServer} {
		c, peer := newRawPeer(t, role, nil)
		var wire []byte
		var want [][]byte
		for i := range 12 {
			p := make([]byte, 1+29*i)
			for j := range p {
				p[j] = 'a' + byte((i+j)%26)
			}
			op := OpBinary
			if i%2 == 0 {
				op = OpText
			}
			want = append(want, p)
			wire = append(wire, peerFrame(true, op, role == RoleServer, p)...)
		}
		peer.Write(wire) // one write: the frames arrive together
		for i, p := range want {
			op, r, err := c.NextReader()
			require.NoError(t, err, "%s message %d", role, i)
			assert.Equal(t, i%2 == 0, op == OpText)
			assert.Equal(t, p, readInPieces(t, r, 1+i%5), "%s message %d", role, i)
		}
	}
}

// NextReader's fast path opens a message whose header has arrived but not
// its payload; the payload is then read as it comes, across a second write.
func TestStreamHeaderBeforePayload(t *testing.T) {
	c, peer := newRawPeer(t, RoleServer, nil)
	payload := bytes.Repeat([]byte("0123456789"), 30)
	frame := peerFrame(true, OpBinary, true, payload)
	peer.Write(frame[:8+3]) // header (2+2+4) and three bytes
	op, r, err := c.NextReader()
	require.NoError(t, err)
	require.Equal(t, OpBinary, op)
	go func() {
		time.Sleep(20 * time.Millisecond)
		peer.Write(frame[8+3:])
	}()
	assert.Equal(t, payload, readInPieces(t, r, 64))
}

// A reader kept past the next ReadMessage gets io.EOF, never that message's
// bytes, also while that message is open because ReadMessageInto timed out
// inside it; the resumed ReadMessageInto still gets the whole message.
func TestStaleReaderAfterReadMessage(t *testing.T) {
	c, peer := newRawPeer(t, RoleServer, &Options{ReadBufferSize: minReadBuffer})
	peer.send(true, OpBinary, []byte("first message"))
	_, r, err := c.NextReader()
	require.NoError(t, err)
	p := make([]byte, 5)
	n, err := r.Read(p)
	require.NoError(t, err)
	assert.Equal(t, "first", string(p[:n]))

	second := bytes.Repeat([]byte{2}, 1000)
	frame := peerFrame(true, OpBinary, true, second)
	peer.Write(frame[:300])
	require.NoError(t, c.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
	_, got, err := c.ReadMessageInto(make([]byte, 0, 2048))
	var ne net.Error
	require.ErrorAs(t, err, &ne, "the second message is incomplete")
	require.True(t, ne.Timeout())
	require.NoError(t, c.SetReadDeadline(time.Time{}))

	n, err = r.Read(p)
	assert.Zero(t, n, "the stale reader must not read the second message")
	require.ErrorIs(t, err, io.EOF)

	peer.Write(frame[300:])
	_, msg, err := c.ReadMessageInto(got)
	require.NoError(t, err)
	assert.Equal(t, second, msg)

	n, err = r.Read(p)
	assert.Zero(t, n)
	require.ErrorIs(t, err, io.EOF)
}

// The reader is one value per Conn: after the next NextReader it reads the
// new message, and the unread rest of the old one is skipped, never mixed in.
func TestStaleReaderAfterNextReader(t *testing.T) {
	for _, role := range []Role{RoleClient, RoleServer} {
		c, peer := newRawPeer(t, role, nil)
		peer.Write(append(peerFrame(true, OpBinary, role == RoleServer, bytes.Repeat([]byte{1}, 100)),
			peerFrame(true, OpBinary, role == RoleServer, bytes.Repeat([]byte{2}, 50))...))
		_, r1, err := c.NextReader()
		require.NoError(t, err)
		p := make([]byte, 10)
		_, err = r1.Read(p)
		require.NoError(t, err)
		_, r2, err := c.NextReader()
		require.NoError(t, err)
		assert.Same(t, r1, r2, "one reader per Conn: starting a message allocates nothing")
		assert.Equal(t, bytes.Repeat([]byte{2}, 50), readInPieces(t, r1, 7), "%s: only the second message's bytes", role)
	}
}

// A reader whose message Close skipped while reading the peer's answer gets
// the connection's end, not the skipped bytes.
func TestReaderAfterClose(t *testing.T) {
	c, peer := newRawPeer(t, RoleServer, nil)
	wire := peerFrame(true, OpBinary, true, bytes.Repeat([]byte{9}, 100))
	wire = append(wire, peerFrame(true, OpClose, true, wstest.ClosePayload(uint16(CloseNormalClosure), ""))...)
	peer.Write(wire)
	_, r, err := c.NextReader()
	require.NoError(t, err)
	n, err := r.Read(make([]byte, 10))
	require.NoError(t, err)
	require.Equal(t, 10, n)
	require.NoError(t, c.Close(CloseNormalClosure, ""), "the peer's close frame is read by Close itself")
	n, err = r.Read(make([]byte, 10))
	assert.Zero(t, n)
	var ce *CloseError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, CloseNormalClosure, ce.Code)

	// And after CloseNow, with nothing buffered: ErrClosed.
	c2, peer2 := newRawPeer(t, RoleClient, nil)
	peer2.send(true, OpBinary, []byte("x"))
	_, r2, err := c2.NextReader()
	require.NoError(t, err)
	require.NoError(t, c2.CloseNow())
	n, err = readAllErr(r2)
	assert.LessOrEqual(t, n, 1, "at most the byte already received")
	require.ErrorIs(t, err, io.EOF, "the message was whole in the buffer")
	_, _, err = c2.NextReader()
	require.ErrorIs(t, err, ErrClosed)
}

// readAllErr reads r until an error and returns the byte count and error.
func readAllErr(r io.Reader) (int, error) {
	p := make([]byte, 16)
	total := 0
	for {
		n, err := r.Read(p)
		total += n
		if err != nil {
			return total, err
		}
	}
}

// A message opened by the fast path and abandoned after a few bytes is
// skipped by the next NextReader, masked or not, buffered whole or not.
func TestAbandonedFastPathMessage(t *testing.T) {
	for _, role := range []Role{RoleClient, RoleServer} {
		for _, size := range []int{20, 3000, 70000} {
			c, peer := newRawPeer(t, role, nil)
			go peer.Write(append(peerFrame(true, OpBinary, role == RoleServer, bytes.Repeat([]byte{1}, size)),
				peerFrame(true, OpText, role == RoleServer, []byte("second"))...))
			_, r, err := c.NextReader()
			require.NoError(t, err)
			_, err = r.Read(make([]byte, 3))
			require.NoError(t, err)
			op, r, err := c.NextReader()
			require.NoError(t, err, "%s %d", role, size)
			assert.Equal(t, OpText, op)
			assert.Equal(t, "second", string(readInPieces(t, r, 4)), "%s %d", role, size)
		}
	}
}

// Frames the fast paths decline still fail the connection with the right
// close code when read through NextReader (RFC 6455 §7.4.1): over the read
// limit 1009, invalid UTF-8 1007, a data frame inside a fragmented message
// and a 64-bit length with its top bit set 1002.
func TestStreamFailureCodes(t *testing.T) {
	cases := []struct {
		name string
		wire func(m bool) []byte
		want error
		code StatusCode
	}{
		{"over the read limit", func(m bool) []byte { return peerFrame(true, OpBinary, m, make([]byte, 101)) }, ErrReadLimit, CloseMessageTooBig},
		{"fragments over the read limit", func(m bool) []byte {
			return append(peerFrame(false, OpBinary, m, make([]byte, 60)), peerFrame(true, OpContinuation, m, make([]byte, 60))...)
		}, ErrReadLimit, CloseMessageTooBig},
		{"invalid UTF-8", func(m bool) []byte { return peerFrame(true, OpText, m, []byte("ok\xff")) }, ErrInvalidUTF8, CloseInvalidFramePayloadData},
		{"UTF-8 cut at the end", func(m bool) []byte { return peerFrame(true, OpText, m, []byte("ok\xce")) }, ErrInvalidUTF8, CloseInvalidFramePayloadData},
		{"interrupted message", func(m bool) []byte {
			return append(peerFrame(false, OpText, m, []byte("a")), peerFrame(true, OpBinary, m, []byte("b"))...)
		}, ErrMessageInterrupted, CloseProtocolError},
		{"64-bit length overflow", func(m bool) []byte {
			b := []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1}
			if m {
				b[1] |= 0x80
				b = append(b, 1, 2, 3, 4)
			}
			return b
		}, ErrLengthOverflow, CloseProtocolError},
	}
	for _, tc := range cases {
		for _, role := range []Role{RoleClient, RoleServer} {
			t.Run(tc.name+"/"+role.String(), func(t *testing.T) {
				c, peer := newRawPeer(t, role, &Options{ReadLimit: 100})
				go peer.Write(tc.wire(role == RoleServer))
				var err error
				for err == nil {
					var r io.Reader
					if _, r, err = c.NextReader(); err == nil {
						_, err = io.ReadAll(r)
					}
				}
				require.ErrorIs(t, err, tc.want)
				var pe *ProtocolError
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, tc.code, pe.Code)
				assert.Equal(t, tc.code, peer.expectClose(), "the close frame sent")
			})
		}
	}
}

// Two goroutines reading at once is misuse, but readMu keeps the frame state
// whole: every piece either reads is part of one message, and each message's
// bytes arrive once and in order.
func TestConcurrentReadersKeepFrameState(t *testing.T) {
	c, peer := newRawPeer(t, RoleServer, nil)
	const messages = 250 // one byte value each
	go func() {
		var wire []byte
		for i := range messages {
			wire = append(wire, peerFrame(true, OpBinary, true, bytes.Repeat([]byte{byte(i)}, 1+i%300))...)
		}
		peer.Write(wire)
		peer.Write(peerFrame(true, OpClose, true, wstest.ClosePayload(uint16(CloseNormalClosure), "")))
	}()
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[byte]int{}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := make([]byte, 37)
			for {
				_, r, err := c.NextReader()
				if err != nil {
					return
				}
				for {
					n, err := r.Read(p)
					if n > 0 {
						assert.Equal(t, bytes.Repeat(p[:1], n), p[:n], "a piece mixes messages")
						mu.Lock()
						seen[p[0]] += n
						mu.Unlock()
					}
					if err != nil {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	for v, n := range seen {
		assert.LessOrEqual(t, n, 1+int(v)%300, "message %d delivered more than once", v)
	}
}

// What may run next to a reader, whether it reads through the Conn or
// through a ReadOwner: Close, Ping, writes and the setters from other
// goroutines, the setters from the reading goroutine inside a message (see
// NextReader). Under -race this checks they share nothing with it unguarded.
func TestReaderConcurrentWithSettersAndWrites(t *testing.T) {
	for _, owned := range []bool{false, true} {
		t.Run(map[bool]string{false: "conn", true: "owner"}[owned], func(t *testing.T) {
			a, b := pipePair(t, nil, nil)
			done := make(chan struct{})
			go func() {
				defer close(done)
				next := b.NextReader
				if owned {
					o := b.OwnReads()
					defer o.Release()
					next = o.NextReader
				}
				for {
					_, r, err := next()
					if err != nil {
						return
					}
					// Between NextReader and Read, on the reading
					// goroutine, the setters must not wait for anything.
					b.SetReadLimit(int64(1 << 20))
					b.SetPingHandler(nil)
					b.SetPongHandler(func([]byte) {})
					if _, err := io.Copy(io.Discard, r); err != nil {
						return
					}
				}
			}()
			go func() {
				for {
					if _, _, err := a.ReadMessage(); err != nil {
						return
					}
				}
			}()
			stop := make(chan struct{})
			setters := make(chan struct{})
			go func() {
				defer close(setters)
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					b.SetReadLimit(int64(1<<20 + i))
					b.SetCloseHandler(func(StatusCode, string) {})
					_ = b.BytesReceived()
				}
			}()
			for i := range 200 {
				require.NoError(t, a.WriteMessage(OpBinary, bytes.Repeat([]byte{byte(i)}, i*13)))
				require.NoError(t, b.WriteMessage(OpText, []byte("from the reader's side")))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := b.Ping(ctx, []byte("p"))
			require.NoError(t, err, "the reader delivers the pong")
			close(stop)
			<-setters
			require.NoError(t, b.Close(CloseNormalClosure, ""))
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the reader did not return after Close")
			}
		})
	}
}
