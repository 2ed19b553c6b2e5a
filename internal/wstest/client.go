package wstest

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Client is a raw client: it speaks the opening handshake (RFC 6455 §4.1)
// with the headers a test chooses and then the frames the test scripts.
type Client struct {
	Wire
	// Key is the Sec-WebSocket-Key of the last request sent by Handshake.
	Key string
	// Head is the response head byte for byte.
	Head string
	// Resp is Head parsed by net/http.
	Resp *http.Response
}

// Dial connects to addr (host:port) over TCP; the connection is closed when
// the test ends.
func Dial(t testing.TB, addr string) *Client {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	done := make(chan struct{})
	t.Cleanup(func() { close(done); _ = nc.Close() })
	return &Client{Wire: newWire(t, nc, done)}
}

// Request returns an opening handshake request (RFC 6455 §4.1) for path on
// host with key, followed by the extra header lines given as "Name: value".
func Request(host, path, key string, extra ...string) string {
	var b strings.Builder
	b.WriteString("GET " + path + " HTTP/1.1\r\nHost: " + host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Version: 13\r\n")
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// Handshake sends an opening handshake request for path with a fresh key
// and the extra header lines, and reads the response head byte by byte, so
// that what follows it (frames) is left for ReadFrame. It returns the
// parsed response, whatever its status.
func (c *Client) Handshake(path string, extra ...string) *http.Response {
	c.T.Helper()
	c.Key = NewKey()
	c.WriteString(Request(c.Conn.RemoteAddr().String(), path, c.Key, extra...))
	return c.ReadResponse()
}

// ReadResponse reads and parses a response head, for a request the test
// wrote itself.
func (c *Client) ReadResponse() *http.Response {
	c.T.Helper()
	_ = c.Conn.SetReadDeadline(c.deadline())
	head, err := ReadHead(c.Conn)
	require.NoError(c.T, err, "wstest: reading the response head %q", head)
	_ = c.Conn.SetReadDeadline(time.Time{})
	c.Head = head
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(head)), nil)
	require.NoError(c.T, err, "wstest: parsing the response head %q", head)
	c.Resp = resp
	return resp
}

// Upgrade is Handshake that requires the server to accept: status 101 and
// the Sec-WebSocket-Accept RFC 6455 §4.1 (client requirement 4) demands
// for the key sent.
func (c *Client) Upgrade(path string, extra ...string) *http.Response {
	c.T.Helper()
	resp := c.Handshake(path, extra...)
	require.Equal(c.T, http.StatusSwitchingProtocols, resp.StatusCode, "wstest: response %q", c.Head)
	require.Equal(c.T, AcceptKey(c.Key), resp.Header.Get("Sec-WebSocket-Accept"), "wstest: accept value, RFC 6455 §4.2.2 item 5.4")
	return resp
}
