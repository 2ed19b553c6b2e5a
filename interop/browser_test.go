package interop

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/plainws/plainws/internal/peers"
	"github.com/plainws/plainws/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// page is what the browser runs: every case, then a POST of the results.
//
//go:embed browser/page.html
var page []byte

// browserResult is what the page POSTs to /result.
type browserResult struct {
	UserAgent string `json:"userAgent"`
	Results   []struct {
		Name   string `json:"name"`
		OK     bool   `json:"ok"`
		Detail string `json:"detail"`
	} `json:"results"`
}

// browserServer serves the page, an echo endpoint (with permessage-deflate on
// ?deflate=1), an endpoint with a 1 MiB read limit, and /result.
func browserServer(results chan<- browserResult, closes chan<- ws.StatusCode) http.Handler {
	allowLoopback := func(r *http.Request) bool {
		u, err := url.Parse(r.Header.Get("Origin"))
		return err == nil && u.Hostname() == "127.0.0.1" // the page comes from the plain server's port
	}
	upgrader := func(r *http.Request, limit int64) *ws.Upgrader {
		u := &ws.Upgrader{CheckOrigin: allowLoopback}
		u.ReadLimit = limit
		if r.URL.Query().Get("deflate") == "1" {
			u.Compression = &ws.CompressionOptions{}
		}
		return u
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		c, err := upgrader(r, 0).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		var buf []byte
		for {
			op, msg, err := c.ReadMessageInto(buf)
			if err != nil {
				var ce *ws.CloseError
				if errors.As(err, &ce) {
					closes <- ce.Code
				}
				return
			}
			buf = msg
			if c.WriteMessage(op, msg) != nil {
				return
			}
		}
	})
	mux.HandleFunc("/limited", func(w http.ResponseWriter, r *http.Request) {
		c, err := upgrader(r, 1<<20).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/result", func(w http.ResponseWriter, r *http.Request) {
		var res browserResult
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&res); err == nil {
			results <- res
		}
	})
	return mux
}

// The most common WebSocket client, headless Chromium, against our server over
// ws:// and wss:// (self-signed; the browser is told to accept it), with and
// without permessage-deflate (Chromium offers client_max_window_bits): UTF-8
// text, binary of 0 B to 16 MiB, a burst of 200 mixed messages, a close with
// 4000 and a reason, and 1009 for a message over the server's limit.
func TestBrowserAgainstOurServer(t *testing.T) {
	results := make(chan browserResult, 1)
	closes := make(chan ws.StatusCode, 16)
	h := browserServer(results, closes)
	plain := httptest.NewServer(h)
	t.Cleanup(plain.Close)
	secure := httptest.NewUnstartedServer(h)
	secure.StartTLS()
	t.Cleanup(secure.Close)

	bases, err := json.Marshal([]map[string]string{
		{"name": "ws", "url": "ws" + strings.TrimPrefix(plain.URL, "http")},
		{"name": "wss", "url": "wss" + strings.TrimPrefix(secure.URL, "https")},
	})
	require.NoError(t, err)
	pageURL := plain.URL + "/?bases=" + url.QueryEscape(string(bases))

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	browser, err := peers.StartChromium(ctx, t, pageURL, true)
	require.NoError(t, err)

	var res browserResult
	select {
	case res = <-results:
	case <-ctx.Done():
		require.FailNowf(t, "the browser reported nothing", "chromium's stderr:\n%s", browser.Stderr())
	}
	t.Logf("browser: %s, %d results", res.UserAgent, len(res.Results))
	want := 0
	for _, r := range res.Results {
		if strings.HasSuffix(r.Name, "/extensions") {
			t.Logf("%s: %q", r.Name, r.Detail) // what Chromium and we agreed on
		}
		assert.Truef(t, r.OK, "%s: %s", r.Name, r.Detail)
		want++
	}
	// 2 servers × 2 compression settings × (extensions, text, 8 binary sizes,
	// burst, close, 1009) cases.
	assert.Equal(t, 2*2*13, want, "every case reported")
	// Our side saw the browser's close codes: 4000 on each echo connection.
	for range 4 {
		select {
		case code := <-closes:
			assert.Equal(t, ws.StatusCode(4000), code)
		case <-time.After(5 * time.Second):
			require.FailNow(t, "a close from the browser did not reach the server")
		}
	}
}
