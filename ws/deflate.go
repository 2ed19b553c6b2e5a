//go:build !js

package ws

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"sync"
)

// CompressionOptions turns on permessage-deflate (RFC 7692 §7) and tunes it.
// Compression is off unless Options.Compression points at a value; the zero
// value is a sensible setting: context takeover on both sides, BestSpeed,
// messages under 128 bytes sent as they are.
//
// Memory, per connection with compression negotiated (stdlib compress/flate,
// measured with Go 1.26 on amd64):
//   - sending with context takeover: one flate.Writer of about 1.2 MB (level
//     1) or 0.8 MB (levels 2–9), allocated at the first compressed message
//     and kept for the connection's life, since its history is what the next
//     message refers to;
//   - sending without context takeover (ServerNoContextTakeover on a server,
//     ClientNoContextTakeover on a client, or when the peer asks for it), or
//     Huffman-only: writers come from a shared sync.Pool for one message at a
//     time, so idle connections hold none;
//   - receiving: a flate reader (about 40 KiB) from a shared pool for the
//     duration of one compressed message, plus a 64 KiB window per connection
//     when the peer takes over its context.
//
// Limits of compress/flate that shape this design:
//   - it cannot shrink its 32 KiB window, so when the peer limits our window
//     below 15 bits (client_max_window_bits in a server's answer,
//     server_max_window_bits in a client's offer) messages are compressed
//     with flate.HuffmanOnly: output without back-references is valid for
//     any window, at a cost in ratio: on a stream of 1 KiB JSON messages
//     (BenchmarkDeflateHuffmanOnlyRatio) the wire carries 0.61 of the raw
//     bytes instead of 0.35 with BestSpeed and context takeover, while
//     compressing about twice as fast. The alternative, sending those
//     messages uncompressed, would carry 1.0.
//   - its inflater cannot resume after a read error, so a read deadline that
//     expires inside a compressed message (between its frames) fails the
//     connection with ErrInflateInterrupted and close code 1011, instead of
//     leaving it usable as it does for uncompressed messages. A deadline
//     that expires while waiting for the next message is harmless.
type CompressionOptions struct {
	// Level is the compress/flate level for messages we send: 1
	// (flate.BestSpeed) to 9 (flate.BestCompression), -1
	// (flate.DefaultCompression, i.e. 6) or -2 (flate.HuffmanOnly). 0 means
	// DefaultCompressionLevel. flate.NoCompression is not offered: stored
	// blocks only add bytes; raise Threshold instead.
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
	// limit for itself. Below 15 a server sends Huffman-only data.
	ServerMaxWindowBits int
	// ClientMaxWindowBits (8–15, 0 = unset): a client offers
	// client_max_window_bits=n (RFC 7692 §7.1.2.2), promising a window of at
	// most 2^n bytes and letting the server lower it; below 15 it sends
	// Huffman-only data. Unset, a client does not offer the parameter at
	// all, so no server can shrink its window. A server answers
	// client_max_window_bits=n to a client that offered the parameter.
	ClientMaxWindowBits int
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

	// Write side (Conn.msgMu).
	own  *flateWriter // the connection's compressor under takeover, lazily made
	cur  *flateWriter // compressor of the message being streamed
	sink deflateSink

	// Read side (Conn.readMu).
	inf *inflater // borrowed for the open compressed message, else nil
	win []byte    // the last windowSize inflated bytes, under readTakeover
}

// newDeflateState sets up the state for agreed parameters in role.
func newDeflateState(o *CompressionOptions, p deflateParams, role Role) *deflateState {
	d := &deflateState{params: p, level: o.Level, threshold: o.Threshold}
	if d.level == 0 {
		d.level = DefaultCompressionLevel
	}
	switch {
	case d.threshold == 0:
		d.threshold = DefaultCompressionThreshold
	case d.threshold < 0:
		d.threshold = 0
	}
	ourBits := p.serverMaxWindowBits
	if role == RoleClient {
		ourBits = p.clientMaxWindowBits
		d.writeTakeover = !p.clientNoContextTakeover
		d.readTakeover = !p.serverNoContextTakeover
	} else {
		d.writeTakeover = !p.serverNoContextTakeover
		d.readTakeover = !p.clientNoContextTakeover
	}
	if ourBits != 0 && ourBits < 15 {
		// RFC 7692 §7.1.2: the peer limited our LZ77 window. compress/flate
		// always searches 32 KiB back; Huffman-only output has no
		// back-references at all, so it fits any window, with or without
		// context takeover.
		d.level = flate.HuffmanOnly
	}
	return d
}

// ---- Compressing (RFC 7692 §7.2.1) ----

// flateWriter is a flate.Writer and the sink it writes to. The indirection
// lets a pooled writer forget the connection it last served.
type flateWriter struct {
	fw *flate.Writer
	to io.Writer
}

func (w *flateWriter) Write(p []byte) (int, error) { return w.to.Write(p) }

// flateWriterPools hold idle compressors by level (index level+2, levels -2
// to 9), shared by all connections that do not keep a compressor's history.
var flateWriterPools [12]sync.Pool

// acquireWriter returns the compressor for the next message, writing into
// the sink: the connection's own under context takeover, a pooled one with
// empty history otherwise.
func (d *deflateState) acquireWriter() *flateWriter {
	// Huffman-only output never refers to earlier bytes, so it needs no
	// history even under context takeover, and can be pooled.
	if d.writeTakeover && d.level != flate.HuffmanOnly {
		if d.own == nil {
			d.own = newFlateWriter(d.level, &d.sink)
		}
		return d.own
	}
	if w, ok := flateWriterPools[d.level+2].Get().(*flateWriter); ok {
		w.to = &d.sink
		// RFC 7692 §7.2.1 without context takeover: each message starts
		// from an empty window.
		w.fw.Reset(w)
		return w
	}
	return newFlateWriter(d.level, &d.sink)
}

func newFlateWriter(level int, to io.Writer) *flateWriter {
	w := &flateWriter{to: to}
	w.fw, _ = flate.NewWriter(w, level) // the level was validated
	return w
}

// releaseWriter returns a pooled compressor after its message.
func (d *deflateState) releaseWriter(w *flateWriter) {
	if w == d.own {
		return
	}
	w.to = nil
	flateWriterPools[d.level+2].Put(w)
}

// deflateSink collects compressed output. For a streamed message it sends
// full fragments as they fill, always holding back the last four bytes:
// they may turn out to be the tail RFC 7692 §7.2.1 removes.
type deflateSink struct {
	buf    []byte
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

// done forgets the message and drops an oversized buffer.
func (s *deflateSink) done() {
	s.stream, s.c = false, nil
	if cap(s.buf) > maxKeptDeflateBuf {
		s.buf = nil
	} else {
		s.buf = s.buf[:0]
	}
}

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
	s.buf = s.buf[:0]
	w := d.acquireWriter()
	_, err := w.fw.Write(p)
	if err == nil {
		// A sync flush ends the deflate blocks on a byte boundary with an
		// empty stored block: the 00 00 ff ff that is removed next.
		err = w.fw.Flush()
	}
	d.releaseWriter(w)
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
	s.buf = s.buf[:0]
	s.stream, s.c, s.op, s.first = true, c, op, true
	s.frame = max(c.fragSize, minWriteBuffer)
	d.cur = d.acquireWriter()
}

// writerWrite compresses p; full fragments leave as the output grows.
func (d *deflateState) writerWrite(p []byte) (int, error) {
	return d.cur.fw.Write(p)
}

// writerClose flushes the compressor and sends the final fragment without
// the tail. A message with no data still gets a valid compressed payload,
// the single octet 0x00 (RFC 7692 §7.2.3.6).
func (d *deflateState) writerClose() error {
	s := &d.sink
	w := d.cur
	d.cur = nil
	err := w.fw.Flush()
	d.releaseWriter(w)
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
	fr  io.ReadCloser
	src inflateSource
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

// remember keeps the last windowSize bytes of inflated output: with context
// takeover, RFC 7692 §7.2.2 has the next message decompressed "using the
// LZ77 sliding window used to process the last compressed message".
func (d *deflateState) remember(b []byte) {
	if d.win == nil {
		d.win = make([]byte, 0, 2*windowSize)
	}
	if len(b) >= windowSize {
		d.win = append(d.win[:0], b[len(b)-windowSize:]...)
		return
	}
	if len(d.win)+len(b) > cap(d.win) {
		keep := windowSize - len(b)
		d.win = d.win[:copy(d.win, d.win[len(d.win)-keep:])]
	}
	d.win = append(d.win, b...)
}

// dict is the window the next message is inflated against.
func (d *deflateState) dict() []byte {
	if len(d.win) > windowSize {
		return d.win[len(d.win)-windowSize:]
	}
	return d.win
}

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
			dict = d.dict()
		}
		// Without context takeover, RFC 7692 §7.2.2 lets each message be
		// inflated "with an empty LZ77 sliding window": a nil dictionary.
		_ = d.inf.fr.(flate.Resetter).Reset(&d.inf.src, dict)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if c.readLimit >= 0 {
		if room := c.readLimit - c.msgLen + 1; room > 0 && int64(len(p)) > room {
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
		payload, _ := AppendClosePayload(c.ctrl[:0:len(c.ctrl)], CloseInternalServerErr, "")
		_ = c.writeCloseFrame(payload)
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
