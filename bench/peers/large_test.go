package peers

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"

	coder "github.com/coder/websocket"
	gobwas "github.com/gobwas/ws"
	gorilla "github.com/gorilla/websocket"
	"github.com/lxzan/gws"
	"github.com/plainws/plainws/bench"
	"github.com/plainws/plainws/ws"
)

// The large-message workload (bench/large.go) for every library: a client
// sends a text or binary message of 64 KiB to 16 MiB, whole or cut into
// pieces, the library's own echo server reads it whole and sends it back
// cut the same way, the client reads the echo whole. Text is checked for
// UTF-8 on both sides (RFC 6455 §8.1): by the library where it does so
// (plainws; gws with CheckUtf8Enabled), otherwise by the program with
// utf8.Valid over the whole message, as a user of gorilla, coder or gobwas
// must (none of the three checks text messages).
//
// Fragmented sends go through each library's streaming writer:
//   - plainws: NextWriter with WriteBufferSize = piece.
//   - gorilla: NextWriter with WriteBufferSize = piece, one Write per piece
//     (its buffer flushes a frame when full).
//   - coder: Writer, one Write per piece (each Write is a frame, buffered
//     until the final one); its Close adds an empty final frame.
//   - gobwas: frames written by hand, coalesced into writes of up to 64 KiB.
//   - gws: WriteFile over a reader that returns one piece per Read (each
//     Read is a frame; its segments are at most 128 KiB).
//
// Every library can run every row.

// largeLib is one library's large workload.
type largeLib struct {
	name string
	run  func(b *testing.B, op ws.Opcode, size, piece int)
}

var largeLibs = []largeLib{
	{"plainws", bench.LargeEcho},
	{"gorilla", gorillaLarge},
	{"coder", coderLarge},
	{"gobwas", gobwasLarge},
	{"gws", gwsLarge},
}

// BenchmarkLarge runs every row of the large workload through every
// library, the libraries of a row one after the other. Names are
// large/<type>-<fragmentation>/<size>/<library>.
func BenchmarkLarge(b *testing.B) {
	for _, op := range []ws.Opcode{ws.OpText, ws.OpBinary} {
		for _, piece := range bench.LargePieces {
			for _, size := range bench.LargeSizes {
				for _, l := range largeLibs {
					b.Run("large/"+bench.LargeVariant(op, piece)+"/"+sizeName(size)+"/"+l.name, func(b *testing.B) {
						l.run(b, op, size, piece)
					})
				}
			}
		}
	}
}

// largeWriteBuffer is the write buffer of a library whose streaming writer
// cuts frames at its buffer size: the piece, or the default for whole
// messages.
func largeWriteBuffer(piece int) int {
	if piece == 0 {
		return ws.DefaultBufferSize
	}
	return piece
}

// gorilla

func gorillaLargeWrite(c *gorilla.Conn, typ int, p []byte, piece int) error {
	if piece == 0 {
		return c.WriteMessage(typ, p)
	}
	w, err := c.NextWriter(typ)
	if err != nil {
		return err
	}
	if err := bench.WritePieces(p, piece, func(q []byte) error { _, err := w.Write(q); return err }); err != nil {
		_ = w.Close()
		return err
	}
	return w.Close()
}

func gorillaLargeRead(c *gorilla.Conn, buf []byte) (ws.Opcode, []byte, error) {
	typ, r, err := c.NextReader()
	if err != nil {
		return 0, buf, err
	}
	buf, err = readInto(r, buf)
	return ws.Opcode(typ), buf, err
}

func gorillaLarge(b *testing.B, op ws.Opcode, size, piece int) {
	wbuf := largeWriteBuffer(piece)
	addr := bench.StartServer(b, func(nc net.Conn) {
		u := gorilla.Upgrader{WriteBufferSize: wbuf}
		var c *gorilla.Conn
		if err := bench.ServeUpgrade(nc, func(w http.ResponseWriter, r *http.Request) { c, _ = u.Upgrade(w, r, nil) }); err != nil || c == nil {
			return
		}
		c.SetReadLimit(readLimit)
		var buf []byte
		for {
			op, got, err := gorillaLargeRead(c, buf)
			if err != nil || bench.CheckEcho(op, op, len(got), got, false) != nil {
				return
			}
			buf = got
			if gorillaLargeWrite(c, int(op), buf, piece) != nil {
				return
			}
		}
	})
	d := gorilla.Dialer{WriteBufferSize: wbuf}
	c, _, err := d.Dial("ws://"+addr+"/", nil)
	if err != nil {
		b.Fatal(err)
	}
	closeAtEnd(b, c)
	c.SetReadLimit(readLimit)
	p := bench.LargePayload(op, size)
	buf := make([]byte, 0, size)
	bench.RunLarge(b, size,
		func() error { return gorillaLargeWrite(c, int(op), p, piece) },
		func() error {
			gotOp, got, err := gorillaLargeRead(c, buf)
			if err != nil {
				return err
			}
			buf = got
			return bench.CheckEcho(op, gotOp, size, got, false)
		})
}

// coder

func coderType(op ws.Opcode) coder.MessageType {
	if op == ws.OpText {
		return coder.MessageText
	}
	return coder.MessageBinary
}

func coderLargeWrite(ctx context.Context, c *coder.Conn, typ coder.MessageType, p []byte, piece int) error {
	if piece == 0 {
		return c.Write(ctx, typ, p)
	}
	w, err := c.Writer(ctx, typ)
	if err != nil {
		return err
	}
	if err := bench.WritePieces(p, piece, func(q []byte) error { _, err := w.Write(q); return err }); err != nil {
		_ = w.Close()
		return err
	}
	return w.Close()
}

func coderLargeRead(ctx context.Context, c *coder.Conn, buf []byte) (ws.Opcode, []byte, error) {
	typ, r, err := c.Reader(ctx)
	if err != nil {
		return 0, buf, err
	}
	buf, err = readInto(r, buf)
	op := ws.OpBinary
	if typ == coder.MessageText {
		op = ws.OpText
	}
	return op, buf, err
}

func coderLarge(b *testing.B, op ws.Opcode, size, piece int) {
	ctx := context.Background()
	addr := bench.StartServer(b, func(nc net.Conn) {
		var c *coder.Conn
		if err := bench.ServeUpgrade(nc, func(w http.ResponseWriter, r *http.Request) {
			c, _ = coder.Accept(w, r, &coder.AcceptOptions{InsecureSkipVerify: true})
		}); err != nil || c == nil {
			return
		}
		defer func() { _ = c.CloseNow() }()
		c.SetReadLimit(readLimit)
		var buf []byte
		for {
			op, got, err := coderLargeRead(ctx, c, buf)
			if err != nil || bench.CheckEcho(op, op, len(got), got, false) != nil {
				return
			}
			buf = got
			if coderLargeWrite(ctx, c, coderType(op), buf, piece) != nil {
				return
			}
		}
	})
	c, _, err := coder.Dial(ctx, "ws://"+addr+"/", &coder.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{}}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.CloseNow() })
	c.SetReadLimit(readLimit)
	p := bench.LargePayload(op, size)
	buf := make([]byte, 0, size)
	bench.RunLarge(b, size,
		func() error { return coderLargeWrite(ctx, c, coderType(op), p, piece) },
		func() error {
			gotOp, got, err := coderLargeRead(ctx, c, buf)
			if err != nil {
				return err
			}
			buf = got
			return bench.CheckEcho(op, gotOp, size, got, false)
		})
}

// gobwas

// gobwasLargeCoalesce is how many bytes of frames the gobwas program
// gathers before a write, as a buffered writer would.
const gobwasLargeCoalesce = 64 << 10

// writeLarge sends p as one message, whole or in piece-byte frames; the
// frames of a fragmented message are gathered into writes of up to
// gobwasLargeCoalesce bytes, and a client masks each with a fresh key
// (RFC 6455 §5.3).
func (g *gobwasConn) writeLarge(op gobwas.OpCode, p []byte, piece int) error {
	if piece == 0 {
		return g.write(op, p)
	}
	g.wbuf.b = g.wbuf.b[:0]
	for first := true; first || len(p) > 0; first = false {
		k := min(piece, len(p))
		h := gobwas.Header{Fin: k == len(p), OpCode: gobwas.OpContinuation, Length: int64(k)}
		if first {
			h.OpCode = op
		}
		if g.client {
			h.Masked = true
			h.Mask = gobwas.NewMask()
		}
		if err := gobwas.WriteHeaderBuffer(&g.wbuf, h, g.whdr[:]); err != nil {
			return err
		}
		start := len(g.wbuf.b)
		g.wbuf.b = append(g.wbuf.b, p[:k]...)
		if g.client {
			gobwas.Cipher(g.wbuf.b[start:], h.Mask, 0)
		}
		p = p[k:]
		if len(g.wbuf.b) >= gobwasLargeCoalesce || h.Fin {
			if _, err := g.nc.Write(g.wbuf.b); err != nil {
				return err
			}
			g.wbuf.b = g.wbuf.b[:0]
		}
	}
	return nil
}

// readLarge reads one whole message into buf[:0], frame by frame, telling
// CheckHeader when a fragmented message is open (RFC 6455 §5.4: only
// continuation frames may follow a data frame without FIN).
func (g *gobwasConn) readLarge(buf []byte) (gobwas.OpCode, []byte, error) {
	base := g.state
	defer func() { g.state = base }()
	buf = buf[:0]
	var op gobwas.OpCode
	for {
		h, err := g.nextFrame()
		if err != nil {
			return op, buf, err
		}
		if h.OpCode != gobwas.OpContinuation {
			op = h.OpCode
		}
		if int64(len(buf))+h.Length > readLimit {
			return op, buf, errTooLarge
		}
		n := len(buf)
		buf = slices.Grow(buf, int(h.Length))[:n+int(h.Length)]
		if _, err := io.ReadFull(g.br, buf[n:]); err != nil {
			return op, buf, err
		}
		if h.Masked {
			gobwas.Cipher(buf[n:], h.Mask, 0)
		}
		if h.Fin {
			return op, buf, nil
		}
		g.state = base.Set(gobwas.StateFragmented)
	}
}

func gobwasLarge(b *testing.B, op ws.Opcode, size, piece int) {
	addr := bench.StartServer(b, func(nc net.Conn) {
		if _, err := gobwas.Upgrade(nc); err != nil {
			return
		}
		g := newGobwasConn(nc, nil, false)
		var buf []byte
		for {
			op, got, err := g.readLarge(buf)
			if err != nil || bench.CheckEcho(ws.Opcode(op), ws.Opcode(op), len(got), got, false) != nil {
				return
			}
			buf = got
			if g.writeLarge(op, buf, piece) != nil {
				return
			}
		}
	})
	nc, br, _, err := gobwas.Dial(context.Background(), "ws://"+addr+"/")
	if err != nil {
		b.Fatal(err)
	}
	closeAtEnd(b, nc)
	g := newGobwasConn(nc, br, true)
	p := bench.LargePayload(op, size)
	buf := make([]byte, 0, size)
	bench.RunLarge(b, size,
		func() error { return g.writeLarge(gobwas.OpCode(op), p, piece) },
		func() error {
			gotOp, got, err := g.readLarge(buf)
			if err != nil {
				return err
			}
			buf = got
			return bench.CheckEcho(op, ws.Opcode(gotOp), size, got, false)
		})
}

// gws

// pieceReader returns one piece of p per Read, the last with io.EOF, so
// that gws's WriteFile sends each piece as a frame.
type pieceReader struct {
	p     []byte
	piece int
}

func (r *pieceReader) Read(q []byte) (int, error) {
	n := copy(q[:min(len(q), r.piece)], r.p)
	r.p = r.p[n:]
	if len(r.p) == 0 {
		return n, io.EOF
	}
	return n, nil
}

func gwsLargeWrite(c *gws.Conn, op gws.Opcode, p []byte, piece int) error {
	if piece == 0 {
		return c.WriteMessage(op, p)
	}
	return c.WriteFile(op, &pieceReader{p: p, piece: piece})
}

func gwsLarge(b *testing.B, op ws.Opcode, size, piece int) {
	upgrader := gws.NewUpgrader(&gwsHandler{onMessage: func(c *gws.Conn, m *gws.Message) {
		_ = gwsLargeWrite(c, m.Opcode, m.Bytes(), piece)
		_ = m.Close()
	}}, &gws.ServerOption{CheckUtf8Enabled: true, ReadMaxPayloadSize: readLimit})
	addr := bench.StartServer(b, func(nc net.Conn) {
		br := bufio.NewReader(nc)
		r, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		c, err := upgrader.UpgradeFromConn(nc, br, r)
		if err != nil {
			return
		}
		c.ReadLoop()
	})
	echoes := make(chan error, 1)
	h := &gwsHandler{
		onMessage: func(_ *gws.Conn, m *gws.Message) {
			err := bench.CheckEcho(op, ws.Opcode(m.Opcode), size, m.Bytes(), true)
			_ = m.Close()
			echoes <- err
		},
		onClose: func(err error) {
			select {
			case echoes <- err:
			default:
			}
		},
	}
	c, _, err := gws.NewClient(h, &gws.ClientOption{Addr: "ws://" + addr + "/", CheckUtf8Enabled: true, ReadMaxPayloadSize: readLimit})
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.ReadLoop()
	}()
	b.Cleanup(func() {
		_ = c.NetConn().Close()
		wg.Wait()
	})
	p := bench.LargePayload(op, size)
	bench.RunLarge(b, size,
		func() error { return gwsLargeWrite(c, gws.Opcode(op), p, piece) },
		func() error { return <-echoes })
}
