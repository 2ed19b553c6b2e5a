package main

import (
	"fmt"
	"net/url"
	"time"

	"github.com/plainws/plainws/asyncconn"
	"github.com/plainws/plainws/ws"
)

// asyncCaseTimeout bounds one case run through asyncconn, so that a case the server never ends
// cannot hang the run; the connection is then destroyed and the next case starts.
const asyncCaseTimeout = 2 * time.Minute

// runAsync is run with every case going through package asyncconn (-async): one Loop for the
// whole run, and per case a Conn whose OnMessage echoes each message with its type and whose
// OnClose lets the next case start. Counting cases and updating the reports stay on package ws.
func runAsync(base, agent, cases string, compression *ws.CompressionOptions) error {
	d := &ws.Dialer{Options: ws.Options{ReadLimit: 64 << 20, Compression: compression}}
	count, err := caseCount(d, base)
	if err != nil {
		return err
	}
	first, last, err := parseRange(cases, count)
	if err != nil {
		return err
	}

	loop := asyncconn.NewLoop()
	loop.Start()
	defer loop.Stop()
	for i := first; i <= last; i++ {
		u := fmt.Sprintf("%s/runCase?case=%d&agent=%s", base, i, url.QueryEscape(agent))
		if err := echoCaseAsync(loop, u, compression); err != nil {
			fmt.Printf("case %d: %v\n", i, err)
		}
	}

	if err := updateReports(d, base, agent); err != nil {
		return err
	}
	fmt.Printf("ran cases %d-%d of %d through asyncconn; reports updated for agent %q\n", first, last, count, agent)
	return nil
}

// caseError is what OnError reported during a case.
type caseError struct {
	code asyncconn.ErrorCode
	msg  string
}

func (e *caseError) Error() string { return e.code.String() + ": " + e.msg }

// echoCaseAsync runs one case on loop and returns once its OnClose has run, with the error
// OnError reported, if any.
func echoCaseAsync(loop *asyncconn.Loop, u string, compression *ws.CompressionOptions) error {
	c, err := asyncconn.New(loop, u)
	if err != nil {
		return err
	}
	// The suite's largest messages are 16 MiB; the default 10 MiB limit would fail them.
	c.MaxPackageSize = 64 << 20
	c.Compression = compression

	// These callbacks run on the loop, one at a time: caseErr needs no lock.
	var caseErr error
	done := make(chan error, 1)
	c.OnMessage = func(c *asyncconn.Conn, data []byte) {
		// Echo with the type the message had; data belongs to the callback, so it can be queued.
		var err error
		if c.MessageType() == ws.OpBinary {
			err = c.SendBinary(data)
		} else {
			err = c.SendText(string(data))
		}
		if err != nil {
			caseErr = err
		}
		// No flow control of our own: asyncconn stops reading while the echoes wait to go out,
		// so the send buffer takes every one of them and the server feels TCP's backpressure.
	}
	c.OnError = func(c *asyncconn.Conn, code asyncconn.ErrorCode, msg string) {
		caseErr = &caseError{code: code, msg: msg}
	}
	c.OnClose = func(c *asyncconn.Conn) { done <- caseErr }
	c.Connect()

	select {
	case err := <-done:
		return err
	case <-loop.Done():
		return asyncconn.ErrStopped
	case <-time.After(asyncCaseTimeout):
		c.Destroy()
		select {
		case <-done:
		case <-loop.Done():
		}
		return fmt.Errorf("no end within %v", asyncCaseTimeout)
	}
}
