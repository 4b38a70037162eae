package source

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Dir is a sites repo kept as a plain directory, not in Git: the
// developer's loop on a laptop, with Watch to notice edits. It has one
// revision, the current contents: Head (for any branch) returns the hex
// SHA-256 of the paths, modes and contents of the files under the
// directory, skipping .git and editor temporary files (see Ignored), so an
// unchanged directory has an unchanged revision.
//
// A Dir is safe for concurrent use.
type Dir struct {
	path string

	mu   sync.Mutex
	sums map[string]fileSum // path -> content hash, reused while stat is unchanged
}

type fileSum struct {
	size  int64
	mtime int64
	ino   uint64
	sum   [sha256.Size]byte
}

// OpenDir returns the Dir at path. It does not touch the disk: a missing
// directory is reported by Head.
func OpenDir(path string) *Dir {
	return &Dir{path: path, sums: make(map[string]fileSum)}
}

// Path returns the directory.
func (d *Dir) Path() string { return d.path }

// Fetch does nothing: the directory is its own origin.
func (d *Dir) Fetch(ctx context.Context) error { return ctx.Err() }

// Head returns the content revision of the directory, whatever branch is
// asked for. Only files whose size, modification time or inode changed
// since the last Head are read again.
func (d *Dir) Head(branch string) (Revision, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	h := sha256.New()
	var newest time.Time
	seen := make(map[string]bool, len(d.sums))
	err := filepath.WalkDir(d.path, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(d.path, p)
		if err != nil {
			return err
		}
		if p != d.path && Ignored(e.Name()) {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		if fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
		var rec []byte
		rec = append(rec, filepath.ToSlash(rel)...)
		rec = append(rec, 0)
		rec = binary.BigEndian.AppendUint32(rec, uint32(fi.Mode()))
		switch {
		case fi.Mode().IsRegular():
			sum, err := d.sum(p, fi)
			if err != nil {
				return err
			}
			seen[p] = true
			rec = append(rec, sum[:]...)
		case fi.Mode()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			rec = append(rec, t...)
		}
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(rec))))
		h.Write(rec)
		return nil
	})
	if err != nil {
		return Revision{}, fmt.Errorf("source: read the directory %s: %w", d.path, err)
	}
	for p := range d.sums {
		if !seen[p] {
			delete(d.sums, p)
		}
	}
	return Revision{Hash: hex.EncodeToString(h.Sum(nil)), Time: newest}, nil
}

// sum returns the SHA-256 of the file p, from the cache when its stat is
// unchanged. It runs under d.mu.
func (d *Dir) sum(p string, fi fs.FileInfo) ([sha256.Size]byte, error) {
	cur := fileSum{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		cur.ino = st.Ino
	}
	if old, ok := d.sums[p]; ok && old.size == cur.size && old.mtime == cur.mtime && old.ino == cur.ino {
		return old.sum, nil
	}
	f, err := os.Open(p)
	if err != nil {
		return cur.sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return cur.sum, err
	}
	copy(cur.sum[:], h.Sum(nil))
	// A file modified within the timestamp granularity could change again
	// without changing its stat; do not trust the cache for it.
	if time.Since(fi.ModTime()) > 2*time.Second {
		d.sums[p] = cur
	}
	return cur.sum, nil
}

// FS returns the directory as it is now (os.DirFS), whatever rev says: a
// Dir has no history. If the files changed since Head, the next Watch event
// brings a new revision.
func (d *Dir) FS(rev Revision) (fs.FS, error) {
	if _, err := os.Stat(d.path); err != nil {
		return nil, fmt.Errorf("source: the directory %s: %w", d.path, err)
	}
	return os.DirFS(d.path), nil
}

var (
	_ Source = (*Dir)(nil)
	_ Source = (*Git)(nil)
)
