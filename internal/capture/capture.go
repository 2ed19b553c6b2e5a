// Package capture runs a function with os.Stdout redirected, so the tests of
// the runnable examples can assert what the examples print.
package capture

import (
	"io"
	"os"
	"sync"
)

// mu serialises redirections: os.Stdout is process-wide.
var mu sync.Mutex

// Stdout runs fn and returns what it wrote to os.Stdout, with fn's error.
func Stdout(fn func() error) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	r, w, err := os.Pipe()
	if err != nil {
		return "", err
	}
	out := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(r)
		out <- string(b)
	}()
	saved := os.Stdout
	os.Stdout = w
	runErr := fn()
	os.Stdout = saved
	_ = w.Close()
	return <-out, runErr
}
