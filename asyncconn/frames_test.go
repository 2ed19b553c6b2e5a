package asyncconn

import (
	"encoding/binary"
	"testing"

	"github.com/plainws/plainws/internal/wstest"
	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A frame that arrives in the same read as the 101 is delivered at once (Workerman leaves it in the
// buffer until the next read event, bug B1). The server sends nothing after it.
func TestFirstFrameInTheSameReadAsThe101(t *testing.T) {
	url := wstest.Serve(t, func(p *wstest.Peer) {
		p.UpgradeAnd(wstest.Text("welcome").Bytes())
		p.Drain()
	}).URL
	l := startLoop(t)
	c := newConn(t, l, url)
	r := newRecorder()
	record(c, r)
	c.Connect()
	evs := r.waitFor(t, "message text welcome", 1)
	assert.Equal(t, []string{"connect ESTABLISHED", "wsconnect 101 ESTABLISHED", "message text welcome"}, evs)
}

// fragmentsWithPing is a raw server that sends "Hel" + ping + "lo" (RFC 6455 §5.4: control frames
// MAY be injected in the middle of a fragmented message) and reports the client's frames.
func fragmentsWithPing(t *testing.T, frames chan<- wstest.Frame) string {
	return wstest.Serve(t, func(p *wstest.Peer) {
		p.UpgradeAnd(wstest.Frames(
			wstest.Frame{Opcode: wstest.OpText, Payload: []byte("Hel")},
			wstest.Frame{Fin: true, Opcode: wstest.OpPing, Payload: []byte("p1")},
			wstest.Frame{Fin: true, Opcode: wstest.OpContinuation, Payload: []byte("lo")},
		))
		p.Forward(frames)
	}).URL
}

// The message is reassembled intact and the ping answered with the identical payload (Workerman
// corrupts both, bug B2).
func TestPingBetweenFragmentsIsAnsweredAndTheMessageIntact(t *testing.T) {
	frames := make(chan wstest.Frame, 4)
	url := fragmentsWithPing(t, frames)
	l := startLoop(t)
	c := newConn(t, l, url)
	r := newRecorder()
	record(c, r)
	c.Connect()
	r.waitFor(t, "message text Hello", 1)
	f := recv(t, frames, "pong")
	assert.Equal(t, wstest.OpPong, f.Opcode)
	assert.Equal(t, "p1", string(f.Payload), "RFC 6455 §5.5.2: identical application data")
	assert.True(t, f.Masked)
}

// With OnWebSocketPing set, the program answers pings itself: no automatic pong.
func TestOnWebSocketPingReplacesTheAutomaticPong(t *testing.T) {
	frames := make(chan wstest.Frame, 4)
	url := fragmentsWithPing(t, frames)
	l := startLoop(t)
	c := newConn(t, l, url)
	r := newRecorder()
	record(c, r)
	c.OnWebSocketPing = func(c *Conn, p []byte) {
		r.add("ping %s", p)
		assert.NoError(t, c.Pong([]byte("custom "+string(p))))
	}
	c.Connect()
	evs := r.waitFor(t, "message text Hello", 1)
	assert.Equal(t, []string{"connect ESTABLISHED", "wsconnect 101 ESTABLISHED", "ping p1", "message text Hello"}, evs)
	f := recv(t, frames, "pong")
	assert.Equal(t, wstest.OpPong, f.Opcode)
	assert.Equal(t, "custom p1", string(f.Payload), "only the program's pong was sent")
}

// protocolFailure runs a raw server that sends bad bytes after the 101 and returns the close
// frame the client sent back.
func protocolFailure(t *testing.T, bad []byte, configure func(c *Conn)) (*Conn, *recorder, wstest.Frame) {
	t.Helper()
	frames := make(chan wstest.Frame, 4)
	url := wstest.Serve(t, func(p *wstest.Peer) {
		p.UpgradeAnd(bad)
		p.Forward(frames)
	}).URL
	l := startLoop(t)
	c := newConn(t, l, url)
	if configure != nil {
		configure(c)
	}
	r := newRecorder()
	record(c, r)
	c.Connect()
	evs := r.waitFor(t, "close CLOSED", 1)
	assert.Equal(t, []string{"connect ESTABLISHED", "wsconnect 101 ESTABLISHED", "error PROTOCOL_FAIL CLOSING", "close CLOSED"}, evs)
	f := recv(t, frames, "close frame")
	require.Equal(t, wstest.OpClose, f.Opcode)
	require.GreaterOrEqual(t, len(f.Payload), 2)
	return c, r, f
}

func closeCode(f wstest.Frame) ws.StatusCode {
	return ws.StatusCode(binary.BigEndian.Uint16(f.Payload))
}

func TestMaskedServerFrameFailsWith1002(t *testing.T) {
	// RFC 6455 §5.1: "A client MUST close a connection if it detects a masked frame."
	masked := wstest.Frame{Fin: true, Opcode: wstest.OpText, Masked: true, Key: [4]byte{1, 2, 3, 4}, Payload: []byte("hi")}.Bytes()
	c, _, f := protocolFailure(t, masked, nil)
	assert.Equal(t, ws.CloseProtocolError, closeCode(f))
	var pe *ws.ProtocolError
	require.ErrorAs(t, c.LastError(), &pe)
	assert.Equal(t, ws.CloseProtocolError, pe.Code)
	assert.ErrorIs(t, c.LastError(), ws.ErrMaskMismatch)
}

func TestReservedOpcodeFailsWith1002(t *testing.T) {
	c, _, f := protocolFailure(t, []byte{0x83, 0x00}, nil) // RFC 6455 §5.2: opcode 3 is reserved
	assert.Equal(t, ws.CloseProtocolError, closeCode(f))
	assert.ErrorIs(t, c.LastError(), ws.ErrReservedOpcode)
}

func TestInvalidUTF8FailsWith1007(t *testing.T) {
	c, _, f := protocolFailure(t, wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte{0xff, 0xfe}}.Bytes(), nil) // RFC 6455 §8.1
	assert.Equal(t, ws.CloseInvalidFramePayloadData, closeCode(f))
	assert.ErrorIs(t, c.LastError(), ws.ErrInvalidUTF8)
}

// MaxPackageSize bounds a message; a longer one fails the connection with 1009 (Workerman closes
// without a close frame, bug B21).
func TestMaxPackageSizeFailsWith1009(t *testing.T) {
	c, r, f := protocolFailure(t, wstest.Binary(make([]byte, 101)).Bytes(), func(c *Conn) { c.MaxPackageSize = 100 })
	assert.Equal(t, ws.CloseMessageTooBig, closeCode(f))
	assert.ErrorIs(t, c.LastError(), ws.ErrReadLimit)
	assert.Zero(t, r.count("message"))
}

func TestMessageOfExactlyMaxPackageSizeIsDelivered(t *testing.T) {
	url := wstest.Serve(t, func(p *wstest.Peer) {
		p.UpgradeAnd(wstest.Binary(make([]byte, 100)).Bytes())
		_, _ = wstest.ReadFrame(p.R)
	}).URL
	l := startLoop(t)
	c := newConn(t, l, url)
	c.MaxPackageSize = 100
	got := make(chan int, 1)
	c.OnMessage = func(c *Conn, data []byte) { got <- len(data) }
	c.Connect()
	assert.Equal(t, 100, recv(t, got, "message"))
}

// A server that drops TCP without a close frame: only OnClose, as in Workerman; LastError says
// it was an abnormal closure (1006).
func TestAbnormalClosureIsOnlyOnClose(t *testing.T) {
	url := wstest.Serve(t, func(p *wstest.Peer) {
		p.Upgrade()
	}).URL
	l := startLoop(t)
	c := newConn(t, l, url)
	r := newRecorder()
	record(c, r)
	c.Connect()
	evs := r.waitFor(t, "close CLOSED", 1)
	assert.Equal(t, []string{"connect ESTABLISHED", "wsconnect 101 ESTABLISHED", "close CLOSED"}, evs)
	assert.ErrorIs(t, c.LastError(), ws.ErrAbnormalClosure)
}
