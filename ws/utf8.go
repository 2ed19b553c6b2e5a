package ws

import (
	"encoding/binary"
	"unicode/utf8"
)

// UTF8Validator checks a byte stream that arrives in pieces (fragments, partial reads) is valid UTF-8 (RFC 3629),
// reporting failure as soon as a piece makes the stream invalid — even in the middle of a multi-byte sequence
// (e.g. a lead byte 0xED followed by 0xA0 fails at once: surrogates can never become valid) — and not only at the end.
//
// RFC 6455 §5.6 and §8.1: a text message MUST be valid UTF-8 as a whole, but a single frame (and a single read)
// may end inside a sequence, so validation must carry state across pieces; an endpoint that finds invalid UTF-8
// MUST fail the connection, and failing at the first bad piece spares reading (and buffering) the rest of a message
// that is already lost.
//
// The state is only the pending, incomplete sequence (a few bytes), so a validator costs nothing to embed in a
// connection and never grows. The zero value is a validator at the start of a stream. It is not safe for
// concurrent use.
type UTF8Validator struct {
	need   uint8 // continuation bytes still missing from the pending sequence (0..3)
	lo, hi uint8 // the range the next continuation byte must fall in while need > 0
	bad    bool  // sticky: the stream is already invalid
}

// utf8ASCIIMask selects the top bit of each byte of a 64-bit word; a word of ASCII bytes has none set.
const utf8ASCIIMask = 0x8080808080808080

// Write feeds the next piece of the stream to v. It returns false for the piece holding the first byte that no
// valid UTF-8 text could have at that position, and for every piece after it until Reset. A true result means the
// stream so far is valid UTF-8 or a prefix of it; call Complete at the end of a message to reject a sequence left
// unfinished.
func (v *UTF8Validator) Write(p []byte) bool {
	if v.bad {
		return false
	}
	if v.need > 0 {
		// Finish the sequence the previous piece left open before anything else.
		p = v.continueSeq(p)
		if v.bad {
			return false
		}
		if v.need > 0 {
			return true // p was consumed entirely by the still-unfinished sequence
		}
	}

	// Fast path: skip plain ASCII eight bytes at a time (four words per step while the piece is long), since
	// most text is mostly ASCII. Whatever follows the first non-ASCII word goes to utf8.Valid below.
	for len(p) >= 32 {
		w := p[:32:32]
		if (binary.LittleEndian.Uint64(w[0:8])|binary.LittleEndian.Uint64(w[8:16])|
			binary.LittleEndian.Uint64(w[16:24])|binary.LittleEndian.Uint64(w[24:32]))&utf8ASCIIMask != 0 {
			break
		}
		p = p[32:]
	}
	for len(p) >= 8 && binary.LittleEndian.Uint64(p[:8])&utf8ASCIIMask == 0 {
		p = p[8:]
	}

	// Split p into a body of complete sequences and a tail holding the incomplete sequence it ends with, if any.
	// An incomplete sequence is at most 3 bytes long, so only the last 3 bytes need examining: look back over
	// continuation bytes (10xxxxxx) for the lead byte that starts the last sequence.
	start := len(p)
	for i := len(p) - 1; i >= 0 && i >= len(p)-3; i-- {
		c := p[i]
		if c < utf8.RuneSelf {
			break // ASCII ends the stream with a complete character
		}
		if c >= 0xC0 {
			// A lead byte. If the bytes after it are fewer than its sequence needs, they form the tail. An
			// invalid lead (utf8SeqLen 0) stays in the body, where utf8.Valid rejects it.
			if n := utf8SeqLen(c); n > len(p)-i {
				start = i
			}
			break
		}
	}

	// RFC 3629 §3 (as RFC 6455 §8.1 requires): the body must be valid UTF-8 on its own, which utf8.Valid checks
	// (overlongs, surrogates, values above U+10FFFF, stray continuation bytes, truncated sequences).
	if !utf8.Valid(p[:start]) {
		v.bad = true
		return false
	}
	if start == len(p) {
		return true
	}
	// The tail must be a prefix of some valid sequence: check its lead and each byte it already has now,
	// rather than waiting for the rest.
	v.beginSeq(p[start])
	v.continueSeq(p[start+1:])
	return !v.bad
}

// Complete reports whether the stream fed so far is valid UTF-8 and does not end inside a multi-byte sequence,
// which is what RFC 6455 §5.6 demands of a whole text message once its final fragment has arrived.
func (v *UTF8Validator) Complete() bool {
	return !v.bad && v.need == 0
}

// Reset returns v to the start of a new stream, so one validator can serve every message of a connection.
func (v *UTF8Validator) Reset() {
	*v = UTF8Validator{}
}

// utf8SeqLen returns the length of the UTF-8 sequence that lead byte c (≥ 0xC0) starts, or 0 if c can never start
// one. RFC 3629 §3: C0 and C1 could only start overlong 2-byte forms, and F5..FF would encode values above
// U+10FFFF (or are not lead bytes at all), so they never appear in valid UTF-8.
func utf8SeqLen(c byte) int {
	switch {
	case c >= 0xC2 && c <= 0xDF:
		return 2
	case c >= 0xE0 && c <= 0xEF:
		return 3
	case c >= 0xF0 && c <= 0xF4:
		return 4
	}
	return 0
}

// beginSeq opens a sequence with lead byte c, which must be one utf8SeqLen accepts (Write only passes such bytes),
// and sets the range its second byte must fall in. RFC 3629 §4 (UTF8-3, UTF8-4 in its ABNF) narrows the second
// byte after four leads; everywhere else a continuation byte is 80..BF.
func (v *UTF8Validator) beginSeq(c byte) {
	v.need = uint8(utf8SeqLen(c) - 1)
	v.lo, v.hi = 0x80, 0xBF
	switch c {
	case 0xE0:
		v.lo = 0xA0 // E0 80..9F would be an overlong encoding of U+0000..U+07FF
	case 0xED:
		v.hi = 0x9F // ED A0..BF would encode the surrogates U+D800..U+DFFF
	case 0xF0:
		v.lo = 0x90 // F0 80..8F would be an overlong encoding of U+0000..U+FFFF
	case 0xF4:
		v.hi = 0x8F // F4 90..BF would encode values above U+10FFFF
	}
}

// continueSeq consumes continuation bytes of the pending sequence from the front of p, checking each against the
// range it must fall in, and returns what is left of p. It sets v.bad at the first byte out of range.
func (v *UTF8Validator) continueSeq(p []byte) []byte {
	for v.need > 0 && len(p) > 0 {
		if c := p[0]; c < v.lo || c > v.hi {
			v.bad = true
			return p
		}
		p = p[1:]
		v.need--
		v.lo, v.hi = 0x80, 0xBF // only the second byte of a sequence has a narrowed range
	}
	return p
}
