package main

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// hostPatternChars are the characters of an -origin pattern: those of a
// host name, an IPv6 literal and a port, and the wildcards "*" and "?".
const hostPatternChars = "abcdefghijklmnopqrstuvwxyz0123456789.-_:[]*?"

// originFlag is serve's -origin allow-list: host patterns, given
// comma-separated or by repeating the flag. A pattern is matched, case
// folded, with path.Match ("*" matches any run of characters, so
// "*.example.com" covers every subdomain; brackets are literal, for IPv6) against the Origin's host:port
// when the pattern has a port, and against its host name alone when it has
// none. A scheme in the pattern ("http://localhost:3000") is ignored;
// "null" matches the opaque origin of file:// pages and sandboxed frames
// (RFC 6454 §7.3).
type originFlag []string

func (o *originFlag) String() string { return strings.Join(*o, ",") }

// Set adds the patterns of one -origin value, checked to be host patterns.
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
		if i := strings.IndexFunc(p, func(r rune) bool { return !strings.ContainsRune(hostPatternChars, r) }); i >= 0 {
			return fmt.Errorf("pattern %q: %q cannot be in a host (want e.g. localhost:3000 or *.example.com)", p, p[i])
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
		if ok, _ := path.Match(literalBrackets.Replace(p), target); ok {
			return true
		}
	}
	return false
}

// literalBrackets makes the brackets of an IPv6 literal plain characters for
// path.Match, which would read them as a character class.
var literalBrackets = strings.NewReplacer("[", `\[`, "]", `\]`)

// hasPort reports whether a pattern names a port: "host:port" or
// "[v6]:port", not a bare IPv6 literal.
func hasPort(p string) bool {
	i := strings.LastIndex(p, ":")
	return i >= 0 && !strings.Contains(p[i:], "]") && (strings.HasPrefix(p, "[") || strings.Count(p, ":") == 1)
}
