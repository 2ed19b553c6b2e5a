package main

import "os"

// isTerminal reports whether f is a character device: a terminal, where the
// progress line can overwrite itself and dial can be interactive.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	if !ok {
		return false
	}
	fi, err := file.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
