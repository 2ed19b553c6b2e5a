//go:build linux

package main

import (
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// At a real terminal dial is interactive without -i, and "> " is a prompt:
// the terminal's echo of the typed line follows it, and what arrives
// meanwhile clears only the prompt line, never one above. script(1) (from
// util-linux, Debian's essential bsdutils) runs dial on a pseudo-terminal.
func TestDialAtTerminal(t *testing.T) {
	script, err := exec.LookPath("script")
	require.NoError(t, err, "script(1) gives dial a terminal")
	bin := buildBinary(t)
	url, closes := echoServer(t)
	cmd := exec.Command(script, "-qfec", bin+" dial "+url, "/dev/null")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	wait := func(s string) {
		t.Helper()
		if !assert.Eventually(t, func() bool { return strings.Contains(out.String(), s) }, 10*time.Second, 5*time.Millisecond) {
			t.Fatalf("never saw %q in:\n%q", s, out.String())
		}
	}
	wait("* interactive: /help lists the commands")
	wait("\r\n> ")
	_, err = io.WriteString(stdin, "hello\n")
	require.NoError(t, err)
	wait("< hello")
	_, err = io.WriteString(stdin, "/close 4002 tty\n")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "dial exits 0 after /close: %q", out.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("dial did not exit: %q", out.String())
	}
	got := out.String()
	assert.Contains(t, got, "> hello\r\n", "the prompt, then the terminal's echo of the line")
	assert.Contains(t, got, clearLine+"< hello\r\n> ", "the reply replaces the prompt line, then the prompt returns")
	assert.Contains(t, got, `* closed with 4002 (application code) "tty"`)
	assert.NotContains(t, got, "\033[1A", "no line above the prompt is touched")
	ce := <-closes
	assert.Equal(t, ws.StatusCode(4002), ce.Code)
	assert.Equal(t, "tty", ce.Reason)
}
