//go:build !purego

package ws

// maskImpls on amd64: the SSE2 loops, which every amd64 CPU runs, and the
// AVX2 loops where this CPU and OS allow them (cpuHasAVX2). Each entry sets
// useAVX2 for the duration of a test and returns the function that puts it
// back.
func maskImpls() []maskImpl {
	set := func(avx2 bool) func() func() {
		return func() func() {
			old := useAVX2
			useAVX2 = avx2
			return func() { useAVX2 = old }
		}
	}
	impls := []maskImpl{{name: "sse2", use: set(false)}}
	if cpuHasAVX2() {
		impls = append(impls, maskImpl{name: "avx2", use: set(true)})
	}
	return impls
}
