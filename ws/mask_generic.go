//go:build purego || !(amd64 || arm64)

package ws

// mask is Mask's body where there is no assembly (other architectures, or
// the purego build tag, as in Go's crypto packages): the portable reference.
func mask(b []byte, key uint32) uint32 {
	return maskGeneric(b, key)
}

// maskCopyTo is maskCopy's body where there is no assembly; len(dst) ==
// len(src).
func maskCopyTo(dst, src []byte, key uint32) uint32 {
	return maskCopyGeneric(dst, src, key)
}
