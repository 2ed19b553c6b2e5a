//go:build !js

package ws

import (
	crand "crypto/rand"
	"math/rand/v2"
)

// maskKeySource hands out the masking keys of one connection's frames.
//
// RFC 6455 §5.3: the client MUST pick a fresh masking key for every frame, derived from a strong source of
// entropy, and one frame's key MUST NOT make the next one predictable. §10.3 explains why: a script that could
// predict the key could choose the bytes on the wire and poison intermediaries.
//
// Reading crypto/rand for every frame costs a trip to the operating system's generator per frame; instead each
// connection owns a ChaCha8 generator (math/rand/v2, a cryptographically strong stream cipher) seeded with 32
// bytes from crypto/rand. Its output cannot be predicted without the seed, and the seed never leaves the process.
//
// The generator is allocated on the first call to next, so a connection that never writes a masked frame (a
// server, or an idle client) pays for a nil pointer only. The zero value is ready to use.
//
// A maskKeySource is not safe for concurrent use: the connection's write lock guards it, as it guards the
// frame the key goes into.
type maskKeySource struct {
	st *maskKeyState // nil until the first key
}

// maskKeyState is what a maskKeySource holds once it has handed out a key, behind one pointer so that a Conn
// that never masks holds a word only.
type maskKeyState struct {
	rng *rand.ChaCha8
	// spare holds the unused upper half of the last 64-bit output; hasSpare says whether it is still unused.
	// ChaCha8 produces 64 bits per call and a key needs 32, so every other key costs no generator call.
	spare    uint32
	hasSpare bool
}

// next returns a fresh masking key in the word form Mask takes (the order of its bytes on the wire is given by
// binary.LittleEndian.PutUint32). Every bit comes from the generator, so zero and every other value appear only
// with probability 2^-32 each; there is no constant or fallback key.
func (s *maskKeySource) next() uint32 {
	if st := s.st; st != nil && st.hasSpare {
		st.hasSpare = false
		return st.spare
	}
	return s.refill()
}

// refill draws 64 bits from the generator, creating it first if needed, returns the low half and keeps the
// high half for the next call. It is split from next so that next's common path inlines into the write path.
func (s *maskKeySource) refill() uint32 {
	if s.st == nil {
		// crypto/rand.Read never returns an error since Go 1.24: if the operating system's generator fails,
		// it crashes the program irrecoverably rather than handing out predictable bytes. There is therefore
		// no weak fallback here, and the error result is always nil.
		var seed [32]byte
		_, _ = crand.Read(seed[:])
		s.st = &maskKeyState{rng: rand.NewChaCha8(seed)}
	}
	v := s.st.rng.Uint64()
	s.st.spare = uint32(v >> 32)
	s.st.hasSpare = true
	return uint32(v)
}
