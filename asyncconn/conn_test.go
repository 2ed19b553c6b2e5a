package asyncconn

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/wstest"
	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewDefaultsMatchWorkerman(t *testing.T) {
	l := startLoop(t)
	c := newConn(t, l, "ws://example.com/path?q=1#frag")
	// docs/workerman.md §3: the defaults copied into each connection.
	assert.Equal(t, DefaultMaxSendBufferSize, c.MaxSendBufferSize)
	assert.Equal(t, 1<<20, c.MaxSendBufferSize)
	assert.Equal(t, int64(10<<20), c.MaxPackageSize)
	assert.Equal(t, BinaryTypeBlob, c.WebsocketType)
	assert.Equal(t, "tcp", c.Transport)
	assert.Zero(t, c.WebsocketPingInterval)
	assert.Zero(t, c.PongTimeout)
	assert.False(t, c.AutoReconnect)
	assert.Equal(t, StatusInitial, c.Status())
	assert.Equal(t, "example.com", c.RemoteHost())
	assert.Equal(t, "/path?q=1", c.RemoteURI())
	// RFC 6455 §3: the default ports are 80 for ws and 443 for wss (and for Transport "ssl").
	assert.Equal(t, "example.com:80", c.RemoteAddress())
	assert.Equal(t, 80, c.RemotePort())
	c.Transport = "ssl"
	assert.Equal(t, 443, c.RemotePort())
	assert.Equal(t, "", c.LocalAddress())
	assert.Same(t, l, c.Loop())
	assert.Nil(t, c.LastError())

	s := newConn(t, l, "wss://example.com")
	assert.Equal(t, "example.com:443", s.RemoteAddress())
	assert.Equal(t, "/", s.RemoteURI())

	// IDs are unique and stable.
	assert.NotEqual(t, c.ID(), s.ID())
	assert.Equal(t, c.ID(), c.ID())
}

func TestNewRejectsBadURLs(t *testing.T) {
	l := startLoop(t)
	for _, u := range []string{"http://x", "websocket://x", "tcp://x:1", "ws://", "ws://u:p@host", "ws://host:0", "ws://host:99999", "::"} {
		_, err := New(l, u)
		require.Error(t, err, u)
		assert.ErrorIs(t, err, ws.ErrBadURL, u)
	}
	for _, u := range []string{"ws://h", "WS://h:1/x", "wss://h", "ws://[::1]:8080/p"} {
		_, err := New(l, u)
		assert.NoError(t, err, u)
	}
}

func TestStatusAndErrorCodeValues(t *testing.T) {
	// Workerman's TcpConnection::STATUS_* (v5.1.9+) and ConnectionInterface error codes.
	assert.Equal(t, Status(0), StatusInitial)
	assert.Equal(t, Status(1), StatusConnecting)
	assert.Equal(t, Status(2), StatusEstablished)
	assert.Equal(t, Status(8), StatusClosing)
	assert.Equal(t, Status(16), StatusClosed)
	assert.Equal(t, "ESTABLISHED", StatusEstablished.String())
	assert.Equal(t, "Status(3)", Status(3).String())
	assert.Equal(t, ErrorCode(1), ConnectFail)
	assert.Equal(t, ErrorCode(2), SendFail)
	assert.Equal(t, "CONNECT_FAIL", ConnectFail.String())
	names := map[string]bool{}
	for _, e := range []ErrorCode{ConnectFail, SendFail, HandshakeFail, TLSFail, ProtocolFail, PingTimeout} {
		names[e.String()] = true
	}
	assert.Len(t, names, 6, "every code has its own name")
	// Ws::BINARY_TYPE_BLOB = "\x81" (text), Ws::BINARY_TYPE_ARRAYBUFFER = "\x82" (binary).
	assert.Equal(t, BinaryType(0x81), BinaryTypeBlob)
	assert.Equal(t, BinaryType(0x82), BinaryTypeArrayBuffer)
}

// The seed program's flow: OnConnect, OnWebSocketConnect with the 101, a message sent from it
// echoed back to OnMessage, then the server closes: OnWebSocketClose with its code and reason,
// OnClose, and the closing handshake completed from our side.
func TestCallbacksInOrderSeedFlow(t *testing.T) {
	serverEnd := make(chan error, 1)
	srv := newWSServer(t, func(c *ws.Conn, _ *http.Request) {
		op, msg, err := c.ReadMessage()
		if err != nil {
			serverEnd <- err
			return
		}
		_ = c.WriteMessage(op, msg)
		serverEnd <- c.Close(4000, "bye now")
	})
	l := startLoop(t)
	c := newConn(t, l, srv.url+"/seed")
	r := newRecorder()
	record(c, r)
	c.OnWebSocketConnect = func(c *Conn, resp *http.Response) {
		r.add("wsconnect %d %s", resp.StatusCode, c.Status())
		require.NoError(t, c.Send([]byte("hello")))
	}
	c.Connect()
	evs := r.waitFor(t, "close CLOSED", 1)
	assert.Equal(t, []string{
		"connect ESTABLISHED",
		"wsconnect 101 ESTABLISHED",
		"message text hello",
		"wsclose 4000 bye now",
		"close CLOSED",
	}, evs)
	// RFC 6455 §5.5.1: the client answered the close frame, so the server's Close completed.
	assert.NoError(t, recv(t, serverEnd, "server close"))
	var ce *ws.CloseError
	require.ErrorAs(t, c.LastError(), &ce)
	assert.Equal(t, ws.StatusCode(4000), ce.Code)
	assert.Equal(t, StatusClosed, c.Status())
	waitNoConnGoroutines(t)
}

// Without OnWebSocketClose the closing handshake completes all the same (Workerman just drops
// TCP, bug B8).
func TestServerCloseIsAnsweredWithoutCallback(t *testing.T) {
	serverEnd := make(chan error, 1)
	srv := newWSServer(t, func(c *ws.Conn, _ *http.Request) {
		serverEnd <- c.Close(ws.CloseGoingAway, "restart")
	})
	l := startLoop(t)
	c := newConn(t, l, srv.url)
	r := newRecorder()
	c.OnClose = func(c *Conn) { r.add("close") }
	c.Connect()
	r.waitFor(t, "close", 1)
	assert.NoError(t, recv(t, serverEnd, "server close"), "the close frame was echoed")
	assert.Equal(t, ws.CloseGoingAway, ws.CloseStatus(c.LastError()))
}

func TestSettingsReachTheServer(t *testing.T) {
	srv := newWSServer(t, echo)
	l := startLoop(t)
	c := newConn(t, l, srv.url+"/chat?room=1")
	c.Headers = http.Header{"Cookie": {"PHPSID=82u98; token=2hf9"}, "Otherkey": {"values"}}
	c.WebsocketOrigin = "http://origin.example"
	c.WebsocketClientProtocol = "superchat, chat"
	r := newRecorder()
	var proto string
	c.OnWebSocketConnect = func(c *Conn, resp *http.Response) {
		proto = resp.Header.Get("Sec-WebSocket-Protocol")
		r.add("up")
	}
	c.Connect()
	r.waitFor(t, "up", 1)
	reqs := srv.requests()
	require.Len(t, reqs, 1)
	req := reqs[0]
	assert.Equal(t, "PHPSID=82u98; token=2hf9", req.Header.Get("Cookie"))
	assert.Equal(t, "values", req.Header.Get("OtherKey"))
	assert.Equal(t, "http://origin.example", req.Header.Get("Origin"))
	assert.Equal(t, "superchat, chat", req.Header.Get("Sec-WebSocket-Protocol"))
	assert.Equal(t, "/chat?room=1", req.RequestURI)
	// RFC 6455 §4.1: Host names the server, with its port as it is not the default.
	assert.Equal(t, strings.TrimPrefix(srv.url, "ws://"), req.Host)
	assert.Equal(t, "chat", proto, "the server picked its first preference among those offered")
}

func TestWebsocketTypeSelectsFrameType(t *testing.T) {
	got := make(chan string, 16)
	srv := newWSServer(t, readAll(got, nil))
	l := startLoop(t)
	c := newConn(t, l, srv.url)
	require.NoError(t, c.Send([]byte("default")))
	c.Connect()
	assert.Equal(t, "text default", recv(t, got, "default"))

	done := make(chan struct{})
	require.True(t, l.Post(func() {
		c.WebsocketType = BinaryTypeArrayBuffer
		_ = c.Send([]byte("ab"))
		_ = c.SendString("abs")
		c.WebsocketType = BinaryTypeBlob
		_ = c.Send([]byte("blob"))
		_ = c.SendBinary([]byte("bin"))
		_ = c.SendText("txt")
		close(done)
	}))
	waitClosed(t, done, "sends")
	assert.Equal(t, "binary ab", recv(t, got, "ab"))
	assert.Equal(t, "binary abs", recv(t, got, "abs"))
	assert.Equal(t, "text blob", recv(t, got, "blob"))
	assert.Equal(t, "binary bin", recv(t, got, "bin"))
	assert.Equal(t, "text txt", recv(t, got, "txt"))
}

func TestMessageTypeDuringOnMessage(t *testing.T) {
	srv := newWSServer(t, func(c *ws.Conn, _ *http.Request) {
		_ = c.WriteMessage(ws.OpText, []byte("t"))
		_ = c.WriteMessage(ws.OpBinary, []byte{0, 1})
		_ = c.WriteMessage(ws.OpText, nil)
		echo(c, nil)
	})
	l := startLoop(t)
	c := newConn(t, l, srv.url)
	r := newRecorder()
	c.OnMessage = func(c *Conn, data []byte) { r.add("%s %q", c.MessageType(), data) }
	c.Connect()
	evs := r.waitUntil(t, "3 messages", func(e []string) bool { return len(e) == 3 })
	assert.Equal(t, []string{`text "t"`, `binary "\x00\x01"`, `text ""`}, evs)
	done := make(chan ws.Opcode, 1)
	require.True(t, l.Post(func() { done <- c.MessageType() }))
	assert.Equal(t, ws.Opcode(0), recv(t, done, "type outside OnMessage"))
}

// Messages sent before Connect, in OnConnect and in OnWebSocketConnect reach the server in the
// order they were sent (Workerman puts those of OnWebSocketConnect first, B15).
func TestSendsBeforeUpgradeKeepTheirOrder(t *testing.T) {
	got := make(chan string, 16)
	srv := newWSServer(t, readAll(got, nil))
	l := startLoop(t)
	c := newConn(t, l, srv.url)
	c.OnConnect = func(c *Conn) {
		assert.NoError(t, c.SendString("2 in OnConnect"))
		assert.NoError(t, c.SendString("3 in OnConnect"))
	}
	c.OnWebSocketConnect = func(c *Conn, _ *http.Response) {
		assert.NoError(t, c.SendString("4 in OnWebSocketConnect"))
	}
	require.NoError(t, c.SendString("1 before Connect"))
	assert.Equal(t, frameSize(len("1 before Connect")), c.SendBufferSize(), "the buffer counts frames as on the wire")
	c.Connect()
	for _, want := range []string{"1 before Connect", "2 in OnConnect", "3 in OnConnect", "4 in OnWebSocketConnect"} {
		assert.Equal(t, "text "+want, recv(t, got, want))
	}
}

func TestSendIsSafeFromManyGoroutines(t *testing.T) {
	got := make(chan string, 1000)
	srv := newWSServer(t, readAll(got, nil))
	l := startLoop(t)
	c := newConn(t, l, srv.url)
	c.Connect()
	const writers, each = 8, 50
	done := make(chan struct{})
	for w := range writers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range each {
				assert.NoError(t, c.SendString(strconv.Itoa(w)+":"+strconv.Itoa(i)))
			}
		}()
	}
	for range writers {
		recv(t, done, "writer")
	}
	// Each goroutine's messages arrive in its own order.
	next := make([]int, writers)
	for range writers * each {
		m := strings.TrimPrefix(recv(t, got, "message"), "text ")
		w, i, _ := strings.Cut(m, ":")
		wi, _ := strconv.Atoi(w)
		ii, _ := strconv.Atoi(i)
		assert.Equal(t, next[wi], ii, "messages of writer %d in order", wi)
		next[wi] = ii + 1
	}
}

func TestCloseRunsTheClosingHandshakeAfterQueuedMessages(t *testing.T) {
	got := make(chan string, 16)
	serverEnd := make(chan error, 1)
	srv := newWSServer(t, readAll(got, serverEnd))
	l := startLoop(t)
	c := newConn(t, l, srv.url)
	r := newRecorder()
	record(c, r)
	c.OnWebSocketConnect = func(c *Conn, _ *http.Response) {
		_ = c.SendString("one")
		_ = c.SendString("two")
		assert.NoError(t, c.Close(4001, "bye"))
		assert.Equal(t, StatusClosing, c.Status())
		assert.ErrorIs(t, c.SendString("three"), ErrNotOpen, "no sends after Close")
	}
	c.Connect()
	assert.Equal(t, "text one", recv(t, got, "one"))
	assert.Equal(t, "text two", recv(t, got, "two"))
	err := recv(t, serverEnd, "server end")
	var ce *ws.CloseError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, ws.StatusCode(4001), ce.Code)
	assert.Equal(t, "bye", ce.Reason)
	evs := r.waitFor(t, "close CLOSED", 1)
	// No OnError for a close we asked for; the server's answer (it echoes our code) is reported.
	require.Len(t, evs, 3)
	assert.Equal(t, "connect ESTABLISHED", evs[0])
	assert.True(t, strings.HasPrefix(evs[1], "wsclose 4001 "), evs[1])
	assert.Equal(t, "close CLOSED", evs[2])
	assert.Equal(t, StatusClosed, c.Status())
	// Close is idempotent and validates its arguments (RFC 6455 §7.4.1: 1005 is never sent).
	assert.NoError(t, c.Close(1000, ""))
	assert.Error(t, c.Close(ws.CloseNoStatusReceived, ""))
	assert.Error(t, c.Close(1000, strings.Repeat("x", 124)))
	waitNoConnGoroutines(t)
}

func TestDestroyEndsAtOnce(t *testing.T) {
	serverEnd := make(chan error, 1)
	srv := newWSServer(t, readAll(make(chan string, 16), serverEnd))
	l := startLoop(t)
	c := newConn(t, l, srv.url)
	r := newRecorder()
	record(c, r)
	c.OnWebSocketConnect = func(c *Conn, _ *http.Response) { r.add("up"); c.Destroy() }
	c.Connect()
	evs := r.waitFor(t, "close CLOSED", 1)
	assert.Equal(t, []string{"connect ESTABLISHED", "up", "close CLOSED"}, evs)
	// No closing handshake: the server sees the TCP connection end without a close frame.
	assert.ErrorIs(t, recv(t, serverEnd, "server end"), ws.ErrAbnormalClosure)
	waitNoConnGoroutines(t)
	c.Destroy() // idempotent
	assert.Equal(t, StatusClosed, c.Status())
	assert.ErrorIs(t, c.SendString("x"), ErrNotOpen)
}

func TestConnectFailThenClose(t *testing.T) {
	addr := wstest.UnusedAddr(t) // a port nobody listens on

	// Outcomes are delivered on the loop, so until it runs the status stays CONNECTING.
	l := NewLoop()
	c := newConn(t, l, "ws://"+addr)
	r := newRecorder()
	record(c, r)
	var msg string
	c.OnError = func(c *Conn, code ErrorCode, m string) { msg = m; r.add("error %s %s", code, c.Status()) }
	c.Connect()
	assert.Equal(t, StatusConnecting, c.Status())
	l.Start()
	t.Cleanup(func() { l.Stop(); <-l.Done() })
	evs := r.waitFor(t, "close CLOSED", 1)
	// Workerman: onError(CONNECT_FAIL) with the status CLOSING, then onClose.
	assert.Equal(t, []string{"error CONNECT_FAIL CLOSING", "close CLOSED"}, evs)
	assert.Contains(t, msg, addr)
	var oe *net.OpError
	assert.ErrorAs(t, c.LastError(), &oe)
}

func TestBadSettingsFailWithConnectFail(t *testing.T) {
	l := startLoop(t)
	for name, set := range map[string]func(c *Conn){
		"transport": func(c *Conn) { c.Transport = "udp" },
		"bindto":    func(c *Conn) { c.BindTo = "not an address" },
		"proxyauth": func(c *Conn) { c.ProxyHTTP = "127.0.0.1:1"; c.ProxyAuthorization = "Bearer x" },
	} {
		c := newConn(t, l, "ws://127.0.0.1:1")
		set(c)
		r := newRecorder()
		record(c, r)
		c.Connect()
		evs := r.waitFor(t, "close CLOSED", 1)
		assert.Equal(t, []string{"error CONNECT_FAIL CLOSING", "close CLOSED"}, evs, name)
	}
}

// Issue #847: a refused upgrade must tell the program why. OnConnect (the transport was up), then
// OnError(HandshakeFail) with the *ws.HandshakeError behind it, then OnClose.
func TestHandshakeRejected(t *testing.T) {
	srv := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Reason", "token")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("forbidden: bad token"))
	}))
	l := startLoop(t)
	c := newConn(t, l, srv)
	r := newRecorder()
	record(c, r)
	c.Connect()
	evs := r.waitFor(t, "close CLOSED", 1)
	assert.Equal(t, []string{"connect ESTABLISHED", "error HANDSHAKE_FAIL CLOSING", "close CLOSED"}, evs)
	var he *ws.HandshakeError
	require.ErrorAs(t, c.LastError(), &he)
	assert.Equal(t, http.StatusForbidden, he.StatusCode)
	assert.Equal(t, "forbidden: bad token", string(he.Body))
	assert.Equal(t, "token", he.Header.Get("X-Reason"))
	assert.ErrorIs(t, c.LastError(), ws.ErrBadStatus)
}

func TestHeaderThatWouldBreakTheRequestFailsTheHandshake(t *testing.T) {
	srv := newWSServer(t, echo)
	l := startLoop(t)
	c := newConn(t, l, srv.url)
	c.Headers = http.Header{"X-Bad": {"a\r\nInjected: 1"}}
	r := newRecorder()
	record(c, r)
	c.Connect()
	r.waitFor(t, "close CLOSED", 1)
	assert.Contains(t, r.events(), "error HANDSHAKE_FAIL CLOSING")
	assert.ErrorIs(t, c.LastError(), ws.ErrBadHeader)
	assert.Empty(t, srv.requests(), "nothing was upgraded")
}

func TestAddressesAndByteCounters(t *testing.T) {
	srv := newWSServer(t, echo)
	l := startLoop(t)
	c := newConn(t, l, srv.url)
	r := newRecorder()
	type addrs struct {
		remote, local, rip, lip string
		rport, lport            int
	}
	seen := make(chan addrs, 1)
	c.OnMessage = func(c *Conn, _ []byte) {
		seen <- addrs{c.RemoteAddress(), c.LocalAddress(), c.RemoteIP(), c.LocalIP(), c.RemotePort(), c.LocalPort()}
		r.add("msg")
	}
	c.OnWebSocketConnect = func(c *Conn, _ *http.Response) { _ = c.SendString("ping me") }
	c.Connect()
	a := recv(t, seen, "addresses")
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.url, "ws://"))
	assert.Equal(t, net.JoinHostPort(host, port), a.remote)
	assert.Equal(t, "127.0.0.1", a.rip)
	assert.Equal(t, port, strconv.Itoa(a.rport))
	assert.Equal(t, "127.0.0.1", a.lip)
	assert.NotZero(t, a.lport)
	assert.Equal(t, net.JoinHostPort(a.lip, strconv.Itoa(a.lport)), a.local)
	assert.True(t, c.IsIPv4())
	assert.False(t, c.IsIPv6())
	// The handshake both ways plus one framed message each way.
	assert.Greater(t, c.BytesWritten(), int64(len("ping me")+100))
	assert.Greater(t, c.BytesRead(), int64(len("ping me")+100))
	c.Destroy()
	require.Eventually(t, func() bool { return c.Status() == StatusClosed }, connWait, time.Millisecond)
	assert.Equal(t, "", c.LocalAddress(), "no local address once closed")
	assert.Equal(t, a.remote, c.RemoteAddress(), "the remote address is kept, as in Workerman")
}

// newHTTPServer starts a plain HTTP server and returns its ws:// URL.
func newHTTPServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// BindTo chooses the local address, like Workerman's socket context bindto.
func TestBindTo(t *testing.T) {
	srv := newWSServer(t, echo)
	port := wstest.UnusedPort(t)

	l := startLoop(t)
	c := newConn(t, l, srv.url)
	c.BindTo = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	got := make(chan int, 1)
	c.OnWebSocketConnect = func(c *Conn, _ *http.Response) { got <- c.LocalPort() }
	c.Connect()
	assert.Equal(t, port, recv(t, got, "local port"))
}

// ConnectTimeout bounds the whole connect; Workerman has no such bound (bug B18). A server that
// accepts TCP and never answers the upgrade fails the attempt with HandshakeFail.
func TestConnectTimeoutBoundsASilentServer(t *testing.T) {
	url := wstest.Serve(t, func(p *wstest.Peer) {
		p.Drain() // reads the request, answers nothing
	}).URL
	l := startLoop(t)
	c := newConn(t, l, url)
	c.ConnectTimeout = 50 * time.Millisecond
	r := newRecorder()
	record(c, r)
	c.Connect()
	evs := r.waitFor(t, "close CLOSED", 1)
	assert.Equal(t, []string{"connect ESTABLISHED", "error HANDSHAKE_FAIL CLOSING", "close CLOSED"}, evs)
	assert.ErrorIs(t, c.LastError(), context.DeadlineExceeded)
}

// Compression is passed to package ws: permessage-deflate (RFC 7692) is offered and used.
func TestCompressionIsPassedThrough(t *testing.T) {
	up := &ws.Upgrader{Options: ws.Options{Compression: &ws.CompressionOptions{Threshold: -1}}}
	srv := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err == nil {
			echo(c, r)
			_ = c.CloseNow()
		}
	}))
	l := startLoop(t)
	c := newConn(t, l, srv)
	c.Compression = &ws.CompressionOptions{Threshold: -1}
	r := newRecorder()
	record(c, r)
	var ext string
	c.OnWebSocketConnect = func(c *Conn, resp *http.Response) {
		ext = resp.Header.Get("Sec-WebSocket-Extensions")
		_ = c.SendString(strings.Repeat("compress me ", 100))
	}
	c.Connect()
	r.waitFor(t, "message text "+strings.Repeat("compress me ", 100), 1)
	assert.Contains(t, ext, "permessage-deflate")
	assert.Less(t, c.BytesWritten(), int64(1200), "the message went out compressed")
}
