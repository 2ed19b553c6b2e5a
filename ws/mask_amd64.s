//go:build !purego

#include "textflag.h"

// Masking (RFC 6455 §5.3) with SSE2, which every amd64 CPU has, or AVX2 when
// cpuHasAVX2 (cpu_amd64.go) found it usable. maskGeneric in mask.go is the
// reference: these loops do the same XOR with wider registers, and the
// differential tests hold them to it.
//
// The key arrives as a little-endian word whose byte i%4 masks byte i, and
// is widened to AX = key | key<<32. Every step of a multiple of 4 bytes
// keeps the key's phase; a step of 1 or 2 bytes rotates AX right by 8 or 16
// bits, which rotates both copies of the key at once. The Go caller rotates
// the returned key.
//
// Buffers of at least ALIGN_MIN bytes first take the 1-, 2-, 4-, 8- and
// 16-byte steps that bring the destination to a 32-byte boundary, so that no
// vector store straddles a cache line (a split store costs about a second
// store; with an unaligned buffer every other 32-byte store would split).
// Shorter ones go straight to the vector loops: at that size the steps cost
// more than the splits.
//
// Registers: DI destination (and source, for maskAsm), SI source, CX
// bytes left, AX the doubled key, BX scratch, X0/Y0 the key in every lane,
// X1-X4/Y1-Y4 data.

#define ALIGN_MIN 256

// func maskAsm(b []byte, key uint32)
TEXT ·maskAsm(SB), NOSPLIT, $0-28
	MOVQ    b_base+0(FP), DI
	MOVQ    b_len+8(FP), CX
	MOVL    key+24(FP), AX
	MOVQ    AX, DX
	SHLQ    $32, DX
	ORQ     DX, AX
	CMPQ    CX, $16
	JB      tail
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
	MOVQ       AX, X0
	PUNPCKLQDQ X0, X0
	CMPB       ·useAVX2(SB), $0
	JNE        avx2

sse64:
	CMPQ    CX, $64
	JB      sse16
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
	JMP     sse64

sse16:
	CMPQ    CX, $16
	JB      tail
	MOVOU   (DI), X1
	PXOR    X0, X1
	MOVOU   X1, (DI)
	ADDQ    $16, DI
	SUBQ    $16, CX
	JMP     sse16

avx2:
	VPBROADCASTQ X0, Y0

avx128:
	CMPQ    CX, $128
	JB      avx32
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
	JMP     avx128

avx32:
	CMPQ    CX, $32
	JB      avxdone
	VPXOR   (DI), Y0, Y1
	VMOVDQU Y1, (DI)
	ADDQ    $32, DI
	SUBQ    $32, CX
	JMP     avx32

avxdone:
	// Leave the upper halves clean for SSE code (here and in the caller).
	VZEROUPPER
	JMP     sse16

	// Fewer than 16 bytes: 8, 4, 2, 1.
tail:
	CMPQ    CX, $8
	JB      tail4
	XORQ    AX, (DI)
	ADDQ    $8, DI
	SUBQ    $8, CX

tail4:
	CMPQ    CX, $4
	JB      tail2
	XORL    AX, (DI)
	ADDQ    $4, DI
	SUBQ    $4, CX

tail2:
	CMPQ    CX, $2
	JB      tail1
	XORW    AX, (DI)
	ADDQ    $2, DI
	SUBQ    $2, CX
	SHRQ    $16, AX

tail1:
	CMPQ    CX, $1
	JB      done
	XORB    AL, (DI)

done:
	RET

// func maskCopyAsm(dst, src []byte, key uint32)
TEXT ·maskCopyAsm(SB), NOSPLIT, $0-52
	MOVQ    dst_base+0(FP), DI
	MOVQ    src_base+24(FP), SI
	MOVQ    src_len+32(FP), CX
	MOVL    key+48(FP), AX
	MOVQ    AX, DX
	SHLQ    $32, DX
	ORQ     DX, AX
	CMPQ    CX, $16
	JB      tail
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
	MOVQ       AX, X0
	PUNPCKLQDQ X0, X0
	CMPB       ·useAVX2(SB), $0
	JNE        avx2

sse64:
	CMPQ    CX, $64
	JB      sse16
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
	JMP     sse64

sse16:
	CMPQ    CX, $16
	JB      tail
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
	CMPQ    CX, $128
	JB      avx32
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
	JMP     avx128

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
	// Leave the upper halves clean for SSE code (here and in the caller).
	VZEROUPPER
	JMP     sse16

	// Fewer than 16 bytes: 8, 4, 2, 1.
tail:
	CMPQ    CX, $8
	JB      tail4
	MOVQ    (SI), BX
	XORQ    AX, BX
	MOVQ    BX, (DI)
	ADDQ    $8, SI
	ADDQ    $8, DI
	SUBQ    $8, CX

tail4:
	CMPQ    CX, $4
	JB      tail2
	MOVL    (SI), BX
	XORL    AX, BX
	MOVL    BX, (DI)
	ADDQ    $4, SI
	ADDQ    $4, DI
	SUBQ    $4, CX

tail2:
	CMPQ    CX, $2
	JB      tail1
	MOVWLZX (SI), BX
	XORL    AX, BX
	MOVW    BX, (DI)
	ADDQ    $2, SI
	ADDQ    $2, DI
	SUBQ    $2, CX
	SHRQ    $16, AX

tail1:
	CMPQ    CX, $1
	JB      done
	MOVBLZX (SI), BX
	XORL    AX, BX
	MOVB    BX, (DI)

done:
	RET
