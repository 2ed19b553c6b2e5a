package repocheck

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// privateShelf is the directory name no tracked file may point into: the
// project's private notes sit beside the repository, so a clone has none of
// them and a reference to one is a dead end for every reader. It is spelt in
// two pieces so that this file does not match itself.
const privateShelf = "shared" + "/"

// privateRef matches privateShelf at the start of a path segment: the bare
// directory and one reached through "../" match, while a longer name that
// merely ends in the same letters ("pre" + privateShelf) does not.
var privateRef = regexp.MustCompile(`(^|[^A-Za-z0-9_-])` + regexp.QuoteMeta(privateShelf))

// Ref is one line of a file that points into the private shelf.
type Ref struct {
	File string // slash-separated, relative to the repository root
	Line int    // 1-based
	Text string // the line, trimmed
}

// String renders the reference as file:line: text, as compilers do.
func (r Ref) String() string { return fmt.Sprintf("%s:%d: %s", r.File, r.Line, r.Text) }

// skipDirs are never walked when git cannot list the tracked files: git's
// own store and the npm peers that scripts/test.sh installs.
var skipDirs = map[string]bool{".git": true, "node_modules": true}

// TrackedFiles lists the files of the repository at root, relative to it:
// the files git tracks when git is installed and root is a work tree, else
// every regular file under root outside skipDirs.
func TrackedFiles(root string) ([]string, error) {
	if _, err := exec.LookPath("git"); err == nil {
		cmd := exec.Command("git", "-C", root, "ls-files", "-z")
		if out, err := cmd.Output(); err == nil {
			var files []string
			for _, f := range strings.Split(string(out), "\x00") {
				if f != "" {
					files = append(files, f)
				}
			}
			return files, nil
		}
	}
	return walkFiles(root)
}

// walkFiles lists every regular file under root outside skipDirs, relative
// to root and slash-separated.
func walkFiles(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && skipDirs[d.Name()] {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		files = append(files, filepath.ToSlash(rel))
		return nil
	})
	return files, err
}

// FindPrivateRefs returns every line of files (relative to root) that
// points into the private shelf. A listed file that no longer exists (a
// deletion not yet committed) is skipped.
func FindPrivateRefs(root string, files []string) ([]Ref, error) {
	var refs []Ref
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f)))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("repocheck: %w", err)
		}
		if !bytes.Contains(data, []byte(privateShelf)) {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 0, 64<<10), len(data)+1)
		for n := 1; sc.Scan(); n++ {
			if line := sc.Text(); privateRef.MatchString(line) {
				refs = append(refs, Ref{File: f, Line: n, Text: strings.TrimSpace(line)})
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("repocheck: %s: %w", f, err)
		}
	}
	return refs, nil
}
