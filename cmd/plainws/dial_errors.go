package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"

	"github.com/plainws/plainws/ws"
)

// maxBodyShown bounds the bytes of a refusing server's body that dial
// prints: enough for an error page's message, not a whole page.
const maxBodyShown = 300

// showRefusal prints, as events, what a server that did not switch
// protocols answered: its status line first, then the start of its body.
func showRefusal(err error, resp *http.Response, out *dialOutput) {
	var he *ws.HandshakeError
	if !errors.As(err, &he) || he.Status == "" {
		return
	}
	status := he.Status
	if resp != nil {
		status = resp.Proto + " " + resp.Status
	}
	out.event("server answered %s", status)
	body := strings.TrimSpace(printable(he.Body))
	if body == "" {
		return
	}
	more := ""
	if len(body) > maxBodyShown {
		cut := maxBodyShown
		for cut > 0 && !utf8.RuneStart(body[cut]) {
			cut--
		}
		more = fmt.Sprintf(" … (%d more bytes)", len(body)-cut)
		body = body[:cut]
	}
	for i, l := range strings.Split(body, "\n") {
		if i == 0 {
			out.event("body: %s", strings.TrimRight(l, " \r"))
		} else {
			out.event("      %s", strings.TrimRight(l, " \r"))
		}
	}
	if more != "" {
		out.event("     %s", more)
	}
}

// printable keeps text and newlines and turns every other control byte or
// invalid UTF-8 into '.', so a binary body cannot upset the terminal.
func printable(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && n == 1, r != '\n' && r != '\t' && unicode.IsControl(r):
			sb.WriteByte('.')
		default:
			sb.WriteRune(r)
		}
		b = b[n:]
	}
	return sb.String()
}

// explainDialError adds the way out to the failures a user can fix: an
// untrusted certificate, a server that never answers the upgrade, nothing
// listening, a refused upgrade.
func explainDialError(err error, cfg *dialConfig) error {
	var cve *tls.CertificateVerificationError
	var uae x509.UnknownAuthorityError
	var hne x509.HostnameError
	var cie x509.CertificateInvalidError
	if errors.As(err, &cve) || errors.As(err, &uae) || errors.As(err, &hne) || errors.As(err, &cie) {
		return withHint(err, "the server's certificate is not trusted: pass its CA with -cacert FILE "+
			"(plainws serve -tls-self-signed -tls-write-cert FILE writes one), or skip the check with -insecure (testing only)")
	}
	var de *ws.DialError
	isDialErr := errors.As(err, &de)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		switch {
		case isDialErr && de.Op == ws.OpConnect:
			return withHint(fmt.Errorf("no TCP connection to %s within %v: %w", de.Addr, cfg.timeout, err),
				"the host does not answer (a firewall dropping packets?); -timeout sets the wait")
		case isDialErr:
			return withHint(fmt.Errorf("%s step did not finish within %v: %w", de.Op, cfg.timeout, err),
				"-timeout sets the wait")
		default:
			return withHint(fmt.Errorf("no handshake response within %v: %w", cfg.timeout, err),
				"the server took the connection but never answered the upgrade request: is it a WebSocket server, "+
					"and does it want TLS (wss://)? -timeout sets the wait")
		}
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return withHint(err, "nothing listens there; for a local test server run: plainws serve PORT")
	}
	var he *ws.HandshakeError
	if errors.As(err, &he) && errors.Is(err, ws.ErrBadStatus) {
		switch he.StatusCode {
		case http.StatusUnauthorized:
			return withHint(err, "the server wants credentials: add -H 'Authorization: ...'")
		case http.StatusForbidden:
			return withHint(err, "the server refused the upgrade; if it checks the Origin, send one it allows with -origin")
		case http.StatusNotFound:
			return withHint(err, "no WebSocket endpoint at that path: check the URL's path")
		case http.StatusOK:
			return withHint(err, "a plain HTTP page answered, not a WebSocket endpoint: check the URL's path")
		}
	}
	return err
}
