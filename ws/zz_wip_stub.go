package ws

import (
	"context"
	"net"
	"net/url"
)

func proxyAddr(u *url.URL) (string, error) { return u.Host, nil }
func proxyHandshake(ctx context.Context, c net.Conn, u *url.URL, target string) (net.Conn, error) {
	return c, nil
}
