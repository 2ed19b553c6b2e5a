//go:build !purego

package ws

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// cpuHasAVX2, from CPUID and XGETBV, must agree with the kernel's view of the
// same CPU: Linux lists "avx2" among a processor's flags in /proc/cpuinfo
// only when the CPU has AVX2 and the kernel manages the extended state with
// XSAVE (booting with noxsave clears xsave, avx and avx2 together).
func TestCPUHasAVX2MatchesProcCPUInfo(t *testing.T) {
	info, err := os.ReadFile("/proc/cpuinfo")
	require.NoError(t, err)
	var flags []string
	for line := range strings.Lines(string(info)) {
		if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "flags" {
			flags = strings.Fields(value)
			break
		}
	}
	require.NotEmpty(t, flags, "no flags line in /proc/cpuinfo")
	kernelSays := false
	for _, f := range flags {
		if f == "avx2" {
			kernelSays = true
		}
	}
	require.Equal(t, kernelSays, cpuHasAVX2())
	require.Equal(t, kernelSays, useAVX2, "useAVX2 is set from cpuHasAVX2 at start-up")
}
