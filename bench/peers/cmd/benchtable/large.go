package main

import (
	"fmt"
	"io"
	"strings"
)

// peerColumns are the libraries plainws is compared with, as opposed to
// its ceilings (bare, copy, tcp).
var peerColumns = []string{"gorilla", "coder", "gobwas", "gws"}

// printLargeSummary adds, for the large-message rows, the fastest peer and
// its time over plainws's: the figure the target (≥ 1.2×) is read from.
func (t *table) printLargeSummary(w io.Writer) {
	var rows []string
	for _, row := range t.rows {
		if strings.HasPrefix(row, "large/") {
			rows = append(rows, row)
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Large messages: the fastest peer on each row, and its median time over plainws's (> 1 means plainws is faster).")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| workload | plainws | fastest peer | ratio |")
	fmt.Fprintln(w, "|---|---:|---|---:|")
	for _, row := range rows {
		bv, _, ok := t.value(row, base, "ns/op")
		if !ok {
			continue
		}
		best, bestV := "", 0.0
		for _, lib := range peerColumns {
			if v, _, ok := t.value(row, lib, "ns/op"); ok && (best == "" || v < bestV) {
				best, bestV = lib, v
			}
		}
		if best == "" {
			continue
		}
		fmt.Fprintf(w, "| %s | %s | %s %s | %.2f× |\n", row, format(bv, "ns/op"), best, format(bestV, "ns/op"), bestV/bv)
	}
}
