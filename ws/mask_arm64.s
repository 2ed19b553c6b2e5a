//go:build !purego

#include "textflag.h"

// Masking (RFC 6455 §5.3) with NEON (ASIMD), which every arm64 CPU has.
// maskGeneric in mask.go is the reference: these loops do the same XOR with
// wider registers, and the differential tests hold them to it.
//
// The key arrives as a little-endian word whose byte i%4 masks byte i, and
// is widened to R3 = key | key<<32 and to both 64-bit lanes of V0. Every step
// of a multiple of 4 bytes keeps the key's phase; after the 2-byte step of
// the tail R3 shifts right by 16 so that the last byte meets key byte 2. The
// Go caller rotates the returned key.
//
// Loads go through R0, stores through R1, both post-incremented; for maskAsm
// they start at the same address, so the two functions share their body.
// Unaligned vector loads and stores cost nothing extra on arm64 unless they
// cross a cache line, so there is no alignment prologue. R2 counts the bytes
// left; after the 64-byte loop its low six bits say which of the 32-, 16-, 8-,
// 4-, 2- and 1-byte steps remain (TBZ tests one bit each).

// func maskAsm(b []byte, key uint32)
TEXT ·maskAsm(SB), NOSPLIT|NOFRAME, $0-28
	MOVD    b_base+0(FP), R0
	MOVD    R0, R1
	MOVD    b_len+8(FP), R2
	MOVWU   key+24(FP), R3
	ORR     R3<<32, R3, R3
	VDUP    R3, V0.D2
	CMP     $64, R2
	BLT     tail

loop64:
	VLD1.P  64(R0), [V1.B16, V2.B16, V3.B16, V4.B16]
	VEOR    V0.B16, V1.B16, V1.B16
	VEOR    V0.B16, V2.B16, V2.B16
	VEOR    V0.B16, V3.B16, V3.B16
	VEOR    V0.B16, V4.B16, V4.B16
	VST1.P  [V1.B16, V2.B16, V3.B16, V4.B16], 64(R1)
	SUB     $64, R2, R2
	CMP     $64, R2
	BGE     loop64

tail:
	TBZ     $5, R2, less32
	VLD1.P  32(R0), [V1.B16, V2.B16]
	VEOR    V0.B16, V1.B16, V1.B16
	VEOR    V0.B16, V2.B16, V2.B16
	VST1.P  [V1.B16, V2.B16], 32(R1)

less32:
	TBZ     $4, R2, less16
	VLD1.P  16(R0), [V1.B16]
	VEOR    V0.B16, V1.B16, V1.B16
	VST1.P  [V1.B16], 16(R1)

less16:
	TBZ     $3, R2, less8
	MOVD.P  8(R0), R4
	EOR     R3, R4, R4
	MOVD.P  R4, 8(R1)

less8:
	TBZ     $2, R2, less4
	MOVWU.P 4(R0), R4
	EORW    R3, R4, R4
	MOVWU.P R4, 4(R1)

less4:
	TBZ     $1, R2, less2
	MOVHU.P 2(R0), R4
	EORW    R3, R4, R4
	MOVHU.P R4, 2(R1)
	LSR     $16, R3, R3

less2:
	TBZ     $0, R2, done
	MOVBU   (R0), R4
	EORW    R3, R4, R4
	MOVBU   R4, (R1)

done:
	RET

// func maskCopyAsm(dst, src []byte, key uint32)
TEXT ·maskCopyAsm(SB), NOSPLIT|NOFRAME, $0-52
	MOVD    src_base+24(FP), R0
	MOVD    dst_base+0(FP), R1
	MOVD    src_len+32(FP), R2
	MOVWU   key+48(FP), R3
	ORR     R3<<32, R3, R3
	VDUP    R3, V0.D2
	CMP     $64, R2
	BLT     tail

loop64:
	VLD1.P  64(R0), [V1.B16, V2.B16, V3.B16, V4.B16]
	VEOR    V0.B16, V1.B16, V1.B16
	VEOR    V0.B16, V2.B16, V2.B16
	VEOR    V0.B16, V3.B16, V3.B16
	VEOR    V0.B16, V4.B16, V4.B16
	VST1.P  [V1.B16, V2.B16, V3.B16, V4.B16], 64(R1)
	SUB     $64, R2, R2
	CMP     $64, R2
	BGE     loop64

tail:
	TBZ     $5, R2, less32
	VLD1.P  32(R0), [V1.B16, V2.B16]
	VEOR    V0.B16, V1.B16, V1.B16
	VEOR    V0.B16, V2.B16, V2.B16
	VST1.P  [V1.B16, V2.B16], 32(R1)

less32:
	TBZ     $4, R2, less16
	VLD1.P  16(R0), [V1.B16]
	VEOR    V0.B16, V1.B16, V1.B16
	VST1.P  [V1.B16], 16(R1)

less16:
	TBZ     $3, R2, less8
	MOVD.P  8(R0), R4
	EOR     R3, R4, R4
	MOVD.P  R4, 8(R1)

less8:
	TBZ     $2, R2, less4
	MOVWU.P 4(R0), R4
	EORW    R3, R4, R4
	MOVWU.P R4, 4(R1)

less4:
	TBZ     $1, R2, less2
	MOVHU.P 2(R0), R4
	EORW    R3, R4, R4
	MOVHU.P R4, 2(R1)
	LSR     $16, R3, R3

less2:
	TBZ     $0, R2, done
	MOVBU   (R0), R4
	EORW    R3, R4, R4
	MOVBU   R4, (R1)

done:
	RET
