//go:build !linux

package bench

// RaiseFileLimit does nothing off Linux (the benchmarks only need it there); it returns n
// so that the caller goes on and finds the real limit when dialing fails.
func RaiseFileLimit(n int) (int, error) { return n, nil }
