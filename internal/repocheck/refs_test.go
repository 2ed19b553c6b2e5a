package repocheck

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// repoRoot is the root of the module this test belongs to: two levels up
// from internal/repocheck, where `go test` runs it.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	require.Contains(t, string(mod), "module github.com/plainws/plainws\n", "internal/repocheck moved: fix repoRoot")
	return root
}

// Nothing tracked may point into the private shelf beside the repository:
// a user who clones the repository has none of it (issue 15, "The docs").
func TestNoTrackedFileReferencesThePrivateShelf(t *testing.T) {
	root := repoRoot(t)
	files, err := TrackedFiles(root)
	require.NoError(t, err)
	require.Contains(t, files, "go.mod", "the file list must cover the repository")
	require.Contains(t, files, "README.md")
	refs, err := FindPrivateRefs(root, files)
	require.NoError(t, err)
	var lines []string
	for _, r := range refs {
		lines = append(lines, r.String())
	}
	assert.Empty(t, refs, "write what the reader needs into the repository (docs/) instead:\n%s", strings.Join(lines, "\n"))
}

// The scanner finds each form of the reference and nothing else, with its
// file and line, in a tree walked as when git is missing.
func TestFindPrivateRefs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	shelf := "shared" + "/"
	write("README.md", "intro\nsee "+shelf+"peers/GO-PEERS.md for more\n")
	write("a/doc.go", "// bugs ("+shelf+"workerman/INVENTORY.md)\n// and ../"+shelf+"seed/\n")
	write("a/clean.go", "// preshared/ keys, a shared folder, shared_dir/\n")
	write("node_modules/x/index.js", "// "+shelf+"ignored\n")

	files, err := walkFiles(dir)
	require.NoError(t, err)
	assert.NotContains(t, files, "node_modules/x/index.js")
	refs, err := FindPrivateRefs(dir, append(files, "deleted/file.go"))
	require.NoError(t, err)
	got := make([]string, 0, len(refs))
	for _, r := range refs {
		got = append(got, fmt.Sprintf("%s:%d", r.File, r.Line))
	}
	assert.ElementsMatch(t, []string{"README.md:2", "a/doc.go:1", "a/doc.go:2"}, got)
}
