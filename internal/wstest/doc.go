// Package wstest is the shared scaffolding of plainws's tests: it plays the
// other end of a WebSocket connection byte by byte, so that a test states its
// scenario (what the peer sends, what it expects back) and nothing else.
//
// It works at the wire level of RFC 6455 and deliberately does not import
// package ws: package ws's internal tests use it too (an import of ws would be
// a cycle), and a peer that builds and parses frames with the code under test
// would share that code's mistakes.
//
// What it offers:
//
//   - Frame builds one frame (RFC 6455 §5.2) from its fields, masked (§5.3)
//     or not, with the minimal length form or a forced 16/64-bit one, and with
//     deliberately malformed variants (a length that lies, a reserved opcode
//     or RSV bit); ClosePayload builds a Close body (§5.5.1).
//   - ReadFrame parses and unmasks a frame from a reader, so that a test can
//     assert what the code under test sent: opcode, payload, close code.
//   - Serve starts a scripted raw server on 127.0.0.1: it reads the request
//     head byte by byte, hands the connection to a script as a *Peer, which
//     answers with Upgrade (a 101 whose Sec-WebSocket-Accept it computes per
//     §4.2.2) or any bytes, then sends frames, expects frames, closes,
//     half-closes, resets (SO_LINGER 0) or goes silent.
//   - Dial is the raw client: it sends a handshake request with the headers
//     a test chooses, reads the response head, then sends and reads frames.
//   - Listen, TCPPair, ServeTCP, Echo and UnusedAddr give a loopback
//     listener, a connected pair, an accept loop, a TCP echo and a port
//     nobody listens on.
//
// Everything takes a testing.TB, fails the test with require when the wire
// does not hold what the script expects, and registers t.Cleanup to close
// what it opened and wait for the goroutines it started.
//
// A new test of a client reads like its scenario:
//
//	srv := wstest.Serve(t, func(p *wstest.Peer) {
//		p.Upgrade()
//		p.Send(wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte("hi")})
//		code, _ := p.ExpectClose()
//		assert.Equal(t, uint16(1000), code)
//	})
//	c, _, err := dialer.Dial(ctx, srv.URL)
//
// Scripts run on the server's goroutines: a failed expectation marks the test
// failed and ends that connection's goroutine (as t.FailNow does), and the
// test's own goroutine learns of it when it waits for the peer with Next.
package wstest
