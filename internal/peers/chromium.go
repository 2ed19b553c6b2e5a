package peers

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"testing"
)

// ErrNoChromium is returned by StartChromium when no Chromium is installed.
var ErrNoChromium = errors.New("peers: chromium is not installed; run scripts/test.sh (it installs the interoperability peers)")

// Browser is a headless Chromium started by StartChromium.
type Browser struct {
	cmd    *exec.Cmd
	stderr *cappedBuffer
}

// StartChromium opens url in Debian's headless Chromium (the package
// scripts/test.sh installs) with a fresh profile, and stops it when the test
// ends or ctx is done. It runs as CI does, as root: hence --no-sandbox.
// insecure tells the browser to accept any certificate, for wss:// to a
// test server with a self-signed one.
func StartChromium(ctx context.Context, t testing.TB, url string, insecure bool) (*Browser, error) {
	t.Helper()
	var bin string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		return nil, ErrNoChromium
	}
	args := []string{"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--no-default-browser-check", "--disable-extensions",
		"--user-data-dir=" + t.TempDir()}
	if insecure {
		args = append(args, "--ignore-certificate-errors")
	}
	b := &Browser{stderr: &cappedBuffer{limit: 64 << 10}}
	b.cmd = exec.CommandContext(ctx, bin, append(args, url)...)
	b.cmd.Stderr = b.stderr
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("peers: starting %s: %w", bin, err)
	}
	t.Cleanup(func() {
		_ = b.cmd.Process.Kill()
		_ = b.cmd.Wait()
	})
	return b, nil
}

// Stderr is what the browser printed so far (capped), for a failure message.
func (b *Browser) Stderr() string { return b.stderr.String() }
