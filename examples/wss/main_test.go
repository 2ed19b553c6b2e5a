package main

import (
	"testing"

	"github.com/plainws/plainws/internal/capture"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWSSExampleRuns(t *testing.T) {
	out, err := capture.Stdout(func() error { return run("", "ping over TLS") })
	require.NoError(t, err)
	assert.Contains(t, out, `certificate verified for "plainws loopback"`)
	assert.Contains(t, out, `client: echoed "ping over TLS"`)
	assert.Contains(t, out, "client: closed cleanly")
}
