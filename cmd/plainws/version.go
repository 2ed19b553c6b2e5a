package main

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// versionString says which plainws this is: the module version ("(devel)"
// for a build from a clone, a tag or pseudo-version for go install), the VCS
// revision and time the go command stamped into the binary, and the Go
// release, so that a bug report names the exact source.
func versionString() string {
	var b strings.Builder
	b.WriteString("plainws")
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		b.WriteString(" (no build information)")
		return b.String()
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	b.WriteString(" " + v)
	var rev, when, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" {
		b.WriteString(", revision " + rev)
		if when != "" {
			b.WriteString(" (" + when + ")")
		}
		if modified == "true" {
			b.WriteString(", modified")
		}
	} else {
		b.WriteString(", no VCS revision (built outside a checkout, or with -buildvcs=false)")
	}
	b.WriteString(", " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH)
	return b.String()
}
