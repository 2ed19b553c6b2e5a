package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/plainws/plainws/ws"
)

const dialUsage = `Usage: plainws dial [flags] URL

Connects to URL (ws:// or wss://). Each line of standard input is sent as a text
message (binary with -binary); messages that arrive are printed, binary ones in hex
(or base64 with -base64). Events go to standard error, prefixed with "* ".
At the end of input, dial waits up to -wait for replies still in flight, then closes
with 1000. Flags may come before or after the URL.

Piped input is sent and printed byte for byte, nothing added. At a terminal (or
with -i) dial is interactive: lines you send show as "> text", messages that
arrive as "< text", events as "* ...", and a line starting with "/" is a command:
  /ping [payload]          send a ping; prints the round-trip time when the pong comes
  /close [code [reason]]   close with code (default 1000; 3000-4999 for applications)
  /binary <hex>            send a binary message, e.g. /binary 68 69
  /help                    list the commands
  //text                   send "/text" (a line that starts with a slash)
Ctrl-D ends the input (close 1000), Ctrl-C interrupts (close 1001).

Exit status:
  0  the connection closed cleanly: by us at the end of input, /close or Ctrl-C,
     or by the server with 1000, 1001, no code (1005) or an application code
     (3000-4999, printed once as an event)
  1  the dial failed, the connection broke (1006), or the server closed with an
     error code (1002-1015)
  2  bad usage (the problem is printed on one line)

Flags:
`

// dialConfig holds the flags of plainws dial.
type dialConfig struct {
	binary, b64, compress, insecure bool
	interactive                     bool
	headers                         headerFlag
	protocols                       listFlag
	origin, proxy, cacert           string
	ping, wait, reconnect, timeout  time.Duration
}

// dialCmd is "plainws dial": it parses the flags, then dials (again, with
// -reconnect) until the input ends, the server closes, or ctx ends.
func dialCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var cfg dialConfig
	fs := newFlagSet("dial")
	fs.BoolVar(&cfg.binary, "binary", false, "send lines as binary messages")
	fs.BoolVar(&cfg.b64, "base64", false, "print binary messages in base64 instead of hex")
	fs.Var(&cfg.headers, "H", "extra request header \"Name: value\" (repeatable)")
	fs.StringVar(&cfg.origin, "origin", "", "Origin header")
	fs.Var(&cfg.protocols, "subprotocol", "offer a subprotocol (repeatable)")
	fs.BoolVar(&cfg.compress, "compress", false, "offer permessage-deflate (RFC 7692)")
	fs.StringVar(&cfg.proxy, "proxy", "", "proxy URL (http://, https://, socks5://user:pass@host:port); default: environment")
	fs.StringVar(&cfg.cacert, "cacert", "", "PEM file of CA certificates to trust for wss:// (e.g. from serve -tls-write-cert)")
	fs.BoolVar(&cfg.insecure, "insecure", false, "do not verify the server's TLS certificate")
	fs.DurationVar(&cfg.ping, "ping-interval", 0, "send a ping this often (0: never)")
	fs.DurationVar(&cfg.wait, "wait", 2*time.Second, "at end of input, wait this long for replies in flight")
	fs.DurationVar(&cfg.reconnect, "reconnect", 0, "reconnect after this delay when the connection drops (0: never)")
	fs.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "handshake timeout: TCP, proxy, TLS and the upgrade response")
	fs.BoolVar(&cfg.interactive, "i", false, "interactive mode even when standard input is not a terminal (-i=false: never)")
	fs.BoolVar(&cfg.interactive, "interactive", false, "same as -i")
	pos, err := parseArgs(fs, args, dialUsage, stdout)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0:
		return usagef("no URL given (want e.g. ws://localhost:8080/)")
	case len(pos) > 1:
		return usagef("want one URL, got %d arguments: %q", len(pos), pos)
	case cfg.timeout <= 0:
		return usagef("-timeout must be positive")
	case cfg.wait < 0 || cfg.ping < 0 || cfg.reconnect < 0:
		return usagef("-wait, -ping-interval and -reconnect must not be negative")
	}
	rawURL := pos[0]
	if err := checkWSURL(rawURL); err != nil {
		return err
	}
	if !flagSet(fs, "i", "interactive") {
		cfg.interactive = isTerminal(stdin)
	}
	d, err := cfg.dialer()
	if err != nil {
		return err
	}
	out := &dialOutput{stdout: stdout, stderr: stderr, interactive: cfg.interactive, b64: cfg.b64,
		prompt: cfg.interactive && isTerminal(stdin) && isTerminal(stdout)}
	lines := make(chan []byte)
	go readLines(stdin, lines)
	for {
		err := dialOnce(ctx, d, rawURL, &cfg, lines, out)
		switch {
		case err == nil, errors.Is(err, errInputDone), ctx.Err() != nil:
			return nil
		case cfg.reconnect > 0:
		case errors.Is(err, errPeerClosed):
			return nil
		default:
			return explainDialError(err, &cfg)
		}
		out.event("%v; reconnecting in %v", err, cfg.reconnect)
		select {
		case <-time.After(cfg.reconnect):
		case <-ctx.Done():
			return nil
		}
	}
}

// flagSet reports whether any of names was given on the command line.
func flagSet(fs *flag.FlagSet, names ...string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) {
		for _, n := range names {
			if f.Name == n {
				found = true
			}
		}
	})
	return found
}

// checkWSURL catches the URLs a user mistypes before any dial: no scheme
// ("localhost:9201" parses as scheme "localhost"), a scheme that is not a
// WebSocket one, no host. RFC 6455 §3 defines ws:// and wss://; http(s)://
// is accepted as their equivalent, as package ws does.
func checkWSURL(raw string) error {
	if !strings.Contains(raw, "://") {
		return usagef("URL %q has no scheme: did you mean ws://%s ?", raw, strings.TrimPrefix(raw, "//"))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return usagef("URL %q: %v", raw, errors.Unwrap(err))
	}
	switch strings.ToLower(u.Scheme) {
	case "ws", "wss", "http", "https":
	default:
		return usagef("URL %q: scheme %q is not ws:// or wss://", raw, u.Scheme)
	}
	if u.Hostname() == "" {
		return usagef("URL %q has no host", raw)
	}
	return nil
}

// errInputDone ends the reconnect loop: the input is finished.
var errInputDone = errors.New("input done")

// errPeerClosed reports a clean close by the server: success, unless
// -reconnect asks to come back.
var errPeerClosed = errors.New("server closed the connection")

// dialer builds the ws.Dialer the flags describe. A -cacert that cannot be
// read is a usage error: the command line names a file that is not there.
func (cfg *dialConfig) dialer() (*ws.Dialer, error) {
	d := &ws.Dialer{Proxy: http.ProxyFromEnvironment, HandshakeTimeout: cfg.timeout, Header: cfg.headers.header()}
	if cfg.origin != "" {
		d.Header.Set("Origin", cfg.origin)
	}
	d.Subprotocols = cfg.protocols
	if cfg.compress {
		d.Compression = &ws.CompressionOptions{}
	}
	if cfg.proxy != "" {
		pu, err := url.Parse(cfg.proxy)
		if err != nil || pu.Host == "" {
			return nil, usagef("-proxy %q is not a proxy URL (want e.g. http://127.0.0.1:3128)", cfg.proxy)
		}
		d.Proxy = http.ProxyURL(pu)
	}
	if cfg.cacert != "" || cfg.insecure {
		d.TLSConfig = &tls.Config{InsecureSkipVerify: cfg.insecure} // #nosec: the user asked for it
		if cfg.cacert != "" {
			pem, err := os.ReadFile(cfg.cacert)
			if err != nil {
				return nil, usagef("-cacert: %v", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, usagef("-cacert %s: no PEM certificates in the file", cfg.cacert)
			}
			d.TLSConfig.RootCAs = pool
		}
	}
	return d, nil
}

// readLines sends each input line (without its newline) and closes lines at EOF.
func readLines(r io.Reader, lines chan<- []byte) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		lines <- append([]byte(nil), sc.Bytes()...)
	}
	close(lines)
}

// dialOnce runs one connection until input ends, the peer closes, or ctx ends.
func dialOnce(ctx context.Context, d *ws.Dialer, rawURL string, cfg *dialConfig, lines <-chan []byte, out *dialOutput) error {
	c, resp, err := d.Dial(ctx, rawURL)
	if err != nil {
		showRefusal(err, resp, out)
		return err
	}
	defer c.CloseNow()
	info := resp.Status
	if p := c.Subprotocol(); p != "" {
		info += ", subprotocol " + p
	}
	if e := resp.Header.Get("Sec-WebSocket-Extensions"); e != "" {
		info += ", extensions " + e
	}
	out.event("connected to %s (%s)", rawURL, info)
	if cfg.interactive {
		out.event("interactive: /help lists the commands, Ctrl-D closes")
	}
	out.setReady(true)
	defer out.setReady(false)

	var mu sync.Mutex
	received := 0
	pings := &pendingPings{}
	c.SetPingHandler(func(p []byte) { out.event("ping %q", p); _ = c.WritePong(p) })
	c.SetPongHandler(func(p []byte) {
		if !pings.answered(p) { // a /ping's pong is reported with its round trip
			out.event("pong %q", p)
		}
	})
	readDone := make(chan error, 1)
	go func() {
		var buf []byte
		for {
			op, msg, err := c.ReadMessageInto(buf)
			if err != nil {
				readDone <- err
				return
			}
			buf = msg
			mu.Lock()
			received++
			mu.Unlock()
			out.received(op, msg)
		}
	}()
	var ping <-chan time.Time
	if cfg.ping > 0 {
		t := time.NewTicker(cfg.ping)
		defer t.Stop()
		ping = t.C
	}
	op := ws.OpText
	if cfg.binary {
		op = ws.OpBinary
	}
	sent := 0
	send := func(op ws.Opcode, msg []byte) error {
		out.sent(op, msg) // before the write: the echo may come back before WriteMessage returns
		if err := c.WriteMessage(op, msg); err != nil {
			return err
		}
		mu.Lock()
		sent++
		mu.Unlock()
		return nil
	}
	sess := &session{c: c, out: out, pings: pings, send: send, timeout: cfg.timeout, ctx: ctx}
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				// End of input: wait for the replies in flight, then close.
				deadline := time.Now().Add(cfg.wait)
				for time.Now().Before(deadline) {
					mu.Lock()
					done := received >= sent
					mu.Unlock()
					if done {
						break
					}
					select {
					case err := <-readDone:
						return reportEnd(err, out)
					case <-time.After(10 * time.Millisecond):
					}
				}
				if err := c.Close(ws.CloseNormalClosure, ""); err != nil {
					return err
				}
				out.closed("closed (1000)")
				return errInputDone
			}
			if cfg.interactive {
				out.lineDone()
				done, err := sess.line(line, op)
				if err != nil || done {
					return err
				}
				out.promptAgain()
				continue
			}
			if err := send(op, line); err != nil {
				return err
			}
		case <-ping:
			if err := c.WritePing([]byte("plainws")); err != nil {
				return err
			}
		case err := <-readDone:
			return reportEnd(err, out)
		case <-ctx.Done():
			_ = c.Close(ws.CloseGoingAway, "interrupted")
			out.closed("interrupted; closed (1001)")
			return nil
		}
	}
}

// cleanClose reports whether a close code from the server means success
// for the exit status: a normal end (1000, 1001, or no code, 1005) or an
// application's own code (RFC 6455 §7.4.2: 3000-3999 registered, 4000-4999
// private), whose meaning only the application knows. The codes 1002-1015
// report an error.
func cleanClose(code ws.StatusCode) bool {
	switch {
	case code == ws.CloseNormalClosure, code == ws.CloseGoingAway, code == ws.CloseNoStatusReceived:
		return true
	}
	return code >= 3000 && code <= 4999
}

// reportEnd turns the reader's final error into a result. A close from the
// server is printed once: as an event when it is clean (exit 0), or as the
// error dial exits 1 with.
func reportEnd(err error, out *dialOutput) error {
	var ce *ws.CloseError
	if !errors.As(err, &ce) {
		return err
	}
	desc := closeDescription(ce.Code, ce.Reason)
	if cleanClose(ce.Code) {
		out.closed("closed by server: %s", desc)
		return errPeerClosed
	}
	return fmt.Errorf("closed by server: %s", desc)
}

// closeDescription formats a close code with what it means (RFC 6455
// §7.4.1 names 1000-1015; §7.4.2 leaves 3000-4999 to applications) and the
// reason.
func closeDescription(code ws.StatusCode, reason string) string {
	s := fmt.Sprintf("%d", code)
	switch {
	case code >= 3000 && code <= 4999:
		s += " (application code)"
	case code.String() != "unknown":
		s += " " + code.String()
	}
	if reason != "" {
		s += fmt.Sprintf(" %q", reason)
	}
	return s
}
