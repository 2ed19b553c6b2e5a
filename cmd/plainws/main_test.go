package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildBinary compiles plainws once per test binary.
func buildBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "plainws-test"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "plainws")
		var out []byte
		if out, binErr = exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); binErr != nil {
			binErr = fmt.Errorf("%w: %s", binErr, out)
		}
	})
	require.NoError(t, binErr)
	return binPath
}

// startServe runs "plainws serve ARGS 127.0.0.1:0" and returns its URL; the
// server is interrupted (SIGINT) at cleanup and must exit 0.
func startServe(t *testing.T, bin string, args ...string) string {
	t.Helper()
	url, _ := startServeLog(t, bin, append(args, "127.0.0.1:0")...)
	return url
}

// startServeLog runs "plainws serve ARGS" (ARGS includes the address) and
// returns its URL and its standard error, the log.
func startServeLog(t *testing.T, bin string, args ...string) (string, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "stderr: %s", stderr.String())
	require.True(t, strings.HasPrefix(line, "listening on "), line)
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			assert.NoError(t, err, "serve exits 0 on Ctrl-C; stderr:\n%s", stderr.String())
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("serve did not stop on SIGINT")
		}
	})
	return strings.TrimSpace(strings.TrimPrefix(line, "listening on ")), stderr
}

// "echo hi | plainws dial URL" prints the echo and exits 0 after a clean close.
func TestDialPipedInputAgainstServe(t *testing.T) {
	bin := buildBinary(t)
	url := startServe(t, bin)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "dial", url)
	// Piped input is not interactive: a line starting with "/" is a message
	// like any other, and nothing is added to what arrives.
	cmd.Stdin = strings.NewReader("hi\nthere κόσμε\n/ping\n/close 4000\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	assert.Equal(t, "hi\nthere κόσμε\n/ping\n/close 4000\n", stdout.String())
	assert.Contains(t, stderr.String(), "* connected to "+url+" (101 Switching Protocols)")
	assert.Contains(t, stderr.String(), "* closed (1000)")
}

// Binary messages print as hex, or base64 with -base64; TLS with a
// self-signed certificate works with -insecure.
func TestDialBinaryAndTLS(t *testing.T) {
	bin := buildBinary(t)
	url := startServe(t, bin, "-tls-self-signed")
	require.True(t, strings.HasPrefix(url, "wss://"))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-binary", "-insecure"}, "6869\n"},
		{[]string{"-binary", "-base64", "-insecure"}, "aGk=\n"},
	} {
		cmd := exec.Command(bin, append(append([]string{"dial"}, tc.args...), url)...)
		cmd.Stdin = strings.NewReader("hi\n")
		out, err := cmd.Output()
		require.NoError(t, err)
		assert.Equal(t, tc.want, string(out))
	}
	// Without -insecure the certificate is refused: exit 1, and the error
	// says which flags are the way out.
	cmd := exec.Command(bin, "dial", url)
	cmd.Stdin = strings.NewReader("hi\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, exitFail, ee.ExitCode())
	assert.Contains(t, stderr.String(), "x509")
	assert.Contains(t, stderr.String(), "-cacert FILE")
	assert.Contains(t, stderr.String(), "-insecure")
	assert.Contains(t, stderr.String(), "-tls-write-cert")
}

// serve -tls-self-signed -tls-write-cert FILE writes the certificate that
// dial -cacert FILE then trusts, without -insecure.
func TestServeWritesCertForDialCACert(t *testing.T) {
	bin := buildBinary(t)
	pemFile := filepath.Join(t.TempDir(), "cert.pem")
	url, log := startServeLog(t, bin, "-tls-self-signed", "-tls-write-cert", pemFile, "127.0.0.1:0")
	require.Eventually(t, func() bool { return strings.Contains(log.String(), "plainws dial -cacert "+pemFile+" "+url) },
		10*time.Second, 5*time.Millisecond, "the log says how to dial with the certificate: %s", log.String())
	cmd := exec.Command(bin, "dial", url, "-cacert", pemFile)
	cmd.Stdin = strings.NewReader("trusted\n")
	out, err := cmd.Output()
	require.NoError(t, err)
	assert.Equal(t, "trusted\n", string(out))
}

// Broadcast mode sends each message to every client.
func TestServeBroadcast(t *testing.T) {
	bin := buildBinary(t)
	url := startServe(t, bin, "-mode", "broadcast")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	listener := exec.CommandContext(ctx, bin, "dial", "-wait", "0", url)
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	listener.Stdin = pr
	var got, lerr syncBuffer
	listener.Stdout = &got
	listener.Stderr = &lerr
	require.NoError(t, listener.Start())
	require.Eventually(t, func() bool { return strings.Contains(lerr.String(), "connected") }, 10*time.Second, 10*time.Millisecond)
	talker := exec.CommandContext(ctx, bin, "dial", url)
	talker.Stdin = strings.NewReader("to everyone\n")
	require.NoError(t, talker.Run())
	require.Eventually(t, func() bool { return strings.Contains(got.String(), "to everyone") }, 10*time.Second, 10*time.Millisecond)
	_ = pw.Close()
	require.NoError(t, listener.Wait())
}

// syncBuffer is a bytes.Buffer safe to read while a process writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
