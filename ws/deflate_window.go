//go:build !js

package ws

import (
	"compress/flate"
	"sync"
)

// Windows below 32 KiB (RFC 7692 §7.1.2).
//
// When the peer limits our LZ77 window to 2^bits bytes, no back-reference
// we send may reach further back than that. compress/flate always searches
// 32 KiB back and cannot be told otherwise, but two facts bound what it
// can reach: a compressor that was reset knows nothing older than what it
// was given since, and what it was given it may refer to. So the message is
// cut into segments; each is compressed by a freshly reset compressor that
// was first primed (see flateWriter.prime) with the bytes just before the
// segment, at most window - len(segment) of them. Every reference then
// starts inside the segment and ends inside the priming or the segment:
// its distance is below len(priming) + len(segment) <= window. Each
// segment ends with a sync flush, so the segments' blocks concatenate into
// one valid DEFLATE stream, which the peer inflates with its usual window.
//
// The priming costs CPU (it is compressed into nothing), so it is bounded
// by maxPrime; and the segments cost a block header each, so they are
// kept at least half the window long (keepFor). Where those headers cost
// more than the references save (long prose under 8 or 9 bits), a message
// written whole goes Huffman-only instead (huffmanIfSmaller).

// maxPrime bounds the history a segment's compressor is primed with. It is
// chosen with BenchmarkDeflateWindowRatio: on 1 KiB JSON under takeover,
// priming with 1, 2 or 8 KiB gives 0.304, 0.301 and 0.306 of the raw
// bytes, while the time per message grows with the priming.
const maxPrime = 1 << 10

// segmenter compresses a connection's messages under a window below 32 KiB.
type segmenter struct {
	size     int     // the window, 2^bits
	takeover bool    // the history survives the message
	win      []byte  // history, then the pending segment; cap size
	winp     *[]byte // where win goes back to its pool, without takeover
	pend     int     // where the pending segment starts in win
	wrote    bool    // a segment of the open message went out
}

func (g *segmenter) init(size int, takeover bool) {
	g.size, g.takeover = size, takeover
}

// segBufPools hold segment buffers by window bits (8 to 14) for connections
// without context takeover, which need one only while a message lasts.
var segBufPools [15]sync.Pool

func bitsOf(size int) int {
	n := 0
	for 1<<n < size {
		n++
	}
	return n
}

// begin opens a message. Without context takeover it starts from an empty
// window (RFC 7692 §7.2.1).
func (g *segmenter) begin() {
	if g.win == nil && !g.takeover {
		if b, ok := segBufPools[bitsOf(g.size)].Get().(*[]byte); ok {
			g.win, g.winp = *b, b
		}
	}
	if g.win == nil {
		g.win = make([]byte, 0, g.size)
	}
	if !g.takeover {
		g.win = g.win[:0]
	}
	g.pend, g.wrote = len(g.win), false
}

// keepFor is how much history to keep in front of the next segment when
// n more bytes are coming: as much as leaves room for all of them, but at
// least half the window, so that long messages go in half-window segments.
func (g *segmenter) keepFor(n int) int {
	return g.size - min(n, g.size/2)
}

// slide drops all but the last keep bytes of history.
func (g *segmenter) slide(keep int) {
	keep = min(keep, len(g.win))
	g.win = g.win[:copy(g.win, g.win[len(g.win)-keep:])]
	g.pend = len(g.win)
}

// write adds p to the message, compressing segments as the window fills.
func (g *segmenter) write(d *deflateState, p []byte) error {
	for len(p) > 0 {
		if g.pend == len(g.win) && len(g.win)+len(p) > g.size {
			g.slide(g.keepFor(len(p)))
		}
		if len(g.win) == g.size {
			if err := g.flushSegment(d); err != nil {
				return err
			}
			continue
		}
		n := copy(g.win[len(g.win):g.size], p)
		g.win, p = g.win[:len(g.win)+n], p[n:]
	}
	return nil
}

// end compresses what is pending and closes the message. An empty message
// still gets its (empty) flushed block, so that it compresses to 0x00.
func (g *segmenter) end(d *deflateState) error {
	var err error
	if g.pend < len(g.win) || !g.wrote {
		err = g.flushSegment(d)
	}
	if !g.takeover {
		if g.winp == nil {
			g.winp = new([]byte)
		}
		*g.winp = g.win[:0]
		segBufPools[bitsOf(g.size)].Put(g.winp)
		g.win, g.winp = nil, nil
	}
	return err
}

// flushSegment compresses the pending segment with a pooled compressor,
// reset and primed with the history in front of it, and flushes it.
func (g *segmenter) flushSegment(d *deflateState) error {
	w := getWriter(d.level, &d.sink)
	seg := g.win[g.pend:]
	var err error
	if len(seg) > 0 {
		dict := g.win[:g.pend]
		if len(dict) > maxPrime {
			dict = dict[len(dict)-maxPrime:]
		}
		err = w.prime(dict)
	}
	if err == nil {
		_, err = w.fw.Write(seg)
	}
	if err == nil {
		err = w.fw.Flush()
	}
	putWriter(d.level, w)
	g.pend, g.wrote = len(g.win), true
	return err
}

// appendWriter appends what is written to it to b.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// huffPool holds the appendWriters of huffmanIfSmaller.
var huffPool = sync.Pool{New: func() any { return new(appendWriter) }}

// huffmanIfSmaller compresses the whole message p once more, Huffman-only,
// and puts that in the sink instead of the segments if it is smaller.
// Huffman-only output has no back-references, so it fits any window, and
// what the peer's window holds afterwards is p either way, so the choice
// changes nothing for the next message. Under small windows the segments'
// block headers can cost more than references save: on long prose at 8
// and 9 bits Huffman-only is smaller (BenchmarkDeflateWindowRatio); on
// JSON the segments win from 9 bits. Huffman coding is several times faster
// than the segments, so trying it costs little.
func (d *deflateState) huffmanIfSmaller(p []byte) error {
	if d.level == flate.HuffmanOnly || len(p) < huffmanTryMin {
		return nil
	}
	aw := huffPool.Get().(*appendWriter)
	aw.b = aw.b[:0]
	w := getWriter(flate.HuffmanOnly, aw)
	_, err := w.fw.Write(p)
	if err == nil {
		err = w.fw.Flush()
	}
	putWriter(flate.HuffmanOnly, w)
	if err == nil && len(aw.b) < len(d.sink.buf) {
		d.sink.buf, aw.b = aw.b, d.sink.buf
	}
	if cap(aw.b) <= maxKeptDeflateBuf {
		huffPool.Put(aw)
	}
	return err
}

// Long messages under the smallest windows go Huffman-only without trying
// the segments: 256 and 512-byte windows cut 64 KiB into 256 or more
// segments, which compress at under 10 MB/s, and on long prose lose to
// Huffman-only anyway (0.51 against 0.73 and 0.58 of the raw bytes on 1 MiB,
// BenchmarkDeflateWindowRatio).
const (
	longMessage       = 64 << 10
	longMessageWindow = 1 << 9
)

// huffmanOnly compresses p Huffman-only into the sink.
func (d *deflateState) huffmanOnly(p []byte) error {
	w := getWriter(flate.HuffmanOnly, &d.sink)
	_, err := w.fw.Write(p)
	if err == nil {
		err = w.fw.Flush()
	}
	putWriter(flate.HuffmanOnly, w)
	return err
}

// skip takes p, sent by other means (huffmanOnly), into the history under
// takeover, as the peer's window does.
func (g *segmenter) skip(p []byte) {
	if !g.takeover {
		return
	}
	if g.win == nil {
		g.win = make([]byte, 0, g.size)
	}
	if len(p) >= g.size {
		g.win = append(g.win[:0], p[len(p)-g.size:]...)
	} else {
		g.slide(min(len(g.win), g.size-len(p)))
		g.win = append(g.win, p...)
	}
	g.pend = len(g.win)
}

// huffmanTryMin: shorter messages fit a window of 256 bytes in one or two
// segments, where the segments never lose to Huffman-only.
const huffmanTryMin = 512

// histRing keeps the last size bytes written to it: an LZ77 window (RFC
// 7692 §7.2.1, §7.2.2). Its buffer grows with what was written until it
// holds size bytes, so a connection that sent little keeps little; from
// then on it is a ring, so that appending a message costs its own length,
// never a shift of the window.
type histRing struct {
	size int
	buf  []byte // at most size bytes
	head int    // where the next byte goes
	full bool   // buf holds size bytes and wrapped at least once
}

func (r *histRing) write(p []byte) {
	if len(p) == 0 {
		return
	}
	if !r.full && r.head+len(p) < r.size {
		// Still filling: grow the buffer, doubling, up to size.
		if need := r.head + len(p); need > len(r.buf) {
			nb := make([]byte, min(r.size, max(need, 2*len(r.buf), 512)))
			copy(nb, r.buf[:r.head])
			r.buf = nb
		}
		r.head += copy(r.buf[r.head:], p)
		return
	}
	if len(r.buf) < r.size {
		nb := make([]byte, r.size)
		copy(nb, r.buf[:r.head])
		r.buf = nb
	}
	if len(p) >= r.size {
		copy(r.buf, p[len(p)-r.size:])
		r.head, r.full = 0, true
		return
	}
	if n := copy(r.buf[r.head:], p); n < len(p) {
		copy(r.buf, p[n:])
	}
	if r.head+len(p) >= r.size {
		r.full = true
	}
	r.head = (r.head + len(p)) % r.size
}

// parts returns the window, oldest bytes first, in two pieces.
func (r *histRing) parts() ([]byte, []byte) {
	if r.full {
		return r.buf[r.head:], r.buf[:r.head]
	}
	return r.buf[:r.head], nil
}

// appendTo appends the window, oldest byte first, to b.
func (r *histRing) appendTo(b []byte) []byte {
	x, y := r.parts()
	return append(append(b, x...), y...)
}
