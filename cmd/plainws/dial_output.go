package main

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"sync"

	"github.com/plainws/plainws/ws"
)

// dialOutput prints what a dial sees. Piped (not interactive), messages go
// to stdout byte for byte and nothing else does; interactive, sent and
// received lines are marked "> " and "< ". Events always go to stderr with
// "* ". The mutex keeps lines whole when the reader and the sender print at
// once.
type dialOutput struct {
	mu             sync.Mutex
	stdout, stderr io.Writer
	interactive    bool
	rewrite        bool // a terminal echoed the typed line: replace it with its "> " form
	b64            bool
}

func (o *dialOutput) event(format string, a ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(o.stderr, "* "+format+"\n", a...)
}

// received prints a message that arrived.
func (o *dialOutput) received(op ws.Opcode, msg []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.interactive {
		fmt.Fprint(o.stdout, "< ")
	}
	switch {
	case op == ws.OpText:
		fmt.Fprintf(o.stdout, "%s\n", msg)
	case o.interactive:
		fmt.Fprintf(o.stdout, "(binary, %d bytes) %s\n", len(msg), o.binary(msg))
	default:
		fmt.Fprintf(o.stdout, "%s\n", o.binary(msg))
	}
}

// sent echoes a message sent from an interactive line.
func (o *dialOutput) sent(op ws.Opcode, msg []byte) {
	if !o.interactive {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.rewrite {
		fmt.Fprint(o.stdout, "\033[1A\033[2K") // up one line, erase the echo of what was typed
	}
	if op == ws.OpText {
		fmt.Fprintf(o.stdout, "> %s\n", msg)
	} else {
		fmt.Fprintf(o.stdout, "> (binary, %d bytes) %s\n", len(msg), o.binary(msg))
	}
}

func (o *dialOutput) binary(msg []byte) string {
	if o.b64 {
		return base64.StdEncoding.EncodeToString(msg)
	}
	return hex.EncodeToString(msg)
}
