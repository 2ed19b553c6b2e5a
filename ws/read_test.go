//go:build !js

package ws

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/wstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RFC 6455 §5.4, §5.7: a fragmented message is delivered whole, and a ping
// between its fragments is answered with an identical pong (§5.5.2) without
// disturbing it.
func TestFragmentsWithInterleavedPing(t *testing.T) {
	for _, role := range []Role{RoleClient, RoleServer} {
		t.Run(role.String(), func(t *testing.T) {
			c, p := newRawPeer(t, role, nil)
			p.send(false, OpText, []byte("Hel"))
			p.send(true, OpPing, []byte("are you there"))
			p.send(false, OpContinuation, []byte("l"))
			p.send(true, OpContinuation, []byte("o"))
			op, msg, err := c.ReadMessage()
			require.NoError(t, err)
			assert.Equal(t, OpText, op)
			assert.Equal(t, "Hello", string(msg))
			h, payload := p.next()
			assert.Equal(t, OpPong, h.Opcode)
			assert.Equal(t, "are you there", string(payload))
		})
	}
}

// RFC 6455 §5.6: zero-length frames, first and continuation, are valid.
func TestEmptyFragments(t *testing.T) {
	c, p := newRawPeer(t, RoleClient, nil)
	p.send(false, OpBinary, nil)
	p.send(false, OpContinuation, []byte{1, 2})
	p.send(true, OpContinuation, nil)
	p.send(true, OpText, nil)
	op, msg, err := c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, OpBinary, op)
	assert.Equal(t, []byte{1, 2}, msg)
	op, msg, err = c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, OpText, op)
	assert.Empty(t, msg)
}

// Frames that arrive at once are each delivered, and NextReader streams a
// message without needing it whole.
func TestNextReaderStreams(t *testing.T) {
	c, p := newRawPeer(t, RoleClient, nil)
	p.send(false, OpBinary, bytes.Repeat([]byte{7}, 1000))
	op, r, err := c.NextReader()
	require.NoError(t, err)
	require.Equal(t, OpBinary, op)
	buf := make([]byte, 1000)
	_, err = io.ReadFull(r, buf) // the final fragment has not been sent yet
	require.NoError(t, err)
	p.send(true, OpContinuation, []byte{8})
	rest, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, []byte{8}, rest)
}

// A reader abandoned mid-message: the next NextReader skips the rest.
func TestNextReaderSkipsUnreadRest(t *testing.T) {
	c, p := newRawPeer(t, RoleServer, nil)
	p.send(true, OpBinary, bytes.Repeat([]byte{1}, 5000))
	p.send(true, OpText, []byte("second"))
	_, r, err := c.NextReader()
	require.NoError(t, err)
	_, err = r.Read(make([]byte, 10))
	require.NoError(t, err)
	op, msg, err := c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, OpText, op)
	assert.Equal(t, "second", string(msg))
}

// failCase is one malformed input: the frames a peer sends (masked or not
// as m says), the sentinel the reader must get and the close code the peer
// must receive. role is the end it is meant for.
type failCase struct {
	name   string
	role   Role
	frames func(m bool) [][]byte
	want   error
	code   StatusCode
}

// maskedHeader returns the header bytes b, with the mask bit and a key added
// when m: a header ParseHeader could not build (its length is invalid or
// huge), as a client or a server would send it.
func maskedHeader(m bool, b ...byte) []byte {
	if !m {
		return b
	}
	b[1] |= 0x80
	return append(b, 0x37, 0xfa, 0x21, 0x3d)
}

// failCases lists every malformed frame and close payload the read path
// must refuse; TestFailTheConnection runs them on a raw Conn and the
// hostile server tests through Upgrader.
func failCases() []failCase {
	bad := []byte{0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64}
	cases := []failCase{
		{"§5.1 masked frame from server", RoleClient, func(bool) [][]byte {
			return [][]byte{wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte("x")}.Mask().Bytes()}
		}, ErrMaskMismatch, CloseProtocolError},
		{"§5.1 unmasked frame from client", RoleServer, func(bool) [][]byte {
			return [][]byte{wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte("x")}.Bytes()}
		}, ErrMaskMismatch, CloseProtocolError},
		{"§5.2 reserved opcode 3", RoleClient, func(m bool) [][]byte {
			return [][]byte{wstest.Frame{Fin: true, Opcode: byte(3), Masked: m, Key: wstest.DefaultKey}.Bytes()}
		}, ErrReservedOpcode, CloseProtocolError},
		{"§5.2 reserved opcode 0xF", RoleServer, func(m bool) [][]byte {
			return [][]byte{wstest.Frame{Fin: true, Opcode: byte(0xF), Masked: m, Key: wstest.DefaultKey}.Bytes()}
		}, ErrReservedOpcode, CloseProtocolError},
		{"§5.2 RSV1 not negotiated", RoleClient, func(m bool) [][]byte {
			return [][]byte{wstest.Frame{Fin: true, Rsv: Rsv1, Opcode: wstest.OpText, Masked: m, Key: wstest.DefaultKey, Payload: []byte("x")}.Bytes()}
		}, ErrReservedBits, CloseProtocolError},
		{"§5.2 RSV3", RoleServer, func(m bool) [][]byte {
			return [][]byte{wstest.Frame{Fin: true, Rsv: Rsv3, Opcode: wstest.OpBinary, Masked: m, Key: wstest.DefaultKey}.Bytes()}
		}, ErrReservedBits, CloseProtocolError},
		{"§5.2 64-bit length top bit", RoleClient, func(m bool) [][]byte { return [][]byte{maskedHeader(m, 0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 1)} }, ErrLengthOverflow, CloseProtocolError},
		{"§5.5 fragmented ping", RoleClient, func(m bool) [][]byte {
			return [][]byte{wstest.Frame{Opcode: wstest.OpPing, Masked: m, Key: wstest.DefaultKey}.Bytes()}
		}, ErrFragmentedControl, CloseProtocolError},
		{"§5.5 126-byte ping", RoleServer, func(m bool) [][]byte {
			return [][]byte{wstest.Frame{Fin: true, Opcode: wstest.OpPing, Masked: m, Key: wstest.DefaultKey, Payload: make([]byte, 126)}.Bytes()}
		}, ErrControlTooLong, CloseProtocolError},
		{"§5.4 continuation without start", RoleClient, func(m bool) [][]byte {
			return [][]byte{wstest.Frame{Fin: true, Opcode: wstest.OpContinuation, Masked: m, Key: wstest.DefaultKey, Payload: []byte("x")}.Bytes()}
		}, ErrUnexpectedContinuation, CloseProtocolError},
		{"§5.4 new message inside open one", RoleServer, func(m bool) [][]byte {
			return [][]byte{wstest.Frame{Opcode: wstest.OpText, Masked: m, Key: wstest.DefaultKey, Payload: []byte("a")}.Bytes(), wstest.Frame{Fin: true, Opcode: wstest.OpBinary, Masked: m, Key: wstest.DefaultKey, Payload: []byte("b")}.Bytes()}
		}, ErrMessageInterrupted, CloseProtocolError},
		{"§8.1 invalid UTF-8 text", RoleClient, func(m bool) [][]byte {
			return [][]byte{wstest.Frame{Fin: true, Opcode: wstest.OpText, Masked: m, Key: wstest.DefaultKey, Payload: bad}.Bytes()}
		}, ErrInvalidUTF8, CloseInvalidFramePayloadData},
		{"§8.1 text ends inside a character", RoleClient, func(m bool) [][]byte {
			return [][]byte{wstest.Frame{Fin: true, Opcode: wstest.OpText, Masked: m, Key: wstest.DefaultKey, Payload: []byte{'a', 0xE2, 0x82}}.Bytes()}
		}, ErrInvalidUTF8, CloseInvalidFramePayloadData},
		{"§5.5.1 1-byte close payload", RoleClient, func(m bool) [][]byte {
			return [][]byte{wstest.Frame{Fin: true, Opcode: wstest.OpClose, Masked: m, Key: wstest.DefaultKey, Payload: []byte{3}}.Bytes()}
		}, ErrInvalidClosePayload, CloseProtocolError},
		{"§5.5.1 close reason not UTF-8", RoleServer, func(m bool) [][]byte {
			return [][]byte{wstest.Frame{Fin: true, Opcode: wstest.OpClose, Masked: m, Key: wstest.DefaultKey, Payload: []byte{3, 0xE8, 0xff}}.Bytes()}
		}, ErrInvalidUTF8, CloseInvalidFramePayloadData},
		{"read limit: declared 2^40 bytes and nothing more", RoleClient, func(m bool) [][]byte { return [][]byte{maskedHeader(m, 0x82, 0x7F, 0, 0, 1, 0, 0, 0, 0, 0)} }, ErrReadLimit, CloseMessageTooBig},
	}
	for _, code := range []uint16{0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535} {
		cases = append(cases, failCase{"§7.4 close code " + StatusCode(code).String(), RoleClient, func(m bool) [][]byte {
			return [][]byte{wstest.Frame{Fin: true, Opcode: wstest.OpClose, Masked: m, Key: wstest.DefaultKey, Payload: []byte{byte(code >> 8), byte(code)}}.Bytes()}
		}, ErrInvalidClosePayload, CloseProtocolError})
	}
	return cases
}

// Every malformed input fails the connection (RFC 6455 §7.1.7) with a typed
// error and the close code the RFC names, sent to the peer before TCP closes.
func TestFailTheConnection(t *testing.T) {
	cases := failCases()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, p := newRawPeer(t, tc.role, nil)
			for _, f := range tc.frames(p.masks) {
				p.Write(f)
			}
			_, _, err := c.ReadMessage()
			require.ErrorIs(t, err, tc.want)
			var pe *ProtocolError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tc.code, pe.Code)
			assert.Equal(t, tc.code, p.expectClose(), "close code sent to the peer")
			p.ExpectEOF()
			// The failure is sticky, for reads and writes.
			_, _, err = c.ReadMessage()
			require.ErrorIs(t, err, tc.want)
			require.Error(t, c.WriteMessage(OpText, []byte("x")))
		})
	}
}

// RFC 6455 §8.1: invalid UTF-8 fails at the first bad byte, even when the
// message is split into fragments and the rest has not arrived.
func TestUTF8FailsFast(t *testing.T) {
	c, p := newRawPeer(t, RoleClient, nil)
	p.send(false, OpText, []byte("valid start "))
	p.send(false, OpContinuation, []byte{0xF4, 0x90}) // above U+10FFFF: never valid
	_, r, err := c.NextReader()
	require.NoError(t, err)
	_, err = io.ReadAll(r)
	require.ErrorIs(t, err, ErrInvalidUTF8)
	assert.Equal(t, CloseInvalidFramePayloadData, p.expectClose())
}

// A character split across fragments is valid (§8.1 applies to the message).
func TestUTF8SplitAcrossFragments(t *testing.T) {
	c, p := newRawPeer(t, RoleServer, nil)
	euro := []byte("€") // E2 82 AC
	p.send(false, OpText, euro[:1])
	p.send(false, OpContinuation, euro[1:2])
	p.send(true, OpContinuation, euro[2:])
	_, msg, err := c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, "€", string(msg))
}

func TestSkipUTF8Validation(t *testing.T) {
	c, p := newRawPeer(t, RoleClient, &Options{SkipUTF8Validation: true})
	p.send(true, OpText, []byte{0xff})
	_, msg, err := c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, []byte{0xff}, msg)
}

// The read limit counts the whole message, across fragments, and fails with
// 1009 before the oversize payload is read.
func TestReadLimitAcrossFragments(t *testing.T) {
	c, p := newRawPeer(t, RoleClient, &Options{ReadLimit: 10})
	p.send(false, OpBinary, make([]byte, 6))
	p.send(true, OpContinuation, make([]byte, 5))
	_, _, err := c.ReadMessage()
	require.ErrorIs(t, err, ErrReadLimit)
	assert.Equal(t, CloseMessageTooBig, p.expectClose())

	c2, p2 := newRawPeer(t, RoleClient, &Options{ReadLimit: 10})
	p2.send(false, OpBinary, make([]byte, 6))
	p2.send(true, OpContinuation, make([]byte, 4))
	_, msg, err := c2.ReadMessage()
	require.NoError(t, err)
	assert.Len(t, msg, 10)
}

// RFC 6455 §5.5.1: a close from the peer is echoed with its code, reported
// as *CloseError, and the server closes TCP (§7.1.1).
func TestPeerInitiatedClose(t *testing.T) {
	for _, role := range []Role{RoleClient, RoleServer} {
		t.Run(role.String(), func(t *testing.T) {
			checkNoLeak(t)
			c, p := newRawPeer(t, role, nil)
			var hooked StatusCode
			c.SetCloseHandler(func(code StatusCode, reason string) { hooked = code })
			p.send(true, OpClose, wstest.ClosePayload(uint16(4001), "bye"))
			if role == RoleClient {
				// The client waits for the server's TCP close.
				go func() { time.Sleep(50 * time.Millisecond); _ = p.Conn.Close() }()
			}
			_, _, err := c.ReadMessage()
			var ce *CloseError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, StatusCode(4001), ce.Code)
			assert.Equal(t, "bye", ce.Reason)
			assert.Equal(t, StatusCode(4001), CloseStatus(err))
			assert.Equal(t, StatusCode(4001), hooked)
			if role == RoleServer {
				assert.Equal(t, StatusCode(4001), p.expectClose())
				p.ExpectEOF()
			}
			// §5.5.1: nothing is sent after the close frame.
			require.ErrorIs(t, c.WriteMessage(OpText, []byte("late")), ErrClosed)
		})
	}
}

// An empty close frame is answered with an empty one and reads as 1005.
func TestEmptyClose(t *testing.T) {
	c, p := newRawPeer(t, RoleServer, nil)
	p.send(true, OpClose, nil)
	_, _, err := c.ReadMessage()
	assert.Equal(t, CloseNoStatusReceived, CloseStatus(err))
	h, payload := p.next()
	assert.Equal(t, OpClose, h.Opcode)
	assert.Empty(t, payload)
}

// A read that times out leaves the connection usable.
func TestReadTimeoutIsNotFatal(t *testing.T) {
	c, p := newRawPeer(t, RoleClient, nil)
	p.send(false, OpBinary, []byte{1, 2, 3})
	require.NoError(t, c.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
	_, part, err := c.ReadMessage()
	var ne interface{ Timeout() bool }
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "want a timeout, got %v", err)
	require.Equal(t, []byte{1, 2, 3}, part, "what was read before the timeout")
	require.NoError(t, c.SetReadDeadline(time.Time{}))
	p.send(true, OpContinuation, []byte{4})
	_, msg, err := c.ReadMessageInto(part)
	require.NoError(t, err)
	assert.Equal(t, []byte{1, 2, 3, 4}, msg)
}

// A connection that ends without a close frame reports 1006.
func TestAbnormalClosure(t *testing.T) {
	c, p := newRawPeer(t, RoleClient, nil)
	p.Write([]byte{0x82, 0x05, 1, 2})
	_ = p.Conn.Close()
	_, _, err := c.ReadMessage()
	require.ErrorIs(t, err, ErrAbnormalClosure)
}

// Custom ping handler replaces the automatic pong; pong handler sees pongs.
func TestPingPongHandlers(t *testing.T) {
	c, p := newRawPeer(t, RoleClient, nil)
	var pings, pongs []string
	c.SetPingHandler(func(b []byte) { pings = append(pings, string(b)) })
	c.SetPongHandler(func(b []byte) { pongs = append(pongs, string(b)) })
	p.send(true, OpPing, []byte("p1"))
	p.send(true, OpPong, []byte("p2"))
	p.send(true, OpText, []byte("m"))
	_, msg, err := c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, "m", string(msg))
	assert.Equal(t, []string{"p1"}, pings)
	assert.Equal(t, []string{"p2"}, pongs)
	// No automatic pong was sent: the next frame from us is this message.
	require.NoError(t, c.WriteText("after"))
	h, payload := p.next()
	assert.Equal(t, OpText, h.Opcode)
	assert.Equal(t, "after", string(payload))
}

func TestReadMessageIntoReusesBuffer(t *testing.T) {
	c, p := newRawPeer(t, RoleClient, nil)
	for range 3 {
		p.send(true, OpBinary, []byte(strings.Repeat("x", 100)))
	}
	buf := make([]byte, 0, 200)
	for range 3 {
		_, msg, err := c.ReadMessageInto(buf)
		require.NoError(t, err)
		require.Len(t, msg, 100)
		require.Equal(t, &buf[:1][0], &msg[:1][0], "the caller's buffer is reused")
	}
}

// io.Reader lets the last bytes come with io.EOF; the stream reader does so
// when they end the final fragment, and keeps returning io.EOF after.
func TestStreamReaderReturnsEOFWithTheLastBytes(t *testing.T) {
	c, peer := newRawPeer(t, RoleClient, nil)
	peer.send(false, OpText, []byte("hel"))
	peer.send(true, OpContinuation, []byte("lo"))
	op, r, err := c.NextReader()
	require.NoError(t, err)
	require.Equal(t, OpText, op)
	p := make([]byte, 64)
	n, err := r.Read(p)
	require.NoError(t, err, "the first fragment does not end the message")
	assert.Equal(t, "hel", string(p[:n]))
	n, err = r.Read(p)
	require.ErrorIs(t, err, io.EOF)
	assert.Equal(t, "lo", string(p[:n]))
	n, err = r.Read(p)
	assert.Zero(t, n)
	require.ErrorIs(t, err, io.EOF)
}

// A frame whose payload straddles the end of the read buffer is read by the
// fast path in two steps; a masked one must be unmasked with the key phase
// carried across them (RFC 6455 §5.3), and a read deadline that expires
// between them must leave the message resumable with the bytes returned.
func TestStraddlingFrameResumesAfterATimeout(t *testing.T) {
	c, peer := newRawPeer(t, RoleServer, &Options{ReadBufferSize: minReadBuffer})
	payload := make([]byte, 1001) // odd, so the key phase moves
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	frame := wstest.Frame{Fin: true, Opcode: wstest.OpBinary, Payload: payload}.Mask().Bytes()
	peer.Write(frame[:301]) // header and part of the payload: 293 bytes, key phase 1
	require.NoError(t, c.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
	_, got, err := c.ReadMessageInto(make([]byte, 0, 2048))
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout())
	require.NotEmpty(t, got, "the bytes read before the timeout come back")
	assert.Equal(t, payload[:len(got)], got)

	require.NoError(t, c.SetReadDeadline(time.Time{}))
	peer.Write(frame[301:])
	op, msg, err := c.ReadMessageInto(got)
	require.NoError(t, err)
	assert.Equal(t, OpBinary, op)
	assert.Equal(t, payload, msg)

	// The next message starts clean.
	peer.send(true, OpBinary, []byte("next"))
	_, msg, err = c.ReadMessageInto(msg)
	require.NoError(t, err)
	assert.Equal(t, "next", string(msg))
}

func TestStraddlingFramesReadWhole(t *testing.T) {
	for _, role := range []Role{RoleClient, RoleServer} {
		c, peer := newRawPeer(t, role, &Options{ReadBufferSize: minReadBuffer})
		var want [][]byte
		var wire []byte
		for i := range 20 {
			p := bytes.Repeat([]byte{byte(i)}, 100+37*i) // sizes that cross the 256-byte buffer at every offset
			want = append(want, p)
			wire = append(wire, wstest.Frame{Fin: true, Opcode: wstest.OpBinary, Masked: role == RoleServer, Key: wstest.DefaultKey, Payload: p}.Bytes()...)
		}
		go peer.Write(wire)
		var buf []byte
		for i, p := range want {
			op, msg, err := c.ReadMessageInto(buf)
			require.NoError(t, err, "%s message %d", role, i)
			assert.Equal(t, OpBinary, op)
			assert.Equal(t, p, msg, "%s message %d", role, i)
			buf = msg
		}
	}
}
