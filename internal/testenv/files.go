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
