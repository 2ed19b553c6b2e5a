package main

import (
	"regexp"
	"testing"

	"github.com/plainws/plainws/internal/capture"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestProxyExampleRuns(t *testing.T) {
	out, err := capture.Stdout(run)
	require.NoError(t, err)
	target := regexp.MustCompile(`listening on (\S+)`).FindStringSubmatch(out)
	require.Len(t, target, 2)
	// Through both proxies, and the Host header names the target.
	assert.Contains(t, out, `"hello via http, Host was `+target[1]+`"`)
	assert.Contains(t, out, `"hello via socks5, Host was `+target[1]+`"`)
	assert.Contains(t, out, "proxies saw CONNECT to: ["+target[1]+"] ["+target[1]+"]")
}
