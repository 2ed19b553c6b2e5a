//go:build !js

package ws

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// h2ChildEnv marks the child process runH2Child starts.
const h2ChildEnv = "PLAINWS_H2_CHILD"

// runH2Child reports whether the calling top-level test should run its body
// here: net/http's server accepts RFC 8441's extended CONNECT only when the
// process started with GODEBUG=http2xconnect=1 (h2_bundle.go reads the
// environment in init), so without it the test re-runs itself in a child
// process that has it, asserts the child passed, and returns false.
func runH2Child(t *testing.T) bool {
	t.Helper()
	if os.Getenv(h2ChildEnv) == t.Name() || strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1") {
		require.Contains(t, os.Getenv("GODEBUG"), "http2xconnect=1")
		return true
	}
	out, err := runTestChild(t, "http2xconnect=1")
	require.NoErrorf(t, err, "child with GODEBUG=http2xconnect=1 failed:\n%s", out)
	require.Containsf(t, out, "--- PASS: "+t.Name(), "child did not run the test:\n%s", out)
	t.Logf("child with GODEBUG=http2xconnect=1:\n%s", out)
	return false
}

// runTestChild runs t's test alone in a child process of this test binary
// with GODEBUG=godebug and returns its output.
func runTestChild(t *testing.T, godebug string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v", "-test.timeout=55s")
	cmd.Env = append(os.Environ(), "GODEBUG="+godebug, h2ChildEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// h2Server is an HTTP/2 test server running handler, with a transport and
// a TLS configuration (trusting its certificate) for clients.
type h2Server struct {
	url string // ws:// or wss://
	tr  *http.Transport
	tls *tls.Config
}

// dialer sets d up to reach s.
func (s *h2Server) dialer(d *Dialer) *Dialer {
	d.TLSConfig = s.tls
	return d
}

// startH2 starts handler on HTTP/2 over TLS (ALPN h2) when tls is set, or
// on HTTP/2 without TLS (h2c, prior knowledge) otherwise.
func startH2(t *testing.T, tls bool, handler http.HandlerFunc, configure ...func(*http.Server)) *h2Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(handler)
	t.Cleanup(srv.Close)
	for _, f := range configure {
		f(srv.Config)
	}
	if tls {
		srv.EnableHTTP2 = true
		srv.StartTLS()
		tr := srv.Client().Transport.(*http.Transport)
		return &h2Server{url: "wss" + strings.TrimPrefix(srv.URL, "https"), tr: tr, tls: tr.TLSClientConfig}
	}
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	return &h2Server{url: "ws" + strings.TrimPrefix(srv.URL, "http"), tr: tr}
}

// h2Echo upgrades with u and echoes every message; it returns only when
// the Conn is done (on HTTP/2 returning ends the stream). The server's Conn
// goes to conns, if not nil.
func h2Echo(t *testing.T, u *Upgrader, conns chan<- *Conn) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := u.Upgrade(w, r, http.Header{"X-Test": {"yes"}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		if conns != nil {
			conns <- c
		}
		var buf []byte
		for {
			op, msg, err := c.ReadMessageInto(buf)
			if err != nil {
				return
			}
			buf = msg
			if err := c.WriteMessage(op, msg); err != nil {
				return
			}
		}
	}
}

func dialH2T(t *testing.T, d *Dialer, s *h2Server) (*Conn, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := s.dialer(d).DialH2(ctx, s.url, s.tr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c, resp
}

func forBothH2(t *testing.T, f func(t *testing.T, tls bool)) {
	t.Run("h2c", func(t *testing.T) { f(t, false) })
	t.Run("h2-tls", func(t *testing.T) { f(t, true) })
}

// TestH2Upgrade: an extended CONNECT with :protocol websocket gets a 200
// over HTTP/2 without Sec-WebSocket-Accept (RFC 8441 §5), with the extra
// response headers, and the negotiated subprotocol and compression; then
// messages of every kind, fragmented ones and pings go both ways.
func TestH2Upgrade(t *testing.T) {
	if !runH2Child(t) {
		return
	}
	forBothH2(t, func(t *testing.T, tls bool) {
		u := &Upgrader{Subprotocols: []string{"chat"}}
		u.Compression = &CompressionOptions{}
		s := startH2(t, tls, h2Echo(t, u, nil))
		d := &Dialer{Subprotocols: []string{"other", "chat"}}
		d.Compression = &CompressionOptions{}
		c, resp := dialH2T(t, d, s)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, 2, resp.ProtoMajor)
		assert.Empty(t, resp.Header.Values("Sec-WebSocket-Accept"))
		assert.Equal(t, "yes", resp.Header.Get("X-Test"))
		assert.Equal(t, "chat", c.Subprotocol())
		assert.Equal(t, "chat", resp.Header.Get("Sec-WebSocket-Protocol"))
		assert.Contains(t, resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate")

		require.NoError(t, c.WriteMessage(OpText, []byte("hello over h2")))
		op, msg, err := c.ReadMessage()
		require.NoError(t, err)
		assert.Equal(t, OpText, op)
		assert.Equal(t, "hello over h2", string(msg))

		big := bytes.Repeat([]byte{0, 1, 2, 3, 250}, 300<<10/5) // above flow-control windows' first grant
		require.NoError(t, c.WriteMessage(OpBinary, big))
		op, msg, err = c.ReadMessage()
		require.NoError(t, err)
		assert.Equal(t, OpBinary, op)
		assert.Equal(t, big, msg)

		// A streamed message, sent as fragments of the write buffer's size
		// (RFC 6455 §5.4), comes back whole.
		mw, err := c.NextWriter(OpText)
		require.NoError(t, err)
		text := strings.Repeat("fragmented ", 3*DefaultBufferSize/10)
		for part := range strings.SplitSeq(text, " ") {
			_, err := mw.Write([]byte(part + " "))
			require.NoError(t, err)
		}
		require.NoError(t, mw.Close())
		_, msg, err = c.ReadMessage()
		require.NoError(t, err)
		assert.Equal(t, text+" ", string(msg))

		// A ping is answered inside the server's read path (RFC 6455 §5.5.2);
		// ReadMessage on this side delivers the pong to Ping.
		done := make(chan error, 1)
		go func() {
			_, _, err := c.ReadMessage()
			done <- err
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rtt, err := c.Ping(ctx, []byte("p"))
		require.NoError(t, err)
		assert.Positive(t, rtt)

		require.NoError(t, c.Close(CloseNormalClosure, "bye"))
		err = <-done
		require.Error(t, err)
		assert.Equal(t, CloseNormalClosure, CloseStatus(err))
	})
}

// TestH2ServerClose: the server's Close runs the closing handshake (RFC
// 6455 §7.1.2) over the stream, and the client sees the server's END_STREAM
// as the TCP close it waits for (§7.1.1), well before its close timeout.
func TestH2ServerClose(t *testing.T) {
	if !runH2Child(t) {
		return
	}
	forBothH2(t, func(t *testing.T, tls bool) {
		closed := make(chan error, 1)
		s := startH2(t, tls, func(w http.ResponseWriter, r *http.Request) {
			c, err := (&Upgrader{}).Upgrade(w, r, nil)
			if err != nil {
				closed <- err
				return
			}
			require.NoError(t, c.WriteMessage(OpText, []byte("last")))
			closed <- c.Close(CloseGoingAway, "restart")
		})
		c, _ := dialH2T(t, &Dialer{Options: Options{CloseTimeout: 10 * time.Second}}, s)
		_, msg, err := c.ReadMessage()
		require.NoError(t, err)
		assert.Equal(t, "last", string(msg))
		start := time.Now()
		_, _, err = c.ReadMessage()
		var ce *CloseError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, CloseGoingAway, ce.Code)
		assert.Equal(t, "restart", ce.Reason)
		require.NoError(t, <-closed)
		assert.Less(t, time.Since(start), 5*time.Second, "the client waited for its close timeout")
		_, _, err = c.ReadMessage()
		require.Error(t, err)
	})
}

// TestH2Abort: CloseNow on either side ends the stream at once, and the
// other side sees the abnormal closure 1006 (RFC 6455 §7.1.5): the client's
// resets the stream (RST_STREAM CANCEL, RFC 9113 §8.5's TCP reset); the
// server's can only end it (END_STREAM, read as io.EOF) when the handler
// returns, which net/http offers no way to turn into a reset.
func TestH2Abort(t *testing.T) {
	if !runH2Child(t) {
		return
	}
	forBothH2(t, func(t *testing.T, tls bool) {
		serverErr := make(chan error, 1)
		abortServer := make(chan struct{})
		s := startH2(t, tls, func(w http.ResponseWriter, r *http.Request) {
			c, err := (&Upgrader{}).Upgrade(w, r, nil)
			if err != nil {
				serverErr <- err
				return
			}
			if r.URL.Path == "/server-aborts" {
				<-abortServer
				_ = c.CloseNow()
				return
			}
			_, _, err = c.ReadMessage()
			serverErr <- err
		})
		c, _ := dialH2T(t, &Dialer{}, s)
		time.Sleep(20 * time.Millisecond) // let the server block in its read
		require.NoError(t, c.CloseNow())
		select {
		case err := <-serverErr:
			require.ErrorIs(t, err, ErrAbnormalClosure)
			assert.Contains(t, err.Error(), "CANCEL", "not a RST_STREAM CANCEL")
		case <-time.After(3 * time.Second):
			t.Fatal("the server did not see the client's abort")
		}

		s2 := *s
		s2.url += "/server-aborts"
		c2, _ := dialH2T(t, &Dialer{}, &s2)
		close(abortServer)
		_, _, err := c2.ReadMessage()
		require.ErrorIs(t, err, ErrAbnormalClosure)
		assert.ErrorIs(t, err, io.EOF, "not the server's END_STREAM")
	})
}

// TestH2CloseAbortsWrite: a write held by HTTP/2 flow control (the client
// stopped reading) is aborted when the Conn is closed, as closing a TCP
// connection unblocks its writers: the stream is reset.
func TestH2CloseAbortsWrite(t *testing.T) {
	if !runH2Child(t) {
		return
	}
	forBothH2(t, func(t *testing.T, tls bool) {
		writeErr := make(chan error, 1)
		s := startH2(t, tls, func(w http.ResponseWriter, r *http.Request) {
			sc, err := (&Upgrader{}).Upgrade(w, r, nil)
			if err != nil {
				writeErr <- err
				return
			}
			done := make(chan error, 1)
			go func() {
				chunk := make([]byte, 64<<10)
				for {
					if err := sc.WriteMessage(OpBinary, chunk); err != nil {
						done <- err
						return
					}
				}
			}()
			time.Sleep(300 * time.Millisecond) // the window is full by now
			_ = sc.CloseNow()
			select {
			case err := <-done:
				writeErr <- err
			case <-time.After(3 * time.Second):
				writeErr <- errors.New("the blocked write outlived CloseNow")
			}
		})
		c, _ := dialH2T(t, &Dialer{}, s)
		defer c.CloseNow()
		err := <-writeErr
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "outlived")
	})
}

// TestH2Refusals: the handshake's checks hold on HTTP/2 as on HTTP/1.1:
// a foreign Origin is refused with 403, a wrong Sec-WebSocket-Version with
// 400 naming version 13 (RFC 6455 §4.4; 426 would need Upgrade, which
// HTTP/2 forbids), and a CONNECT for another protocol with 400.
func TestH2Refusals(t *testing.T) {
	if !runH2Child(t) {
		return
	}
	forBothH2(t, func(t *testing.T, tls bool) {
		errs := make(chan error, 8)
		s := startH2(t, tls, func(w http.ResponseWriter, r *http.Request) {
			_, err := (&Upgrader{}).Upgrade(w, r, nil)
			errs <- err
		})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()

		d := &Dialer{Header: http.Header{"Origin": {"https://evil.example"}}}
		_, resp, err := s.dialer(d).DialH2(ctx, s.url, s.tr)
		var he *HandshakeError
		require.ErrorAs(t, err, &he)
		assert.ErrorIs(t, err, ErrBadStatus)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
		assert.ErrorIs(t, <-errs, ErrBadOrigin)

		// Requests the Dialer would not send, on the same HTTP/2 transport.
		pu, err := parseURL(s.url)
		require.NoError(t, err)
		rt, err := s.dialer(&Dialer{}).h2RoundTripper(ctx, pu, s.tr)
		require.NoError(t, err)
		for _, tc := range []struct {
			name, protocol, version string
			status                  int
			sentinel                error
		}{
			{"version", "websocket", "8", http.StatusBadRequest, ErrBadVersion},
			{"protocol", "webtransport", "13", http.StatusBadRequest, ErrBadUpgrade},
		} {
			req, err := http.NewRequestWithContext(ctx, http.MethodConnect, strings.Replace(s.url, "ws", "http", 1), http.NoBody)
			require.NoError(t, err)
			req.Header[":protocol"] = []string{tc.protocol}
			req.Header.Set("Sec-WebSocket-Version", tc.version)
			resp, err := rt.RoundTrip(req)
			require.NoError(t, err, tc.name)
			_ = resp.Body.Close()
			assert.Equal(t, tc.status, resp.StatusCode, tc.name)
			if tc.sentinel == ErrBadVersion {
				assert.Equal(t, "13", resp.Header.Get("Sec-WebSocket-Version"))
			}
			assert.ErrorIs(t, <-errs, tc.sentinel, tc.name)
		}
	})
}

// TestH2Limits: the same limits apply on a stream as on TCP: a message over
// the read limit fails the connection with 1009 (RFC 6455 §7.4.1).
func TestH2Limits(t *testing.T) {
	if !runH2Child(t) {
		return
	}
	forBothH2(t, func(t *testing.T, tls bool) {
		u := &Upgrader{Options: Options{ReadLimit: 1000}}
		serverErr := make(chan error, 1)
		s := startH2(t, tls, func(w http.ResponseWriter, r *http.Request) {
			c, err := u.Upgrade(w, r, nil)
			if err != nil {
				serverErr <- err
				return
			}
			defer c.CloseNow()
			_, _, err = c.ReadMessage()
			serverErr <- err
			_, _, _ = c.ReadMessage() // until the stream ends
		})
		c, _ := dialH2T(t, &Dialer{}, s)
		require.NoError(t, c.WriteMessage(OpBinary, make([]byte, 1001)))
		assert.ErrorIs(t, <-serverErr, ErrReadLimit)
		_, _, err := c.ReadMessage()
		assert.Equal(t, CloseMessageTooBig, CloseStatus(err))
	})
}

// TestH2Deadlines: a read that times out leaves the stream usable, as
// SetReadDeadline promises (net/http's own read deadline would break the
// body for good), and a write blocked by a peer that stops reading is cut by
// its deadline (HTTP/2 flow control holds it) with a timeout error.
func TestH2Deadlines(t *testing.T) {
	if !runH2Child(t) {
		return
	}
	forBothH2(t, func(t *testing.T, tls bool) {
		s := startH2(t, tls, h2Echo(t, &Upgrader{}, nil))
		c, _ := dialH2T(t, &Dialer{}, s)

		require.NoError(t, c.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
		_, _, err := c.ReadMessage()
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		assert.True(t, ne.Timeout())
		require.NoError(t, c.SetReadDeadline(time.Time{}))
		require.NoError(t, c.WriteMessage(OpText, []byte("still there")))
		_, msg, err := c.ReadMessage()
		require.NoError(t, err)
		assert.Equal(t, "still there", string(msg))

		// A write deadline that passes with no write in progress costs
		// nothing, as on TCP (net/http's own would reset the stream; the
		// Conn leaves such deadlines behind after a close frame or a
		// keepalive ping).
		require.NoError(t, c.SetWriteDeadline(time.Now().Add(20*time.Millisecond)))
		time.Sleep(60 * time.Millisecond)
		require.NoError(t, c.SetWriteDeadline(time.Time{}))
		require.NoError(t, c.WriteMessage(OpText, []byte("after the deadline")))
		_, msg, err = c.ReadMessage()
		require.NoError(t, err)
		assert.Equal(t, "after the deadline", string(msg))

		// A client that stops reading: the server's writes fill the
		// stream's flow-control window and the next one blocks until its
		// deadline.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		wc := make(chan error, 1)
		conns2 := make(chan *Conn, 1)
		s2 := startH2(t, tls, func(w http.ResponseWriter, r *http.Request) {
			sc, err := (&Upgrader{}).Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer sc.CloseNow()
			conns2 <- sc
			require.NoError(t, sc.SetWriteDeadline(time.Now().Add(300*time.Millisecond)))
			chunk := make([]byte, 32<<10)
			var werr error
			for i := 0; i < 1000 && werr == nil; i++ {
				werr = sc.WriteMessage(OpBinary, chunk)
			}
			wc <- werr
			<-ctx.Done()
		})
		c2, _, err := s2.dialer(&Dialer{}).DialH2(ctx, s2.url, s2.tr)
		require.NoError(t, err)
		defer c2.CloseNow()
		<-conns2
		select {
		case werr := <-wc:
			require.Error(t, werr)
			require.ErrorAs(t, werr, &ne)
			assert.True(t, ne.Timeout(), "%v", werr)
		case <-time.After(4 * time.Second):
			t.Fatal("a write blocked by flow control outlived its deadline")
		}
		cancel()
	})
}

// TestH2ServerTimeouts: the http.Server's ReadTimeout and WriteTimeout,
// which net/http arms on every stream, do not end a WebSocket that outlives
// them, as they do not after an HTTP/1.1 hijack.
func TestH2ServerTimeouts(t *testing.T) {
	if !runH2Child(t) {
		return
	}
	forBothH2(t, func(t *testing.T, tls bool) {
		s := startH2(t, tls, h2Echo(t, &Upgrader{}, nil), func(hs *http.Server) {
			// Long enough for a TLS handshake on a loaded machine under
			// -race; the stream must outlive them well past.
			hs.ReadTimeout = 500 * time.Millisecond
			hs.WriteTimeout = 500 * time.Millisecond
		})
		c, _ := dialH2T(t, &Dialer{}, s)
		time.Sleep(1500 * time.Millisecond)
		require.NoError(t, c.WriteMessage(OpText, []byte("later")))
		_, msg, err := c.ReadMessage()
		require.NoError(t, err)
		assert.Equal(t, "later", string(msg))
	})
}

// TestH2ConcurrentWriters: writers on many goroutines share the stream
// without interleaving frames, and several WebSockets share one HTTP/2
// connection.
func TestH2ConcurrentWriters(t *testing.T) {
	if !runH2Child(t) {
		return
	}
	forBothH2(t, func(t *testing.T, tls bool) {
		s := startH2(t, tls, h2Echo(t, &Upgrader{}, nil))
		var wg sync.WaitGroup
		var first net.Addr
		for k := 0; k < 3; k++ {
			c, _ := dialH2T(t, &Dialer{}, s)
			// One HTTP/2 connection carries the three WebSockets.
			if first == nil {
				first = c.LocalAddr()
				require.IsType(t, &net.TCPAddr{}, first)
			}
			assert.Equal(t, first.String(), c.LocalAddr().String())
			assert.Equal(t, strings.TrimPrefix(strings.TrimPrefix(s.url, "wss://"), "ws://"), c.RemoteAddr().String())
			wg.Add(1)
			go func() {
				defer wg.Done()
				const writers, each = 4, 25
				var ww sync.WaitGroup
				for w := 0; w < writers; w++ {
					ww.Add(1)
					go func() {
						defer ww.Done()
						msg := bytes.Repeat([]byte{byte('a' + w)}, 3000)
						for i := 0; i < each; i++ {
							assert.NoError(t, c.WriteMessage(OpBinary, msg))
						}
					}()
				}
				for i := 0; i < writers*each; i++ {
					_, msg, err := c.ReadMessage()
					if !assert.NoError(t, err) {
						return
					}
					assert.Len(t, msg, 3000)
					assert.Equal(t, bytes.Repeat(msg[:1], 3000), msg)
				}
				ww.Wait()
				assert.NoError(t, c.Close(CloseNormalClosure, ""))
			}()
		}
		wg.Wait()
	})
}

// TestH2WithoutGODEBUG: without GODEBUG=http2xconnect=1 net/http's server
// does not announce SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3), so
// Go's client refuses to send the extended CONNECT and no handler runs.
func TestH2WithoutGODEBUG(t *testing.T) {
	if os.Getenv(h2ChildEnv) != t.Name() {
		out, err := runTestChild(t, "http2xconnect=0")
		require.NoErrorf(t, err, "child failed:\n%s", out)
		require.Contains(t, out, "--- PASS: "+t.Name())
		return
	}
	require.NotContains(t, os.Getenv("GODEBUG"), "http2xconnect=1")
	forBothH2(t, func(t *testing.T, tls bool) {
		called := make(chan struct{}, 1)
		s := startH2(t, tls, func(w http.ResponseWriter, r *http.Request) { called <- struct{}{} })
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _, err := s.dialer(&Dialer{}).DialH2(ctx, s.url, s.tr)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "extended connect not supported")
		assert.False(t, errors.Is(err, context.DeadlineExceeded))
		assert.Empty(t, called)
	})
}

// TestH2DialTimeout: the handshake timeout bounds the wait for the 200,
// and only that: the context given to the request outlives it on success.
func TestH2DialTimeout(t *testing.T) {
	if !runH2Child(t) {
		return
	}
	forBothH2(t, func(t *testing.T, tls bool) {
		release := make(chan struct{})
		s := startH2(t, tls, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				select {
				case <-release:
				case <-r.Context().Done(): // the client gave up: the stream was reset
				}
				return
			}
			h2Echo(t, &Upgrader{}, nil)(w, r)
		})
		defer close(release)
		d := s.dialer(&Dialer{HandshakeTimeout: 200 * time.Millisecond})
		start := time.Now()
		_, _, err := d.DialH2(context.Background(), s.url+"/slow", s.tr)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(start), 3*time.Second)

		c, _, err := d.DialH2(context.Background(), s.url, s.tr)
		require.NoError(t, err)
		defer c.CloseNow()
		time.Sleep(300 * time.Millisecond) // past the handshake timeout
		require.NoError(t, c.WriteMessage(OpText, []byte("alive")))
		_, msg, err := c.ReadMessage()
		require.NoError(t, err)
		assert.Equal(t, "alive", string(msg))
	})
}

// TestH2NoHTTP2: DialH2 on a transport limited to HTTP/1 fails with
// ErrNotHTTP2 before dialling.
func TestH2NoHTTP2(t *testing.T) {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetHTTP1(true)
	dialled := false
	d := &Dialer{NetDialContext: func(context.Context, string, string) (net.Conn, error) {
		dialled = true
		return nil, errors.New("no")
	}}
	for _, u := range []string{"ws://127.0.0.1:1/", "wss://127.0.0.1:1/"} {
		_, _, err := d.DialH2(context.Background(), u, tr)
		require.ErrorIs(t, err, ErrNotHTTP2, u)
	}
	assert.False(t, dialled)
}

// TestH2StreamHandlerDone: once the handler has returned, net/http forbids
// touching the ResponseWriter (it panics); the stream reports
// errH2HandlerDone instead of crashing the program.
func TestH2StreamHandlerDone(t *testing.T) {
	err := h2GuardHandler(func() error { panic("Write called after Handler finished") })
	require.ErrorIs(t, err, errH2HandlerDone)
	require.ErrorIs(t, err, net.ErrClosed)
	require.NoError(t, h2GuardHandler(func() error { return nil }))
}

// TestH2StreamDeadline: the stream's read deadline wakes a blocked Read,
// can be lifted, and does not cost the data that arrives later.
func TestH2StreamDeadline(t *testing.T) {
	pr, pw := io.Pipe()
	s := newH2Stream(h2Half{body: pr, send: func(p []byte) (int, error) { return len(p), nil }, abort: func() {}}, h2AddrString("l"), h2Addr("127.0.0.1:9"))
	defer s.Close()
	assert.Equal(t, "127.0.0.1:9", s.RemoteAddr().String())
	require.NoError(t, s.SetReadDeadline(time.Now().Add(30*time.Millisecond)))
	buf := make([]byte, 10)
	_, err := s.Read(buf)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.NoError(t, s.SetReadDeadline(time.Time{}))
	go func() { _, _ = pw.Write([]byte("abc")) }()
	n, err := s.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "abc", string(buf[:n]))
	// A past write deadline fails the write before anything is sent.
	require.NoError(t, s.SetWriteDeadline(time.Now().Add(-time.Second)))
	_, err = s.Write([]byte("x"))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.NoError(t, s.Close())
	_, err = s.Read(buf)
	require.ErrorIs(t, err, net.ErrClosed)
	_, err = s.Write([]byte("x"))
	require.ErrorIs(t, err, net.ErrClosed)
}
