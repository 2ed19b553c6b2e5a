package bench

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plainws/plainws/ws"
)

// The helpers decide what every library reads and how connections are set
// up; if they were wrong, every figure would be. These tests pin them to
// what RFC 6455 says.

// A FrameLoop is a sequence of valid, final, unfragmented frames (RFC 6455
// §5.2, §5.4) whose payloads unmask (§5.3) to Payload.
func TestFrameLoopIsValidFrames(t *testing.T) {
	for _, masked := range []bool{false, true} {
		for _, size := range []int{0, 16, 125, 126, 1 << 10, 65535, 65536, 1 << 20} {
			loop := FrameLoop(ws.OpBinary, size, masked)
			want := Payload(size)
			role := ws.RoleClient // reads unmasked frames
			if masked {
				role = ws.RoleServer
			}
			frames, bad := 0, 0
			for b := loop; len(b) > 0; frames++ {
				h, n, err := ws.ParseHeader(b)
				require.NoError(t, err)
				if ws.CheckHeader(h, role, 0) != nil || !h.Fin || h.Opcode != ws.OpBinary ||
					h.Length != int64(size) || n+size != FrameSize(size, masked) {
					bad++
					break
				}
				p := append([]byte(nil), b[n:n+size]...)
				if masked {
					ws.Mask(p, ws.MaskKeyWord(h.Mask))
				}
				if string(p) != string(want) {
					bad++
				}
				b = b[n+size:]
			}
			assert.Zero(t, bad, "size %d masked %v: frames that are not valid or do not unmask to the payload", size, masked)
			assert.Equal(t, max(1, LoopBytes/FrameSize(size, masked)), frames)
		}
	}
}

// Payload is valid UTF-8, so the text workloads send what RFC 6455 §5.6
// allows.
func TestPayloadIsText(t *testing.T) {
	var v ws.UTF8Validator
	assert.True(t, v.Write(Payload(1000)))
	assert.True(t, v.Complete())
}

// ReplayConn fills every read and wraps around its loop.
func TestReplayConnWraps(t *testing.T) {
	c := NewReplayConn([]byte("abc"))
	p := make([]byte, 7)
	n, err := c.Read(p)
	require.NoError(t, err)
	assert.Equal(t, "abcabca", string(p[:n]))
	n, err = c.Read(p[:2])
	require.NoError(t, err)
	assert.Equal(t, "bc", string(p[:n]))
	require.NoError(t, c.Close())
	_, err = c.Read(p)
	assert.ErrorIs(t, err, net.ErrClosed)
}

// A discarding conn counts writes and blocks readers until Close.
func TestDiscardConn(t *testing.T) {
	c := NewDiscardConn()
	n, err := c.Write([]byte("hello"))
	require.NoError(t, err)
	assert.Equal(t, 5, n)
	assert.Equal(t, int64(5), c.Written())
	done := make(chan error)
	go func() {
		_, err := c.Read(make([]byte, 1))
		done <- err
	}()
	require.NoError(t, c.Close())
	assert.ErrorIs(t, <-done, net.ErrClosed)
}

// NewUpgradeServerConn answers a client's opening handshake with the
// Sec-WebSocket-Accept RFC 6455 §4.2.2 demands (plainws's Dialer checks it,
// §4.1), then serves the frames.
func TestUpgradeServerConnAnswersHandshake(t *testing.T) {
	rc := NewUpgradeServerConn(FrameLoop(ws.OpText, 16, false))
	c, resp, err := (&ws.Dialer{}).Handshake(context.Background(), rc, "ws://bench.invalid/")
	require.NoError(t, err)
	assert.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	op, p, err := c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, ws.OpText, op)
	assert.Equal(t, Payload(16), p)
}

// UpgradeResponse carries the accept value of RFC 6455 §1.3's example.
func TestUpgradeResponseExample(t *testing.T) {
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(UpgradeResponse("dGhlIHNhbXBsZSBub25jZQ=="))), nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	assert.Equal(t, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", resp.Header.Get("Sec-WebSocket-Accept"))
}

// NewUpgradeClientConn serves a request a server accepts (RFC 6455 §4.2.1),
// both through a raw-conn upgrade and through net/http's Hijacker.
func TestUpgradeClientConnIsAccepted(t *testing.T) {
	rc := NewUpgradeClientConn(FrameLoop(ws.OpBinary, 64, true))
	c, _, err := (&ws.Upgrader{}).UpgradeConn(context.Background(), rc, nil)
	require.NoError(t, err)
	_, p, err := c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, Payload(64), p)

	rc = NewUpgradeClientConn(FrameLoop(ws.OpBinary, 64, true))
	var hc *ws.Conn
	require.NoError(t, ServeUpgrade(rc, func(w http.ResponseWriter, r *http.Request) {
		hc, err = (&ws.Upgrader{}).Upgrade(w, r, nil)
	}))
	require.NoError(t, err)
	_, p, err = hc.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, Payload(64), p)
}

// A refused upgrade through HijackWriter still produces a parsable HTTP
// response with the status the server chose.
func TestHijackWriterRefusal(t *testing.T) {
	server, client := net.Pipe()
	defer func() { _ = client.Close() }()
	go func() {
		w := &HijackWriter{Conn: server}
		w.Header().Set("Sec-WebSocket-Version", "13")
		w.WriteHeader(http.StatusUpgradeRequired)
		_ = server.Close()
	}()
	resp, err := http.ReadResponse(bufio.NewReader(client), nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusUpgradeRequired, resp.StatusCode)
	assert.Equal(t, "13", resp.Header.Get("Sec-WebSocket-Version"))
}

// The plain-TCP ceiling echoes exactly a server frame's worth per client
// frame, the sizes RFC 6455 §5.2 gives each direction.
func TestTCPEchoSizes(t *testing.T) {
	in, out := FrameSize(16, true), FrameSize(16, false)
	assert.Equal(t, 2+4+16, in)
	assert.Equal(t, 2+16, out)
	addr := StartServer(t, TCPEcho(in, out))
	nc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer func() { _ = nc.Close() }()
	_, err = nc.Write(make([]byte, in))
	require.NoError(t, err)
	_, err = io.ReadFull(nc, make([]byte, out))
	require.NoError(t, err)
}

// plainws's echo server sends every message back unchanged.
func TestServeEcho(t *testing.T) {
	c := DialWS(t, StartServer(t, ServeEcho))
	write, read := wsClientOps(c, 1<<10)
	for range 3 {
		require.NoError(t, write())
		require.NoError(t, read())
	}
}

// The idle server is the test binary run again; it completes handshakes and
// keeps the connections open.
func TestIdleServer(t *testing.T) {
	addr := StartIdleServer(t)
	for range 3 {
		nc, c, err := DialIdle(context.Background(), addr)
		require.NoError(t, err)
		require.IsType(t, &ws.Conn{}, c)
		require.NoError(t, nc.Close())
	}
	// asyncconn's dialer too: Workerman's model over the same server.
	for range 2 {
		closer, c, err := DialIdleAsync(context.Background(), addr)
		require.NoError(t, err)
		require.NotNil(t, c)
		require.NoError(t, closer.Close())
	}
}

// IdleConns reads its environment variable and falls back to the default
// for anything that is not a positive count.
func TestIdleConns(t *testing.T) {
	t.Setenv(IdleConnsEnv, "")
	assert.Equal(t, DefaultIdleConns, IdleConns())
	t.Setenv(IdleConnsEnv, "250")
	assert.Equal(t, 250, IdleConns())
	t.Setenv(IdleConnsEnv, "-3")
	assert.Equal(t, DefaultIdleConns, IdleConns())
}

// The compression helpers negotiate permessage-deflate (RFC 7692 §5) on both
// sides, and the recorded frames inflate back to the payload (§7.2.2).
func TestDeflateConns(t *testing.T) {
	loop, ratio := deflateLoop(t, 1<<10)
	assert.Less(t, ratio, 0.5, "JSON-like text must compress")
	opts := ws.CompressionOptions{ServerNoContextTakeover: true, ClientNoContextTakeover: true}
	d := &ws.Dialer{Options: ws.Options{Compression: &opts}}
	c, _, err := d.Handshake(context.Background(), NewDeflateServerConn(loop), "ws://bench.invalid/")
	require.NoError(t, err)
	params, ok := c.Compression()
	require.True(t, ok)
	assert.True(t, params.ServerNoContextTakeover)
	for range 3 {
		op, p, err := c.ReadMessage()
		require.NoError(t, err)
		assert.Equal(t, ws.OpText, op)
		assert.Equal(t, string(JSONPayload(1<<10)), string(p))
	}
}
