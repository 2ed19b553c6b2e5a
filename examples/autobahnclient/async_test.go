package main

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/capture"
	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fuzzingServerURL(t *testing.T, f *fakeFuzzingServer) string {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// -async runs the requested cases through asyncconn, echoing every message with its type, one
// case after the other, then updates the reports.
func TestAsyncRunsEveryCaseAndEchoes(t *testing.T) {
	f := &fakeFuzzingServer{}
	base := fuzzingServerURL(t, f)
	out, err := capture.Stdout(func() error { return runAsync(base, "plain ws", "2-3", nil) })
	require.NoError(t, err, out)
	f.mu.Lock()
	defer f.mu.Unlock()
	assert.Equal(t, []string{"2/plain ws", "3/plain ws"}, f.ran)
	assert.Equal(t, 4, f.echoed, "each message echoed with its type")
	assert.Equal(t, []string{"plain ws"}, f.reports)
	assert.Equal(t, "ran cases 2-3 of 3 through asyncconn; reports updated for agent \"plain ws\"\n", out,
		"no case reported an error")
}

// -async -compress: the case connections negotiate permessage-deflate through asyncconn.
func TestAsyncRunsCompressed(t *testing.T) {
	f := &fakeFuzzingServer{compress: true}
	base := fuzzingServerURL(t, f)
	out, err := capture.Stdout(func() error { return runAsync(base, "a", "1-3", &ws.CompressionOptions{}) })
	require.NoError(t, err, out)
	f.mu.Lock()
	defer f.mu.Unlock()
	assert.Equal(t, 6, f.echoed)
	assert.Equal(t, 3, f.compressed, "every case connection negotiated permessage-deflate")
}

// A burst bigger than the send buffer (6 MiB against asyncconn's 1 MiB default) is echoed whole
// and in order: the echo pauses receiving while the buffer is full instead of dropping messages.
func TestAsyncEchoKeepsUpWithABurst(t *testing.T) {
	f := &fakeFuzzingServer{burst: 24}
	base := fuzzingServerURL(t, f)
	out, err := capture.Stdout(func() error { return runAsync(base, "a", "1", nil) })
	require.NoError(t, err, out)
	f.mu.Lock()
	defer f.mu.Unlock()
	assert.Equal(t, 24, f.burstOK)
	assert.NotContains(t, out, "case 1:", "no error in the case")
}

// A case that breaks the protocol fails its connection with the RFC's close code, is reported,
// and the run goes on to the next case.
func TestAsyncReportsAFailedCase(t *testing.T) {
	f := &fakeFuzzingServer{badUTF8: true}
	base := fuzzingServerURL(t, f)
	out, err := capture.Stdout(func() error { return runAsync(base, "a", "1-2", nil) })
	require.NoError(t, err, out)
	f.mu.Lock()
	assert.Equal(t, []string{"1/a", "2/a"}, f.ran)
	assert.Equal(t, []string{"a"}, f.reports)
	f.mu.Unlock()
	// RFC 6455 §8.1: invalid UTF-8 in a text message fails the connection with 1007. The server
	// may read the client's close frame after the client has moved on to the next case.
	want := []ws.StatusCode{ws.CloseInvalidFramePayloadData, ws.CloseInvalidFramePayloadData}
	assert.Eventually(t, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return assert.ObjectsAreEqual(want, f.closeCodes)
	}, 5*time.Second, 5*time.Millisecond, "close codes the server received")
	assert.Contains(t, out, "case 1: PROTOCOL_FAIL: ")
	assert.Contains(t, out, "case 2: PROTOCOL_FAIL: ")
}
