package main

import (
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The README's main job must run as it is and print every step.
func TestEchoExampleRuns(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	stdout := os.Stdout
	os.Stdout = w
	runErr := run("")
	os.Stdout = stdout
	require.NoError(t, w.Close())
	out, err := io.ReadAll(r)
	require.NoError(t, err)
	require.NoError(t, runErr)
	for _, want := range []string{
		"client: connected to",
		`sent text "hello, plainws", echoed text "hello, plainws"`,
		"sent binary de ad be ef, echoed binary de ad be ef",
		`client: pong "are you there?"`,
		"client: closed cleanly",
	} {
		assert.Contains(t, string(out), want)
	}
}
