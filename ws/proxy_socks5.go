//go:build !js

package ws

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
)

// SOCKS5 tunnels (RFC 1928) for socks5 and socks5h proxies, with the
// username/password subnegotiation of RFC 1929.

// SOCKS5 and RFC 1929 wire constants.
const (
	socksVersion5        = 0x05 // RFC 1928 §3: VER is X'05'
	socksMethodNoAuth    = 0x00 // RFC 1928 §3: NO AUTHENTICATION REQUIRED
	socksMethodUserPass  = 0x02 // RFC 1928 §3: USERNAME/PASSWORD
	socksMethodNone      = 0xFF // RFC 1928 §3: NO ACCEPTABLE METHODS
	socksCmdConnect      = 0x01 // RFC 1928 §4: CONNECT
	socksAtypIPv4        = 0x01 // RFC 1928 §5
	socksAtypDomain      = 0x03 // RFC 1928 §5
	socksAtypIPv6        = 0x04 // RFC 1928 §5
	socksUserPassVersion = 0x01 // RFC 1929 §2: subnegotiation VER is X'01'
	socksReplySucceeded  = 0x00 // RFC 1928 §6
)

// proxySOCKS5 runs the method negotiation (RFC 1928 §3), the optional
// username/password subnegotiation (RFC 1929 §2) and the CONNECT request
// (RFC 1928 §4–§6). It reads exactly the bytes of each reply, so no byte of
// the target's stream is consumed.
func proxySOCKS5(ctx context.Context, conn net.Conn, perr *ProxyError, host string, port uint16, user, pass string, hasCreds bool) error {
	fail := func(op string, err error) error {
		perr.Op = op
		perr.Err = err
		return perr
	}
	// Build the CONNECT request first so that a target SOCKS5 cannot carry
	// fails before a byte is sent.
	req, err := socksConnectRequest(host, port)
	if err != nil {
		return fail("connect", err)
	}
	// RFC 1929 §2: UNAME and PASSWD are 1 to 255 bytes each; check before
	// anything is sent.
	if hasCreds {
		if len(user) < 1 || len(user) > 255 {
			return fail("auth", fmt.Errorf("user name is %d bytes, RFC 1929 allows 1..255: %w", len(user), ErrProxyAuth))
		}
		if len(pass) < 1 || len(pass) > 255 {
			return fail("auth", fmt.Errorf("password is %d bytes, RFC 1929 allows 1..255: %w", len(pass), ErrProxyAuth))
		}
	}

	// RFC 1928 §3: VER, NMETHODS, METHODS. We offer "no authentication",
	// and username/password when the URL has credentials.
	greeting := []byte{socksVersion5, 1, socksMethodNoAuth}
	if hasCreds {
		greeting = []byte{socksVersion5, 2, socksMethodNoAuth, socksMethodUserPass}
	}
	if _, err := conn.Write(greeting); err != nil {
		return fail("greeting", proxyIOErr(ctx, "writing greeting", err))
	}
	var b [2]byte
	if _, err := io.ReadFull(conn, b[:]); err != nil {
		return fail("greeting", proxyIOErr(ctx, "reading method selection", err))
	}
	// RFC 1928 §3: the server answers VER (X'05') and METHOD.
	if b[0] != socksVersion5 {
		return fail("greeting", fmt.Errorf("method selection has version %d, want 5: %w", b[0], ErrProxyReply))
	}
	switch method := b[1]; {
	case method == socksMethodNone:
		// RFC 1928 §3: X'FF' means none of our methods is acceptable; the
		// client MUST close the connection (proxyHandshake does).
		if hasCreds {
			return fail("greeting", fmt.Errorf("no acceptable authentication methods: %w", ErrProxyAuth))
		}
		return fail("greeting", fmt.Errorf("no acceptable authentication methods (no credentials in the proxy URL): %w", ErrProxyAuth))
	case method == socksMethodNoAuth:
	case method == socksMethodUserPass && hasCreds:
		if err := socksUserPass(ctx, conn, user, pass); err != nil {
			return fail("auth", err)
		}
	default:
		return fail("greeting", fmt.Errorf("proxy selected method 0x%02x, which we did not offer: %w", method, ErrProxyReply))
	}

	if _, err := conn.Write(req); err != nil {
		return fail("connect", proxyIOErr(ctx, "writing CONNECT request", err))
	}
	return socksReadReply(ctx, conn, perr)
}

// socksConnectRequest builds VER CMD RSV ATYP DST.ADDR DST.PORT (RFC 1928
// §4) for host and port.
func socksConnectRequest(host string, port uint16) ([]byte, error) {
	req := make([]byte, 0, 4+1+255+2)
	req = append(req, socksVersion5, socksCmdConnect, 0x00) // RFC 1928 §4: RSV is X'00'
	if ip, err := netip.ParseAddr(host); err == nil {
		// RFC 1928 §5: IP literals go as X'01' (4 octets) or X'04' (16).
		if ip.Zone() != "" {
			return nil, fmt.Errorf("target %q has an IPv6 zone, which SOCKS5 cannot carry: %w", host, ErrProxyAddr)
		}
		if ip.Is4() {
			a := ip.As4()
			req = append(req, socksAtypIPv4)
			req = append(req, a[:]...)
		} else {
			a := ip.As16()
			req = append(req, socksAtypIPv6)
			req = append(req, a[:]...)
		}
	} else {
		// RFC 1928 §5: X'03', one length octet, then the name without a
		// terminating NUL; the length octet caps it at 255 bytes.
		if len(host) > 255 {
			return nil, fmt.Errorf("target name is %d bytes, SOCKS5 allows 255: %w", len(host), ErrProxyAddr)
		}
		req = append(req, socksAtypDomain, byte(len(host)))
		req = append(req, host...)
	}
	// RFC 1928 §4: DST.PORT in network octet order.
	return append(req, byte(port>>8), byte(port)), nil
}

// socksUserPass runs the RFC 1929 subnegotiation; lengths were checked by
// the caller.
func socksUserPass(ctx context.Context, conn net.Conn, user, pass string) error {
	// RFC 1929 §2: VER (X'01'), ULEN, UNAME, PLEN, PASSWD.
	msg := make([]byte, 0, 3+len(user)+len(pass))
	msg = append(msg, socksUserPassVersion, byte(len(user)))
	msg = append(msg, user...)
	msg = append(msg, byte(len(pass)))
	msg = append(msg, pass...)
	if _, err := conn.Write(msg); err != nil {
		return proxyIOErr(ctx, "writing credentials", err)
	}
	var b [2]byte
	if _, err := io.ReadFull(conn, b[:]); err != nil {
		return proxyIOErr(ctx, "reading authentication status", err)
	}
	// RFC 1929 §2: the response is VER STATUS, VER being the subnegotiation
	// version X'01'.
	if b[0] != socksUserPassVersion {
		return fmt.Errorf("authentication status has version %d, want 1: %w", b[0], ErrProxyReply)
	}
	// RFC 1929 §2: STATUS X'00' is success, anything else failure.
	if b[1] != 0x00 {
		return fmt.Errorf("credentials rejected (status 0x%02x): %w", b[1], ErrProxyAuth)
	}
	return nil
}

// socksReadReply reads VER REP RSV ATYP BND.ADDR BND.PORT (RFC 1928 §6),
// exactly as many bytes as the reply has.
func socksReadReply(ctx context.Context, conn net.Conn, perr *ProxyError) error {
	fail := func(err error) error {
		perr.Op = "connect"
		perr.Err = err
		return perr
	}
	// VER and REP first: a server that refuses may close right after them,
	// and REP is what the caller needs to see.
	var b [2]byte
	if _, err := io.ReadFull(conn, b[:]); err != nil {
		return fail(proxyIOErr(ctx, "reading CONNECT reply", err))
	}
	if b[0] != socksVersion5 {
		return fail(fmt.Errorf("reply has version %d, want 5: %w", b[0], ErrProxyReply))
	}
	if rep := b[1]; rep != socksReplySucceeded {
		perr.Reply = rep
		return fail(fmt.Errorf("reply 0x%02x (%s): %w", rep, socksReplyText(rep), ErrProxyRefused))
	}
	if _, err := io.ReadFull(conn, b[:]); err != nil {
		return fail(proxyIOErr(ctx, "reading CONNECT reply", err))
	}
	// RFC 1928 §6: fields marked RESERVED (RSV) must be set to X'00'.
	if b[0] != 0x00 {
		return fail(fmt.Errorf("reply RSV is 0x%02x, want 0: %w", b[0], ErrProxyReply))
	}
	// RFC 1928 §5, §6: BND.ADDR is 4 octets for X'01', 16 for X'04', a
	// length octet and that many for X'03'; BND.PORT is 2 octets.
	var addrLen int
	switch b[1] {
	case socksAtypIPv4:
		addrLen = 4
	case socksAtypIPv6:
		addrLen = 16
	case socksAtypDomain:
		var l [1]byte
		if _, err := io.ReadFull(conn, l[:]); err != nil {
			return fail(proxyIOErr(ctx, "reading CONNECT reply", err))
		}
		addrLen = int(l[0])
	default:
		return fail(fmt.Errorf("reply has address type 0x%02x: %w", b[1], ErrProxyReply))
	}
	var rest [255 + 2]byte
	if _, err := io.ReadFull(conn, rest[:addrLen+2]); err != nil {
		return fail(proxyIOErr(ctx, "reading CONNECT reply", err))
	}
	return nil
}

// socksReplyText is the meaning RFC 1928 §6 gives a REP byte.
func socksReplyText(rep byte) string {
	switch rep {
	case 0x00:
		return "succeeded"
	case 0x01:
		return "general SOCKS server failure"
	case 0x02:
		return "connection not allowed by ruleset"
	case 0x03:
		return "network unreachable"
	case 0x04:
		return "host unreachable"
	case 0x05:
		return "connection refused"
	case 0x06:
		return "TTL expired"
	case 0x07:
		return "command not supported"
	case 0x08:
		return "address type not supported"
	default:
		return "unassigned"
	}
}
