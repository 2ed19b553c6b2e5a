package main

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/plainws/plainws/asyncconn"
	"github.com/plainws/plainws/internal/wstest"
	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scriptServer answers the upgrade, sends script (each element in a write of its own), and
// returns, one line per frame, what the client sent until its close frame or EOF.
func scriptServer(t *testing.T, script [][]byte) (string, <-chan []string) {
	t.Helper()
	got := make(chan []string, 1)
	srv := wstest.Serve(t, func(p *wstest.Peer) {
		p.Upgrade()
		for _, b := range script {
			if _, err := p.Conn.Write(b); err != nil {
				break
			}
		}
		_ = p.Conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		var lines []string
		for _, f := range p.ReadUntilClose() {
			if f.Opcode == wstest.OpClose {
				code, _, _ := ws.ParseClosePayload(f.Payload)
				lines = append(lines, fmt.Sprintf("close %d", code))
				break // RFC 6455 §7.1.1: the server closes TCP first
			}
			lines = append(lines, fmt.Sprintf("%s %q", ws.Opcode(f.Opcode), f.Payload))
		}
		got <- lines
	})
	return srv.URL + "/runCase?case=1&agent=parity", got
}

// The -async driver must put on the wire exactly what the plain ws driver does, frame for frame,
// for the sequences where the two layers once differed: a message right before a violation
// (its echo must go first), bursts of pings (each one answered), pings between fragments and
// pings cut into one-byte writes.
func TestAsyncDriverMatchesThePlainDriverOnTheWire(t *testing.T) {
	closeFrame := wstest.Close(wstest.CloseNormal, "").Bytes()
	var tenPings []byte
	for i := range 10 {
		tenPings = append(tenPings, wstest.Frame{Fin: true, Opcode: wstest.OpPing, Payload: fmt.Appendf(nil, "ping %d", i)}.Bytes()...)
	}
	oneByteWrites := func(b []byte) [][]byte {
		var s [][]byte
		for i := range b {
			s = append(s, b[i:i+1])
		}
		return s
	}
	msg := wstest.Text("hello").Bytes()
	scripts := map[string][][]byte{
		"message then bad RSV":           {append(msg, wstest.Frame{Fin: true, Rsv: wstest.Rsv1, Opcode: wstest.OpText, Payload: []byte("x")}.Bytes()...)},
		"message then reserved opcode":   {append(msg, wstest.Frame{Fin: true, Opcode: 0xb}.Bytes()...)},
		"message then orphan continue":   {append(msg, wstest.Frame{Fin: true, Opcode: wstest.OpContinuation, Payload: []byte("x")}.Bytes()...)},
		"message then bad UTF-8":         {append(msg, wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte{0xce, 0xba, 0xff}}.Bytes()...)},
		"message then close":             {append(msg, closeFrame...)},
		"ten pings":                      {append(append([]byte{}, tenPings...), closeFrame...)},
		"ten pings, one byte at a time":  append(oneByteWrites(tenPings), closeFrame),
		"ping between fragments":         {bytes.Join([][]byte{wstest.Frame{Opcode: wstest.OpText, Payload: []byte("frag")}.Bytes(), wstest.Frame{Fin: true, Opcode: wstest.OpPing, Payload: []byte("p")}.Bytes(), wstest.Frame{Fin: true, Opcode: wstest.OpContinuation, Payload: []byte("ment")}.Bytes(), closeFrame}, nil)},
		"fragments in one-byte writes":   oneByteWrites(bytes.Join([][]byte{wstest.Frame{Opcode: wstest.OpBinary, Payload: []byte{1, 2}}.Bytes(), wstest.Frame{Fin: true, Opcode: wstest.OpPing}.Bytes(), wstest.Frame{Fin: true, Opcode: wstest.OpContinuation, Payload: []byte{3}}.Bytes(), closeFrame}, nil)),
		"binary burst then close":        {bytes.Repeat(wstest.Frame{Fin: true, Opcode: wstest.OpBinary, Payload: bytes.Repeat([]byte{7}, 1000)}.Bytes(), 300), closeFrame},
		"ping then message then bad RSV": {bytes.Join([][]byte{wstest.Frame{Fin: true, Opcode: wstest.OpPing, Payload: []byte("x")}.Bytes(), msg, wstest.Frame{Fin: true, Rsv: wstest.Rsv2, Opcode: wstest.OpBinary}.Bytes()}, nil)},
	}
	loop := asyncconn.NewLoop()
	loop.Start()
	t.Cleanup(loop.Stop)
	d := &ws.Dialer{Options: ws.Options{ReadLimit: 64 << 20, CloseTimeout: time.Second}}
	for name, script := range scripts {
		t.Run(name, func(t *testing.T) {
			url, plainFrames := scriptServer(t, script)
			_ = echoCase(d, url)
			plain := <-plainFrames

			url, asyncFrames := scriptServer(t, script)
			_ = echoCaseAsync(loop, url, nil)
			var async []string
			select {
			case async = <-asyncFrames:
			case <-time.After(20 * time.Second):
				require.FailNow(t, "the async case did not end")
			}
			require.NotEmpty(t, plain)
			assert.Equal(t, plain, async, "the two drivers sent different frames")
		})
	}
}
