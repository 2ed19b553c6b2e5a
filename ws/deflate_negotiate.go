//go:build !js

package ws

import (
	"compress/flate"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrCompressionOptions is returned by Dial (and makes Upgrade answer 500)
// when CompressionOptions holds a value outside its documented range, so a
// typo in a configuration fails loudly at the first handshake instead of
// silently compressing differently.
var ErrCompressionOptions = errors.New("ws: invalid CompressionOptions")

// deflateName is the extension token of RFC 7692 §7.
const deflateName = "permessage-deflate"

// The four extension parameters of RFC 7692 §7.1.
const (
	paramServerNoContextTakeover = "server_no_context_takeover"
	paramClientNoContextTakeover = "client_no_context_takeover"
	paramServerMaxWindowBits     = "server_max_window_bits"
	paramClientMaxWindowBits     = "client_max_window_bits"
)

// extParam is one extension parameter as RFC 6455 §9.1 spells it:
// token [ "=" (token | quoted-string) ].
type extParam struct {
	name     string
	value    string
	hasValue bool
}

// extElement is one element of a Sec-WebSocket-Extensions list: an
// extension token and its parameters.
type extElement struct {
	name   string
	params []extParam
}

// isTchar reports whether c may appear in an HTTP token (RFC 9110 §5.6.2),
// the grammar RFC 6455 §9.1 uses for extension and parameter names.
func isTchar(c byte) bool {
	return c > ' ' && c < 0x7F && strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) < 0
}

// extScanner walks one header value.
type extScanner struct {
	s string
	i int
}

func (x *extScanner) skipOWS() {
	for x.i < len(x.s) && (x.s[x.i] == ' ' || x.s[x.i] == '\t') {
		x.i++
	}
}

func (x *extScanner) token() string {
	start := x.i
	for x.i < len(x.s) && isTchar(x.s[x.i]) {
		x.i++
	}
	return x.s[start:x.i]
}

// quoted reads a quoted-string (RFC 9110 §5.6.4) after its opening quote and
// returns it unescaped.
func (x *extScanner) quoted() (string, error) {
	var b strings.Builder
	for x.i < len(x.s) {
		c := x.s[x.i]
		x.i++
		switch {
		case c == '"':
			return b.String(), nil
		case c == '\\':
			if x.i == len(x.s) {
				return "", errors.New("quoted-string ends in a backslash")
			}
			b.WriteByte(x.s[x.i])
			x.i++
		default:
			b.WriteByte(c)
		}
	}
	return "", errors.New("unterminated quoted-string")
}

// parseExtensions parses Sec-WebSocket-Extensions values (one per header
// line) into their elements, following the ABNF of RFC 6455 §9.1. Empty list
// elements are skipped, as the #rule of RFC 9110 §5.6.1 allows. The input is
// bounded by the handshake's head limit, so the result is too.
func parseExtensions(values []string) ([]extElement, error) {
	var out []extElement
	for _, v := range values {
		x := &extScanner{s: v}
		for {
			x.skipOWS()
			if x.i == len(x.s) {
				break
			}
			if x.s[x.i] == ',' {
				x.i++
				continue
			}
			name := x.token()
			if name == "" {
				return nil, fmt.Errorf("extension list %q: expected a token at offset %d", v, x.i)
			}
			el := extElement{name: name}
			for {
				x.skipOWS()
				if x.i == len(x.s) || x.s[x.i] != ';' {
					break
				}
				x.i++
				x.skipOWS()
				p := extParam{name: x.token()}
				if p.name == "" {
					return nil, fmt.Errorf("extension list %q: expected a parameter name at offset %d", v, x.i)
				}
				x.skipOWS()
				if x.i < len(x.s) && x.s[x.i] == '=' {
					x.i++
					x.skipOWS()
					p.hasValue = true
					if x.i < len(x.s) && x.s[x.i] == '"' {
						x.i++
						val, err := x.quoted()
						if err != nil {
							return nil, fmt.Errorf("extension list %q: %v", v, err)
						}
						// RFC 6455 §9.1: "When using the quoted-string
						// syntax variant, the value after quoted-string
						// unescaping MUST conform to the 'token' ABNF."
						for j := 0; j < len(val); j++ {
							if !isTchar(val[j]) {
								return nil, fmt.Errorf("extension list %q: quoted value %q is not a token", v, val)
							}
						}
						if val == "" {
							return nil, fmt.Errorf("extension list %q: empty quoted value", v)
						}
						p.value = val
					} else {
						p.value = x.token()
						if p.value == "" {
							return nil, fmt.Errorf("extension list %q: expected a value at offset %d", v, x.i)
						}
					}
				}
				el.params = append(el.params, p)
			}
			out = append(out, el)
			x.skipOWS()
			if x.i < len(x.s) {
				if x.s[x.i] != ',' {
					return nil, fmt.Errorf("extension list %q: unexpected %q at offset %d", v, x.s[x.i], x.i)
				}
				x.i++
			}
		}
	}
	return out, nil
}

// deflateParams are permessage-deflate parameters, as offered, answered or
// agreed. A window size of 0 means the parameter is absent.
type deflateParams struct {
	serverNoContextTakeover bool
	clientNoContextTakeover bool
	serverMaxWindowBits     int
	clientMaxWindowBits     int
	// clientMaxWindowBitsBare: an offer carried client_max_window_bits
	// without a value (RFC 7692 §7.1.2.2 allows that in offers only).
	clientMaxWindowBitsBare bool
}

// parseWindowBits accepts exactly what RFC 7692 §7.1.2.1 and §7.1.2.2
// allow: "a decimal integer value without leading zeroes between 8 to 15,
// inclusive".
func parseWindowBits(v string) (int, bool) {
	if v == "" || v[0] == '0' || len(v) > 2 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
		n = n*10 + int(v[i]-'0')
	}
	if n < 8 || n > 15 {
		return 0, false
	}
	return n, true
}

// parseDeflateParams validates the parameters of one permessage-deflate
// element. offer selects the rules of an offer (client_max_window_bits may
// come without a value) or of a response (it needs one). The error names the
// first rule broken: RFC 7692 §7.1 makes a server decline such an offer and a
// client fail the connection on such a response.
func parseDeflateParams(params []extParam, offer bool) (deflateParams, error) {
	var p deflateParams
	seen := make(map[string]bool, len(params))
	for _, kv := range params {
		name := strings.ToLower(kv.name)
		// RFC 7692 §7.1: an offer or a response that "contains multiple
		// extension parameters with the same name" is invalid.
		if seen[name] {
			return p, fmt.Errorf("duplicate parameter %s", name)
		}
		seen[name] = true
		switch name {
		case paramServerNoContextTakeover, paramClientNoContextTakeover:
			// RFC 7692 §7.1.1.1, §7.1.1.2: these parameters have no value.
			if kv.hasValue {
				return p, fmt.Errorf("%s=%s: this parameter takes no value", name, kv.value)
			}
			if name == paramServerNoContextTakeover {
				p.serverNoContextTakeover = true
			} else {
				p.clientNoContextTakeover = true
			}
		case paramServerMaxWindowBits:
			// RFC 7692 §7.1.2.1: the value is required, 8 to 15.
			bits, ok := parseWindowBits(kv.value)
			if !kv.hasValue || !ok {
				return p, fmt.Errorf("%s=%q: want a value from 8 to 15", name, kv.value)
			}
			p.serverMaxWindowBits = bits
		case paramClientMaxWindowBits:
			// RFC 7692 §7.1.2.2: in an offer the value may be absent ("the
			// client supports the parameter"); in a response it is required.
			if !kv.hasValue {
				if !offer {
					return p, fmt.Errorf("%s without a value in a response", name)
				}
				p.clientMaxWindowBitsBare = true
				continue
			}
			bits, ok := parseWindowBits(kv.value)
			if !ok {
				return p, fmt.Errorf("%s=%q: want a value from 8 to 15", name, kv.value)
			}
			p.clientMaxWindowBits = bits
		default:
			// RFC 7692 §7.1: "an extension parameter not defined for use in
			// an offer/a response".
			return p, fmt.Errorf("unknown parameter %q", kv.name)
		}
	}
	return p, nil
}

// String renders the parameters as a Sec-WebSocket-Extensions element.
func (p deflateParams) String() string {
	var b strings.Builder
	b.WriteString(deflateName)
	if p.serverNoContextTakeover {
		b.WriteString("; " + paramServerNoContextTakeover)
	}
	if p.clientNoContextTakeover {
		b.WriteString("; " + paramClientNoContextTakeover)
	}
	if p.serverMaxWindowBits != 0 {
		b.WriteString("; " + paramServerMaxWindowBits + "=" + strconv.Itoa(p.serverMaxWindowBits))
	}
	if p.clientMaxWindowBits != 0 {
		b.WriteString("; " + paramClientMaxWindowBits + "=" + strconv.Itoa(p.clientMaxWindowBits))
	} else if p.clientMaxWindowBitsBare {
		b.WriteString("; " + paramClientMaxWindowBits)
	}
	return b.String()
}

// validate checks the options against their documented ranges.
func (o *CompressionOptions) validate() error {
	if o.Level != 0 && o.Level != flate.HuffmanOnly && o.Level != flate.DefaultCompression &&
		(o.Level < flate.BestSpeed || o.Level > flate.BestCompression) {
		return fmt.Errorf("%w: Level %d (want 0, -2 (HuffmanOnly), -1 or 1..9)", ErrCompressionOptions, o.Level)
	}
	if b := o.ServerMaxWindowBits; b != 0 && (b < 8 || b > 15) {
		return fmt.Errorf("%w: ServerMaxWindowBits %d (want 0 or 8..15)", ErrCompressionOptions, b)
	}
	if b := o.ClientMaxWindowBits; b != 0 && (b < 8 || b > 15) {
		return fmt.Errorf("%w: ClientMaxWindowBits %d (want 0 or 8..15)", ErrCompressionOptions, b)
	}
	return nil
}

// clientOffer is the client's Sec-WebSocket-Extensions offer (RFC 7692 §5,
// §7.1). It asks for what the options ask for and, unless
// OmitClientMaxWindowBits, always carries client_max_window_bits: with a
// value when ClientMaxWindowBits is set, without one otherwise, since we can
// compress within any window the server answers (deflate_window.go).
func (o *CompressionOptions) clientOffer() (string, error) {
	if err := o.validate(); err != nil {
		return "", err
	}
	return deflateParams{
		serverNoContextTakeover: o.ServerNoContextTakeover,
		clientNoContextTakeover: o.ClientNoContextTakeover,
		serverMaxWindowBits:     o.ServerMaxWindowBits,
		clientMaxWindowBits:     o.ClientMaxWindowBits,
		clientMaxWindowBitsBare: o.offersClientBits() && o.ClientMaxWindowBits == 0,
	}.String(), nil
}

// offersClientBits says whether the client's offer has client_max_window_bits.
func (o *CompressionOptions) offersClientBits() bool {
	return o.ClientMaxWindowBits != 0 || !o.OmitClientMaxWindowBits
}

// clientAccept validates the server's Sec-WebSocket-Extensions answer to our
// offer (RFC 7692 §5, §7.1) and returns the state for the agreed parameters,
// or nil when the server declined compression.
func (o *CompressionOptions) clientAccept(exts []string, role Role) (*deflateState, error) {
	els, err := parseExtensions(exts)
	if err != nil {
		return nil, err
	}
	switch {
	case len(els) == 0:
		return nil, nil // an empty header: nothing accepted
	case len(els) > 1:
		// RFC 6455 §4.1 item 5 (only offered extensions) and RFC 7692 §5 (a
		// server accepts at most one PMCE offer; RSV1 cannot mean two
		// things): we offered exactly one element.
		return nil, fmt.Errorf("server accepted %d extensions, only one was offered", len(els))
	case !strings.EqualFold(els[0].name, deflateName):
		return nil, fmt.Errorf("server accepted %q, which was not offered", els[0].name)
	}
	p, err := parseDeflateParams(els[0].params, false)
	if err != nil {
		// RFC 7692 §7.1: "A client MUST _Fail the WebSocket Connection_ if
		// the peer server accepted an extension negotiation offer for this
		// extension with an extension negotiation response" with an
		// undefined, invalid or repeated parameter.
		return nil, err
	}
	// RFC 7692 §7.1.2.2: "If a received extension negotiation offer doesn't
	// have the client_max_window_bits extension parameter, the
	// corresponding extension negotiation response to the offer MUST NOT
	// include" it; if it had a value, the answer may only lower it.
	if p.clientMaxWindowBits != 0 {
		if !o.offersClientBits() {
			return nil, fmt.Errorf("%s=%d in the response, not offered", paramClientMaxWindowBits, p.clientMaxWindowBits)
		}
		if o.ClientMaxWindowBits != 0 && p.clientMaxWindowBits > o.ClientMaxWindowBits {
			return nil, fmt.Errorf("%s=%d in the response, above the %d offered", paramClientMaxWindowBits, p.clientMaxWindowBits, o.ClientMaxWindowBits)
		}
	}
	// RFC 7692 §7.1.2.1: a server accepts server_max_window_bits "by
	// including [it] in the extension negotiation response ... with the same
	// or smaller value as the offer"; without it, the server would use the
	// full 32 KiB window we asked it not to.
	if o.ServerMaxWindowBits != 0 {
		if p.serverMaxWindowBits == 0 {
			return nil, fmt.Errorf("%s=%d offered, the response has none", paramServerMaxWindowBits, o.ServerMaxWindowBits)
		}
		if p.serverMaxWindowBits > o.ServerMaxWindowBits {
			return nil, fmt.Errorf("%s=%d in the response, above the %d offered", paramServerMaxWindowBits, p.serverMaxWindowBits, o.ServerMaxWindowBits)
		}
	}
	// RFC 7692 §7.1.1.1: a server accepts server_no_context_takeover by
	// including it; an answer without it would keep a window we asked it to
	// drop.
	if o.ServerNoContextTakeover && !p.serverNoContextTakeover {
		return nil, fmt.Errorf("%s offered, the response lacks it", paramServerNoContextTakeover)
	}
	// RFC 7692 §7.1.1.2 and §7.1.2.2: what we offered about our own side is
	// a promise the answer cannot lift. After client_no_context_takeover we
	// do not take over our context, and after client_max_window_bits=N we
	// do not use a larger window, whatever the answer says.
	if o.ClientNoContextTakeover {
		p.clientNoContextTakeover = true
	}
	if p.clientMaxWindowBits == 0 {
		p.clientMaxWindowBits = o.ClientMaxWindowBits
	}
	return newDeflateState(o, p, role), nil
}

// serverAccept picks the first acceptable permessage-deflate offer from the
// client's Sec-WebSocket-Extensions values (RFC 7692 §5: offers come in the
// client's order of preference) and returns the response element and the
// state for it. It returns an empty response and a nil state when every
// offer is declined, and an error only when the header is not the list RFC
// 6455 §9.1 defines (or the options are invalid).
func (o *CompressionOptions) serverAccept(offers []string) (string, *deflateState, error) {
	if err := o.validate(); err != nil {
		return "", nil, err
	}
	els, err := parseExtensions(offers)
	if err != nil {
		return "", nil, err
	}
	for _, el := range els {
		if !strings.EqualFold(el.name, deflateName) {
			continue // another extension: we support none, so never accept it
		}
		offer, err := parseDeflateParams(el.params, true)
		if err != nil {
			// RFC 7692 §7.1: "A server MUST decline an extension
			// negotiation offer for this extension if" it has an undefined,
			// invalid or repeated parameter. Declining one offer leaves the
			// next one, or no compression, not a failed handshake.
			continue
		}
		agreed := deflateParams{
			// RFC 7692 §7.1.1.1: accepting server_no_context_takeover means
			// echoing it; we may also add it on our own.
			serverNoContextTakeover: offer.serverNoContextTakeover || o.ServerNoContextTakeover,
			// RFC 7692 §7.1.1.2: the server may include
			// client_no_context_takeover; we echo the client's hint too
			// (unless told not to), so our inflater may drop its window
			// between messages.
			clientNoContextTakeover: offer.clientNoContextTakeover && !o.IgnoreClientNoContextTakeoverHint || o.ClientNoContextTakeover,
		}
		// RFC 7692 §7.1.2.1: answer with "the same or smaller value as the
		// offer"; a server may also limit its own window unasked.
		if offer.serverMaxWindowBits != 0 || o.ServerMaxWindowBits != 0 {
			bits := 15
			if offer.serverMaxWindowBits != 0 {
				bits = offer.serverMaxWindowBits
			}
			if o.ServerMaxWindowBits != 0 && o.ServerMaxWindowBits < bits {
				bits = o.ServerMaxWindowBits
			}
			agreed.serverMaxWindowBits = bits
		}
		// RFC 7692 §7.1.2.2: client_max_window_bits may be answered only if
		// offered, with a value no larger than the offered one. We answer it
		// only when the options ask to limit the client: our inflater keeps
		// a 32 KiB window whatever the client uses.
		if o.ClientMaxWindowBits != 0 && (offer.clientMaxWindowBits != 0 || offer.clientMaxWindowBitsBare) {
			bits := o.ClientMaxWindowBits
			if offer.clientMaxWindowBits != 0 && offer.clientMaxWindowBits < bits {
				bits = offer.clientMaxWindowBits
			}
			agreed.clientMaxWindowBits = bits
		}
		return agreed.String(), newDeflateState(o, agreed, RoleServer), nil
	}
	return "", nil, nil
}
