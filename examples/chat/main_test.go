package main

import (
	"testing"

	"github.com/plainws/plainws/internal/capture"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestChatExampleRuns(t *testing.T) {
	out, err := capture.Stdout(func() error { return run(4) })
	require.NoError(t, err)
	everyone := "client 0 says hello; client 1 says hello; client 2 says hello; client 3 says hello"
	for _, c := range []string{"0", "1", "2", "3"} {
		assert.Contains(t, out, "client "+c+" heard: "+everyone)
	}
	assert.Contains(t, out, "all clients left the room")
}
