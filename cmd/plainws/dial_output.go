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
//
// At a terminal the "> " is a prompt, as in wscat: the terminal's echo of
// what is typed after it makes the sent line. Anything printed meanwhile
// first clears the prompt line ("\r" and erase to the end of the line: the
// only line ever erased), then puts the prompt back. What was half typed
// then disappears from the screen but not from the terminal's line buffer:
// Enter still sends it.
type dialOutput struct {
	mu             sync.Mutex
	stdout, stderr io.Writer
	interactive    bool
	prompt         bool // interactive at a terminal: show "> " while waiting for a line
	b64            bool
	ready          bool // connected: a line typed now is sent
	prompting      bool // the last line on the screen is the prompt
}

// Terminal control for the prompt (ECMA-48): carriage return, then EL
// (erase in line) from the cursor to the end.
const clearLine = "\r\033[K"

// clearPromptLocked erases the prompt line, if the prompt is showing, so
// that output can take its place. o.mu must be held.
func (o *dialOutput) clearPromptLocked() {
	if o.prompting {
		fmt.Fprint(o.stdout, clearLine)
		o.prompting = false
	}
}

// showPromptLocked puts the prompt back once connected at a terminal. o.mu
// must be held.
func (o *dialOutput) showPromptLocked() {
	if o.prompt && o.ready && !o.prompting {
		fmt.Fprint(o.stdout, "> ")
		o.prompting = true
	}
}

// setReady shows the prompt once connected and takes it away when the
// connection ends.
func (o *dialOutput) setReady(ready bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ready = ready
	if ready {
		o.showPromptLocked()
	} else {
		o.clearPromptLocked()
	}
}

// lineDone is called for each line read at an interactive prompt: the
// terminal moved to a new line with Enter, so no prompt is shown any more.
func (o *dialOutput) lineDone() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.prompting = false
}

// promptAgain puts the prompt back after a line was handled.
func (o *dialOutput) promptAgain() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.showPromptLocked()
}

// event prints a control event ("* ...") on stderr, around the prompt.
func (o *dialOutput) event(format string, a ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.clearPromptLocked()
	fmt.Fprintf(o.stderr, "* "+format+"\n", a...)
	o.showPromptLocked()
}

// closed prints the event that ends a connection: the prompt goes for good.
func (o *dialOutput) closed(format string, a ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ready = false
	o.clearPromptLocked()
	fmt.Fprintf(o.stderr, "* "+format+"\n", a...)
}

// received prints a message that arrived.
func (o *dialOutput) received(op ws.Opcode, msg []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.clearPromptLocked()
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
	o.showPromptLocked()
}

// sent shows a message sent from an interactive line as "> ..." when the
// input is not a terminal; at one, the prompt and the echo of the typed
// line already show it.
func (o *dialOutput) sent(op ws.Opcode, msg []byte) {
	if !o.interactive || o.prompt {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if op == ws.OpText {
		fmt.Fprintf(o.stdout, "> %s\n", msg)
	} else {
		fmt.Fprintf(o.stdout, "> (binary, %d bytes) %s\n", len(msg), o.binary(msg))
	}
}

// binary formats a binary message in hex, or base64 with -base64.
func (o *dialOutput) binary(msg []byte) string {
	if o.b64 {
		return base64.StdEncoding.EncodeToString(msg)
	}
	return hex.EncodeToString(msg)
}
