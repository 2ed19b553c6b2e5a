package main

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// originFlag is serve's -origin allow-list: host patterns, given
// comma-separated or by repeating the flag. A pattern is matched, case
// folded, with path.Match ("*" matches any run of characters, so
// "*.example.com" covers every subdomain) against the Origin's host:port
// when the pattern has a port, and against its host name alone when it has
// none. A scheme in the pattern ("http://localhost:3000") is ignored;
// "null" matches the opaque origin of file:// pages and sandboxed frames
// (RFC 6454 §7.3).
type originFlag []string

func (o *originFlag) String() string { return strings.Join(*o, ",") }

func (o *originFlag) Set(v string) error {
	for p := range strings.SplitSeq(v, ",") {
		p = strings.ToLower(strings.TrimSpace(p))
		if i := strings.Index(p, "://"); i >= 0 {
			p = p[i+3:]
		}
		p = strings.TrimSuffix(p, "/")
		if p == "" {
			return fmt.Errorf("empty pattern in %q", v)
		}
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("pattern %q: %w", p, err)
		}
		*o = append(*o, p)
	}
	return nil
}

// allowed is the Upgrader's CheckOrigin (RFC 6455 §4.2.2 item 4, §10.2):
// a request without Origin comes from a non-browser client and is
// accepted; a browser's is accepted when its host matches a pattern.
func (o originFlag) allowed(r *http.Request) bool {
	origin := strings.ToLower(r.Header.Get("Origin"))
	if origin == "" {
		return true
	}
	if origin == "null" {
		return o.match("null", "null")
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	return o.match(u.Host, u.Hostname())
}

// match reports whether a pattern matches hostPort (patterns with a port)
// or hostname (patterns without).
func (o originFlag) match(hostPort, hostname string) bool {
	for _, p := range o {
		target := hostname
		if hasPort(p) {
			target = hostPort
		}
		if ok, _ := path.Match(p, target); ok {
			return true
		}
	}
	return false
}

// hasPort reports whether a pattern names a port: "host:port" or
// "[v6]:port", not a bare IPv6 literal.
func hasPort(p string) bool {
	i := strings.LastIndex(p, ":")
	return i >= 0 && !strings.Contains(p[i:], "]") && (strings.HasPrefix(p, "[") || strings.Count(p, ":") == 1)
}
