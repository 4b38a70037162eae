// Package fstree resolves names inside a file tree without ever leaving
// it: symbolic links are followed as the kernel follows them, but one that
// leads outside the tree (an absolute target, or ".." above its top) or
// loops is an error, never a missing file; entries that are not
// directories, regular files or links are refused before they are opened.
// It is the vocabulary the sites repo's readers (package source) and the
// platform-code checks (package reconcile) share; it imports only the
// standard library.
package fstree

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// Errors of a path that cannot be read inside its tree. They are wrapped in
// a *LinkError or an *IrregularError (and those in an *fs.PathError); test
// with errors.Is. Neither wraps fs.ErrNotExist: a link that leaves the
// tree is not a missing file, and a reader must not skip it silently.
var (
	// ErrOutside: a symbolic link leads outside the tree it is in (an
	// absolute target, or one that climbs above the tree's top with "..").
	ErrOutside = errors.New("leads outside the tree")
	// ErrLinkLoop: following symbolic links took more than MaxLinkHops
	// steps, as a loop of links does.
	ErrLinkLoop = errors.New("too many levels of symbolic links (a loop?)")
	// ErrIrregular: a named pipe, socket or device where a file was read.
	ErrIrregular = errors.New("not a regular file")
)

// MaxLinkHops is how many symbolic links one path may go through, as on
// Linux.
const MaxLinkHops = 40

// LinkError is a symbolic link that cannot be followed within its tree.
// Link is its path in the tree and Target its contents (repo content,
// quoted when printed; the file it names is never read).
type LinkError struct {
	Link   string
	Target string
	Err    error // ErrOutside or ErrLinkLoop
}

func (e *LinkError) Error() string {
	if errors.Is(e.Err, ErrLinkLoop) {
		return fmt.Sprintf("symbolic link %s: %v; berth follows links only within the repo: replace the link with the file", e.Link, e.Err)
	}
	return fmt.Sprintf("symbolic link %s -> %q leads outside the repo; berth reads only the repo's own files: replace the link with the file itself", e.Link, e.Target)
}

func (e *LinkError) Unwrap() error { return e.Err }

// IrregularError is a named pipe, socket or device met where berth reads a
// file. It is never opened in a way that could block.
type IrregularError struct {
	Type fs.FileMode // the type bits of the entry
}

func (e *IrregularError) Error() string {
	return fmt.Sprintf("is %s, not a regular file; berth reads only regular files: remove it from the repo", describeType(e.Type))
}

func (e *IrregularError) Unwrap() error { return ErrIrregular }

func describeType(t fs.FileMode) string {
	switch {
	case t&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case t&fs.ModeSocket != 0:
		return "a socket"
	case t&fs.ModeCharDevice != 0:
		return "a character device"
	case t&fs.ModeDevice != 0:
		return "a block device"
	case t&fs.ModeIrregular != 0:
		return "a submodule or other irregular entry"
	}
	return "a " + t.String() + " entry"
}

// Irregular reports whether a file of type t must not be opened for its
// contents: anything but a directory, a regular file or a symbolic link.
func Irregular(t fs.FileMode) bool {
	return t.Type()&^(fs.ModeDir|fs.ModeSymlink) != 0
}

// LinkReader is what resolving needs of a tree: the type of an entry and
// the target of a link, both at paths that contain no symbolic link.
type LinkReader interface {
	LstatMode(name string) (fs.FileMode, error)
	ReadLink(name string) (string, error)
}

// Resolve returns name with every symbolic link in it replaced by its
// target, resolved within fsys as the kernel resolves a path (".." after a
// link climbs from the link's target, not from the link), so that what
// Resolve accepts is what a checkout or a server would see too. The result
// names an entry that is not a link.
//
// A link with an absolute target, or one whose "..", climbs above the top
// of fsys, returns a *LinkError wrapping ErrOutside; more than MaxLinkHops
// links, one wrapping ErrLinkLoop. A missing component ends the lookup of
// links: the rest of the path is resolved by name alone (a dangling link
// whose target stays inside is not an escape) and the error wraps
// fs.ErrNotExist.
func Resolve(fsys fs.ReadLinkFS, name string) (string, error) {
	p, _, err := ResolveIn(readLinkFS{fsys}, "resolve", name, true)
	return p, err
}

type readLinkFS struct{ fs.ReadLinkFS }

func (r readLinkFS) LstatMode(name string) (fs.FileMode, error) {
	fi, err := r.Lstat(name)
	if err != nil {
		return 0, err
	}
	return fi.Mode(), nil
}

// ResolveIn is Resolve over a LinkReader, for errors as op; it also
// returns the mode of the entry. With follow false, a link as the last
// element is not followed.
func ResolveIn(r LinkReader, op, name string, follow bool) (string, fs.FileMode, error) {
	if !fs.ValidPath(name) {
		return "", 0, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return ".", fs.ModeDir, nil
	}
	rest := strings.Split(name, "/")
	var done []string
	mode := fs.ModeDir
	missing := false
	hops := 0
	var link, target string // the last link followed, for the error
	for len(rest) > 0 {
		el := rest[0]
		rest = rest[1:]
		switch el {
		case "", ".":
			continue
		case "..":
			if len(done) == 0 {
				return "", 0, &fs.PathError{Op: op, Path: name, Err: &LinkError{Link: link, Target: target, Err: ErrOutside}}
			}
			done = done[:len(done)-1]
			mode = fs.ModeDir
			continue
		}
		done = append(done, el)
		if missing {
			continue
		}
		if !mode.IsDir() {
			missing = true // a file is not a directory: nothing is under it
			continue
		}
		p := strings.Join(done, "/")
		m, err := r.LstatMode(p)
		if errors.Is(err, fs.ErrNotExist) {
			missing = true
			continue
		}
		if err != nil {
			return "", 0, &fs.PathError{Op: op, Path: name, Err: UnwrapPath(err)}
		}
		mode = m
		if m&fs.ModeSymlink == 0 || (len(rest) == 0 && !follow) {
			continue
		}
		if hops++; hops > MaxLinkHops {
			return "", 0, &fs.PathError{Op: op, Path: name, Err: &LinkError{Link: p, Err: ErrLinkLoop}}
		}
		t, err := r.ReadLink(p)
		if err != nil {
			return "", 0, &fs.PathError{Op: op, Path: name, Err: UnwrapPath(err)}
		}
		if strings.HasPrefix(t, "/") {
			return "", 0, &fs.PathError{Op: op, Path: name, Err: &LinkError{Link: p, Target: t, Err: ErrOutside}}
		}
		if t == "" {
			missing = true // an empty target names nothing
			continue
		}
		link, target = p, t
		done = done[:len(done)-1]
		rest = append(strings.Split(t, "/"), rest...)
		mode = fs.ModeDir
	}
	p := path.Join(done...)
	if p == "" {
		p = "."
	}
	if missing {
		return p, 0, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return p, mode, nil
}

// UnwrapPath drops a *fs.PathError around err, so that the error names the
// path the caller asked for once.
func UnwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
