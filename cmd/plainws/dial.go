package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
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
with 1000. Exit status: 0 after a clean close, 1 on failure or abnormal closure.

Flags:
`

// dialConfig holds the flags of plainws dial.
type dialConfig struct {
	binary, b64, compress, insecure bool
	headers, protocols              listFlag
	origin, proxy, cacert           string
	ping, wait, reconnect, timeout  time.Duration
}

func dialCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var cfg dialConfig
	fs := newFlagSet("dial", dialUsage, stderr)
	fs.BoolVar(&cfg.binary, "binary", false, "send lines as binary messages")
	fs.BoolVar(&cfg.b64, "base64", false, "print binary messages in base64 instead of hex")
	fs.Var(&cfg.headers, "H", "extra request header \"Name: value\" (repeatable)")
	fs.StringVar(&cfg.origin, "origin", "", "Origin header")
	fs.Var(&cfg.protocols, "subprotocol", "offer a subprotocol (repeatable)")
	fs.BoolVar(&cfg.compress, "compress", false, "offer permessage-deflate (RFC 7692)")
	fs.StringVar(&cfg.proxy, "proxy", "", "proxy URL (http://, https://, socks5://user:pass@host:port); default: environment")
	fs.StringVar(&cfg.cacert, "cacert", "", "PEM file of CA certificates to trust for wss://")
	fs.BoolVar(&cfg.insecure, "insecure", false, "do not verify the server's TLS certificate")
	fs.DurationVar(&cfg.ping, "ping-interval", 0, "send a ping this often (0: never)")
	fs.DurationVar(&cfg.wait, "wait", 2*time.Second, "at end of input, wait this long for replies in flight")
	fs.DurationVar(&cfg.reconnect, "reconnect", 0, "reconnect after this delay when the connection drops (0: never)")
	fs.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "handshake timeout")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("%w: want exactly one URL", errUsage)
	}
	d, err := cfg.dialer()
	if err != nil {
		return err
	}
	lines := make(chan []byte)
	go readLines(stdin, lines)
	for {
		err := dialOnce(ctx, d, fs.Arg(0), &cfg, lines, stdout, stderr)
		switch {
		case err == nil, errors.Is(err, errInputDone), ctx.Err() != nil:
			return nil
		case cfg.reconnect > 0:
		case errors.Is(err, errPeerClosed):
			return nil
		default:
			return err
		}
		fmt.Fprintf(stderr, "* %v; reconnecting in %v\n", err, cfg.reconnect)
		select {
		case <-time.After(cfg.reconnect):
		case <-ctx.Done():
			return nil
		}
	}
}

// errInputDone ends the reconnect loop: the input is finished.
var errInputDone = errors.New("input done")

// errPeerClosed reports a normal close by the server: success, unless
// -reconnect asks to come back.
var errPeerClosed = errors.New("server closed the connection")

func (cfg *dialConfig) dialer() (*ws.Dialer, error) {
	d := &ws.Dialer{Proxy: http.ProxyFromEnvironment, HandshakeTimeout: cfg.timeout, Header: http.Header{}}
	for _, h := range cfg.headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			return nil, fmt.Errorf("%w: header %q is not \"Name: value\"", errUsage, h)
		}
		d.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if cfg.origin != "" {
		d.Header.Set("Origin", cfg.origin)
	}
	d.Subprotocols = cfg.protocols
	if cfg.compress {
		d.Compression = &ws.CompressionOptions{}
	}
	if cfg.proxy != "" {
		pu, err := url.Parse(cfg.proxy)
		if err != nil {
			return nil, fmt.Errorf("%w: -proxy: %v", errUsage, err)
		}
		d.Proxy = http.ProxyURL(pu)
	}
	if cfg.cacert != "" || cfg.insecure {
		d.TLSConfig = &tls.Config{InsecureSkipVerify: cfg.insecure} // #nosec: the user asked for it
		if cfg.cacert != "" {
			pem, err := os.ReadFile(cfg.cacert)
			if err != nil {
				return nil, err
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%s: no PEM certificates", cfg.cacert)
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
func dialOnce(ctx context.Context, d *ws.Dialer, rawURL string, cfg *dialConfig, lines <-chan []byte, stdout, stderr io.Writer) error {
	c, resp, err := d.Dial(ctx, rawURL)
	if err != nil {
		var he *ws.HandshakeError
		if errors.As(err, &he) && len(he.Body) > 0 {
			fmt.Fprintf(stderr, "* server said: %s\n", strings.TrimSpace(string(he.Body)))
		}
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
	fmt.Fprintf(stderr, "* connected to %s (%s)\n", rawURL, info)

	var mu sync.Mutex
	received := 0
	c.SetPingHandler(func(p []byte) { fmt.Fprintf(stderr, "* ping %q\n", p); _ = c.WritePong(p) })
	c.SetPongHandler(func(p []byte) { fmt.Fprintf(stderr, "* pong %q\n", p) })
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
			switch {
			case op == ws.OpText:
				fmt.Fprintf(stdout, "%s\n", msg)
			case cfg.b64:
				fmt.Fprintf(stdout, "%s\n", base64.StdEncoding.EncodeToString(msg))
			default:
				fmt.Fprintf(stdout, "%s\n", hex.EncodeToString(msg))
			}
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
						return reportEnd(err, stderr)
					case <-time.After(10 * time.Millisecond):
					}
				}
				if err := c.Close(ws.CloseNormalClosure, ""); err != nil {
					return err
				}
				fmt.Fprintln(stderr, "* closed (1000)")
				return errInputDone
			}
			if err := c.WriteMessage(op, line); err != nil {
				return err
			}
			sent++
		case <-ping:
			if err := c.WritePing([]byte("plainws")); err != nil {
				return err
			}
		case err := <-readDone:
			return reportEnd(err, stderr)
		case <-ctx.Done():
			_ = c.Close(ws.CloseGoingAway, "interrupted")
			fmt.Fprintln(stderr, "* interrupted; closed (1001)")
			return nil
		}
	}
}

// reportEnd turns the reader's final error into an event line and a result:
// a close from the server with 1000 is success, anything else a failure.
func reportEnd(err error, stderr io.Writer) error {
	var ce *ws.CloseError
	if errors.As(err, &ce) {
		fmt.Fprintf(stderr, "* closed by server: %d %s %q\n", ce.Code, ce.Code, ce.Reason)
		if ce.Code == ws.CloseNormalClosure || ce.Code == ws.CloseGoingAway || ce.Code == ws.CloseNoStatusReceived {
			return errPeerClosed
		}
	}
	return err
}
