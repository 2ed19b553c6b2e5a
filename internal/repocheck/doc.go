// Package repocheck holds tests about the repository itself rather than
// about any package: what every tracked file must (not) contain. It has no
// code of its own; `go test ./...` runs its tests with everything else, so a
// check here is a CI check.
package repocheck
