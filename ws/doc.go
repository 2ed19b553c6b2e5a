// Package ws implements the WebSocket protocol, RFC 6455, and its
// permessage-deflate extension, RFC 7692, for both roles, over any net.Conn,
// with nothing but the standard library.
//
// It is written to be read next to the RFC: every rule it enforces carries a
// comment naming its section, and each section lives in one file:
//
//	RFC 6455 §1.3, §4.1     handshake.go  client request, Sec-WebSocket-Key/Accept, response checks
//	RFC 6455 §4.2, §4.4     accept.go     server side: Upgrader.Upgrade (net/http), UpgradeConn (raw conn)
//	RFC 8441                accept_h2.go  server side over HTTP/2: the extended CONNECT, answered 200
//	RFC 8441                dial_h2.go    Dialer.DialH2: the client over HTTP/2 (TLS or h2c)
//	RFC 9113 §8.5           h2stream.go   a net.Conn over one HTTP/2 stream: END_STREAM/RST_STREAM, deadlines
//	RFC 6455 §3, §4.1       dial.go       Dialer: URL, TCP, TLS, proxy, handshake, all under one context
//	(proxies)               proxy.go      proxy errors, address and credentials, dispatch by scheme
//	RFC 9110 §9.3.6         proxy_connect.go  HTTP CONNECT tunnels (with Basic Proxy-Authorization)
//	RFC 1928, RFC 1929      proxy_socks5.go   SOCKS5 tunnels with username/password
//	RFC 6455 §5.2           frame.go      Opcode, Header, ParseHeader/ReadHeader/AppendHeader, CheckHeader
//	RFC 6455 §5.3, §10.3    mask.go       Mask, maskCopy: pure-Go reference (8 bytes a step, key phase carried)
//	RFC 6455 §5.3           mask_asm.go   the same in mask_amd64.s (SSE2/AVX2), mask_arm64.s (NEON);
//	                                      mask_generic.go with -tags purego and on other architectures
//	Intel SDM Vol. 1 §14.3  cpu_amd64.go  CPUID and XGETBV (cpu_amd64.s): may AVX2 be used
//	RFC 6455 §5.3           maskkey.go    per-connection CSPRNG for masking keys
//	RFC 6455 §5, §6         conn.go       Conn, Options and the safe defaults
//	RFC 6455 §5.4–§5.6, §6  read.go       reading: fragments, control frames, read limit
//	RFC 6455 §5.2           readbuf.go    the read buffer: parsed in place, pooled, none held while idle
//	RFC 6455 §5.2, §5.3     readstream.go NextReader and its reader: whole buffered headers and payload on fast paths
//	RFC 6455 §5.4, §5.1     write.go      writing: masking, fragments, concurrent writers
//	RFC 6455 §5.1, §5.3     writebatch.go WriteMessages: a queue of frames gathered into few writes
//	RFC 6455 §5.5.2–§5.5.3  ping.go       Conn.Ping: a ping and the round-trip time of its pong
//	RFC 6455 §5.5.2, §7.1.7 keepalive.go  IdleTimeout, keepalive pings, PongTimeout: silent peers fail
//	RFC 6455 §5.5.1, §7     closing.go    the closing handshake, Close, CloseNow, the lingering close
//	(API)                   context.go    ReadMessageContext, NextReaderContext, WriteMessageContext, CloseContext
//	RFC 6455 §5.6           netconn.go    NetConn: a net.Conn streaming over messages
//	RFC 6455 §7.4           close.go      status codes, close payloads
//	RFC 6455 §8.1           utf8.go       streaming UTF-8 validation
//	RFC 6455 §7.1.7         errors.go     typed errors and the close codes they send
//	RFC 7692                deflate*.go   permessage-deflate negotiation and compression
//
// # Connections
//
// A Dialer (client) or an Upgrader (server) yields a *Conn. One goroutine
// reads — ReadMessage, ReadMessageInto (no allocation when the buffer is
// reused) or NextReader (streaming) — while any number of goroutines write
// with WriteMessage, NextWriter (streaming, fragmented) or WriteControl.
// Messages never interleave on the wire; control frames may pass between the
// fragments of a streamed message.
//
// Every read call (and each Read of a NextReader's reader) takes the Conn's
// read lock once and keeps nothing outside it, so what may run beside a
// reader is exactly: writes, WriteControl and Ping from any goroutine (they
// use the write locks); Close and CloseNow from any goroutine (Close reads
// the peer's answer itself only if TryLock finds no reader, otherwise the
// reader finishes the handshake); the Set* methods from any goroutine, at
// any time (they store the new limit or handlers atomically and never wait;
// a read in progress uses them from the next frame on); BytesReceived and
// BytesSent anywhere (atomics). A second concurrent reader is misuse, but
// the lock serialises it: the messages are split between the readers, none
// is corrupted.
//
// A program whose reads all happen on one goroutine, the usual read loop,
// can skip the lock: OwnReads takes it once and returns a ReadOwner, whose
// ReadMessage, ReadMessageInto and NextReader (and that reader's Read) take
// no lock until Release. A 16-byte message is then read in about 40 % of
// the time, a streamed one in as little. Everything above still holds, with
// the other readers waiting for Release, and the owning goroutine closing
// through the ReadOwner's Close (see ReadOwner).
//
// Pings are answered and close frames echoed inside the read path, so a
// program that only reads is still a correct peer. A connection waiting for
// its peer holds no read buffer: on TCP and Unix sockets the wait happens
// without one (rawread_unix.go), so a blocked reader costs its goroutine's
// stack and about 2 KiB of heap. Close runs the closing
// handshake with a bound on how long it waits; CloseNow aborts.
//
// # HTTP/2
//
// RFC 8441 runs a WebSocket on one stream of an HTTP/2 connection: the
// client sends an extended CONNECT (:protocol "websocket", no
// Sec-WebSocket-Key), the server answers 200 (no Sec-WebSocket-Accept), and
// the frames of RFC 6455 travel in DATA frames. Upgrader.Upgrade accepts it
// with the same checks (version 13, Origin, subprotocol, permessage-deflate)
// and returns the same *Conn, with the same limits, deadlines and closing
// handshake.
//
// net/http's server takes part only when the process starts with
// GODEBUG=http2xconnect=1 in its environment (read once at start-up; a
// //go:debug line does not set it): then it announces
// SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3). Without it, clients do not
// try, and a stream that carries :protocol anyway is reset by net/http with
// PROTOCOL_ERROR before any handler runs. This works on TLS with ALPN h2 and
// on h2c (http.Server.Protocols with SetUnencryptedHTTP2).
//
// Unlike a hijacked HTTP/1.1 connection, the stream belongs to the handler:
// its return ends the stream (END_STREAM, then RST_STREAM NO_ERROR if the
// client had not ended its half), and net/http forbids touching the
// ResponseWriter afterwards. So on HTTP/2 the handler must not return while
// the Conn is in use — run the read loop in the handler, or wait for the
// goroutines that use the Conn. Closing maps as RFC 9113 §8.5 says for
// tunnels: the server's Close ends the stream when the handler returns (the
// TCP close of RFC 6455 §7.1.1 becomes the END_STREAM), the client's
// END_STREAM reads as the peer's TCP close, a client's CloseNow resets the
// stream (RST_STREAM CANCEL), and a write in progress when the Conn closes
// is aborted with a RST_STREAM. Each Conn on a stream keeps a goroutine and
// an 8 KiB buffer for reading, so that a read deadline leaves it usable;
// the byte counters count frames only, and NetConn returns the stream, not
// the TCP or TLS connection under it (r.TLS has the TLS state).
//
// Dialer.DialH2 is the client. It cannot use http.Client: http.Transport
// rejects the pseudo-header ":protocol" as a header name before choosing a
// protocol, so DialH2 connects itself and hands the connection to the
// transport's HTTP/2 code through Transport.TLSNextProto (see DialH2).
//
// # Errors
//
// Input from the peer that breaks the protocol fails the connection with
// the close code the RFC names and returns a *ProtocolError that wraps a
// sentinel (ErrMaskMismatch, ErrInvalidUTF8, ErrReadLimit, …) and carries the
// code that was sent. A close from the peer is a *CloseError; CloseStatus
// extracts its code. A refused opening handshake is a *HandshakeError with the
// server's status, headers and the start of its body. Errors are sticky: once
// a connection failed, every later call reports the same error. A read that
// times out, by contrast, leaves the connection usable.
//
// # Defaults
//
// Safe without configuration: messages are limited to DefaultReadLimit, text
// is validated as UTF-8, masking keys come from a CSPRNG seeded by
// crypto/rand, TLS verifies certificates, dialing is bounded by
// DefaultHandshakeTimeout and handshake heads by DefaultMaxHeadBytes, and
// closing waits at most DefaultCloseTimeout. The server checks Origin against
// Host unless told otherwise.
//
// # The browser
//
// Built for GOOS=js GOARCH=wasm, the package is a client over the host's
// WebSocket object (dial_js.go, conn_js.go), with the same Dial, Dialer,
// ReadMessage, ReadMessageInto, NextReader, NextWriter, WriteMessage,
// WriteText, Close, CloseNow and Subprotocol. What the browser keeps to
// itself is absent there: the server side, request headers, proxies, TLS
// settings and compression settings (it negotiates its own); pings return
// errors.ErrUnsupported, and Close sends only 1000 or 3000–4999. The read
// limit still holds (1009 locally). go doc, run with GOOS=js, shows the details;
// internal/wasmtest runs that build under Node.
package ws
