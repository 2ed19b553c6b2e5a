//go:build !js

package ws

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// CompressionOptions turns on permessage-deflate (RFC 7692 §7) and tunes it.
// Compression is off unless Options.Compression points at a value; the zero
// value is a sensible setting: context takeover on both sides, BestSpeed,
// messages under 128 bytes sent as they are, and a client that lets the
// server limit its window (client_max_window_bits, RFC 7692 §7.1.2.2).
//
// Memory, per connection with compression negotiated (stdlib compress/flate,
// Go 1.26, amd64; numbers in bench/README.md):
//   - sending with context takeover and the full 32 KiB window: a
//     flate.Writer (about 1.2 MB at level 1, 0.8 MB at levels 2–9) while
//     messages flow, given back to a shared pool after IdleRelease without
//     one; what stays is the last 4 KiB sent, from which the next message
//     rebuilds the compressor (priming it costs about 0.1 ms at level 1);
//   - sending without context takeover, with a window below 32 KiB, or
//     Huffman-only: compressors come from the pool for one message (or one
//     segment of it) at a time, so idle connections hold none; under
//     takeover a limited window keeps its last 2^bits bytes;
//   - receiving: a flate reader (about 40 KiB) from a shared pool for the
//     duration of one compressed message, plus, when the peer takes over its
//     context, its window: 32 KiB, or 2^bits when we limited it (512 bytes
//     for 8 bits, see receiveWindow);
//   - output buffers come from a shared pool per message.
//
// So an idle connection holds about 37 KiB with context takeover both ways
// (the peer's 32 KiB window, our last 4 KiB) and 2 KiB without
// (BenchmarkCompressedIdle in bench/ and bench/peers).
//
// Windows below 15 bits: compress/flate cannot shrink its 32 KiB window, so
// when the peer limits ours (client_max_window_bits in a server's answer,
// server_max_window_bits in a client's offer) messages are cut into
// segments that a reset compressor primed with the bytes before them
// compresses, so that no back-reference reaches further than 2^bits (see
// deflate_window.go); a message written whole goes Huffman-only instead
// when that is smaller. With context takeover, 1 KiB JSON messages take
// 0.60, 0.45, 0.35 and 0.30 of their size on the wire at 8, 9, 10 and
// 11–14 bits (0.34 with the full window), where Huffman-only output, what
// plainws sent before, takes 0.61; 300 B messages 0.67, 0.56, 0.41 and
// 0.40 (Huffman-only 0.70). The price is CPU: every segment costs two
// flushes, so compressing runs at 5–35 MB/s under a limited window
// against 40–90 MB/s with the full one (BenchmarkDeflateWindowRatio). An
// 8-bit limit is read as RFC 7692 writes it, 256 bytes (see sendWindow).
//
// Limits of compress/flate that shape this design: its inflater cannot
// resume after a read error, so a read deadline that expires inside a
// compressed message (between its frames) fails the connection with
// ErrInflateInterrupted and close code 1011, instead of leaving it usable
// as it does for uncompressed messages. A deadline that expires while
// waiting for the next message is harmless.
type CompressionOptions struct {
	// Level is the compress/flate level for messages we send: 1
	// (flate.BestSpeed) to 9 (flate.BestCompression), -1
	// (flate.DefaultCompression, i.e. 6) or -2 (flate.HuffmanOnly). 0 means
	// DefaultCompressionLevel. flate.NoCompression is not offered: stored
	// blocks only add bytes; raise Threshold instead. Levels 2–9 cost more
	// under a limited window: compress/flate clears 0.6 MB of tables at
	// every reset, once per segment.
	Level int
	// Threshold is the smallest message WriteMessage compresses; shorter
	// ones go out uncompressed (RSV1 clear), since deflate adds a few bytes
	// and costs more than it saves on them. Uncompressed messages never enter
	// the compressor's history (RFC 7692 §7.2.1 applies only to compressed
	// messages). 0 means DefaultCompressionThreshold; a negative value
	// compresses every message. Messages written with NextWriter are always
	// compressed: their length is unknown when the first frame leaves.
	Threshold int
	// ServerNoContextTakeover: a client asks the server to compress each
	// message on its own (RFC 7692 §7.1.1.1), so our inflater keeps no
	// window; a server compresses each message on its own and says so. It
	// trades ratio for memory on the server's sending side.
	ServerNoContextTakeover bool
	// ClientNoContextTakeover: a client compresses each message on its own
	// and tells the server (RFC 7692 §7.1.1.2); a server asks the client to.
	// It trades ratio for memory on the client's sending side.
	ClientNoContextTakeover bool
	// ServerMaxWindowBits (8–15, 0 = unset): a client asks the server to use
	// a window of at most 2^n bytes (RFC 7692 §7.1.2.1) and fails the
	// handshake if the answer does not agree; a server announces that
	// limit for itself.
	ServerMaxWindowBits int
	// ClientMaxWindowBits (8–15, 0 = unset): a client offers
	// client_max_window_bits=n (RFC 7692 §7.1.2.2), promising a window of at
	// most 2^n bytes and letting the server lower it. Unset, a client offers
	// the parameter without a value — it can honour any window the server
	// answers, 8 to 15 — unless OmitClientMaxWindowBits. A server answers
	// client_max_window_bits=n to a client that offered the parameter, and
	// then keeps only 2^n bytes of the client's context.
	ClientMaxWindowBits int
	// IgnoreClientNoContextTakeoverHint: a server does not repeat the
	// client_no_context_takeover a client offered, and so keeps a window
	// for the client's messages. By RFC 7692 §7.1.1.2 a client that offered
	// it takes no context over whether or not the answer repeats it, so
	// repeating it (the default) costs the client nothing and spares us the
	// client's window (32 KiB per connection); a client that reads the
	// missing echo as leave to take over gains ratio — on a stream of
	// 300 B JSON messages 0.47 of the raw bytes instead of 0.56, on 1 KiB
	// 0.35 instead of 0.37 (BenchmarkDeflateWindowRatio, bits=15) — at that
	// memory cost. Ignored by clients.
	IgnoreClientNoContextTakeoverHint bool
	// OmitClientMaxWindowBits: a client does not offer
	// client_max_window_bits at all (when ClientMaxWindowBits is unset), for
	// a server that mishandles it. A server that wants to limit the
	// client's window then declines compression. Ignored by servers.
	OmitClientMaxWindowBits bool
	// IdleRelease: under context takeover with the full window, how long
	// the compressor stays with a connection after its last compressed
	// message before it goes back to the shared pool, leaving only the
	// last 4 KiB sent, which the next message's compressor is primed with.
	// 0 means DefaultIdleRelease; a
	// negative value keeps it for the connection's life (no timer, never a
	// rebuild: the fastest, at 1.2 MB per connection that ever compressed).
	IdleRelease time.Duration
}

// Defaults for CompressionOptions.
const (
	// DefaultCompressionLevel is flate.BestSpeed: on WebSocket traffic
	// (small, repetitive messages, often under context takeover) higher
	// levels cost several times the CPU for a few percent of size.
	DefaultCompressionLevel = flate.BestSpeed
	// DefaultCompressionThreshold: messages shorter than this are sent
	// uncompressed.
	DefaultCompressionThreshold = 128
)

// Errors of permessage-deflate.
var (
	// ErrBadDeflate: a compressed message whose payload is not valid
	// DEFLATE data (RFC 7692 §7.2.2). The connection is failed with 1007,
	// "invalid frame payload data" (RFC 6455 §7.4.1): RFC 7692 names no
	// code, the frames themselves were well formed, and it is their payload
	// that cannot be decoded, which is what 1007 is for (as for bad UTF-8).
	ErrBadDeflate = errors.New("ws: invalid permessage-deflate data")
	// ErrInflateInterrupted: a read error (usually a deadline) inside a
	// compressed message. compress/flate cannot resume, so the connection
	// is failed with 1011; the network error is wrapped too.
	ErrInflateInterrupted = errors.New("ws: read interrupted inside a compressed message")
)

// DeflateParams are the permessage-deflate parameters in force on a
// connection (RFC 7692 §7.1), as Conn.Compression reports them, so a program
// or a test can see what the handshake agreed. A window of 0 bits means the
// parameter was absent, i.e. 15.
type DeflateParams struct {
	// ServerNoContextTakeover: the server compresses each message on its
	// own, so the client's inflater keeps no window (RFC 7692 §7.1.1.1).
	ServerNoContextTakeover bool
	// ClientNoContextTakeover: the client compresses each message on its
	// own, so the server's inflater keeps no window (RFC 7692 §7.1.1.2).
	ClientNoContextTakeover bool
	// ServerMaxWindowBits is the largest LZ77 window, as a power of two,
	// the server compresses with (RFC 7692 §7.1.2.1); 0 when absent.
	ServerMaxWindowBits int
	// ClientMaxWindowBits is the largest LZ77 window, as a power of two,
	// the client compresses with (RFC 7692 §7.1.2.2); 0 when absent.
	ClientMaxWindowBits int
}

// Compression reports whether permessage-deflate was negotiated, and with
// which parameters. Parameters this end promised in its offer count as in
// force even when the answer did not repeat them.
func (c *Conn) Compression() (DeflateParams, bool) {
	if c.compression == nil {
		return DeflateParams{}, false
	}
	p := c.compression.params
	return DeflateParams{
		ServerNoContextTakeover: p.serverNoContextTakeover,
		ClientNoContextTakeover: p.clientNoContextTakeover,
		ServerMaxWindowBits:     p.serverMaxWindowBits,
		ClientMaxWindowBits:     p.clientMaxWindowBits,
	}, true
}

const (
	// windowSize is the largest LZ77 window of DEFLATE (RFC 1951), 2^15.
	windowSize = 1 << 15
	// inflateBufSize is the raw-payload buffer of an inflater.
	inflateBufSize = 4096
	// maxKeptDeflateBuf bounds the compressed-output buffer a connection
	// keeps between messages; a larger one, left by a large message, is
	// dropped.
	maxKeptDeflateBuf = 256 << 10
)

// deflateTail is what a sync flush ends with: RFC 7692 §7.2.1 removes these
// four octets from every compressed message, and §7.2.2 puts them back.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff}

// inflateTail is appended to every compressed payload: the four octets of
// RFC 7692 §7.2.2, then an empty final stored block (BFINAL=1), so that the
// inflater reports io.EOF exactly when the message's data is used up and
// never reads past it.
var inflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// emptyInflateTail stands in for a compressed message with no payload
// bytes at all. Strictly that is not DEFLATE data (an empty message
// compresses to the single octet 0x00, RFC 7692 §7.2.3.6), but some peers
// send it, and reading it as an empty message is harmless.
var emptyInflateTail = []byte{0x00, 0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// deflateState is the per-connection permessage-deflate state. Its write
// side is guarded by Conn.msgMu, its read side by Conn.readMu; the rest is
// fixed at the handshake.
type deflateState struct {
	params        deflateParams // as agreed (see Conn.Compression)
	level         int           // flate level of our messages
	threshold     int           // smallest message WriteMessage compresses
	writeTakeover bool          // our compressor keeps its history
	readTakeover  bool          // the peer's does, so our inflater must too
	writeWindow   int           // 2^bits: how far back our references may reach
	readWindow    int           // how much of the peer's history we keep
	idleRelease   time.Duration // see CompressionOptions.IdleRelease

	// Write side (Conn.msgMu).
	own   *flateWriter // the kept compressor under takeover, full window
	cur   *flateWriter // compressor of the message being streamed
	sink  deflateSink
	whist histRing    // full window with takeover: what own has seen
	seg   segmenter   // windows below 32 KiB
	idle  *time.Timer // gives own back to the pool when unused
	sent  uint64      // compressed messages sent, for the idle check
	seen  uint64      // sent at the previous idle check
	armed bool        // idle is running

	// Read side (Conn.readMu).
	inf  *inflater // borrowed for the open compressed message, else nil
	rwin histRing  // the peer's last readWindow bytes, under readTakeover
}

// newDeflateState sets up the state for agreed parameters in role.
func newDeflateState(o *CompressionOptions, p deflateParams, role Role) *deflateState {
	d := &deflateState{params: p, level: o.Level, threshold: o.Threshold, idleRelease: o.IdleRelease}
	if d.level == 0 {
		d.level = DefaultCompressionLevel
	}
	switch {
	case d.threshold == 0:
		d.threshold = DefaultCompressionThreshold
	case d.threshold < 0:
		d.threshold = 0
	}
	if d.idleRelease == 0 {
		d.idleRelease = DefaultIdleRelease
	}
	ourBits, peerBits := p.serverMaxWindowBits, p.clientMaxWindowBits
	if role == RoleClient {
		ourBits, peerBits = peerBits, ourBits
		d.writeTakeover = !p.clientNoContextTakeover
		d.readTakeover = !p.serverNoContextTakeover
	} else {
		d.writeTakeover = !p.serverNoContextTakeover
		d.readTakeover = !p.clientNoContextTakeover
	}
	d.writeWindow, d.readWindow = sendWindow(ourBits), receiveWindow(peerBits)
	d.whist.size = min(d.writeWindow, rebuildHistory)
	d.rwin.size = d.readWindow
	d.seg.init(d.writeWindow, d.writeTakeover)
	return d
}

// sendWindow is the window our back-references must stay within for an
// agreed max_window_bits value (0: absent, i.e. 15). RFC 7692 §7.1.2 makes
// it 2^bits. For 8 the RFC's text is followed to the letter — 256 bytes —
// although zlib (since 1.2.9) refuses an 8-bit raw deflate window and its
// users send with 9 bits: a stream that fits 256 bytes fits any reading.
func sendWindow(bits int) int {
	if bits == 0 {
		return windowSize
	}
	return 1 << bits
}

// receiveWindow is how much of the peer's output we keep for its next
// message. For 8 bits it is 512 bytes: a zlib-based peer asked for 8 bits
// compresses with 9 (see sendWindow), and zlib's deflater never reaches
// further back than 2^bits-262 bytes, so either reading decodes.
func receiveWindow(bits int) int {
	switch bits {
	case 0:
		return windowSize
	case 8:
		return 1 << 9
	}
	return 1 << bits
}

// ---- Compressing (RFC 7692 §7.2.1) ----

// flateWriter is a flate.Writer and the sink it writes to. The indirection
// lets a pooled writer forget the connection it last served, and lets its
// output be thrown away while it is primed with history.
type flateWriter struct {
	fw *flate.Writer
	to io.Writer
}

func (w *flateWriter) Write(p []byte) (int, error) { return w.to.Write(p) }

// flateWriterPools hold idle compressors by level (index level+2, levels -2
// to 9), shared by all connections: a compressor is 0.8–1.2 MB.
var flateWriterPools [12]sync.Pool

// getWriter takes a compressor with an empty history from the pool, writing
// to to.
func getWriter(level int, to io.Writer) *flateWriter {
	if w, ok := flateWriterPools[level+2].Get().(*flateWriter); ok {
		w.to = to
		w.fw.Reset(w)
		return w
	}
	return newFlateWriter(level, to)
}

// putWriter gives a compressor back to the pool.
func putWriter(level int, w *flateWriter) {
	w.to = nil
	flateWriterPools[level+2].Put(w)
}

func newFlateWriter(level int, to io.Writer) *flateWriter {
	w := &flateWriter{to: to}
	w.fw, _ = flate.NewWriter(w, level) // the level was validated
	return w
}

// prime makes w's history the given bytes, in order, by compressing them
// into nothing: compress/flate has no way to hand a pooled writer a new
// dictionary (and ignores one at level 1), but what it compressed and
// flushed is what its next block may refer to. The peer's window holds the
// same bytes, so the references are good (RFC 7692 §7.2.1: the compressor
// may use the previous messages' data).
func (w *flateWriter) prime(parts ...[]byte) error {
	to := w.to
	w.to = io.Discard
	defer func() { w.to = to }()
	n := 0
	for _, p := range parts {
		if _, err := w.fw.Write(p); err != nil {
			return err
		}
		n += len(p)
	}
	if n == 0 {
		return nil
	}
	return w.fw.Flush()
}

// fullWindow says whether our compressor may use all of compress/flate's
// 32 KiB window: the peer did not limit it, or Huffman-only output (no
// back-references at all) makes the limit moot.
func (d *deflateState) fullWindow() bool {
	return d.writeWindow >= windowSize || d.level == flate.HuffmanOnly
}

// acquireWriter returns the compressor for the next message with the full
// window, writing into the sink: under context takeover the kept one (or a
// pooled one primed with the history), otherwise a pooled one with empty
// history.
func (d *deflateState) acquireWriter(c *Conn) (*flateWriter, error) {
	// Huffman-only output never refers to earlier bytes, so it needs no
	// history even under context takeover.
	if !d.writeTakeover || d.level == flate.HuffmanOnly {
		// RFC 7692 §7.2.1 without context takeover: each message starts
		// from an empty window.
		return getWriter(d.level, &d.sink), nil
	}
	d.sent++
	if d.own == nil {
		w := getWriter(d.level, &d.sink)
		a, b := d.whist.parts()
		if err := w.prime(a, b); err != nil {
			putWriter(d.level, w)
			return nil, err
		}
		d.own = w
		d.armIdle(c)
	}
	return d.own, nil
}

// releaseWriter returns a pooled compressor after its message.
func (d *deflateState) releaseWriter(w *flateWriter) {
	if w == d.own {
		return
	}
	putWriter(d.level, w)
}

// record adds p, just compressed under takeover with the full window, to
// the history a rebuilt compressor is primed with.
func (d *deflateState) record(p []byte) {
	if d.writeTakeover && d.level != flate.HuffmanOnly {
		d.whist.write(p)
	}
}

// deflateSink collects compressed output. For a streamed message it sends
// full fragments as they fill, always holding back the last four bytes:
// they may turn out to be the tail RFC 7692 §7.2.1 removes.
type deflateSink struct {
	buf    []byte
	bufp   *[]byte // where buf goes back to sinkPool
	stream bool
	c      *Conn
	op     Opcode
	first  bool // no frame of the streamed message has been sent
	frame  int  // payload size of a streamed fragment
}

// Write implements io.Writer for the compressor.
func (s *deflateSink) Write(p []byte) (int, error) {
	s.buf = append(s.buf, p...)
	if s.stream && len(s.buf) >= s.frame+len(deflateTail) {
		sent := 0
		for len(s.buf)-sent >= s.frame+len(deflateTail) {
			if err := s.send(false, s.buf[sent:sent+s.frame]); err != nil {
				return 0, err
			}
			sent += s.frame
		}
		s.buf = s.buf[:copy(s.buf, s.buf[sent:])]
	}
	return len(p), nil
}

// send writes one frame of a streamed message.
func (s *deflateSink) send(fin bool, p []byte) error {
	op, rsv := OpContinuation, byte(0)
	if s.first {
		// RFC 7692 §6: the "Per-Message Compressed" bit, RSV1, is set on
		// the first frame of a compressed message and on no other.
		op, rsv = s.op, Rsv1
		s.first = false
	}
	return s.c.writeFrame(fin, op, rsv, p)
}

// start takes an output buffer for a message: from a shared pool, so that
// an idle connection holds none.
func (s *deflateSink) start() {
	if s.bufp == nil {
		if b, ok := sinkPool.Get().(*[]byte); ok {
			s.bufp = b
		} else {
			s.bufp = new([]byte)
		}
	}
	s.buf = (*s.bufp)[:0]
}

// done forgets the message and gives the buffer back, unless it grew
// over maxKeptDeflateBuf (one large message should not pin its buffer).
func (s *deflateSink) done() {
	s.stream, s.c = false, nil
	if s.bufp != nil {
		*s.bufp = nil
		if cap(s.buf) <= maxKeptDeflateBuf {
			*s.bufp = s.buf[:0]
		}
		sinkPool.Put(s.bufp)
		s.bufp = nil
	}
	s.buf = nil
}

// sinkPool holds compressed-output buffers between messages.
var sinkPool sync.Pool

// trimTail removes the sync-flush tail. RFC 7692 §7.2.1: "Remove 4 octets
// (that are 0x00 0x00 0xff 0xff) from the tail end." A flush always ends so;
// anything else is a bug, reported rather than sent.
func trimTail(b []byte) ([]byte, error) {
	if !bytes.HasSuffix(b, deflateTail) {
		return nil, errors.New("ws: compressor output lacks the sync-flush tail")
	}
	return b[:len(b)-len(deflateTail)], nil
}

// shouldCompress says whether WriteMessage compresses a message of n bytes.
func (d *deflateState) shouldCompress(n int) bool { return n >= d.threshold }

// writeMessage compresses p into the connection's buffer and sends it as one
// frame with RSV1 (RFC 7692 §7.2.1). Only the bytes of messages sent this way
// enter the compressor's history — never control frames or messages sent
// uncompressed — so the peer's window always matches ours.
func (d *deflateState) writeMessage(c *Conn, op Opcode, p []byte) error {
	s := &d.sink
	s.start()
	var err error
	if d.fullWindow() {
		var w *flateWriter
		if w, err = d.acquireWriter(c); err == nil {
			if _, err = w.fw.Write(p); err == nil {
				// A sync flush ends the deflate blocks on a byte boundary
				// with an empty stored block: the 00 00 ff ff removed next.
				err = w.fw.Flush()
			}
			d.releaseWriter(w)
			d.record(p)
		}
	} else if len(p) >= longMessage && d.writeWindow <= longMessageWindow {
		err = d.huffmanOnly(p)
		d.seg.skip(p)
	} else {
		d.seg.begin()
		if err = d.seg.write(d, p); err == nil {
			err = d.seg.end(d)
		}
		if err == nil {
			err = d.huffmanIfSmaller(p)
		}
	}
	if err == nil {
		var payload []byte
		if payload, err = trimTail(s.buf); err == nil {
			err = c.writeFrame(true, op, Rsv1, payload)
		}
	}
	s.done()
	return err
}

// streamCompress says whether NextWriter compresses: always, since the
// length is unknown when the first fragment leaves.
func (d *deflateState) streamCompress() bool { return true }

// startWriter begins a streamed compressed message of type op.
func (d *deflateState) startWriter(c *Conn, op Opcode) {
	s := &d.sink
	s.start()
	s.stream, s.c, s.op, s.first = true, c, op, true
	s.frame = max(c.fragSize, minWriteBuffer)
	if !d.fullWindow() {
		d.seg.begin()
		return
	}
	// An error here (none is known: priming writes to io.Discard) leaves
	// cur nil, and the message's first Write reports it.
	d.cur, _ = d.acquireWriter(c)
}

// writerWrite compresses p; full fragments leave as the output grows.
func (d *deflateState) writerWrite(p []byte) (int, error) {
	if !d.fullWindow() {
		if err := d.seg.write(d, p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if d.cur == nil {
		return 0, errWriterBroken
	}
	n, err := d.cur.fw.Write(p)
	d.record(p[:n])
	return n, err
}

// errWriterBroken: a streamed message whose compressor could not be set up.
var errWriterBroken = errors.New("ws: compressor unavailable")

// writerClose flushes the compressor and sends the final fragment without
// the tail. A message with no data still gets a valid compressed payload,
// the single octet 0x00 (RFC 7692 §7.2.3.6).
func (d *deflateState) writerClose() error {
	s := &d.sink
	var err error
	if d.fullWindow() {
		w := d.cur
		d.cur = nil
		if w == nil {
			s.done()
			return errWriterBroken
		}
		err = w.fw.Flush()
		d.releaseWriter(w)
	} else {
		err = d.seg.end(d)
	}
	if err == nil {
		var payload []byte
		if payload, err = trimTail(s.buf); err == nil {
			err = s.send(true, payload)
		}
	}
	s.done()
	return err
}

// ---- Decompressing (RFC 7692 §7.2.2) ----

// inflater is a flate reader and the source it reads one message from.
// Both are pooled and borrowed for one message: with context takeover the
// history is handed over as a preset dictionary.
type inflater struct {
	fr   io.ReadCloser
	src  inflateSource
	dict []byte // the connection's window, laid out for Reset
}

var inflaterPool sync.Pool

func getInflater() *inflater {
	if inf, ok := inflaterPool.Get().(*inflater); ok {
		return inf
	}
	inf := &inflater{}
	inf.src.buf = make([]byte, 0, inflateBufSize)
	inf.fr = flate.NewReader(&inf.src)
	return inf
}

// inflateSource yields a compressed message's payload, unmasked and across
// its frames, then inflateTail, then io.EOF. It implements io.ByteReader so
// that flate reads through it without a bufio.Reader of its own, which
// could otherwise read ahead.
type inflateSource struct {
	c        *Conn
	buf      []byte
	pos      int
	raw      int64 // payload bytes of the message read so far
	rawEOF   bool  // the message's last frame is used up
	tailDone bool  // the tail was put in buf
	err      error // the failure that stopped reading the payload
}

func (s *inflateSource) reset(c *Conn) {
	*s = inflateSource{c: c, buf: s.buf[:0]}
}

// fill refills buf: payload while the message lasts, then the tail.
func (s *inflateSource) fill() error {
	for !s.rawEOF {
		n, err := s.c.readRawLocked(s.buf[:cap(s.buf)])
		s.buf, s.pos = s.buf[:n], 0
		s.raw += int64(n)
		if err == io.EOF {
			s.rawEOF = true
		} else if err != nil {
			s.err = err
			return err
		}
		if n > 0 {
			return nil
		}
	}
	if s.tailDone {
		return io.EOF
	}
	s.tailDone = true
	// RFC 7692 §7.2.2: "Append 4 octets of 0x00 0x00 0xff 0xff to the tail
	// end of the payload of the message."
	tail := inflateTail
	if s.raw == 0 {
		tail = emptyInflateTail
	}
	s.buf, s.pos = append(s.buf[:0], tail...), 0
	return nil
}

// Read implements io.Reader.
func (s *inflateSource) Read(p []byte) (int, error) {
	if s.pos == len(s.buf) {
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, s.buf[s.pos:])
	s.pos += n
	return n, nil
}

// ReadByte implements io.ByteReader.
func (s *inflateSource) ReadByte() (byte, error) {
	if s.pos == len(s.buf) {
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
	b := s.buf[s.pos]
	s.pos++
	return b, nil
}

// startMessage is called at the first frame of a compressed message. The
// inflater is set up at the first read, where the Conn is at hand.
func (d *deflateState) startMessage() {
	if d.inf != nil { // cannot happen: the reader drains every message
		d.releaseInflater()
	}
}

func (d *deflateState) releaseInflater() {
	d.inf.src.c = nil
	d.inf.src.err = nil
	inflaterPool.Put(d.inf)
	d.inf = nil
}

// remember keeps the last readWindow bytes of inflated output: with context
// takeover, RFC 7692 §7.2.2 has the next message decompressed "using the
// LZ77 sliding window used to process the last compressed message".
func (d *deflateState) remember(b []byte) { d.rwin.write(b) }

// read inflates the open compressed message into p and returns io.EOF at its
// end. It never asks the inflater for more than one byte past the read limit,
// so a small frame that would inflate to gigabytes (a decompression bomb)
// costs at most the limit before the reader fails it with 1009.
func (d *deflateState) read(c *Conn, p []byte) (int, error) {
	if d.inf == nil {
		d.inf = getInflater()
		d.inf.src.reset(c)
		var dict []byte
		if d.readTakeover {
			// The ring is laid out in the pooled inflater's buffer, so
			// that the connection keeps only the window itself.
			if d.inf.dict == nil {
				d.inf.dict = make([]byte, 0, windowSize)
			}
			d.inf.dict = d.rwin.appendTo(d.inf.dict[:0])
			dict = d.inf.dict
		}
		// Without context takeover, RFC 7692 §7.2.2 lets each message be
		// inflated "with an empty LZ77 sliding window": a nil dictionary.
		_ = d.inf.fr.(flate.Resetter).Reset(&d.inf.src, dict)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if limit := c.readLimit.Load(); limit >= 0 {
		if room := limit - c.msgLen + 1; room > 0 && int64(len(p)) > room {
			p = p[:room]
		}
	}
	n, err := d.inf.fr.Read(p)
	if n > 0 && d.readTakeover {
		d.remember(p[:n])
	}
	switch {
	case err == nil:
		return n, nil
	case err == io.EOF:
		// The deflate stream ended. Normally that is at our final block,
		// after the whole payload; a peer may also end it with its own
		// BFINAL block (RFC 7692 §7.2.3.4), after which any bytes left in
		// the message carry nothing and are skipped.
		for !d.inf.src.rawEOF {
			if err := d.inf.src.fill(); err != nil && err != io.EOF {
				// Outside the inflater: a timeout here is resumable.
				return n, err
			}
		}
		d.releaseInflater()
		return n, io.EOF
	case d.inf.src.err != nil:
		srcErr := d.inf.src.err
		d.releaseInflater()
		if c.readErr != nil {
			// The connection failed or closed while the message was open
			// (a protocol error, the peer's close frame, a broken socket).
			return 0, c.readErr
		}
		// A timeout inside the inflater: its state is lost.
		c.readErr = fmt.Errorf("%w: %w", ErrInflateInterrupted, srcErr)
		buf := getCtrl()
		payload, _ := AppendClosePayload(buf[:0], CloseInternalServerErr, "")
		_ = c.writeCloseFrame(payload)
		putCtrl(buf)
		c.closeTCP()
		return 0, c.readErr
	default:
		d.releaseInflater()
		// RFC 7692 §7.2.2 gives no code for data that does not inflate;
		// 1007 is RFC 6455's code for a payload inconsistent with its
		// message (see ErrBadDeflate).
		return 0, c.failLocked(protocolErr(CloseInvalidFramePayloadData, ErrBadDeflate, "%v", err))
	}
}
