package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/plainws/plainws/asyncconn"
	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// frame is one unmasked frame as a server sends it.
func frame(fin bool, rsv byte, op ws.Opcode, payload []byte) []byte {
	b := ws.AppendHeader(nil, ws.Header{Fin: fin, Rsv: rsv, Opcode: op, Length: int64(len(payload))})
	return append(b, payload...)
}

// scriptServer answers one upgrade, sends script (each element in a write of its own), and
// returns, one line per frame, what the client sent until its close frame or EOF.
func scriptServer(t *testing.T, script [][]byte) (string, <-chan []string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	got := make(chan []string, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		br := bufio.NewReader(nc)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + ws.AcceptKey(req.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\n"
		if _, err := io.WriteString(nc, resp); err != nil {
			return
		}
		for _, b := range script {
			if _, err := nc.Write(b); err != nil {
				break
			}
		}
		_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		var lines []string
		for {
			h, err := ws.ReadHeader(br)
			if err != nil {
				break
			}
			p := make([]byte, h.Length)
			if _, err := io.ReadFull(br, p); err != nil {
				break
			}
			ws.Mask(p, ws.MaskKeyWord(h.Mask))
			if h.Opcode == ws.OpClose {
				code, _, _ := ws.ParseClosePayload(p)
				lines = append(lines, fmt.Sprintf("close %d", code))
				break // RFC 6455 §7.1.1: the server closes TCP first
			}
			lines = append(lines, fmt.Sprintf("%s %q", h.Opcode, p))
		}
		got <- lines
	}()
	return "ws://" + ln.Addr().String() + "/runCase?case=1&agent=parity", got
}

// The -async driver must put on the wire exactly what the plain ws driver does, frame for frame,
// for the sequences where the two layers once differed: a message right before a violation
// (its echo must go first), bursts of pings (each one answered), pings between fragments and
// pings cut into one-byte writes.
func TestAsyncDriverMatchesThePlainDriverOnTheWire(t *testing.T) {
	closeFrame := frame(true, 0, ws.OpClose, []byte{0x03, 0xe8})
	var tenPings []byte
	for i := range 10 {
		tenPings = append(tenPings, frame(true, 0, ws.OpPing, fmt.Appendf(nil, "ping %d", i))...)
	}
	oneByteWrites := func(b []byte) [][]byte {
		var s [][]byte
		for i := range b {
			s = append(s, b[i:i+1])
		}
		return s
	}
	msg := frame(true, 0, ws.OpText, []byte("hello"))
	scripts := map[string][][]byte{
		"message then bad RSV":           {append(msg, frame(true, 0x40, ws.OpText, []byte("x"))...)},
		"message then reserved opcode":   {append(msg, frame(true, 0, ws.Opcode(0xb), nil)...)},
		"message then orphan continue":   {append(msg, frame(true, 0, ws.OpContinuation, []byte("x"))...)},
		"message then bad UTF-8":         {append(msg, frame(true, 0, ws.OpText, []byte{0xce, 0xba, 0xff})...)},
		"message then close":             {append(msg, closeFrame...)},
		"ten pings":                      {append(append([]byte{}, tenPings...), closeFrame...)},
		"ten pings, one byte at a time":  append(oneByteWrites(tenPings), closeFrame),
		"ping between fragments":         {bytes.Join([][]byte{frame(false, 0, ws.OpText, []byte("frag")), frame(true, 0, ws.OpPing, []byte("p")), frame(true, 0, ws.OpContinuation, []byte("ment")), closeFrame}, nil)},
		"fragments in one-byte writes":   oneByteWrites(bytes.Join([][]byte{frame(false, 0, ws.OpBinary, []byte{1, 2}), frame(true, 0, ws.OpPing, nil), frame(true, 0, ws.OpContinuation, []byte{3}), closeFrame}, nil)),
		"binary burst then close":        {bytes.Repeat(frame(true, 0, ws.OpBinary, bytes.Repeat([]byte{7}, 1000)), 300), closeFrame},
		"ping then message then bad RSV": {bytes.Join([][]byte{frame(true, 0, ws.OpPing, []byte("x")), msg, frame(true, 0x20, ws.OpBinary, nil)}, nil)},
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
