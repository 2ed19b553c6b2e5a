//go:build !purego

package ws

// useAVX2 selects the AVX2 loops of mask_amd64.s (32 bytes per instruction)
// over the SSE2 ones (16 bytes), which every amd64 CPU has: SSE2 is part of
// the amd64 baseline that Go assumes. It is read by the assembly on every
// call and set once, at start-up; tests flip it to run both paths.
var useAVX2 = cpuHasAVX2()

// CPUID and XCR0 bits, as the Intel 64 and IA-32 Architectures Software
// Developer's Manual numbers them: Vol. 2A, CPUID, leaf 01H (feature
// information in ECX) and leaf 07H ("Structured Extended Feature Flags");
// XCR0[2:1] as step 2 of Vol. 1 §14.3 names them.
const (
	cpuid1ECXOSXSAVE = 1 << 27     // CPUID.01H:ECX.OSXSAVE: the OS set CR4.OSXSAVE, XGETBV may run
	cpuid1ECXAVX     = 1 << 28     // CPUID.01H:ECX.AVX
	cpuid7EBXAVX2    = 1 << 5      // CPUID.(EAX=07H,ECX=0):EBX.AVX2
	xcr0SSEAVX       = 1<<1 | 1<<2 // XCR0[2:1]: the OS saves XMM and YMM state on a context switch
)

// cpuHasAVX2 reports whether AVX2 instructions may be used: the CPU has them
// and the operating system saves the upper halves of the YMM registers, so
// that a context switch does not corrupt them.
//
// It follows the procedure of Intel SDM Vol. 1 §14.3 "Detection of Intel AVX
// Instructions" (§13.5 in older editions): (1) CPUID.1:ECX.OSXSAVE[bit 27] =
// 1, which must be checked first because XGETBV faults without it; (2)
// XGETBV with ECX = 0 and XCR0[2:1] = 11b; (3) CPUID.1:ECX.AVX[bit 28] = 1.
// AVX2 itself is then CPUID.(EAX=07H, ECX=0):EBX.AVX2[bit 5] (Vol. 2A, CPUID,
// leaf 07H), asked only when leaf 07H exists: CPUID.0:EAX, the highest basic
// leaf, must be at least 7 (Vol. 2A, CPUID, leaf 00H). AMD documents the same
// bits (AMD64 APM Vol. 3, Appendix E, "Obtaining Processor Information Via
// the CPUID Instruction").
func cpuHasAVX2() bool {
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	if ecx1&cpuid1ECXOSXSAVE == 0 {
		return false
	}
	if xcr0, _ := xgetbv(); xcr0&xcr0SSEAVX != xcr0SSEAVX {
		return false
	}
	if ecx1&cpuid1ECXAVX == 0 {
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	return ebx7&cpuid7EBXAVX2 != 0
}

// cpuid runs the CPUID instruction with EAX = leaf and ECX = subleaf.
func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)

// xgetbv runs XGETBV with ECX = 0 and returns XCR0 as EDX:EAX.
func xgetbv() (eax, edx uint32)
