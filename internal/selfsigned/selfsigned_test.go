package selfsigned

import (
	"crypto/tls"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCertificateVerifiesOnLoopback(t *testing.T) {
	cert, pool, err := New()
	require.NoError(t, err)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			_ = c.Close()
		}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool})
	require.NoError(t, err)
	require.NoError(t, c.Close())
	// A client that does not trust the pool refuses it.
	_, err = tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: "127.0.0.1"})
	require.Error(t, err)
}
