package fstree

import (
	"errors"
	"fmt"
	"io/fs"
)

// ErrUnshippable is wrapped by the error of an entry of a tree that is
// copied elsewhere as it is (a platform's code, shipped to servers) and
// must not be: a symbolic link that leads outside the tree (or loops), or
// a named pipe, socket or device.
var ErrUnshippable = errors.New("cannot be shipped")

// CheckEntry refuses the entry p, of type t, of tree when it must not be
// copied out of it: a link whose target, resolved within tree as the
// destination's kernel will resolve it, leaves the tree or loops (a link
// to a missing path inside the tree is fine: a build or the site may
// create it), and pipes, sockets and devices. Submodules (fs.ModeIrregular
// in a Git tree) are left out by the copier, not refused.
func CheckEntry(tree fs.FS, p string, t fs.FileMode) error {
	switch {
	case t&fs.ModeSymlink != 0:
		rl, ok := tree.(fs.ReadLinkFS)
		if !ok {
			return fmt.Errorf("%s: %w: a symbolic link in a tree whose links cannot be read", p, ErrUnshippable)
		}
		_, err := Resolve(rl, p)
		var le *LinkError
		switch {
		case err == nil, errors.Is(err, fs.ErrNotExist):
			return nil
		case errors.Is(err, ErrLinkLoop):
			return fmt.Errorf("%s: %w: symbolic links loop (more than %d levels); replace the link with the file", p, ErrUnshippable, MaxLinkHops)
		case errors.As(err, &le):
			via := ""
			if le.Link != p {
				via = fmt.Sprintf(" (through the link %s -> %q)", le.Link, le.Target)
			}
			target, _ := fs.ReadLink(tree, p)
			return fmt.Errorf("%s: %w: symbolic link -> %q leads outside the platform's code%s; berth ships only files inside it: copy the file into the code or make the link relative within it", p, ErrUnshippable, target, via)
		}
		return err
	case t&fs.ModeIrregular != 0:
		return nil
	case t&(fs.ModeNamedPipe|fs.ModeSocket|fs.ModeDevice|fs.ModeCharDevice) != 0:
		return fmt.Errorf("%s: %w: %w", p, ErrUnshippable, &IrregularError{Type: t.Type()})
	}
	return nil
}

// CheckTree applies CheckEntry to every entry of the tree at root in fsys,
// without reading file contents, and returns the first refusal.
func CheckTree(fsys fs.FS, root string) error {
	tree, err := fs.Sub(fsys, root)
	if err != nil {
		return err
	}
	err = fs.WalkDir(tree, ".", func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return CheckEntry(tree, p, de.Type())
	})
	if err != nil {
		return fmt.Errorf("in %s/: %w", root, err)
	}
	return nil
}
