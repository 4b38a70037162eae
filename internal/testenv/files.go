package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// SmallFiles writes n files of about size bytes each, with distinct
// contents, spread over directories of 100 files under dir (which must
// exist), and returns their paths. Benchmarks use it for Observe.
func SmallFiles(tb testing.TB, dir string, n, size int) []string {
	tb.Helper()
	paths := make([]string, 0, n)
	buf := make([]byte, size)
	for i := range n {
		sub := filepath.Join(dir, fmt.Sprintf("d%03d", i/100))
		if i%100 == 0 {
			if err := os.MkdirAll(sub, 0o755); err != nil {
				tb.Fatalf("testenv: %v", err)
			}
		}
		p := filepath.Join(sub, fmt.Sprintf("f%05d.conf", i))
		for j := range buf {
			buf[j] = byte('a' + (i+j)%26)
		}
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			tb.Fatalf("testenv: %v", err)
		}
		paths = append(paths, p)
	}
	return paths
}

// CopyTree copies the directory tree from (directories and regular files)
// into to, which may exist: tests copy the example sites repo with it.
func CopyTree(tb testing.TB, from, to string) {
	tb.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		target := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		tb.Fatalf("testenv: copy %s: %v", from, err)
	}
}
