package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeFuzzingServer speaks the three endpoints of Autobahn's fuzzing server:
// every case sends a text and a binary message and checks they come back.
type fakeFuzzingServer struct {
	compress   bool
	burst      int  // if > 0, each case also sends this many 256 KiB messages without waiting
	badUTF8    bool // if set, each case sends invalid UTF-8 in a text message instead
	compressed int
	mu         sync.Mutex
	ran        []string
	echoed     int
	burstOK    int             // burst messages echoed intact and in order
	closeCodes []ws.StatusCode // what the client's close frames said, for badUTF8
	reports    []string
}

func (f *fakeFuzzingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u := &ws.Upgrader{}
	if f.compress {
		u.Compression = &ws.CompressionOptions{}
	}
	c, err := u.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	if _, ok := c.Compression(); ok && r.URL.Path == "/runCase" {
		f.mu.Lock()
		f.compressed++
		f.mu.Unlock()
	}
	switch r.URL.Path {
	case "/getCaseCount":
		_ = c.WriteText("3")
		_ = c.Close(ws.CloseNormalClosure, "")
	case "/runCase":
		f.mu.Lock()
		f.ran = append(f.ran, r.URL.Query().Get("case")+"/"+r.URL.Query().Get("agent"))
		f.mu.Unlock()
		if f.badUTF8 {
			// RFC 6455 §8.1: the client must fail the connection with 1007.
			_ = c.WriteMessage(ws.OpText, []byte("ok \xff"))
			_, _, err := c.ReadMessage()
			f.mu.Lock()
			f.closeCodes = append(f.closeCodes, ws.CloseStatus(err))
			f.mu.Unlock()
			return
		}
		for _, m := range []struct {
			op ws.Opcode
			p  string
		}{{ws.OpText, "κόσμε"}, {ws.OpBinary, "\x00\x01\x02"}} {
			if c.WriteMessage(m.op, []byte(m.p)) != nil {
				return
			}
			op, got, err := c.ReadMessage()
			if err != nil || op != m.op || string(got) != m.p {
				return
			}
			f.mu.Lock()
			f.echoed++
			f.mu.Unlock()
		}
		f.runBurst(c)
		_ = c.Close(ws.CloseNormalClosure, "")
	case "/updateReports":
		f.mu.Lock()
		f.reports = append(f.reports, r.URL.Query().Get("agent"))
		f.mu.Unlock()
		_ = c.Close(ws.CloseNormalClosure, "")
	}
}

// runBurst sends f.burst large messages from one goroutine while reading their echoes on this
// one, as the real fuzzing server does in its performance cases; a client that echoes without
// flow control overflows its send buffer here.
func (f *fakeFuzzingServer) runBurst(c *ws.Conn) {
	msg := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 256<<10) }
	go func() {
		for i := range f.burst {
			if c.WriteMessage(ws.OpBinary, msg(i)) != nil {
				return
			}
		}
	}()
	for i := range f.burst {
		op, got, err := c.ReadMessage()
		if err != nil || op != ws.OpBinary || !bytes.Equal(got, msg(i)) {
			return
		}
		f.mu.Lock()
		f.burstOK++
		f.mu.Unlock()
	}
}

func TestRunsEveryCaseAndEchoes(t *testing.T) {
	f := &fakeFuzzingServer{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	base := "ws" + strings.TrimPrefix(srv.URL, "http")
	require.NoError(t, run(base, "plain ws", "2-3", nil))
	assert.Equal(t, []string{"2/plain ws", "3/plain ws"}, f.ran)
	assert.Equal(t, 4, f.echoed, "each message echoed with its type")
	assert.Equal(t, []string{"plain ws"}, f.reports)
}

// With -compress the cases run over permessage-deflate with context takeover.
func TestRunsCompressed(t *testing.T) {
	f := &fakeFuzzingServer{compress: true}
	srv := httptest.NewServer(f)
	defer srv.Close()
	base := "ws" + strings.TrimPrefix(srv.URL, "http")
	require.NoError(t, run(base, "a", "1", &ws.CompressionOptions{}))
	assert.Equal(t, 2, f.echoed)
	assert.Equal(t, 1, f.compressed, "the case connection negotiated permessage-deflate")
}

func TestParseRange(t *testing.T) {
	a, b, err := parseRange("", 9)
	require.NoError(t, err)
	assert.Equal(t, [2]int{1, 9}, [2]int{a, b})
	a, b, err = parseRange("5", 9)
	require.NoError(t, err)
	assert.Equal(t, [2]int{5, 5}, [2]int{a, b})
	a, b, err = parseRange("0-100", 9)
	require.NoError(t, err)
	assert.Equal(t, [2]int{1, 9}, [2]int{a, b})
	_, _, err = parseRange("x-1", 9)
	require.Error(t, err)
}
