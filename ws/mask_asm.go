//go:build !purego && (amd64 || arm64)

package ws

import "math/bits"

// mask is Mask's body on amd64 and arm64: the assembly XORs every byte
// (mask_amd64.s, mask_arm64.s) and the key is rotated here, by the bytes past
// the last whole 4-byte group, as maskGeneric does. mask is small enough to
// be inlined, so a call of Mask is one call of the assembly, which also
// handles the short lengths where vector code does not pay.
func mask(b []byte, key uint32) uint32 {
	maskAsm(b, key)
	return bits.RotateLeft32(key, -8*len(b))
}

// maskCopyTo is maskCopy's body on amd64 and arm64; len(dst) == len(src),
// which maskCopy ensures by slicing (so the assembly can never write past
// dst).
func maskCopyTo(dst, src []byte, key uint32) uint32 {
	maskCopyAsm(dst, src, key)
	return bits.RotateLeft32(key, -8*len(src))
}

// maskAsm XORs b[i] with byte(key >> (8*(i%4))) for every i.
//
//go:noescape
func maskAsm(b []byte, key uint32)

// maskCopyAsm sets dst[i] = src[i] ^ byte(key >> (8*(i%4))) for i <
// len(src); len(dst) must be at least len(src).
//
//go:noescape
func maskCopyAsm(dst, src []byte, key uint32)
