package ws

import (
	"encoding/binary"
	"math/bits"
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
//
// Plain ASCII is skipped 16 to 32 bytes per test, and the skipping resumes after every multi-byte character: text
// that is mostly ASCII with a character from another script every few dozen bytes (most text in Latin scripts)
// runs at memory speed between its characters. Each multi-byte character is checked from one 32-bit load and one
// table entry in one branch, whatever its length. utf8.Valid, by contrast, tests a byte at a time near each
// character and branches on each of its bytes, which makes it slower than Write on such text when the characters
// follow no pattern a branch predictor learns (bench/README.md, large messages).
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
	// The first run of ASCII is skipped by asciiPrefix, which is fastest when the run is long (a piece of pure
	// ASCII never leaves it); every run after a multi-byte character by asciiRun, which is fastest when it is
	// short, as runs between characters are in text that mixes scripts.
	p = p[asciiPrefix(p):]
	for len(p) >= 4 {
		// p[0] starts a multi-byte sequence, or is a byte that cannot (a stray continuation byte, C0, C1,
		// F5..FF), whose utf8Seqs entry fails every word. With four bytes at hand the whole sequence is
		// checked from one word, whatever its length, in one branch: bit 31 of span minus the second byte's
		// distance from lo is set when the second byte is out of range, and rest picks the top bits of the
		// third and fourth bytes that must read 10.
		w := binary.LittleEndian.Uint32(p)
		s := utf8Seqs[byte(w)]
		if (uint32(s.span)-uint32(byte(w>>8)-s.lo))>>31|(w^0x80808080)&s.rest != 0 {
			v.bad = true
			return false
		}
		p = p[s.size:]
		// The run of ASCII up to the next character is usually short: its first 32 bytes are tested here,
		// in two branches that also give the stop, and only a longer run costs a call of asciiRun. This is
		// asciiRun's step written out: as a function of its own it is over the inliner's budget, and the call
		// per character cost what the step saves.
		if len(p) >= 32 {
			q := p[:32:32]
			a, b := binary.LittleEndian.Uint64(q[0:8]), binary.LittleEndian.Uint64(q[8:16])
			if (a|b)&utf8ASCIIMask != 0 {
				p = p[asciiStop16(a, b):]
				continue
			}
			a, b = binary.LittleEndian.Uint64(q[16:24]), binary.LittleEndian.Uint64(q[24:32])
			if (a|b)&utf8ASCIIMask != 0 {
				p = p[16+asciiStop16(a, b):]
				continue
			}
			p = p[32:]
		}
		p = p[asciiRun(p):]
	}
	return v.writeShort(p)
}

// writeShort checks the last few bytes of a piece (fewer than four), where a sequence may begin that the next
// piece finishes.
func (v *UTF8Validator) writeShort(p []byte) bool {
	for len(p) > 0 {
		if p[0] < utf8.RuneSelf {
			p = p[1:]
			continue
		}
		lead := utf8Lead[p[0]]
		size := int(lead & 7)
		if size == 0 {
			v.bad = true
			return false
		}
		if len(p) < size {
			// The sequence goes on in the next piece: what it has so far must be a prefix of a valid one.
			v.beginSeq(p[0])
			v.continueSeq(p[1:])
			return !v.bad
		}
		// RFC 3629 §4: the second byte's range depends on the lead; the others are 80..BF.
		r := utf8Ranges[lead>>4]
		if b := p[1]; b < r.lo || b > r.hi {
			v.bad = true
			return false
		}
		if size > 2 && p[2]&0xC0 != 0x80 {
			v.bad = true
			return false
		}
		p = p[size:]
	}
	return true
}

// asciiPrefix returns the length of the run of ASCII bytes p starts with: four words per step while the run
// lasts, then word by word to the word holding the first non-ASCII byte, whose position its lowest set top bit
// gives. One branch per 32 bytes makes it the faster of the two skippers on long runs (pure ASCII runs at the
// speed of utf8.Valid's own ASCII loop, bench/README.md).
func asciiPrefix(p []byte) int {
	i := 0
	for ; i+32 <= len(p); i += 32 {
		w := p[i : i+32 : i+32]
		if (binary.LittleEndian.Uint64(w[0:8])|binary.LittleEndian.Uint64(w[8:16])|
			binary.LittleEndian.Uint64(w[16:24])|binary.LittleEndian.Uint64(w[24:32]))&utf8ASCIIMask != 0 {
			break
		}
	}
	return i + asciiTail(p[i:])
}

// asciiRun is asciiPrefix for short runs: it tests 16 bytes per branch and finds the first non-ASCII byte in
// the two words it has already loaded, rather than going back over them word by word. In text with a
// non-ASCII character every few dozen bytes, that makes Write 1.1–1.2× faster than asciiPrefix would, and
// pure ASCII about 0.8×, which is why it only takes over after a multi-byte character.
func asciiRun(p []byte) int {
	i := 0
	for ; i+32 <= len(p); i += 32 {
		w := p[i : i+32 : i+32]
		if a, b := binary.LittleEndian.Uint64(w[0:8]), binary.LittleEndian.Uint64(w[8:16]); (a|b)&utf8ASCIIMask != 0 {
			return i + asciiStop16(a, b)
		}
		if a, b := binary.LittleEndian.Uint64(w[16:24]), binary.LittleEndian.Uint64(w[24:32]); (a|b)&utf8ASCIIMask != 0 {
			return i + 16 + asciiStop16(a, b)
		}
	}
	return i + asciiTail(p[i:])
}

// asciiTail is the end of both skippers: word by word, then byte by byte over the last few bytes.
func asciiTail(p []byte) int {
	i := 0
	for ; i+8 <= len(p); i += 8 {
		if w := binary.LittleEndian.Uint64(p[i:i+8]) & utf8ASCIIMask; w != 0 {
			return i + bits.TrailingZeros64(w)>>3
		}
	}
	for i < len(p) && p[i] < utf8.RuneSelf {
		i++
	}
	return i
}

// asciiStop16 returns the position of the first non-ASCII byte in two little-endian words, one of which has
// one.
func asciiStop16(a, b uint64) int {
	if a &= utf8ASCIIMask; a != 0 {
		return bits.TrailingZeros64(a) >> 3
	}
	return 8 + bits.TrailingZeros64(b&utf8ASCIIMask)>>3
}

// utf8Lead describes each byte as the start of a sequence: the low three bits are the sequence's length (0 for
// a byte no sequence starts with: ASCII is handled before, continuation bytes, C0, C1 and F5..FF never lead,
// RFC 3629 §3) and the high four bits index utf8Ranges for the second byte's range. A table rather than
// comparisons, since the lead bytes of real text come in no order a branch predictor could learn.
var utf8Lead = func() (t [256]uint8) {
	for c := 0xC0; c < 0x100; c++ {
		n := utf8SeqLen(byte(c))
		if n == 0 {
			continue
		}
		lo, hi := utf8SecondRange(byte(c))
		i := 0
		for utf8Ranges[i] != (utf8Range{lo, hi}) {
			i++
		}
		t[c] = uint8(i<<4 | n)
	}
	return t
}()

// utf8Range is the range of a sequence's second byte.
type utf8Range struct{ lo, hi uint8 }

// utf8Ranges are the five ranges utf8SecondRange returns.
var utf8Ranges = [5]utf8Range{{0x80, 0xBF}, {0xA0, 0xBF}, {0x80, 0x9F}, {0x90, 0xBF}, {0x80, 0x8F}}

// utf8Seq is what Write's word-at-a-time check needs to know of a lead byte: the sequence's length (0 for a
// byte no sequence starts with), the second byte's range as lo and lo+span (so that one unsigned subtraction
// tests both ends), and rest, the top two bits of the third and fourth bytes in the little-endian word of the
// sequence, which must read 10 (RFC 3629 §4: every byte after the lead is 80..BF, only the second narrowed).
type utf8Seq struct {
	size, lo, span uint8
	rest           uint32
}

// utf8Seqs is utf8Lead and utf8Ranges unfolded into one entry per lead byte, so that a character costs one
// table load and one branch.
//
// A byte that starts no sequence gets an entry that fails every word, so that Write needs no test of the size:
// its second byte must be 0x81 (lo 0x81, span 0) and, through rest, 0x80 at once. Its size is 1, not 0: were
// such an entry ever to pass a word, Write would still move on by one byte, and check the next as a lead in turn.
var utf8Seqs = func() (t [256]utf8Seq) {
	for c := range t {
		lead := utf8Lead[c]
		size := lead & 7
		if size == 0 {
			t[c] = utf8Seq{size: 1, lo: 0x81, span: 0, rest: 0xFF00}
			continue
		}
		r := utf8Ranges[lead>>4]
		t[c] = utf8Seq{size: size, lo: r.lo, span: r.hi - r.lo}
		for i := uint8(2); i < size; i++ {
			t[c].rest |= 0xC0 << (8 * i)
		}
	}
	return t
}()

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
	v.lo, v.hi = utf8SecondRange(c)
}

// utf8SecondRange returns the range the second byte of a sequence with lead byte c must fall in. RFC 3629 §4
// (UTF8-3, UTF8-4 in its ABNF) narrows it after four leads; everywhere else a continuation byte is 80..BF.
func utf8SecondRange(c byte) (lo, hi byte) {
	switch c {
	case 0xE0:
		return 0xA0, 0xBF // E0 80..9F would be an overlong encoding of U+0000..U+07FF
	case 0xED:
		return 0x80, 0x9F // ED A0..BF would encode the surrogates U+D800..U+DFFF
	case 0xF0:
		return 0x90, 0xBF // F0 80..8F would be an overlong encoding of U+0000..U+FFFF
	case 0xF4:
		return 0x80, 0x8F // F4 90..BF would encode values above U+10FFFF
	}
	return 0x80, 0xBF
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
