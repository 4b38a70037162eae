package testenv

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
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

// GrowingLog writes a log of about 28 MiB at path (its directory must
// exist) and appends lines to it without pause until the returned func is
// called, which stops and waits: a file that changes while it is read,
// as tar and rsync meet on a live site. The test calls stop; Cleanup
// calls it too.
func GrowingLog(tb testing.TB, path string) (stop func()) {
	tb.Helper()
	if err := os.WriteFile(path, bytes.Repeat([]byte("line of a log\n"), 2<<20), 0o640); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
				f.WriteString("one more line\n")
			}
		}
	})
	stop = sync.OnceFunc(func() {
		close(done)
		wg.Wait()
		f.Close()
	})
	tb.Cleanup(stop)
	return stop
}
