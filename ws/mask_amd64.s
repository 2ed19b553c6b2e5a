//go:build !purego

#include "textflag.h"

// Masking (RFC 6455 §5.3) with SSE2, which every amd64 CPU has, or AVX2 when
// cpuHasAVX2 (cpu_amd64.go) found it usable. maskGeneric and maskCopyGeneric
// in mask.go are the reference: these loops do the same XOR with wider
// registers, and the differential tests in mask_test.go hold them to it.
//
// The key arrives as a little-endian word whose byte i%4 masks byte i, and
// is widened to AX = key | key<<32. Every step of a multiple of 4 bytes
// keeps the key's phase; a step of 1 or 2 bytes rotates AX right by 8 or 16
// bits, which rotates both copies of the key at once. The Go caller rotates
// the returned key (mask_asm.go).
//
// Up to 127 bytes take the scalar path "small": the bits of the length pick
// the 64-, 32-, 16-, 8-, 4-, 2- and 1-byte steps, each done with 8-byte (or
// narrower) XORs, without a loop. At these lengths the call and the set-up of
// a vector register cost more than the XORs, and a scalar store reaches the
// next load of the same bytes sooner than a vector one.
//
// From 128 bytes the vector loops run: AVX2 with 128 bytes per iteration,
// then 32; or SSE2 with 64, then 16. What they leave (under 32 or 16 bytes)
// goes through "small". Buffers of at least ALIGN_MIN bytes first take the
// 1-, 2-, 4-, 8- and 16-byte steps that bring the destination to a 32-byte
// boundary, so that no vector store straddles a cache line; with an
// unaligned buffer every other 32-byte store would.
//
// Registers: DI destination (and source, for maskAsm), SI source, CX bytes
// left, AX the doubled key, BX scratch, X0/Y0 the key in every lane, X1-X4
// and Y1-Y4 data.

#define ALIGN_MIN 256

// func maskAsm(b []byte, key uint32)
TEXT ·maskAsm(SB), NOSPLIT, $0-28
	MOVQ    b_base+0(FP), DI
	MOVQ    b_len+8(FP), CX
	MOVL    key+24(FP), AX
	MOVQ    AX, DX
	SHLQ    $32, DX
	ORQ     DX, AX
	CMPQ    CX, $128
	JAE     big

	// CX < 128 here (or < 32 after the vector loops). Its bits pick the
	// steps, which leave CX as it is.
small:
	TESTQ   $64, CX
	JZ      small32
	XORQ    AX, (DI)
	XORQ    AX, 8(DI)
	XORQ    AX, 16(DI)
	XORQ    AX, 24(DI)
	XORQ    AX, 32(DI)
	XORQ    AX, 40(DI)
	XORQ    AX, 48(DI)
	XORQ    AX, 56(DI)
	ADDQ    $64, DI

small32:
	TESTQ   $32, CX
	JZ      small16
	XORQ    AX, (DI)
	XORQ    AX, 8(DI)
	XORQ    AX, 16(DI)
	XORQ    AX, 24(DI)
	ADDQ    $32, DI

small16:
	TESTQ   $16, CX
	JZ      small8
	XORQ    AX, (DI)
	XORQ    AX, 8(DI)
	ADDQ    $16, DI

small8:
	TESTQ   $8, CX
	JZ      small4
	XORQ    AX, (DI)
	ADDQ    $8, DI

small4:
	TESTQ   $4, CX
	JZ      small2
	XORL    AX, (DI)
	ADDQ    $4, DI

small2:
	TESTQ   $2, CX
	JZ      small1
	XORW    AX, (DI)
	ADDQ    $2, DI
	SHRQ    $16, AX

small1:
	TESTQ   $1, CX
	JZ      done
	XORB    AL, (DI)

done:
	RET

big:
	CMPQ    CX, $ALIGN_MIN
	JB      vector

	// Steps up to the next 32-byte boundary of the destination.
	TESTQ   $1, DI
	JZ      align2
	XORB    AL, (DI)
	INCQ    DI
	DECQ    CX
	RORQ    $8, AX

align2:
	TESTQ   $2, DI
	JZ      align4
	XORW    AX, (DI)
	ADDQ    $2, DI
	SUBQ    $2, CX
	RORQ    $16, AX

align4:
	TESTQ   $4, DI
	JZ      align8
	XORL    AX, (DI)
	ADDQ    $4, DI
	SUBQ    $4, CX

align8:
	TESTQ   $8, DI
	JZ      align16
	XORQ    AX, (DI)
	ADDQ    $8, DI
	SUBQ    $8, CX

align16:
	TESTQ   $16, DI
	JZ      vector
	XORQ    AX, (DI)
	XORQ    AX, 8(DI)
	ADDQ    $16, DI
	SUBQ    $16, CX

vector:
	// The key, as the steps left it, in every lane. CX >= 128 here (>= 225
	// after the steps), so the first pass of either loop needs no test.
	MOVQ       AX, X0
	PUNPCKLQDQ X0, X0
	CMPB       ·useAVX2(SB), $0
	JNE        avx2

sse64:
	MOVOU   (DI), X1
	MOVOU   16(DI), X2
	MOVOU   32(DI), X3
	MOVOU   48(DI), X4
	PXOR    X0, X1
	PXOR    X0, X2
	PXOR    X0, X3
	PXOR    X0, X4
	MOVOU   X1, (DI)
	MOVOU   X2, 16(DI)
	MOVOU   X3, 32(DI)
	MOVOU   X4, 48(DI)
	ADDQ    $64, DI
	SUBQ    $64, CX
	CMPQ    CX, $64
	JAE     sse64

sse16:
	CMPQ    CX, $16
	JB      small
	MOVOU   (DI), X1
	PXOR    X0, X1
	MOVOU   X1, (DI)
	ADDQ    $16, DI
	SUBQ    $16, CX
	JMP     sse16

avx2:
	VPBROADCASTQ X0, Y0

avx128:
	VPXOR   (DI), Y0, Y1
	VPXOR   32(DI), Y0, Y2
	VPXOR   64(DI), Y0, Y3
	VPXOR   96(DI), Y0, Y4
	VMOVDQU Y1, (DI)
	VMOVDQU Y2, 32(DI)
	VMOVDQU Y3, 64(DI)
	VMOVDQU Y4, 96(DI)
	ADDQ    $128, DI
	SUBQ    $128, CX
	CMPQ    CX, $128
	JAE     avx128

avx32:
	CMPQ    CX, $32
	JB      avxdone
	VPXOR   (DI), Y0, Y1
	VMOVDQU Y1, (DI)
	ADDQ    $32, DI
	SUBQ    $32, CX
	JMP     avx32

avxdone:
	// Clean upper halves for the SSE code that may follow, here or in Go.
	VZEROUPPER
	JMP     small

// func maskCopyAsm(dst, src []byte, key uint32)
TEXT ·maskCopyAsm(SB), NOSPLIT, $0-52
	MOVQ    dst_base+0(FP), DI
	MOVQ    src_base+24(FP), SI
	MOVQ    src_len+32(FP), CX
	MOVL    key+48(FP), AX
	MOVQ    AX, DX
	SHLQ    $32, DX
	ORQ     DX, AX
	CMPQ    CX, $128
	JAE     big

	// CX < 128 here (or < 32 after the vector loops). Its bits pick the
	// steps, which leave CX as it is.
small:
	TESTQ   $64, CX
	JZ      small32
	MOVQ    (SI), BX
	XORQ    AX, BX
	MOVQ    BX, (DI)
	MOVQ    8(SI), BX
	XORQ    AX, BX
	MOVQ    BX, 8(DI)
	MOVQ    16(SI), BX
	XORQ    AX, BX
	MOVQ    BX, 16(DI)
	MOVQ    24(SI), BX
	XORQ    AX, BX
	MOVQ    BX, 24(DI)
	MOVQ    32(SI), BX
	XORQ    AX, BX
	MOVQ    BX, 32(DI)
	MOVQ    40(SI), BX
	XORQ    AX, BX
	MOVQ    BX, 40(DI)
	MOVQ    48(SI), BX
	XORQ    AX, BX
	MOVQ    BX, 48(DI)
	MOVQ    56(SI), BX
	XORQ    AX, BX
	MOVQ    BX, 56(DI)
	ADDQ    $64, SI
	ADDQ    $64, DI

small32:
	TESTQ   $32, CX
	JZ      small16
	MOVQ    (SI), BX
	XORQ    AX, BX
	MOVQ    BX, (DI)
	MOVQ    8(SI), BX
	XORQ    AX, BX
	MOVQ    BX, 8(DI)
	MOVQ    16(SI), BX
	XORQ    AX, BX
	MOVQ    BX, 16(DI)
	MOVQ    24(SI), BX
	XORQ    AX, BX
	MOVQ    BX, 24(DI)
	ADDQ    $32, SI
	ADDQ    $32, DI

small16:
	TESTQ   $16, CX
	JZ      small8
	MOVQ    (SI), BX
	XORQ    AX, BX
	MOVQ    BX, (DI)
	MOVQ    8(SI), BX
	XORQ    AX, BX
	MOVQ    BX, 8(DI)
	ADDQ    $16, SI
	ADDQ    $16, DI

small8:
	TESTQ   $8, CX
	JZ      small4
	MOVQ    (SI), BX
	XORQ    AX, BX
	MOVQ    BX, (DI)
	ADDQ    $8, SI
	ADDQ    $8, DI

small4:
	TESTQ   $4, CX
	JZ      small2
	MOVL    (SI), BX
	XORL    AX, BX
	MOVL    BX, (DI)
	ADDQ    $4, SI
	ADDQ    $4, DI

small2:
	TESTQ   $2, CX
	JZ      small1
	MOVWLZX (SI), BX
	XORL    AX, BX
	MOVW    BX, (DI)
	ADDQ    $2, SI
	ADDQ    $2, DI
	SHRQ    $16, AX

small1:
	TESTQ   $1, CX
	JZ      done
	MOVBLZX (SI), BX
	XORL    AX, BX
	MOVB    BX, (DI)

done:
	RET

big:
	CMPQ    CX, $ALIGN_MIN
	JB      vector

	// Steps up to the next 32-byte boundary of the destination.
	TESTQ   $1, DI
	JZ      align2
	MOVBLZX (SI), BX
	XORL    AX, BX
	MOVB    BX, (DI)
	INCQ    SI
	INCQ    DI
	DECQ    CX
	RORQ    $8, AX

align2:
	TESTQ   $2, DI
	JZ      align4
	MOVWLZX (SI), BX
	XORL    AX, BX
	MOVW    BX, (DI)
	ADDQ    $2, SI
	ADDQ    $2, DI
	SUBQ    $2, CX
	RORQ    $16, AX

align4:
	TESTQ   $4, DI
	JZ      align8
	MOVL    (SI), BX
	XORL    AX, BX
	MOVL    BX, (DI)
	ADDQ    $4, SI
	ADDQ    $4, DI
	SUBQ    $4, CX

align8:
	TESTQ   $8, DI
	JZ      align16
	MOVQ    (SI), BX
	XORQ    AX, BX
	MOVQ    BX, (DI)
	ADDQ    $8, SI
	ADDQ    $8, DI
	SUBQ    $8, CX

align16:
	TESTQ   $16, DI
	JZ      vector
	MOVQ    (SI), BX
	XORQ    AX, BX
	MOVQ    BX, (DI)
	MOVQ    8(SI), BX
	XORQ    AX, BX
	MOVQ    BX, 8(DI)
	ADDQ    $16, SI
	ADDQ    $16, DI
	SUBQ    $16, CX

vector:
	// The key, as the steps left it, in every lane. CX >= 128 here (>= 225
	// after the steps), so the first pass of either loop needs no test.
	MOVQ       AX, X0
	PUNPCKLQDQ X0, X0
	CMPB       ·useAVX2(SB), $0
	JNE        avx2

sse64:
	MOVOU   (SI), X1
	MOVOU   16(SI), X2
	MOVOU   32(SI), X3
	MOVOU   48(SI), X4
	PXOR    X0, X1
	PXOR    X0, X2
	PXOR    X0, X3
	PXOR    X0, X4
	MOVOU   X1, (DI)
	MOVOU   X2, 16(DI)
	MOVOU   X3, 32(DI)
	MOVOU   X4, 48(DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	SUBQ    $64, CX
	CMPQ    CX, $64
	JAE     sse64

sse16:
	CMPQ    CX, $16
	JB      small
	MOVOU   (SI), X1
	PXOR    X0, X1
	MOVOU   X1, (DI)
	ADDQ    $16, SI
	ADDQ    $16, DI
	SUBQ    $16, CX
	JMP     sse16

avx2:
	VPBROADCASTQ X0, Y0

avx128:
	VPXOR   (SI), Y0, Y1
	VPXOR   32(SI), Y0, Y2
	VPXOR   64(SI), Y0, Y3
	VPXOR   96(SI), Y0, Y4
	VMOVDQU Y1, (DI)
	VMOVDQU Y2, 32(DI)
	VMOVDQU Y3, 64(DI)
	VMOVDQU Y4, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DI
	SUBQ    $128, CX
	CMPQ    CX, $128
	JAE     avx128

avx32:
	CMPQ    CX, $32
	JB      avxdone
	VPXOR   (SI), Y0, Y1
	VMOVDQU Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $32, CX
	JMP     avx32

avxdone:
	// Clean upper halves for the SSE code that may follow, here or in Go.
	VZEROUPPER
	JMP     small
