package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/plainws/plainws/internal/selfsigned"
	"github.com/plainws/plainws/ws"
)

const serveUsage = `Usage: plainws serve [flags] ADDR

Runs a WebSocket server on ADDR (e.g. 127.0.0.1:8080, or :0 for a free port) that
echoes every message back (-mode echo, the default) or sends it to every connected
client (-mode broadcast). It prints "listening on ws://HOST:PORT/" once ready.
Ctrl-C closes every connection with 1001 (going away) and exits 0.

Flags:
`

func serveCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", serveUsage, stderr)
	mode := fs.String("mode", "echo", "echo or broadcast")
	certFile := fs.String("tls-cert", "", "TLS certificate (PEM) for wss://")
	keyFile := fs.String("tls-key", "", "TLS key (PEM) for wss://")
	selfSigned := fs.Bool("tls-self-signed", false, "serve wss:// with a throwaway certificate for localhost")
	compress := fs.Bool("compress", false, "accept permessage-deflate (RFC 7692)")
	var protocols listFlag
	fs.Var(&protocols, "subprotocol", "a subprotocol to accept, in order of preference (repeatable)")
	anyOrigin := fs.Bool("any-origin", true, "accept browser connections from any Origin (a test server)")
	quiet := fs.Bool("quiet", false, "do not log connections")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 || (*mode != "echo" && *mode != "broadcast") {
		fs.Usage()
		return fmt.Errorf("%w: want ADDR, and -mode echo or broadcast", errUsage)
	}
	var tlsConfig *tls.Config
	switch {
	case *selfSigned:
		cert, _, err := selfsigned.New()
		if err != nil {
			return err
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	case *certFile != "" || *keyFile != "":
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			return err
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}

	up := &ws.Upgrader{Subprotocols: protocols, Options: ws.Options{ReadLimit: 64 << 20}}
	if *compress {
		up.Compression = &ws.CompressionOptions{}
	}
	if *anyOrigin {
		up.CheckOrigin = func(*http.Request) bool { return true }
	}
	h := &hub{conns: map[*ws.Conn]bool{}, broadcast: *mode == "broadcast", quiet: *quiet, log: stderr}
	ln, err := net.Listen("tcp", fs.Arg(0))
	if err != nil {
		return err
	}
	scheme := "ws"
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
		scheme = "wss"
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		h.serve(c)
	}), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "listening on %s://%s/\n", scheme, ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	_ = srv.Close()
	h.closeAll()
	fmt.Fprintln(stderr, "* shut down; connections closed with 1001")
	return nil
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
					fmt.Fprintf(h.log, "* %s closed: %d %q\n", c.RemoteAddr(), ce.Code, ce.Reason)
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
