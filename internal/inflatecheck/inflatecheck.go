// Package inflatecheck is an independent DEFLATE decoder (RFC 1951), for
// tests that check what plainws sends.
//
// It is written straight from RFC 1951 §3.2, bit by bit, sharing nothing with
// compress/flate, and it reports what the inflater hides: how many
// back-references a message makes and how far back the longest one reaches.
// That is what RFC 7692's window parameters (§7.1.2) and context takeover
// (§7.1.1) are about.
package inflatecheck

import (
	"errors"
	"fmt"
	"io"
)

type bitReader struct {
	b   []byte
	pos int // in bits
}

func (r *bitReader) read(n int) (int, error) {
	v := 0
	for i := range n {
		if r.pos>>3 >= len(r.b) {
			return 0, io.ErrUnexpectedEOF
		}
		v |= int(r.b[r.pos>>3]>>(r.pos&7)&1) << i
		r.pos++
	}
	return v, nil
}

// huffman is a canonical Huffman code (RFC 1951 §3.2.2) decoded one bit
// at a time.
type huffman struct {
	count  [16]int
	symbol []int
}

func newHuffman(lengths []int) (*huffman, error) {
	h := &huffman{}
	for _, l := range lengths {
		h.count[l]++
	}
	left := 1
	for l := 1; l <= 15; l++ {
		left = left<<1 - h.count[l]
		if left < 0 {
			return nil, errors.New("over-subscribed code")
		}
	}
	for l := 1; l <= 15; l++ {
		for sym, sl := range lengths {
			if sl == l {
				h.symbol = append(h.symbol, sym)
			}
		}
	}
	return h, nil
}

func (h *huffman) decode(r *bitReader) (int, error) {
	code, first, index := 0, 0, 0
	for l := 1; l <= 15; l++ {
		b, err := r.read(1)
		if err != nil {
			return 0, err
		}
		code |= b
		if n := h.count[l]; code-n < first {
			return h.symbol[index+code-first], nil
		}
		index += h.count[l]
		first = (first + h.count[l]) << 1
		code <<= 1
	}
	return 0, errors.New("invalid Huffman code")
}

var (
	lenBase  = []int{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lenExtra = []int{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	dstBase  = []int{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	dstExtra = []int{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	// CodeLengthOrder is the order of the code length code lengths in a
	// dynamic block header (RFC 1951 §3.2.7).
	CodeLengthOrder = []int{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
)

// Stats describes one inflated message.
type Stats struct {
	Out      []byte // the message
	Matches  int    // back-references
	MaxDist  int    // the longest distance of any back-reference
	IntoHist int    // back-references that reach before the message's start
}

// Inflate decodes one permessage-deflate payload as RFC 7692 §7.2.2
// says: append 00 00 ff ff, inflate, with hist as the LZ77 window left by
// earlier messages (nil without context takeover). It fails on anything
// invalid, including a distance reaching before hist.
func Inflate(hist, payload []byte) (Stats, error) {
	var st Stats
	r := &bitReader{b: append(append([]byte(nil), payload...), 0x00, 0x00, 0xff, 0xff)}
	out := append([]byte(nil), hist...)
	start := len(hist)
	for r.pos < len(r.b)*8 {
		final, err := r.read(1)
		if err != nil {
			return st, err
		}
		typ, err := r.read(2)
		if err != nil {
			return st, err
		}
		var lit, dist *huffman
		switch typ {
		case 0: // stored, §3.2.4
			r.pos = (r.pos + 7) &^ 7
			i := r.pos >> 3
			if i+4 > len(r.b) {
				return st, io.ErrUnexpectedEOF
			}
			n := int(r.b[i]) | int(r.b[i+1])<<8
			if nn := int(r.b[i+2]) | int(r.b[i+3])<<8; n != nn^0xffff {
				return st, errors.New("stored block length mismatch")
			}
			if i+4+n > len(r.b) {
				return st, io.ErrUnexpectedEOF
			}
			out = append(out, r.b[i+4:i+4+n]...)
			r.pos = (i + 4 + n) * 8
		case 1: // fixed Huffman, §3.2.6
			ll := make([]int, 288)
			for i := range ll {
				switch {
				case i < 144:
					ll[i] = 8
				case i < 256:
					ll[i] = 9
				case i < 280:
					ll[i] = 7
				default:
					ll[i] = 8
				}
			}
			dl := make([]int, 30)
			for i := range dl {
				dl[i] = 5
			}
			lit, _ = newHuffman(ll)
			dist, _ = newHuffman(dl)
		case 2: // dynamic Huffman, §3.2.7
			hlit, _ := r.read(5)
			hdist, _ := r.read(5)
			hclen, err := r.read(4)
			if err != nil {
				return st, err
			}
			cl := make([]int, 19)
			for i := range hclen + 4 {
				if cl[CodeLengthOrder[i]], err = r.read(3); err != nil {
					return st, err
				}
			}
			clh, err := newHuffman(cl)
			if err != nil {
				return st, err
			}
			lengths := make([]int, 0, hlit+257+hdist+1)
			for len(lengths) < hlit+257+hdist+1 {
				sym, err := clh.decode(r)
				if err != nil {
					return st, err
				}
				rep, val := 1, sym
				switch sym {
				case 16:
					if len(lengths) == 0 {
						return st, errors.New("repeat with no previous length")
					}
					val = lengths[len(lengths)-1]
					x, _ := r.read(2)
					rep = 3 + x
				case 17:
					x, _ := r.read(3)
					rep, val = 3+x, 0
				case 18:
					x, _ := r.read(7)
					rep, val = 11+x, 0
				}
				for range rep {
					lengths = append(lengths, val)
				}
			}
			if len(lengths) > hlit+257+hdist+1 {
				return st, errors.New("code lengths overrun")
			}
			if lit, err = newHuffman(lengths[:hlit+257]); err != nil {
				return st, err
			}
			if dist, err = newHuffman(lengths[hlit+257:]); err != nil {
				return st, err
			}
		default:
			return st, errors.New("reserved block type")
		}
		for lit != nil {
			sym, err := lit.decode(r)
			if err != nil {
				return st, err
			}
			switch {
			case sym < 256:
				out = append(out, byte(sym))
			case sym == 256:
				lit = nil
			case sym > 285:
				return st, errors.New("invalid length symbol")
			default:
				x, err := r.read(lenExtra[sym-257])
				if err != nil {
					return st, err
				}
				length := lenBase[sym-257] + x
				ds, err := dist.decode(r)
				if err != nil {
					return st, err
				}
				if ds >= 30 {
					return st, errors.New("invalid distance symbol")
				}
				y, err := r.read(dstExtra[ds])
				if err != nil {
					return st, err
				}
				d := dstBase[ds] + y
				if d > len(out) {
					return st, fmt.Errorf("distance %d reaches before the window (%d bytes)", d, len(out))
				}
				st.Matches++
				st.MaxDist = max(st.MaxDist, d)
				if len(out)-d < start {
					st.IntoHist++
				}
				for range length {
					out = append(out, out[len(out)-d])
				}
			}
			if len(out)-start > 64<<20 {
				return st, errors.New("reference output over 64 MiB")
			}
		}
		if final == 1 {
			break
		}
	}
	st.Out = out[start:]
	return st, nil
}
