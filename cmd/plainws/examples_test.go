package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every example answers -h with a one-line description and its flags, exits
// 0, and prints nothing else: the demo does not run.
func TestExamplesAnswerHelp(t *testing.T) {
	dirs, err := filepath.Glob("../../examples/*/main.go")
	require.NoError(t, err)
	require.NotEmpty(t, dirs)
	bin := t.TempDir()
	out, err := exec.Command("go", "build", "-o", bin+string(os.PathSeparator), "../../examples/...").CombinedOutput()
	require.NoError(t, err, string(out))
	for _, m := range dirs {
		name := filepath.Base(filepath.Dir(m))
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, filepath.Join(bin, name), "-h")
			b, err := cmd.CombinedOutput()
			require.NoError(t, err, "-h exits 0:\n%s", b)
			lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
			require.GreaterOrEqual(t, len(lines), 4, string(b))
			assert.True(t, strings.HasPrefix(lines[0], name+": "), "first line describes the example: %q", lines[0])
			assert.True(t, strings.HasSuffix(lines[0], "."), "one sentence: %q", lines[0])
			assert.Empty(t, lines[1])
			assert.Equal(t, "Usage: go run ./examples/"+name+" [flags]", lines[2])
			// The rest is the flag list (or the word that there is none), nothing from the demo.
			for _, l := range lines[3:] {
				ok := strings.HasPrefix(l, "  -") || strings.HasPrefix(l, "    \t") || l == "It has no flags."
				assert.True(t, ok, "only flags after the usage line, got %q", l)
			}
		})
	}
}
