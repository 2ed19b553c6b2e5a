package bench

import (
	"encoding/binary"
	"math/rand/v2"

	"github.com/plainws/plainws/ws"
)

// LoopBytes is about how long a FrameLoop is. It is large enough that a
// reader never sees the same few cache lines twice in a row, and small enough
// to stay in the L2 cache, so that reading it measures the library and not
// main memory.
const LoopBytes = 256 << 10

// StreamChunk is the buffer the streaming workloads read into, whatever the
// message size: io.Copy's size, what a program that forwards messages uses.
const StreamChunk = 32 << 10

// Payload returns n bytes of 'a'..'z' repeated: valid as text (RFC 6455
// §5.6, UTF-8) and as binary, so the same bytes serve every workload.
func Payload(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = 'a' + byte(i%26)
	}
	return p
}

// FrameSize returns how many bytes a single-frame message of size payload
// bytes takes on the wire (RFC 6455 §5.2: 2 bytes, the extended length, and
// the 4-byte masking key on frames from a client).
func FrameSize(size int, masked bool) int {
	return ws.Header{Masked: masked, Length: int64(size)}.Size() + size
}

// FrameLoop returns the wire bytes of enough unfragmented messages of op and
// size to fill about LoopBytes (at least one). Masked frames (what a client
// sends, RFC 6455 §5.3) each get their own key from a fixed-seed generator,
// so every run reads the same bytes.
func FrameLoop(op ws.Opcode, size int, masked bool) []byte {
	count := max(1, LoopBytes/FrameSize(size, masked))
	payload := Payload(size)
	rng := rand.New(rand.NewPCG(1, 2))
	loop := make([]byte, 0, count*FrameSize(size, masked))
	for range count {
		h := ws.Header{Fin: true, Opcode: op, Masked: masked, Length: int64(size)}
		if masked {
			binary.LittleEndian.PutUint32(h.Mask[:], rng.Uint32())
		}
		loop = ws.AppendHeader(loop, h)
		start := len(loop)
		loop = append(loop, payload...)
		if masked {
			ws.Mask(loop[start:], ws.MaskKeyWord(h.Mask))
		}
	}
	return loop
}

// payloadOffsets returns where each payload of a FrameLoop starts.
func payloadOffsets(size int, masked bool, loopLen int) []int {
	fs := FrameSize(size, masked)
	offs := make([]int, 0, loopLen/fs)
	for off := 0; off+fs <= loopLen; off += fs {
		offs = append(offs, off+fs-size)
	}
	return offs
}
