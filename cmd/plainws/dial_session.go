package main

import (
	"context"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/plainws/plainws/ws"
)

const sessionHelp = `commands:
  /ping [payload]          send a ping; prints the round-trip time when the pong comes
  /close [code [reason]]   close with code (default 1000; 3000-4999 for applications) and exit
  /binary <hex>            send a binary message, e.g. /binary 68 69
  /help                    this list
  //text                   send "/text"
other lines are sent as they are; Ctrl-D closes with 1000`

// session runs the lines of an interactive dial: text to send, or a slash
// command.
type session struct {
	ctx     context.Context
	c       *ws.Conn
	out     *dialOutput
	pings   *pendingPings
	send    func(ws.Opcode, []byte) error
	timeout time.Duration // how long a /ping waits for its pong
	seq     int           // numbers the payloads of /ping without one
}

// line handles one input line. done reports that the connection was closed
// on purpose (/close): dial then exits 0.
func (s *session) line(line []byte, op ws.Opcode) (done bool, err error) {
	text := string(line)
	if !strings.HasPrefix(text, "/") {
		return false, s.send(op, line)
	}
	if strings.HasPrefix(text, "//") {
		return false, s.send(op, line[1:])
	}
	cmd, arg, _ := strings.Cut(text, " ")
	switch cmd {
	case "/help":
		for _, l := range strings.Split(sessionHelp, "\n") {
			s.out.event("%s", l)
		}
	case "/ping":
		s.ping(arg)
	case "/binary":
		b, err := hex.DecodeString(strings.Join(strings.Fields(arg), ""))
		if err != nil || arg == "" {
			s.out.event("/binary wants hex digits, e.g. /binary 68 69 (%v)", errOrEmpty(err))
			return false, nil
		}
		return false, s.send(ws.OpBinary, b)
	case "/close":
		return s.close(arg)
	default:
		s.out.event("unknown command %s: /help lists them (start a line with // to send a leading /)", cmd)
	}
	return false, nil
}

// errOrEmpty names the problem of a /binary without digits.
func errOrEmpty(err error) error {
	if err == nil {
		return errors.New("nothing to send")
	}
	return err
}

// ping sends a ping and reports the pong's round trip when it comes, without
// holding up the input (RFC 6455 §5.5.2: the pong echoes the payload, which
// is how it is matched).
func (s *session) ping(payload string) {
	if payload == "" {
		s.seq++
		payload = strconv.Itoa(s.seq)
	}
	if len(payload) > ws.MaxControlPayload {
		s.out.event("/ping payload is %d bytes; a ping carries at most %d (RFC 6455 §5.5)", len(payload), ws.MaxControlPayload)
		return
	}
	s.pings.add(payload)
	go func() {
		ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
		defer cancel()
		rtt, err := s.c.Ping(ctx, []byte(payload))
		if err != nil {
			s.pings.forget(payload)
			s.out.event("no pong for ping %q: %v", payload, err)
			return
		}
		s.out.event("pong %q: round trip %s", payload, fmtDuration(rtt))
	}()
}

// close parses "/close [code [reason]]" and runs the closing handshake.
func (s *session) close(arg string) (bool, error) {
	code, reason := ws.CloseNormalClosure, ""
	if f := strings.TrimSpace(arg); f != "" {
		num, rest, _ := strings.Cut(f, " ")
		n, err := strconv.ParseUint(num, 10, 16)
		if err != nil {
			s.out.event("/close wants a number, e.g. /close 4000 done (got %q)", num)
			return false, nil
		}
		code, reason = ws.StatusCode(n), strings.TrimSpace(rest)
	}
	// Check before closing: a code that may not be sent (RFC 6455 §7.4) or a
	// reason over 123 bytes leaves the connection open.
	if _, err := ws.AppendClosePayload(nil, code, reason); err != nil {
		s.out.event("cannot close with %d: %v", code, err)
		return false, nil
	}
	if err := s.c.Close(code, reason); err != nil {
		return true, err
	}
	s.out.closed("closed with %s", closeDescription(code, reason))
	return true, nil
}

// pendingPings counts the /ping payloads waiting for a pong, so that the
// pong handler stays quiet about the pongs a /ping reports itself.
type pendingPings struct {
	mu sync.Mutex
	n  map[string]int
}

// add counts a /ping payload as waiting for its pong.
func (p *pendingPings) add(payload string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == nil {
		p.n = map[string]int{}
	}
	p.n[payload]++
}

// answered consumes one pending ping with this payload, if there is one.
func (p *pendingPings) answered(payload []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[string(payload)] == 0 {
		return false
	}
	p.n[string(payload)]--
	return true
}

// forget drops a ping whose pong never came.
func (p *pendingPings) forget(payload string) { p.answered([]byte(payload)) }

// fmtDuration prints d with three significant digits (412µs, 12.3ms, 1.23s):
// the precision a measured round trip has, no more.
func fmtDuration(d time.Duration) string {
	if d <= 0 {
		return d.String()
	}
	unit := time.Duration(1)
	for v := d; v >= 1000; v /= 10 {
		unit *= 10
	}
	return d.Round(unit).String()
}
