//go:build !js

package ws

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// connListener is a net.Listener fed with the NetConns of upgraded
// WebSockets, so that an http.Server can serve over them.
type connListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newConnListener() *connListener {
	return &connListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *connListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// tunnelServer upgrades every request and hands the NetConn to serve.
func tunnelServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	up := &Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		serve(NetConn(r.Context(), c, OpBinary))
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// A real protocol through the adapter: net/http's server and client, with
// keep-alive reuse of one tunnel for several requests.
func TestNetConnCarriesHTTP(t *testing.T) {
	ln := newConnListener()
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.URL.Query().Get("name"))
	})
	mux.HandleFunc("/sum", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%d bytes, sha %x", len(body), sha256.Sum256(body))
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	url := tunnelServer(t, func(nc net.Conn) {
		select {
		case ln.conns <- nc:
		case <-ln.done:
			_ = nc.Close()
			return
		}
		// The handler must not return while net/http serves the tunnel:
		// returning would end the request context, which closes the tunnel.
		<-ln.done
	})
	var dials int
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			dials++
			c, _, err := (&Dialer{}).Dial(ctx, url)
			if err != nil {
				return nil, err
			}
			return NetConn(context.Background(), c, OpBinary), nil
		},
	}}
	t.Cleanup(client.CloseIdleConnections)

	for _, name := range []string{"one", "two", "three"} {
		resp, err := client.Get("http://tunnel/hello?name=" + name)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, "hello "+name, string(body))
	}
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	resp, err := client.Post("http://tunnel/sum", "application/octet-stream", bytes.NewReader(payload))
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, fmt.Sprintf("%d bytes, sha %x", len(payload), sha256.Sum256(payload)), string(body))
	assert.Equal(t, 1, dials, "keep-alive: every request on the one tunnel")
}

// 100 MiB each way through io.Copy, checked by SHA-256.
func TestNetConnCopies100MiBBothWays(t *testing.T) {
	const total = 100 << 20
	url := tunnelServer(t, func(nc net.Conn) {
		defer nc.Close()
		_, _ = io.Copy(nc, nc) // echo until the client's close reads as EOF
	})
	c, _, err := (&Dialer{}).Dial(context.Background(), url)
	require.NoError(t, err)
	nc := NetConn(context.Background(), c, OpBinary)
	src := func() io.Reader { return io.LimitReader(rand.NewChaCha8([32]byte{7}), total) }
	want := sha256.New()
	_, _ = io.Copy(want, src())

	sent := make(chan error, 1)
	go func() {
		_, err := io.Copy(nc, src())
		sent <- err
	}()
	got := sha256.New()
	n, err := io.CopyN(got, nc, total)
	require.NoError(t, err)
	require.NoError(t, <-sent)
	assert.Equal(t, int64(total), n)
	assert.Equal(t, want.Sum(nil), got.Sum(nil))
	require.NoError(t, nc.Close())
}

func TestNetConnCloseReadsAsEOFAndDeadlines(t *testing.T) {
	a, b := pipePair(t, nil, nil)
	ca := NetConn(context.Background(), a, OpText)
	cb := NetConn(context.Background(), b, OpText)
	assert.Equal(t, a.LocalAddr(), ca.LocalAddr())
	assert.Equal(t, a.RemoteAddr(), ca.RemoteAddr())

	// A read deadline: a timeout, then the stream goes on.
	require.NoError(t, cb.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	_, err := cb.Read(make([]byte, 4))
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	require.NoError(t, cb.SetReadDeadline(time.Time{}))

	go func() {
		_, _ = ca.Write([]byte("ab"))
		_, _ = ca.Write(nil) // sends nothing
		_, _ = ca.Write([]byte("cd"))
		_ = ca.Close() // 1000: the other side's stream ends with io.EOF
	}()
	all, err := io.ReadAll(cb)
	require.NoError(t, err, "io.ReadAll stops at io.EOF")
	assert.Equal(t, "abcd", string(all))
	_, err = cb.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF)
	assert.NoError(t, ca.Close(), "closing twice is harmless")
}

func TestNetConnOtherCloseCodesAndContext(t *testing.T) {
	a, b := pipePair(t, nil, nil)
	cb := NetConn(context.Background(), b, OpBinary)
	go func() { _ = a.Close(4000, "app says no") }()
	_, err := cb.Read(make([]byte, 1))
	var ce *CloseError
	require.ErrorAs(t, err, &ce, "a close other than 1000/1001 is reported as it is")
	assert.Equal(t, StatusCode(4000), ce.Code)

	c, d := pipePair(t, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	nc := NetConn(ctx, c, OpBinary)
	readErr := make(chan error, 1)
	go func() { _, err := nc.Read(make([]byte, 1)); readErr <- err }()
	cancel()
	select {
	case err := <-readErr:
		require.Error(t, err)
		assert.False(t, errors.Is(err, io.EOF), "a cancelled conn is not a clean end")
	case <-time.After(5 * time.Second):
		require.FailNow(t, "cancelling the context did not close the conn")
	}
	_ = d
}
