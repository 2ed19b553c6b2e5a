package bench

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/plainws/plainws/ws"
)

// The in-memory workloads: reading b.N messages from a ReplayConn and writing
// b.N messages to a discarding one. Each reports the payload bytes per
// operation (b.SetBytes) and its allocations; every buffer is reused, so a
// steady state allocation shows up as allocs/op > 0.

// ReadWhole reads b.N messages of size bytes with ReadMessageInto, passing
// the previous result back as the buffer (the documented no-allocation use).
// role is the reader's role: a client reads unmasked server frames, a server
// reads masked client frames and unmasks them (RFC 6455 §5.1, §5.3).
func ReadWhole(b *testing.B, role ws.Role, op ws.Opcode, size int) {
	c := ws.NewConn(NewReplayConn(FrameLoop(op, size, role == ws.RoleServer)), nil, role, "", nil)
	// One untimed read first: from then on the buffer passed back is the
	// one the previous call returned, the steady state a reading loop is in.
	_, buf, err := c.ReadMessageInto(make([]byte, 0, size))
	if err != nil {
		b.Fatal(err)
	}
	prepare(b, size)
	for range b.N {
		if _, buf, err = c.ReadMessageInto(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if len(buf) != size {
		b.Fatalf("read %d bytes, want %d", len(buf), size)
	}
}

// ReadStream reads b.N messages of size bytes through NextReader, each one
// drained into a StreamChunk buffer: the path of a program that forwards
// messages without holding them.
func ReadStream(b *testing.B, role ws.Role, size int) {
	c := ws.NewConn(NewReplayConn(FrameLoop(ws.OpBinary, size, role == ws.RoleServer)), nil, role, "", nil)
	chunk := make([]byte, StreamChunk)
	prepare(b, size)
	for range b.N {
		_, r, err := c.NextReader()
		if err != nil {
			b.Fatal(err)
		}
		if err := Drain(r, chunk, size); err != nil {
			b.Fatal(err)
		}
	}
}

// ReadWholeOwner is ReadWhole through a ws.ReadOwner: the same reads,
// without the read lock (one goroutine owns the conn's reads). The loop is
// ReadWhole's written out again, not shared through a func value, whose
// indirect call would be a fifth of the 7 ns a 16-byte read takes here.
func ReadWholeOwner(b *testing.B, role ws.Role, op ws.Opcode, size int) {
	c := ws.NewConn(NewReplayConn(FrameLoop(op, size, role == ws.RoleServer)), nil, role, "", nil)
	o := c.OwnReads()
	defer o.Release()
	_, buf, err := o.ReadMessageInto(make([]byte, 0, size))
	if err != nil {
		b.Fatal(err)
	}
	prepare(b, size)
	for range b.N {
		if _, buf, err = o.ReadMessageInto(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if len(buf) != size {
		b.Fatalf("read %d bytes, want %d", len(buf), size)
	}
}

// ReadStreamOwner is ReadStream through a ws.ReadOwner: NextReader and the
// reader's Read take no lock.
func ReadStreamOwner(b *testing.B, role ws.Role, size int) {
	c := ws.NewConn(NewReplayConn(FrameLoop(ws.OpBinary, size, role == ws.RoleServer)), nil, role, "", nil)
	o := c.OwnReads()
	defer o.Release()
	chunk := make([]byte, StreamChunk)
	prepare(b, size)
	for range b.N {
		_, r, err := o.NextReader()
		if err != nil {
			b.Fatal(err)
		}
		if err := Drain(r, chunk, size); err != nil {
			b.Fatal(err)
		}
	}
}

// Drain reads r to its end through chunk and checks that it held want bytes:
// the inner loop of every streaming workload, the same for every library.
func Drain(r io.Reader, chunk []byte, want int) error {
	n := 0
	for {
		k, err := r.Read(chunk)
		n += k
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if n != want {
		return errShortMessage
	}
	return nil
}

var errShortMessage = errors.New("bench: message of the wrong length")

// ReadBare is the ceiling of the read workloads: the same bytes through a
// plain 4 KiB slice refilled from the same conn, and a loop that only decodes
// each header in place (RFC 6455 §5.2), copies the payload out (reading what
// the buffer lacks straight into the destination) and unmasks it when masked
// — no checks, no state, no locks, no bufio. It is what any reader must do at
// least.
func ReadBare(b *testing.B, masked bool, size int) {
	src := NewReplayConn(FrameLoop(ws.OpBinary, size, masked))
	rb := make([]byte, ws.DefaultBufferSize)
	r, w := 0, 0
	// need makes at least k bytes readable at rb[r:w].
	need := func(k int) {
		if w-r >= k {
			return
		}
		w = copy(rb, rb[r:w])
		r = 0
		for w < k {
			n, err := src.Read(rb[w:])
			if err != nil {
				b.Fatal(err)
			}
			w += n
		}
	}
	buf := make([]byte, size)
	prepare(b, size)
	for range b.N {
		need(2)
		n, l7, mk := 2, rb[r+1]&0x7F, rb[r+1]&0x80 != 0
		switch l7 {
		case 126:
			n += 2
		case 127:
			n += 8
		}
		if mk {
			n += 4
		}
		need(n)
		hdr := rb[r : r+n]
		length := int(l7)
		switch l7 {
		case 126:
			length = int(binary.BigEndian.Uint16(hdr[2:]))
		case 127:
			length = int(binary.BigEndian.Uint64(hdr[2:]))
		}
		var key uint32
		if mk {
			key = binary.LittleEndian.Uint32(hdr[n-4:])
		}
		r += n
		k := copy(buf[:length], rb[r:w])
		r += k
		if k < length {
			if _, err := io.ReadFull(src, buf[k:length]); err != nil {
				b.Fatal(err)
			}
		}
		if mk {
			ws.Mask(buf[:length], key)
		}
	}
}

// ReadCopy is the absolute ceiling of the read workloads: one copy of each
// payload from the same frame loop into the same buffer, and nothing else.
func ReadCopy(b *testing.B, masked bool, size int) {
	loop := FrameLoop(ws.OpBinary, size, masked)
	offs := payloadOffsets(size, masked, len(loop))
	buf := make([]byte, size)
	prepare(b, size)
	j := 0
	for range b.N {
		copy(buf, loop[offs[j]:offs[j]+size])
		if j++; j == len(offs) {
			j = 0
		}
	}
}

// WriteMessage writes b.N binary messages of size bytes with WriteMessage to a
// discarding conn. As a client it draws a fresh masking key per frame and
// masks a copy of the payload (RFC 6455 §5.3); as a server it only frames.
func WriteMessage(b *testing.B, role ws.Role, size int) {
	nc := NewDiscardConn()
	c := ws.NewConn(nc, nil, role, "", nil)
	p := Payload(size)
	prepare(b, size)
	for range b.N {
		if err := c.WriteMessage(ws.OpBinary, p); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if want := int64(b.N) * int64(FrameSize(size, role == ws.RoleClient)); nc.Written() != want {
		b.Fatalf("wrote %d bytes, want %d", nc.Written(), want)
	}
}

// WriteBare is the ceiling of the write workloads: what any writer must do
// at least, without locks or state. A masked frame (RFC 6455 §5.3) gets a
// key from a xorshift (the cheapest source there is), its payload is copied
// behind the header and masked there, and the frame leaves in one write. The
// header is right-aligned in front of a payload that starts 64 bytes into
// the buffer, so the copy and the masking run on aligned memory: with the
// payload 14 bytes after a page-aligned source, the copy of 1 MiB runs up
// to three times slower on this machine (loads falsely waiting on stores
// 14 bytes behind them, "4K aliasing"). An unmasked frame larger than
// DefaultBufferSize goes out as header and payload in one writev, with no
// copy at all.
func WriteBare(b *testing.B, masked bool, size int) {
	nc := NewDiscardConn()
	p := Payload(size)
	const reserve = 64
	buf := make([]byte, reserve+size)
	var hdr [ws.MaxHeaderSize]byte
	var iov [2][]byte
	var bufs net.Buffers
	key := uint32(2463534242)
	prepare(b, size)
	for range b.N {
		h := ws.Header{Fin: true, Opcode: ws.OpBinary, Masked: masked, Length: int64(size)}
		if masked {
			key ^= key << 13
			key ^= key >> 17
			key ^= key << 5
			binary.LittleEndian.PutUint32(h.Mask[:], key)
		}
		head := ws.AppendHeader(hdr[:0], h)
		var err error
		if !masked && size > ws.DefaultBufferSize {
			iov = [2][]byte{head, p}
			bufs = iov[:]
			_, err = bufs.WriteTo(nc)
		} else {
			start := reserve - len(head)
			copy(buf[start:], head)
			copy(buf[reserve:], p)
			if masked {
				ws.Mask(buf[reserve:], key)
			}
			_, err = nc.Write(buf[start:])
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

// WriteCopy is the absolute ceiling of the write workloads: one copy of the
// payload into a buffer, and nothing else.
func WriteCopy(b *testing.B, size int) {
	p := Payload(size)
	buf := make([]byte, size)
	prepare(b, size)
	for range b.N {
		copy(buf, p)
	}
}

// Mask masks b.N buffers of size bytes starting off bytes into an allocation
// (off 1 makes every 8-byte word straddle an alignment boundary), carrying
// the key across calls as a streaming reader does (RFC 6455 §5.3).
func Mask(b *testing.B, size, off int) {
	p := make([]byte, size+off)[off:]
	key := uint32(0x3d21fa37)
	prepare(b, size)
	for range b.N {
		key = ws.Mask(p, key)
	}
}

// prepare sets the per-operation byte count, turns on allocation reporting
// and starts the clock: the common preamble of every workload.
func prepare(b *testing.B, size int) {
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
}
