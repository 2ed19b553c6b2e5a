//go:build race

package asyncconn

// raceEnabled tells tests that the race detector runs, which makes goroutine stacks and the heap
// bigger than in a normal build, so memory targets are reported but not enforced.
const raceEnabled = true
