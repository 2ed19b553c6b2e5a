//go:build !js

package wasmtest

import (
	"context"
	_ "embed"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/peers"
	"github.com/stretchr/testify/require"
)

//go:embed harness/index.html
var harness []byte

// The same js/wasm test binary as TestWasmClientUnderNode, in a real browser:
// headless Chromium loads it with Go's wasm_exec.js, and its WebSocket is
// the browser's own.
func TestWasmClientInChromium(t *testing.T) {
	goBin, err := exec.LookPath("go")
	require.NoError(t, err, "the go command is needed to build the js/wasm test binary")
	out, err := exec.Command(goBin, "env", "GOROOT").Output()
	require.NoError(t, err)
	wasmExecJS := filepath.Join(strings.TrimSpace(string(out)), "lib", "wasm", "wasm_exec.js")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := buildWasm(ctx, t, goBin)

	type result struct {
		Code   int    `json:"code"`
		Output string `json:"output"`
	}
	results := make(chan result, 1)
	s := newServer()
	mux := http.NewServeMux()
	mux.Handle("/", s)
	mux.HandleFunc("/harness/", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/harness/":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write(harness)
		case "/harness/wasm_exec.js":
			http.ServeFile(w, r, wasmExecJS)
		case "/harness/ws.test.wasm":
			w.Header().Set("Content-Type", "application/wasm")
			http.ServeFile(w, r, bin)
		case "/harness/result":
			var res result
			if err := json.NewDecoder(io.LimitReader(r.Body, 4<<20)).Decode(&res); err == nil {
				results <- res
			}
		default:
			http.NotFound(w, r)
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	browser, err := peers.StartChromium(ctx, t, srv.URL+"/harness/", false)
	require.NoError(t, err)

	var res result
	select {
	case res = <-results:
	case <-ctx.Done():
		require.FailNowf(t, "the browser reported nothing", "chromium's stderr:\n%s", browser.Stderr())
	}
	t.Logf("js/wasm tests in Chromium (exit %d):\n%s", res.Code, res.Output)
	require.Equal(t, 0, res.Code, "the js/wasm tests failed in the browser")
	checkRun(t, s, res.Output)
}
