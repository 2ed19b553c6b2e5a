package main

import (
	"testing"

	"github.com/plainws/plainws/internal/capture"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The README's main job must run as it is and print every step.
func TestEchoExampleRuns(t *testing.T) {
	out, err := capture.Stdout(func() error { return run("") })
	require.NoError(t, err)
	for _, want := range []string{
		"client: connected to",
		`sent text "hello, plainws", echoed text "hello, plainws"`,
		"sent binary de ad be ef, echoed binary de ad be ef",
		`client: pong "are you there?"`,
		"client: closed cleanly",
	} {
		assert.Contains(t, out, want)
	}
}
