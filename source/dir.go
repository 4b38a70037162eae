package source

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berthhq/berth/fstree"
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
	fsys, err := OpenDirFS(d.path)
	if err != nil {
		return Revision{}, err
	}
	defer fsys.Close()
	h := sha256.New()
	var newest time.Time
	seen := make(map[string]bool, len(d.sums))
	err = fs.WalkDir(fsys, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != "." && Ignored(e.Name()) {
			if e.IsDir() {
				return fs.SkipDir
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
		rec = append(rec, p...)
		rec = append(rec, 0)
		rec = binary.BigEndian.AppendUint32(rec, uint32(fi.Mode()))
		switch {
		case fi.Mode().IsRegular():
			sum, err := d.sum(fsys, p, fi)
			if err != nil {
				return err
			}
			seen[p] = true
			rec = append(rec, sum[:]...)
		case fi.Mode()&fs.ModeSymlink != 0:
			// The link's text, never what it points to.
			t, err := fsys.ReadLink(p)
			if err != nil {
				return err
			}
			rec = append(rec, t...)
		}
		// Pipes, sockets and devices count by name and type only: they are
		// never opened (loading the repo refuses them).
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
func (d *Dir) sum(fsys *DirFS, p string, fi fs.FileInfo) ([sha256.Size]byte, error) {
	cur := fileSum{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		cur.ino = st.Ino
	}
	if old, ok := d.sums[p]; ok && old.size == cur.size && old.mtime == cur.mtime && old.ino == cur.ino {
		return old.sum, nil
	}
	f, err := fsys.Open(p)
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

// FS returns the directory as it is now, confined to it (see DirFS),
// whatever rev says: a Dir has no history. If the files changed since
// Head, the next Watch event brings a new revision.
func (d *Dir) FS(rev Revision) (fs.FS, error) {
	return OpenDirFS(d.path)
}

var (
	_ Source = (*Dir)(nil)
	_ Source = (*Git)(nil)
)

// DirFS is a directory read as a tree rooted at its top, the way berth
// reads a sites repo from a plain directory. It implements fs.FS,
// fs.ReadDirFS, fs.ReadFileFS, fs.StatFS and fs.ReadLinkFS, is safe for
// concurrent use, and holds the rules of a hostile repo:
//
//   - A symbolic link is followed only to a target inside the directory
//     (resolved as the kernel does, see Resolve); a link with an absolute
//     target or one that climbs out returns a *LinkError wrapping
//     fstree.ErrOutside, and the file it names is never opened. os.Root enforces
//     the confinement underneath, against a link swapped in meanwhile.
//   - Only directories and regular files are opened. A named pipe, socket
//     or device returns an *IrregularError; files are opened with
//     O_NONBLOCK and checked with fstat, so nothing blocks on open or read.
//
// The directory itself may be a link (the operator's choice); what is under
// it is repo content.
type DirFS struct {
	root *os.Root
	// dirs holds the names resolve found to be directories (not links),
	// so that the directories of a path are looked at once per DirFS, not
	// once per file under them. A directory swapped for a link meanwhile
	// cannot lead out: os.Root refuses that at the open.
	dirs sync.Map
}

// OpenDirFS opens the directory dir as a DirFS. The directory stays open
// until Close (or until the DirFS is garbage collected).
func OpenDirFS(dir string) (*DirFS, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("source: the directory %s: %w", dir, err)
	}
	return &DirFS{root: root}, nil
}

// Close closes the directory.
func (f *DirFS) Close() error { return f.root.Close() }

// rawRoot is the DirFS's fstree.LinkReader: os.Root's own calls, at paths
// resolve has made link-free.
type rawRoot struct{ f *DirFS }

func (r rawRoot) LstatMode(name string) (fs.FileMode, error) {
	if _, ok := r.f.dirs.Load(name); ok {
		return fs.ModeDir, nil
	}
	fi, err := r.f.root.Lstat(name)
	if err != nil {
		return 0, err
	}
	if fi.IsDir() {
		r.f.dirs.Store(name, true)
	}
	return fi.Mode(), nil
}

func (r rawRoot) ReadLink(name string) (string, error) { return r.f.root.Readlink(name) }

func (f *DirFS) resolve(op, name string, follow bool) (string, fs.FileMode, error) {
	return fstree.ResolveIn(rawRoot{f}, op, name, follow)
}

// Open opens name, following links within the directory. Directories
// implement fs.ReadDirFile.
func (f *DirFS) Open(name string) (fs.File, error) {
	p, mode, err := f.resolve("open", name, true)
	if err != nil {
		return nil, err
	}
	if fstree.Irregular(mode) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: &fstree.IrregularError{Type: mode.Type()}}
	}
	flag := os.O_RDONLY | syscall.O_NONBLOCK | syscall.O_NOCTTY
	if mode.IsDir() {
		flag |= syscall.O_DIRECTORY
	}
	file, err := f.root.OpenFile(p, flag, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fstree.UnwrapPath(err)}
	}
	// The entry may have changed since resolve looked: trust only fstat.
	fi, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: fstree.UnwrapPath(err)}
	}
	if !fi.Mode().IsRegular() && !fi.IsDir() {
		file.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: &fstree.IrregularError{Type: fi.Mode().Type()}}
	}
	return file, nil
}

// ReadFile returns the contents of the regular file name.
func (f *DirFS) ReadFile(name string) ([]byte, error) {
	file, err := f.Open(name)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	if fi, err := file.Stat(); err == nil && fi.IsDir() {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: errors.New("is a directory, not a file")}
	}
	return io.ReadAll(file)
}

// ReadDir returns the entries of the directory name, sorted by name, with
// the types of the entries themselves (a link is a link).
func (f *DirFS) ReadDir(name string) ([]fs.DirEntry, error) {
	file, err := f.Open(name)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	dir, ok := file.(fs.ReadDirFile)
	if fi, err := file.Stat(); !ok || err != nil || !fi.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	ents, err := dir.ReadDir(-1)
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	if err != nil {
		return ents, &fs.PathError{Op: "readdir", Path: name, Err: fstree.UnwrapPath(err)}
	}
	return ents, nil
}

// Stat returns the FileInfo of name, following links within the
// directory.
func (f *DirFS) Stat(name string) (fs.FileInfo, error) {
	p, _, err := f.resolve("stat", name, true)
	if err != nil {
		return nil, err
	}
	fi, err := f.root.Lstat(p)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fstree.UnwrapPath(err)}
	}
	return fi, nil
}

// Lstat returns the FileInfo of name without following a final link.
func (f *DirFS) Lstat(name string) (fs.FileInfo, error) {
	p, _, err := f.resolve("lstat", name, false)
	if err != nil {
		return nil, err
	}
	fi, err := f.root.Lstat(p)
	if err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: fstree.UnwrapPath(err)}
	}
	return fi, nil
}

// ReadLink returns the target of the symbolic link name (its text; the
// target is not followed).
func (f *DirFS) ReadLink(name string) (string, error) {
	p, mode, err := f.resolve("readlink", name, false)
	if err != nil {
		return "", err
	}
	if mode&fs.ModeSymlink == 0 {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	t, err := f.root.Readlink(p)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fstree.UnwrapPath(err)}
	}
	return t, nil
}

var (
	_ fs.ReadDirFS  = (*DirFS)(nil)
	_ fs.ReadFileFS = (*DirFS)(nil)
	_ fs.StatFS     = (*DirFS)(nil)
	_ fs.ReadLinkFS = (*DirFS)(nil)
)
