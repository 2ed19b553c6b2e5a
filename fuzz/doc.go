// Package fuzz holds the go test -fuzz targets of plainws and their seed corpora (testdata/fuzz/<FuzzName>/).
//
// The targets live in their own package and use only the exported API of package ws, so they exercise exactly
// what a user (or a peer sending hostile bytes) can reach, and each checks its routine against an independent,
// obviously correct reference rather than merely looking for panics. Run one with, for example:
//
//	go test ./fuzz -run '^$' -fuzz '^FuzzMask$' -fuzztime 30s
//
// Without -fuzz, go test runs every target once per seed-corpus entry, as an ordinary regression test.
package fuzz
