//go:build linux

package bench

import "syscall"

// RaiseFileLimit raises the soft limit on open files to at least n (but never
// past the hard limit), so that the idle-connection workloads can hold
// thousands of sockets. It returns the soft limit now in force.
func RaiseFileLimit(n int) (int, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	want := min(uint64(n), lim.Max)
	if lim.Cur >= want {
		return int(lim.Cur), nil
	}
	lim.Cur = want
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	return int(want), nil
}
