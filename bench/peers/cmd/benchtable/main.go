// Command benchtable turns the output of several runs of the peers
// benchmarks (go test -bench, any number of files, or stdin) into one
// Markdown table: a row per workload, a column per library, each cell the
// median over the runs and its ratio to plainws. Medians of interleaved runs
// are what a noisy 2-core machine can give reliably; the ratio is the figure
// to read, not the absolute time.
//
// Usage:
//
//	benchtable [-runs] file...
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
)

// columns is the table's column order; libraries not in the input are left
// out.
var columns = []string{"plainws", "owner", "bare", "copy", "tcp", "gorilla", "coder", "gobwas", "gws"}

// base is the column every ratio is relative to.
const base = "plainws"

type sample struct {
	values map[string][]float64 // unit → one value per run
}

type table struct {
	rows  []string                      // row keys in order of appearance
	cells map[string]map[string]*sample // row → library → samples
	libs  map[string]bool
}

func main() {
	showRuns := flag.Bool("runs", false, "show the number of runs behind each cell")
	flag.Parse()
	t := &table{cells: map[string]map[string]*sample{}, libs: map[string]bool{}}
	if flag.NArg() == 0 {
		t.parse(os.Stdin)
	}
	for _, name := range flag.Args() {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		t.parse(f)
		_ = f.Close()
	}
	t.print(os.Stdout, *showRuns)
}

// parse reads benchmark lines: Benchmark<Top>/<workload>/<variant>/<size>/<lib>-<procs> N value unit ...
func (t *table) parse(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		name := fields[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		parts := strings.Split(name, "/")
		if len(parts) != 5 {
			continue
		}
		row, lib := strings.Join(parts[1:4], "/"), parts[4]
		if t.cells[row] == nil {
			t.cells[row] = map[string]*sample{}
			t.rows = append(t.rows, row)
		}
		s := t.cells[row][lib]
		if s == nil {
			s = &sample{values: map[string][]float64{}}
			t.cells[row][lib] = s
		}
		t.libs[lib] = true
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				continue
			}
			s.values[fields[i+1]] = append(s.values[fields[i+1]], v)
		}
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// metric is the unit a row is compared on: bytes per connection for the
// idle rows, time per operation for the rest.
func metric(row string) string {
	if strings.HasPrefix(row, "idle/") {
		return "B/conn"
	}
	return "ns/op"
}

func (t *table) value(row, lib, unit string) (float64, int, bool) {
	s := t.cells[row][lib]
	if s == nil || len(s.values[unit]) == 0 {
		return 0, 0, false
	}
	return median(s.values[unit]), len(s.values[unit]), true
}

func format(v float64, unit string) string {
	switch unit {
	case "B/conn":
		return fmt.Sprintf("%.1f KiB", v/1024)
	case "ns/op":
		switch {
		case v >= 1e6:
			return fmt.Sprintf("%.2f ms", v/1e6)
		case v >= 1e4:
			return fmt.Sprintf("%.1f µs", v/1e3)
		case v >= 1e3:
			return fmt.Sprintf("%.2f µs", v/1e3)
		case v >= 100:
			return fmt.Sprintf("%.0f ns", v)
		}
		return fmt.Sprintf("%.1f ns", v)
	}
	return fmt.Sprintf("%g %s", v, unit)
}

func (t *table) print(w io.Writer, showRuns bool) {
	var cols []string
	for _, c := range columns {
		if t.libs[c] {
			cols = append(cols, c)
		}
	}
	fmt.Fprintln(w, "| workload | "+strings.Join(cols, " | ")+" |")
	fmt.Fprintln(w, "|---"+strings.Repeat("|---:", len(cols))+"|")
	for _, row := range t.rows {
		unit := metric(row)
		bv, _, hasBase := t.value(row, base, unit)
		cells := make([]string, 0, len(cols))
		for _, lib := range cols {
			v, n, ok := t.value(row, lib, unit)
			if !ok {
				cells = append(cells, "")
				continue
			}
			cell := format(v, unit)
			if a, _, ok := t.value(row, lib, "allocs/op"); ok && a > 0 {
				cell += fmt.Sprintf(", %g alloc", a)
			}
			if lib != base && hasBase && bv > 0 {
				cell += fmt.Sprintf(" (%.2f×)", v/bv)
			}
			if showRuns {
				cell += fmt.Sprintf(" [%d]", n)
			}
			cells = append(cells, cell)
		}
		fmt.Fprintln(w, "| "+row+" | "+strings.Join(cells, " | ")+" |")
	}
	t.printMaskEstimate(w)
	t.printLargeSummary(w)
}

// printMaskEstimate derives each library's masking speed from its writes:
// a client write masks, a server write does not, so
// (client(S) − server(S)) − (client(0) − server(0)) is the masking of S
// bytes plus noise. It is how gorilla's, coder's and gws's unexported
// routines are measured without copying them; plainws's and gobwas's
// direct figures (the mask rows) show how close the estimate comes.
func (t *table) printMaskEstimate(w io.Writer) {
	sizes := []string{"1KiB", "64KiB", "1MiB"}
	var cols []string
	for _, c := range columns {
		if _, _, ok := t.value("write/client/0B", c, "ns/op"); ok {
			if _, _, ok := t.value("write/server/0B", c, "ns/op"); ok && c != "bare" {
				cols = append(cols, c)
			}
		}
	}
	if len(cols) == 0 {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Masking estimated from writes, GB/s: (client write − server write) at the size, less the same at 0 B.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| size | "+strings.Join(cols, " | ")+" |")
	fmt.Fprintln(w, "|---"+strings.Repeat("|---:", len(cols))+"|")
	for _, size := range sizes {
		n, _ := strconv.Atoi(strings.TrimRight(size, "KMiB"))
		switch {
		case strings.HasSuffix(size, "MiB"):
			n <<= 20
		case strings.HasSuffix(size, "KiB"):
			n <<= 10
		}
		cells := make([]string, 0, len(cols))
		for _, lib := range cols {
			c0, _, _ := t.value("write/client/0B", lib, "ns/op")
			s0, _, _ := t.value("write/server/0B", lib, "ns/op")
			c, ok1 := t.valueOK("write/client/"+size, lib)
			s, ok2 := t.valueOK("write/server/"+size, lib)
			est := (c - s) - (c0 - s0)
			if !ok1 || !ok2 || est <= 0 {
				cells = append(cells, "n/a")
				continue
			}
			cells = append(cells, fmt.Sprintf("%.1f", float64(n)/est))
		}
		fmt.Fprintln(w, "| "+size+" | "+strings.Join(cells, " | ")+" |")
	}
}

func (t *table) valueOK(row, lib string) (float64, bool) {
	v, _, ok := t.value(row, lib, "ns/op")
	return v, ok
}
