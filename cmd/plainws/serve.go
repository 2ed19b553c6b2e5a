package main

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/plainws/plainws/internal/selfsigned"
	"github.com/plainws/plainws/ws"
)

const serveUsage = `Usage: plainws serve [flags] ADDR

Runs a WebSocket server on ADDR that echoes every message back (-mode echo, the
default) or sends it to every connected client (-mode broadcast). ADDR is
host:port, :port for every interface, or a bare port such as 8080 for loopback
only (127.0.0.1:8080); port 0 picks a free one. Once ready it prints
"listening on ws://HOST:PORT/" with an address to paste into a client.
Flags may come before or after ADDR.

Browsers send an Origin header with the page's origin; other clients send none
and are always accepted. What a web page may connect:
  default (-any-origin)    any page, from any site, even file:// pages: right for a
                           test server on your machine, wrong for one others reach
  -origin HOSTS            only pages from those hosts, e.g. -origin localhost:3000
                           or -origin '*.example.com,example.com' (a pattern
                           without a port matches any port; "null" is file://)
  -any-origin=false        only pages served from this server's own host:port
Every refused upgrade is logged with its reason (also with -quiet).

Keepalive: every -ping-interval the server pings each client, and closes the
connection (1001) if nothing comes back within -pong-timeout; -idle-timeout
closes a connection that sent nothing at all for that long (it matters when
pings are off). -ping-interval 0 and -idle-timeout 0 turn them off. Request
heads must arrive within 10s and fit in 16 KiB.

Ctrl-C closes every connection with 1001 (going away) and exits 0.
Exit status: 0 after Ctrl-C, 1 if the server cannot start, 2 on bad usage.

Flags:
`

// Limits of the HTTP server in front of the upgrade.
const (
	// serveHeaderTimeout bounds reading a request head, so a client that
	// connects and sends nothing does not hold a goroutine for ever.
	serveHeaderTimeout = 10 * time.Second
	// serveMaxHeaderBytes bounds a request head: an upgrade request is a
	// few hundred bytes, cookies included rarely more than a few KiB.
	serveMaxHeaderBytes = 16 << 10
)

// serveConfig holds the flags of plainws serve.
type serveConfig struct {
	mode                       string
	certFile, keyFile, certOut string
	selfSigned, compress       bool
	anyOrigin, quiet           bool
	protocols                  listFlag
	origins                    originFlag
	idle, pingEvery, pongWait  time.Duration
}

// serveCmd is "plainws serve": it checks the flags, listens, prints the URL
// and serves until ctx ends, then closes every connection with 1001.
func serveCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg serveConfig
	fs := newFlagSet("serve")
	fs.StringVar(&cfg.mode, "mode", "echo", "echo or broadcast")
	fs.StringVar(&cfg.certFile, "tls-cert", "", "TLS certificate (PEM) for wss://; needs -tls-key")
	fs.StringVar(&cfg.keyFile, "tls-key", "", "TLS private key (PEM) that goes with -tls-cert")
	fs.BoolVar(&cfg.selfSigned, "tls-self-signed", false, "serve wss:// with a throwaway certificate for localhost, 127.0.0.1 and ::1")
	fs.StringVar(&cfg.certOut, "tls-write-cert", "", "with -tls-self-signed: write its certificate (PEM) to this file, for plainws dial -cacert")
	fs.BoolVar(&cfg.compress, "compress", false, "accept permessage-deflate (RFC 7692)")
	fs.Var(&cfg.protocols, "subprotocol", "a subprotocol to accept, in order of preference (repeatable)")
	fs.BoolVar(&cfg.anyOrigin, "any-origin", true, "accept browser pages from any Origin; false: only same-origin pages")
	fs.Var(&cfg.origins, "origin", "accept browser pages only from these Origin hosts (patterns, comma-separated or repeated)")
	fs.BoolVar(&cfg.quiet, "quiet", false, "do not log connections (refused upgrades are still logged)")
	fs.DurationVar(&cfg.idle, "idle-timeout", 5*time.Minute, "close a connection after this long without a byte from the client (0: never)")
	fs.DurationVar(&cfg.pingEvery, "ping-interval", 30*time.Second, "ping every client this often (0: no pings)")
	fs.DurationVar(&cfg.pongWait, "pong-timeout", 20*time.Second,
		"close a client that answers nothing this long after a ping; shorter than the interval, so a dead\n"+
			"peer is found before the next ping is due, yet long enough for a slow link (0: the ping interval)")
	pos, err := parseArgs(fs, args, serveUsage, stdout)
	if err != nil {
		return err
	}
	addr, err := cfg.check(fs, pos)
	if err != nil {
		return err
	}
	tlsConfig, err := cfg.tlsConfig()
	if err != nil {
		return err
	}
	log := &lockedWriter{w: stderr}
	up := &ws.Upgrader{Subprotocols: cfg.protocols, Options: ws.Options{
		ReadLimit: 64 << 20, IdleTimeout: cfg.idle, PingInterval: cfg.pingEvery, PongTimeout: cfg.pongWait,
	}}
	if cfg.compress {
		up.Compression = &ws.CompressionOptions{}
	}
	switch {
	case len(cfg.origins) > 0:
		up.CheckOrigin = cfg.origins.allowed
	case cfg.anyOrigin:
		up.CheckOrigin = func(*http.Request) bool { return true }
	}
	h := &hub{conns: map[*ws.Conn]bool{}, broadcast: cfg.mode == "broadcast", quiet: cfg.quiet, log: log}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	scheme := "ws"
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
		scheme = "wss"
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				logRefusal(log, r, err, &cfg)
				return
			}
			h.serve(c)
		}),
		ReadHeaderTimeout: serveHeaderTimeout,
		MaxHeaderBytes:    serveMaxHeaderBytes,
		ErrorLog:          stdlog.New(log, "* ", 0), // TLS handshake failures and the like, as events
	}
	addrURL := fmt.Sprintf("%s://%s/", scheme, pasteableAddr(ln.Addr()))
	if cfg.certOut != "" {
		fmt.Fprintf(log, "* certificate in %s: plainws dial -cacert %s %s\n", cfg.certOut, cfg.certOut, addrURL)
	}
	fmt.Fprintf(stdout, "listening on %s\n", addrURL)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	_ = srv.Close()
	h.closeAll()
	fmt.Fprintln(log, "* shut down; connections closed with 1001")
	return nil
}

// check validates the flags and ADDR and returns the address to listen on.
func (cfg *serveConfig) check(fs *flag.FlagSet, pos []string) (string, error) {
	switch {
	case len(pos) == 0:
		return "", usagef("no address given (want e.g. 8080, :8080 or 127.0.0.1:0)")
	case len(pos) > 1:
		return "", usagef("want one address, got %d arguments: %q", len(pos), pos)
	case cfg.mode != "echo" && cfg.mode != "broadcast":
		return "", usagef("-mode %q: want echo or broadcast", cfg.mode)
	case cfg.certFile != "" && cfg.keyFile == "":
		return "", usagef("-tls-cert needs -tls-key (the certificate's private key, PEM)")
	case cfg.keyFile != "" && cfg.certFile == "":
		return "", usagef("-tls-key needs -tls-cert (the certificate, PEM)")
	case cfg.selfSigned && cfg.certFile != "":
		return "", usagef("-tls-self-signed and -tls-cert exclude each other")
	case cfg.certOut != "" && !cfg.selfSigned:
		return "", usagef("-tls-write-cert needs -tls-self-signed (it writes that certificate)")
	case cfg.idle < 0 || cfg.pingEvery < 0 || cfg.pongWait < 0:
		return "", usagef("-idle-timeout, -ping-interval and -pong-timeout must not be negative")
	case len(cfg.origins) > 0 && cfg.anyOrigin && flagSet(fs, "any-origin"):
		return "", usagef("-origin and -any-origin exclude each other (-origin already allows only its hosts)")
	}
	return listenAddr(pos[0])
}

// listenAddr turns ADDR into a listen address: a bare port is loopback
// only, since a test server that accepts any Origin should not be reachable
// from other machines unless asked for (":8080").
func listenAddr(a string) (string, error) {
	if n, err := strconv.ParseUint(a, 10, 16); err == nil {
		return net.JoinHostPort("127.0.0.1", strconv.FormatUint(n, 10)), nil
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return "", usagef("address %q: want a port (8080), :port or host:port", a)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		if _, err := net.LookupPort("tcp", port); err != nil {
			return "", usagef("address %q: port %q is not a number from 0 to 65535", a, port)
		}
	}
	return net.JoinHostPort(host, port), nil
}

// pasteableAddr is the listener's address as a client on this machine
// dials it: a wildcard address ("[::]", "0.0.0.0") becomes loopback.
func pasteableAddr(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok || !ta.IP.IsUnspecified() {
		return a.String()
	}
	ip := "127.0.0.1"
	if ta.IP.To4() == nil && len(ta.IP) == net.IPv6len && !ta.IP.Equal(net.IPv6unspecified) {
		ip = "::1"
	}
	return net.JoinHostPort(ip, strconv.Itoa(ta.Port))
}

// tlsConfig loads or makes the server certificate, if any.
func (cfg *serveConfig) tlsConfig() (*tls.Config, error) {
	switch {
	case cfg.selfSigned:
		cert, _, err := selfsigned.New()
		if err != nil {
			return nil, err
		}
		if cfg.certOut != "" {
			pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
			if err := os.WriteFile(cfg.certOut, pemBytes, 0o644); err != nil {
				return nil, fmt.Errorf("-tls-write-cert: %w", err)
			}
		}
		return &tls.Config{Certificates: []tls.Certificate{cert}}, nil
	case cfg.certFile != "":
		cert, err := tls.LoadX509KeyPair(cfg.certFile, cfg.keyFile)
		if err != nil {
			return nil, fmt.Errorf("-tls-cert/-tls-key: %w", err)
		}
		return &tls.Config{Certificates: []tls.Certificate{cert}}, nil
	}
	return nil, nil
}

// logRefusal says why an upgrade was refused, with what to change when the
// reason is the Origin: a browser shows only close code 1006.
func logRefusal(log io.Writer, r *http.Request, err error, cfg *serveConfig) {
	msg := fmt.Sprintf("* refused %s %s %s: %v", r.RemoteAddr, r.Method, r.URL.RequestURI(), err)
	if errors.Is(err, ws.ErrBadOrigin) {
		host := r.Header.Get("Origin")
		if u, perr := url.Parse(host); perr == nil && u.Host != "" {
			host = u.Host
		}
		msg += fmt.Sprintf("; to allow that page: -origin %s", host)
		if len(cfg.origins) == 0 {
			msg += " (or -any-origin)"
		}
	}
	fmt.Fprintln(log, msg)
}

// lockedWriter serialises the log lines of concurrent connections.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// Write writes p whole, one writer at a time.
func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// hub tracks connections for broadcast and for a clean shutdown.
type hub struct {
	mu        sync.Mutex
	conns     map[*ws.Conn]bool
	broadcast bool
	quiet     bool
	log       io.Writer
	wg        sync.WaitGroup
}

// serve runs one connection: it echoes, or broadcasts, each message until
// the connection ends, and logs how it ended.
func (h *hub) serve(c *ws.Conn) {
	h.mu.Lock()
	h.conns[c] = true
	h.wg.Add(1)
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.conns, c)
		h.mu.Unlock()
		_ = c.CloseNow()
		h.wg.Done()
	}()
	if !h.quiet {
		fmt.Fprintf(h.log, "* %s connected\n", c.RemoteAddr())
	}
	var buf []byte
	for {
		op, msg, err := c.ReadMessageInto(buf)
		if err != nil {
			if !h.quiet {
				var ce *ws.CloseError
				if errors.As(err, &ce) {
					fmt.Fprintf(h.log, "* %s closed: %s\n", c.RemoteAddr(), closeDescription(ce.Code, ce.Reason))
				} else {
					fmt.Fprintf(h.log, "* %s ended: %v\n", c.RemoteAddr(), err)
				}
			}
			return
		}
		buf = msg
		if !h.broadcast {
			if c.WriteMessage(op, msg) != nil {
				return
			}
			continue
		}
		h.mu.Lock()
		for peer := range h.conns {
			_ = peer.WriteMessage(op, msg) // a failed peer ends in its own loop
		}
		h.mu.Unlock()
	}
}

// closeAll runs the closing handshake with every client, in parallel.
func (h *hub) closeAll() {
	h.mu.Lock()
	conns := make([]*ws.Conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() { defer wg.Done(); _ = c.Close(ws.CloseGoingAway, "server shutting down") }()
	}
	wg.Wait()
	h.wg.Wait()
}
