package ws

import (
	"encoding/binary"
	"math/bits"
)

// Mask XORs b in place with the masking key, which is given as a little-endian word: byte i of the stream is
// XORed with byte(key >> (8*(i%4))). It returns the key rotated so that a later call continues where this one
// stopped (the key phase), letting a streaming reader unmask a frame across many reads.
//
// RFC 6455 §5.3: octet i of the transformed data is octet i of the original data XOR octet (i MOD 4) of the
// masking key; the same operation masks and unmasks. Carrying the key as a rotating word instead of a
// (key, offset) pair means the caller keeps one uint32 per frame and the hot loop never computes i MOD 4.
//
// Mask never allocates and is safe on any length (including zero) and any alignment. It is the routine every
// masked payload byte goes through on both the read and the write path, so on amd64 and arm64 it runs in
// assembly (mask_amd64.s: SSE2, or AVX2 where the CPU and the OS allow it; mask_arm64.s: NEON); with the
// purego build tag and on every other architecture it runs maskGeneric below, which is the reference the
// assembly is tested against and the one to read.
func Mask(b []byte, key uint32) uint32 {
	return mask(b, key)
}

// maskGeneric is Mask in portable Go, eight bytes at a time.
func maskGeneric(b []byte, key uint32) uint32 {
	// An 8-byte word holds the 4-byte key twice, so XORing whole words never changes the key phase: the
	// phase only moves in the final 0..3 bytes.
	if len(b) >= 8 {
		key64 := uint64(key)<<32 | uint64(key)
		// 64 bytes per iteration; re-slicing to exactly 64 bytes lets the compiler drop every bounds check
		// inside the body.
		for len(b) >= 64 {
			w := b[:64:64]
			binary.LittleEndian.PutUint64(w[0:8], binary.LittleEndian.Uint64(w[0:8])^key64)
			binary.LittleEndian.PutUint64(w[8:16], binary.LittleEndian.Uint64(w[8:16])^key64)
			binary.LittleEndian.PutUint64(w[16:24], binary.LittleEndian.Uint64(w[16:24])^key64)
			binary.LittleEndian.PutUint64(w[24:32], binary.LittleEndian.Uint64(w[24:32])^key64)
			binary.LittleEndian.PutUint64(w[32:40], binary.LittleEndian.Uint64(w[32:40])^key64)
			binary.LittleEndian.PutUint64(w[40:48], binary.LittleEndian.Uint64(w[40:48])^key64)
			binary.LittleEndian.PutUint64(w[48:56], binary.LittleEndian.Uint64(w[48:56])^key64)
			binary.LittleEndian.PutUint64(w[56:64], binary.LittleEndian.Uint64(w[56:64])^key64)
			b = b[64:]
		}
		for len(b) >= 8 {
			w := b[:8:8]
			binary.LittleEndian.PutUint64(w, binary.LittleEndian.Uint64(w)^key64)
			b = b[8:]
		}
	}
	// Fewer than 8 bytes remain. Four of them still keep the phase, so take one 32-bit step.
	if len(b) >= 4 {
		w := b[:4:4]
		binary.LittleEndian.PutUint32(w, binary.LittleEndian.Uint32(w)^key)
		b = b[4:]
	}
	// 0..3 bytes: byte i takes key byte i; then rotate the key right by the bytes consumed so the next
	// call's byte 0 is XORed with the next key byte in sequence.
	switch len(b) {
	case 3:
		b[2] ^= byte(key >> 16)
		b[1] ^= byte(key >> 8)
		b[0] ^= byte(key)
	case 2:
		b[1] ^= byte(key >> 8)
		b[0] ^= byte(key)
	case 1:
		b[0] ^= byte(key)
	}
	return bits.RotateLeft32(key, -8*len(b))
}

// MaskKeyWord converts the 4 key bytes of a frame header (in wire order) to the word Mask takes.
//
// RFC 6455 §5.3: masking-key-octet-0 applies to payload octet 0, so the first wire byte must become the lowest
// byte of the word; decoding little-endian does exactly that on every architecture, so the word is computed once
// per frame header and Mask stays endian-neutral.
func MaskKeyWord(k [4]byte) uint32 {
	return binary.LittleEndian.Uint32(k[:])
}

// maskCopy writes src masked with key into dst (which must be at least as
// long; a shorter dst panics before anything is written) in one pass, leaving
// src untouched, and returns the rotated key like Mask. The write path uses it
// so a client never masks the caller's slice and never walks the payload
// twice. dst and src must not overlap. Like Mask it runs in assembly on amd64
// and arm64 and maskCopyGeneric elsewhere.
func maskCopy(dst, src []byte, key uint32) uint32 {
	// Slicing alone checks against cap(dst), not len(dst).
	if len(dst) < len(src) {
		panic("ws: maskCopy: dst shorter than src")
	}
	return maskCopyTo(dst[:len(src)], src, key)
}

// maskCopyGeneric is maskCopy in portable Go, the reference for the assembly.
//
// It is Mask's loop with separate source and destination: 64 bytes per
// iteration as eight 8-byte load, XOR, store triples. The loop indexes both
// slices from one counter bounded by n-64, after both were cut to exactly n
// bytes, so the compiler proves every access in range and the body carries no
// bounds check. It retires about one 8-byte store per cycle: 1.3 to 2 times
// the speed of a 32-byte loop that re-slices src and dst on every step.
func maskCopyGeneric(dst, src []byte, key uint32) uint32 {
	n := len(src)
	dst = dst[:n:n]
	src = src[:n:n]
	key64 := uint64(key) | uint64(key)<<32
	i := 0
	for ; i <= n-64; i += 64 {
		s := src[i : i+64 : i+64]
		d := dst[i : i+64 : i+64]
		binary.LittleEndian.PutUint64(d[0:8], binary.LittleEndian.Uint64(s[0:8])^key64)
		binary.LittleEndian.PutUint64(d[8:16], binary.LittleEndian.Uint64(s[8:16])^key64)
		binary.LittleEndian.PutUint64(d[16:24], binary.LittleEndian.Uint64(s[16:24])^key64)
		binary.LittleEndian.PutUint64(d[24:32], binary.LittleEndian.Uint64(s[24:32])^key64)
		binary.LittleEndian.PutUint64(d[32:40], binary.LittleEndian.Uint64(s[32:40])^key64)
		binary.LittleEndian.PutUint64(d[40:48], binary.LittleEndian.Uint64(s[40:48])^key64)
		binary.LittleEndian.PutUint64(d[48:56], binary.LittleEndian.Uint64(s[48:56])^key64)
		binary.LittleEndian.PutUint64(d[56:64], binary.LittleEndian.Uint64(s[56:64])^key64)
	}
	for ; i <= n-8; i += 8 {
		binary.LittleEndian.PutUint64(dst[i:i+8:i+8], binary.LittleEndian.Uint64(src[i:i+8:i+8])^key64)
	}
	// Whole words keep the key's phase; the last 0..7 bytes advance it.
	// tail and out have the same length, so the loop needs no bounds check.
	tail := src[i:]
	out := dst[i:][:len(tail)]
	for j := range tail {
		out[j] = tail[j] ^ byte(key)
		key = bits.RotateLeft32(key, -8)
	}
	return key
}
