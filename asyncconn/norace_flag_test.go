//go:build !race

package asyncconn

// raceEnabled tells tests that the race detector runs (see race_flag_test.go).
const raceEnabled = false
