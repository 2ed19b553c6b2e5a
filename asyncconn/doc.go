// Package asyncconn gives Go the programming model of Workerman's AsyncTcpConnection as a
// WebSocket client (the PHP `ws://` protocol): a connection object whose callbacks, settings,
// defaults and order of events are Workerman's, so that PHP clients port line for line, and whose
// bugs are fixed: docs/workerman.md in the repository describes Workerman's client and numbers
// its bugs B1–B21, the numbers cited below. It is built on package ws's exported API only.
//
//	loop := asyncconn.NewLoop()                     // a Workerman worker's event loop
//	c, _ := asyncconn.New(loop, "ws://127.0.0.1:1234")
//	c.WebsocketPingInterval = 55 * time.Second
//	c.OnWebSocketConnect = func(c *asyncconn.Conn, resp *http.Response) { c.SendString("hello") }
//	c.OnMessage = func(c *asyncconn.Conn, data []byte) { fmt.Printf("recv: %s\n", data) }
//	c.OnClose = func(c *asyncconn.Conn) { c.ReConnect(time.Second) }
//	c.Connect()
//	loop.Run(ctx)                                   // Worker::runAll()
//
// # The model
//
// A Loop runs callbacks and timers one at a time on one goroutine, as a Workerman worker runs
// everything on one thread: code that touches state only from callbacks and timers of one Loop
// needs no locks. Each connection has a reader goroutine that turns what arrives into events
// queued on its Loop (with backpressure: when the loop falls behind, the reader waits, and TCP
// pushes back on the server), and a writer goroutine that exists only while something waits to
// be sent. Send, Close, Destroy, ReConnect, Connect, PauseRecv and the getters are safe from any
// goroutine and never block on the network.
//
// Ordering, per connection:
//   - Callbacks run in the order their events happened: OnConnect, OnWebSocketConnect, then
//     OnMessage, OnWebSocketPing and OnWebSocketPong in wire order, then OnWebSocketClose, then
//     OnError (if the connection failed), then OnClose, which is always the last callback of a
//     connection attempt. A reconnect starts only after the previous attempt's OnClose has run,
//     so the events of two attempts never interleave.
//   - Callbacks caused by a method call (OnBufferFull and OnError(SendFail) from Send, OnClose
//     from Close) run later on the loop, never inside the call: Workerman fires them re-entrantly
//     (docs/workerman.md §2), which a method safe from any goroutine cannot do. Buffer events are
//     queued in the order the buffer changed. OnBufferFull still runs before the next received
//     message is delivered, so Workerman's backpressure pattern — PauseRecv in OnBufferFull,
//     ResumeRecv in OnBufferDrain — loses nothing.
//   - Messages are sent in the order of the Send calls, across the upgrade: what is sent before
//     Connect, in OnConnect or in OnWebSocketConnect goes out in call order after the upgrade.
//     Pings and pongs go ahead of queued messages.
//   - After Close, Destroy or ReConnect the old connection's pending events are dropped, except
//     its OnClose (and, after Close, the server's OnWebSocketClose): the program has moved on.
//   - Between PauseRecv and ResumeRecv no receive callback runs; what was read meanwhile is held
//     and delivered in order by ResumeRecv.
//
// # Table 1: Workerman's API and its Go names
//
//	Workerman (AsyncTcpConnection, TcpConnection, Ws)     asyncconn
//	----------------------------------------------------  -------------------------------------------
//	new AsyncTcpConnection('ws://host:port/path')          New(loop, "ws://host:port/path") (also wss://)
//	new Worker(); onWorkerStart; Worker::runAll()          NewLoop / Default; Loop.Post; Loop.Run / RunAll
//	$transport = 'ssl'                                     Transport = "ssl" (or a wss:// URL)
//	$headers                                               Headers (http.Header)
//	$websocketType = Ws::BINARY_TYPE_BLOB / _ARRAYBUFFER   WebsocketType = BinaryTypeBlob / BinaryTypeArrayBuffer
//	$websocketOrigin                                       WebsocketOrigin
//	$websocketClientProtocol                               WebsocketClientProtocol
//	$websocketPingInterval (seconds)                       WebsocketPingInterval (time.Duration)
//	$maxSendBufferSize, $defaultMaxSendBufferSize (1 MiB)  MaxSendBufferSize, DefaultMaxSendBufferSize
//	$maxPackageSize, $defaultMaxPackageSize (10 MiB)       MaxPackageSize, DefaultMaxPackageSize
//	$proxySocks5, $proxySocks5Username/Password            ProxySocks5, ProxySocks5Username/Password
//	$proxyHttp, $proxyAuthorization                        ProxyHTTP, ProxyAuthorization
//	socket context ['socket' => ['bindto' => ...]]         BindTo
//	socket context ['ssl' => [...]]                        TLSConfig (*tls.Config)
//	$context                                               Context (any)
//	$id                                                    ID()
//	$bytesRead, $bytesWritten                              BytesRead(), BytesWritten()
//	$eventLoop                                             Loop()
//	$errorHandler                                          ErrorHandler func(c *Conn, v any)
//	$onConnect                                             OnConnect func(c *Conn)
//	$onWebSocketConnect($con, $response)                   OnWebSocketConnect func(c *Conn, resp *http.Response)
//	$onMessage($con, $data)                                OnMessage func(c *Conn, data []byte); MessageType()
//	$onError($con, $code, $msg)                            OnError func(c *Conn, code ErrorCode, msg string)
//	$onClose                                               OnClose func(c *Conn)
//	$onBufferFull, $onBufferDrain                          OnBufferFull, OnBufferDrain func(c *Conn)
//	$onWebSocketPing($con, $data)                          OnWebSocketPing func(c *Conn, payload []byte)
//	$onWebSocketPong($con, $data)                          OnWebSocketPong func(c *Conn, payload []byte)
//	$onWebSocketClose($con, $payload)                      OnWebSocketClose func(c *Conn, code ws.StatusCode, reason string)
//	$onWebSocketConnected (server only)                    —
//	CONNECT_FAIL (1), SEND_FAIL (2)                        ConnectFail, SendFail (ErrorCode)
//	STATUS_INITIAL 0 / CONNECTING 1 / ESTABLISHED 2        StatusInitial / StatusConnecting / StatusEstablished
//	STATUS_CLOSING 8 / CLOSED 16                           StatusClosing / StatusClosed
//	getStatus(), getStatus(false)                          Status(), Status().String()
//	connect()                                              Connect()
//	reconnect($after) / reConnect($after)                  ReConnect(delay time.Duration)
//	cancelReconnect()                                      CancelReconnect()
//	send($data)                                            Send(data) / SendString(s); SendText, SendBinary
//	send() inside onWebSocketPing (sends a pong)           Pong(payload); also Ping(payload)
//	close()                                                Close(code, reason)
//	destroy()                                              Destroy()
//	pauseRecv(), resumeRecv()                              PauseRecv(), ResumeRecv()
//	getRemoteHost(), getRemoteURI()                        RemoteHost(), RemoteURI()
//	getRemoteAddress(), getRemoteIp(), getRemotePort()     RemoteAddress(), RemoteIP(), RemotePort()
//	getLocalAddress(), getLocalIp(), getLocalPort()        LocalAddress(), LocalIP(), LocalPort()
//	isIpV4(), isIpV6()                                     IsIPv4(), IsIPv6()
//	getSendBufferQueueSize(), bufferIsEmpty()              SendBufferSize(), SendBufferSize() == 0
//	Timer::add / repeat / delay / del / delAll             Loop.Add / Repeat / Delay / Del / DelAll
//	(none: our additions)                                  PongTimeout, ConnectTimeout, CloseTimeout,
//	                                                       ReadBufferSize, WriteBufferSize, Compression,
//	                                                       ReconnectPolicy (Backoff), AutoReconnect,
//	                                                       LastError(), HandshakeFail, TLSFail,
//	                                                       ProtocolFail, PingTimeout
//	end(), $lingerTimeout, STATUS_ENDING, pipe(),          — (not provided: see Table 2)
//	send($raw, true), getSocket(), getRecvBufferQueueSize,
//	TcpConnection::$connections, $statistics
//
// # Table 2: deliberate differences from Workerman
//
// B1–B21 are Workerman's bugs and a bare §N a section of docs/workerman.md; "RFC 6455 §N" is the
// RFC's.
//
//	Difference                                                       Why
//	---------------------------------------------------------------  ------------------------------------------
//	Callbacks are queued to the loop, never run inside a method      Methods are safe from any goroutine; no
//	call (Close returns before OnClose; Send before OnBufferFull).   re-entrancy, no reconnect recursion (§2, B19)
//	wss:// works; Transport "tls" means TLS too.                     wss:// throws in Workerman, its users' top
//	                                                                 complaint (issues #419, #960); 'tls' did no TLS
//	OnConnect fires after TCP, proxy and TLS are all up.             Workerman may fire it before TLS is done (§11)
//	Messages sent in OnWebSocketConnect go after those queued        Call order is kept (B15)
//	before it.
//	Every client frame, pings included, is masked with a fresh       RFC 6455 §5.3; Workerman's key is 00000000 (B5)
//	random key.
//	Close sends a close frame with code and reason and waits for     RFC 6455 §7.1.2; Workerman never sends one and
//	the answer; a server's close frame is answered, also when        closes TCP first (B8); RFC 6455 §5.5.1 makes
//	OnWebSocketClose is set (after it returns).                      the answer a MUST: the callback cannot skip it
//	OnWebSocketClose gets the parsed code and reason.                Workerman passes raw, possibly partial bytes (B3)
//	A refused upgrade is OnError(HandshakeFail) with LastError a     Workerman only echoes and fires onClose; the
//	*ws.HandshakeError (status, headers, body), then OnClose.        program cannot see why (B6, issue #847)
//	TLS failures: OnError(TLSFail); protocol errors:                 Workerman: onClose only, diagnostics on stdout
//	OnError(ProtocolFail) with the RFC's close code sent; then       (B21)
//	OnClose.
//	The whole handshake response is checked (status 101, Upgrade,    RFC 6455 §4.1; Workerman checks only the accept
//	Connection, accept, subprotocol, extensions), its size bounded.  key and buffers without a limit (B6, B14)
//	A frame in the same read as the 101 is delivered at once.        Workerman waits for the next read (B1)
//	Control frames between fragments are handled; fragments,         Workerman corrupts the message (B2), caches
//	opcodes, control-frame limits and UTF-8 are enforced.            decoded frames process-wide (B4), and accepts
//	                                                                 what RFC 6455 §5.4, §5.5, §8.1 forbid (B11, B12)
//	Lengths use the minimal encoding.                                RFC 6455 §5.2 (B13)
//	The heartbeat never stops: pings bypass the send buffer.         Workerman deletes its timer when one send fails
//	PongTimeout (off by default) fails a silent connection.          (B9); dead peers went unnoticed (issue #377)
//	The heartbeat is package ws's keepalive (ws.Options.             One mechanism for both layers; Workerman reads
//	PingInterval), so WebsocketPingInterval is read when the         the interval when the handshake completes
//	attempt starts (before OnConnect), not after the upgrade.
//	Every ping gets its own pong, in order (up to 1024 waiting).     As Workerman does; RFC 6455 §5.5.3 would allow
//	                                                                 answering only the latest
//	What Send accepted goes out before a close frame of ours, also   RFC 6455 §5.5.1 allows no data after it; in
//	when the server closes or breaks the protocol; what cannot go    Workerman the buffer is flushed only if the
//	out within CloseTimeout is reported as OnError(SendFail) with    socket takes it, and losses are silent
//	a *LostError (messages, bytes, cause), before OnClose.
//	The writer sends everything queued in one gathered write per     Workerman writes each send at once; a writer
//	wake-up, and the reader holds back while the loop or the writer  goroutine must gather to keep up with a reader
//	is behind (not when the server stops reading: then, as in        that takes many frames per read
//	Workerman, the buffer fills and further sends are refused).
//	The upgrade request's headers: Host, Upgrade, Connection, Key,   Workerman sends Host, Connection, Upgrade,
//	Version, Protocol, Extensions, then Headers sorted by name.      Version, Key, then its headers in the order
//	                                                                 set; http.Header is a map and keeps no order,
//	                                                                 and RFC 9110 §5.3 makes the order of
//	                                                                 different field names insignificant
//	The Host header names the target, also behind a proxy.           Workerman sends the proxy's port (B7)
//	Proxy negotiation runs off the loop and checks every reply.      Workerman blocks the loop and ignores replies
//	                                                                 (B17)
//	ConnectTimeout and CloseTimeout bound connecting and closing.    Workerman has no timeouts (B18)
//	ReConnect closes a live connection first; Close, Destroy and     Workerman opens a second socket beside the
//	CancelReconnect cancel a pending one; delays are Durations       first, keeps the timer (issue #253), and takes
//	(sub-second work); callbacks are never cleared.                  whole seconds in v5; callbacks vanish after a
//	                                                                 final close (B19, §10)
//	OnClose fires once for every attempt, even when OnError          One rule is easier to rely on; Workerman skips
//	calls ReConnect.                                                 onClose then (§4)
//	A panic in any callback goes to ErrorHandler, else to the        Workerman stops the worker for several callbacks
//	loop's panic handler; the loop keeps running.                    even with errorHandler set (B20)
//	Send in OnWebSocketPing/Pong sends a data frame; use Pong.       Workerman silently sends pongs then (B16)
//	MessageType tells text from binary during OnMessage.             Workerman hides the opcode (B11)
//	MaxPackageSize bounds a message's payload (after inflating);     Workerman counts frame bytes and closes without
//	over it the connection fails with 1009.                          a close frame (B21)
//	One send buffer before and after the upgrade, counted by         Workerman keeps a second, uncounted queue before
//	SendBufferSize, full at >= MaxSendBufferSize in both cases.      the upgrade with a '>' check (§6)
//	OnBufferDrain fires when the buffer empties after OnBufferFull.  Every send is buffered here; Workerman's fires
//	                                                                 after any partial write
//	Send returns an error (ErrSendBufferFull, ErrNotOpen), not       Go convention; the message is queued either way
//	true/false/null. ErrNotOpen also once the server's close frame   when nil
//	or a protocol violation has been read and what preceded it ran.
//	Messages that arrive after Close, Destroy or ReConnect are       The program asked to end that connection
//	dropped.
//	PauseRecv also holds what was already read.                      "No receive callback while paused" is exact
//	Headers with CR or LF, and user info in the URL, are errors.     Workerman drops them silently
//	ProxyAuthorization with CR or LF is refused (ConnectFail).       Header injection; Workerman strips nothing here
//	No end(), pipe(), raw sends, getSocket(), registry of            Not needed by a ws client, or unsafe (raw sends
//	connections, or STATUS_ENDING.                                   break the framing)
//	TCP keep-alive and TCP_NODELAY are Go's defaults (on), also      Workerman sets them for tcp only (§8)
//	with TLS.
package asyncconn
