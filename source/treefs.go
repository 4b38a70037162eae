package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berthhq/berth/fstree"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// objectStore is a read handle on the clone's objects. go-git's storage is
// not safe for concurrent use, so every access goes through mu. The handle
// indexes the packs present when it was opened and never re-lists them, so
// a Fetch writing new packs through another handle cannot disturb it; the
// objects it knows are never deleted (berth does not gc its clone).
type objectStore struct {
	mu    sync.Mutex
	st    *filesystem.Storage
	trees map[plumbing.Hash]*treeDir // decoded trees; content-addressed, so shared by all revisions
}

// maxCachedTrees bounds the decoded-tree cache of one read handle (a new
// handle, with an empty cache, follows every Fetch that brings objects).
const maxCachedTrees = 50_000

type treeDir struct {
	entries []object.TreeEntry // sorted by name
}

func (d *treeDir) find(name string) (object.TreeEntry, bool) {
	i, ok := slices.BinarySearchFunc(d.entries, name, func(e object.TreeEntry, n string) int { return strings.Compare(e.Name, n) })
	if !ok {
		return object.TreeEntry{}, false
	}
	return d.entries[i], true
}

func newObjectStore(dir string) (*objectStore, error) {
	repo, err := openBare(dir)
	if err != nil {
		return nil, fmt.Errorf("source: open %s: %w", dir, err)
	}
	return storeOf(repo.Storer.(*filesystem.Storage), dir)
}

// storeOf returns a read handle on the objects of st, the storage of the
// repository in dir (named in errors).
func storeOf(st *filesystem.Storage, dir string) (*objectStore, error) {
	// Index the packs now, while no Fetch writes: a lookup of a missing
	// object loads every pack index.
	if _, err := st.EncodedObject(plumbing.AnyObject, plumbing.ZeroHash); err != nil && !errors.Is(err, plumbing.ErrObjectNotFound) {
		return nil, fmt.Errorf("source: index the packs of %s: %w", dir, err)
	}
	return &objectStore{st: st, trees: make(map[plumbing.Hash]*treeDir)}, nil
}

// treeFS returns the tree of commit as a TreeFS.
func (s *objectStore) treeFS(commit plumbing.Hash) (*TreeFS, error) {
	s.mu.Lock()
	c, err := object.GetCommit(s.st, commit)
	s.mu.Unlock()
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return nil, fmt.Errorf("source: commit %s is not in the clone (fetch first, or was the branch rewritten?): %w", commit, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("source: read commit %s: %w", commit, err)
	}
	return &TreeFS{s: s, root: c.TreeHash, modTime: c.Committer.When}, nil
}

func (s *objectStore) tree(h plumbing.Hash) (*treeDir, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.trees[h]; ok {
		return d, nil
	}
	t, err := object.GetTree(s.st, h)
	if err != nil {
		return nil, fmt.Errorf("read tree %s: %w", h, err)
	}
	d := &treeDir{entries: slices.Clone(t.Entries)}
	slices.SortFunc(d.entries, func(a, b object.TreeEntry) int { return strings.Compare(a.Name, b.Name) })
	if len(s.trees) >= maxCachedTrees {
		clear(s.trees)
	}
	s.trees[h] = d
	return d, nil
}

func (s *objectStore) blob(h plumbing.Hash) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.st.EncodedObject(plumbing.BlobObject, h)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	r, err := o.Reader()
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	defer r.Close()
	b := make([]byte, 0, o.Size())
	buf := bytes.NewBuffer(b)
	if _, err := io.Copy(buf, r); err != nil {
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	return buf.Bytes(), nil
}

func (s *objectStore) blobSize(h plumbing.Hash) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.st.EncodedObjectSize(h)
	if err != nil {
		return 0, fmt.Errorf("read blob %s: %w", h, err)
	}
	return n, nil
}

// TreeFS is the tree of one commit as a read-only file system, read from
// the Git object store; nothing is checked out. It implements fs.FS,
// fs.ReadDirFS, fs.ReadFileFS, fs.StatFS and fs.ReadLinkFS, and is safe for
// concurrent use (reads of the object store are serialised).
//
// Modes: directories are fs.ModeDir|0755, files 0644, executable files
// 0755, symbolic links fs.ModeSymlink|0777 (a blob holding the target;
// Open and Stat follow them within the tree, as Resolve does, and a link
// leaving the tree is a *LinkError wrapping fstree.ErrOutside: the controller's
// file system is never consulted), submodules fs.ModeIrregular (their
// commits are not in this repository; Open fails).
// Every ModTime is the commit's committer time. A file's contents are read
// into memory at its first read, not when it is opened (Stat of an open
// file does not read them).
type TreeFS struct {
	s       *objectStore
	root    plumbing.Hash
	modTime time.Time
}

// node is one resolved tree entry.
type node struct {
	name string // base name ("." for the root)
	mode filemode.FileMode
	hash plumbing.Hash
}

func (n node) isDir() bool { return n.mode == filemode.Dir }

// resolve walks name from the root; follow says whether a symbolic link as
// the last element is followed (links in the middle always are). Links are
// resolved within the tree (see Resolve): one that leaves it is an error
// wrapping fstree.ErrOutside, not a missing file.
func (f *TreeFS) resolve(op, name string, follow bool) (node, error) {
	p, _, err := fstree.ResolveIn(treeLinks{f}, op, name, follow)
	if err != nil {
		return node{}, err
	}
	n, err := f.lookup(p)
	if err != nil {
		return node{}, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return n, nil
}

// lookup returns the entry at p, a path without symbolic links but as
// its last element.
func (f *TreeFS) lookup(p string) (node, error) {
	cur := node{name: ".", mode: filemode.Dir, hash: f.root}
	if p == "." {
		return cur, nil
	}
	for el := range strings.SplitSeq(p, "/") {
		if !cur.isDir() {
			return node{}, fs.ErrNotExist
		}
		d, err := f.s.tree(cur.hash)
		if err != nil {
			return node{}, err
		}
		e, ok := d.find(el)
		if !ok {
			return node{}, fs.ErrNotExist
		}
		cur = node{name: el, mode: e.Mode, hash: e.Hash}
	}
	return cur, nil
}

// treeLinks is the TreeFS's fstree.LinkReader.
type treeLinks struct{ f *TreeFS }

func (t treeLinks) LstatMode(p string) (fs.FileMode, error) {
	n, err := t.f.lookup(p)
	if err != nil {
		return 0, err
	}
	return t.f.mode(n.mode), nil
}

func (t treeLinks) ReadLink(p string) (string, error) {
	n, err := t.f.lookup(p)
	if err != nil {
		return "", err
	}
	b, err := t.f.s.blob(n.hash)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func (f *TreeFS) mode(m filemode.FileMode) fs.FileMode {
	switch m {
	case filemode.Dir:
		return fs.ModeDir | 0o755
	case filemode.Executable:
		return 0o755
	case filemode.Symlink:
		return fs.ModeSymlink | 0o777
	case filemode.Submodule:
		return fs.ModeIrregular
	}
	return 0o644
}

func (f *TreeFS) info(op, name string, n node) (*fileInfo, error) {
	fi := &fileInfo{name: n.name, mode: f.mode(n.mode), modTime: f.modTime}
	if n.name == "." {
		fi.name = "."
	}
	if n.mode.IsFile() {
		size, err := f.s.blobSize(n.hash)
		if err != nil {
			return nil, &fs.PathError{Op: op, Path: name, Err: err}
		}
		fi.size = size
	}
	return fi, nil
}

// Open opens name; directories implement fs.ReadDirFile, files
// io.Seeker and io.ReaderAt too.
func (f *TreeFS) Open(name string) (fs.File, error) {
	n, err := f.resolve("open", name, true)
	if err != nil {
		return nil, err
	}
	switch {
	case n.isDir():
		ents, err := f.readDir("open", name, n)
		if err != nil {
			return nil, err
		}
		return &dirFile{info: &fileInfo{name: n.name, mode: f.mode(n.mode), modTime: f.modTime}, entries: ents}, nil
	case n.mode == filemode.Submodule:
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("a submodule: its files are not in this repository")}
	}
	fi, err := f.info("open", name, n)
	if err != nil {
		return nil, err
	}
	return &blobFile{info: fi, load: func() ([]byte, error) { return f.s.blob(n.hash) }}, nil
}

// ReadFile returns the contents of the file name.
func (f *TreeFS) ReadFile(name string) ([]byte, error) {
	n, err := f.resolve("readfile", name, true)
	if err != nil {
		return nil, err
	}
	if !n.mode.IsFile() {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: errors.New("is a directory or submodule, not a file")}
	}
	b, err := f.s.blob(n.hash)
	if err != nil {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: err}
	}
	return b, nil
}

// ReadDir returns the entries of the directory name, sorted by name.
func (f *TreeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	n, err := f.resolve("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if !n.isDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	return f.readDir("readdir", name, n)
}

func (f *TreeFS) readDir(op, name string, n node) ([]fs.DirEntry, error) {
	d, err := f.s.tree(n.hash)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	ents := make([]fs.DirEntry, len(d.entries))
	for i, e := range d.entries {
		ents[i] = &dirEntry{f: f, dir: name, n: node{name: e.Name, mode: e.Mode, hash: e.Hash}}
	}
	return ents, nil
}

// Stat returns the FileInfo of name, following symbolic links.
func (f *TreeFS) Stat(name string) (fs.FileInfo, error) {
	n, err := f.resolve("stat", name, true)
	if err != nil {
		return nil, err
	}
	return f.info("stat", name, n)
}

// Lstat returns the FileInfo of name without following a final symbolic
// link.
func (f *TreeFS) Lstat(name string) (fs.FileInfo, error) {
	n, err := f.resolve("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return f.info("lstat", name, n)
}

// ReadLink returns the target of the symbolic link name.
func (f *TreeFS) ReadLink(name string) (string, error) {
	n, err := f.resolve("readlink", name, false)
	if err != nil {
		return "", err
	}
	if n.mode != filemode.Symlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	b, err := f.s.blob(n.hash)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return string(b), nil
}

var (
	_ fs.ReadDirFS  = (*TreeFS)(nil)
	_ fs.ReadFileFS = (*TreeFS)(nil)
	_ fs.StatFS     = (*TreeFS)(nil)
	_ fs.ReadLinkFS = (*TreeFS)(nil)
)

type fileInfo struct {
	name    string
	mode    fs.FileMode
	size    int64
	modTime time.Time
}

func (i *fileInfo) Name() string       { return i.name }
func (i *fileInfo) Size() int64        { return i.size }
func (i *fileInfo) Mode() fs.FileMode  { return i.mode }
func (i *fileInfo) ModTime() time.Time { return i.modTime }
func (i *fileInfo) IsDir() bool        { return i.mode.IsDir() }
func (i *fileInfo) Sys() any           { return nil }

type dirEntry struct {
	f   *TreeFS
	dir string
	n   node
}

func (e *dirEntry) Name() string      { return e.n.name }
func (e *dirEntry) IsDir() bool       { return e.n.isDir() }
func (e *dirEntry) Type() fs.FileMode { return e.f.mode(e.n.mode).Type() }
func (e *dirEntry) Info() (fs.FileInfo, error) {
	return e.f.info("stat", path.Join(e.dir, e.n.name), e.n)
}
func (e *dirEntry) String() string { return fs.FormatDirEntry(e) }

// blobFile is an open file of a TreeFS. Its contents are read from the
// object store at the first Read, Seek or ReadAt, not at Open: a reader
// that checks the size first (spec's limit on a YAML file) never loads an
// over-size blob.
type blobFile struct {
	info *fileInfo
	load func() ([]byte, error)
	r    *bytes.Reader
	err  error
}

func (b *blobFile) reader() (*bytes.Reader, error) {
	if b.r == nil && b.err == nil {
		data, err := b.load()
		if err != nil {
			b.err = &fs.PathError{Op: "read", Path: b.info.name, Err: err}
		} else {
			b.r = bytes.NewReader(data)
		}
	}
	return b.r, b.err
}

func (b *blobFile) Read(p []byte) (int, error) {
	r, err := b.reader()
	if err != nil {
		return 0, err
	}
	return r.Read(p)
}

func (b *blobFile) ReadAt(p []byte, off int64) (int, error) {
	r, err := b.reader()
	if err != nil {
		return 0, err
	}
	return r.ReadAt(p, off)
}

func (b *blobFile) Seek(offset int64, whence int) (int64, error) {
	r, err := b.reader()
	if err != nil {
		return 0, err
	}
	return r.Seek(offset, whence)
}

func (b *blobFile) Stat() (fs.FileInfo, error) { return b.info, nil }
func (b *blobFile) Close() error               { return nil }

type dirFile struct {
	info    *fileInfo
	entries []fs.DirEntry
	off     int
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dirFile) Close() error               { return nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: errors.New("is a directory")}
}

func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.off:]
	if n <= 0 {
		d.off = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	d.off += n
	return rest[:n], nil
}
