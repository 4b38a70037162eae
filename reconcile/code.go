package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/berthhq/berth/fstree"
	"github.com/berthhq/berth/spec"
)

// PlatformCode is a platform's code at one revision, as Build deploys it.
type PlatformCode struct {
	// Rev is the commit hash of a git platform, or "sha256:<hex>", the
	// content hash of a path platform's tree.
	Rev string
	// Tree holds the files of that revision.
	Tree fs.FS
	// Source says where the code came from, for plans and errors.
	Source string
}

// Code resolves the source of a git platform (URL and ref: a branch, tag
// or commit) to a commit and its files. It may fetch from the network;
// Build never calls it: ResolveCode does, before Build, so that Build
// stays free of network I/O. Implementations must honour ctx.
type Code interface {
	Resolve(ctx context.Context, pl spec.ResolvedPlatform) (rev string, tree fs.FS, err error)
}

// ResolveCode resolves the code of every git platform of res through code.
// Path platforms need nothing resolved: Build reads them from the sites
// repo. A nil code resolves nothing; Build then deploys no git platform
// and says so in the plan's warnings.
func ResolveCode(ctx context.Context, res *spec.Resolved, code Code) (map[string]PlatformCode, error) {
	out := map[string]PlatformCode{}
	if code == nil {
		return out, nil
	}
	for _, pl := range res.Platforms {
		if pl.Source.Git == "" {
			continue
		}
		rev, tree, err := code.Resolve(ctx, pl)
		if err != nil {
			return nil, fmt.Errorf("platform %s: resolve %s at %q: %w", pl.Name, pl.Source.Git, pl.Source.Ref, err)
		}
		ref := pl.Source.Ref
		if ref == "" {
			ref = "its default branch"
		}
		out[pl.Name] = PlatformCode{Rev: rev, Tree: tree, Source: fmt.Sprintf("%s at %s = %s", pl.Source.Git, ref, short(rev))}
	}
	return out, nil
}

// pathCode returns the code of a platform whose source is a path in the
// sites repo; its revision is a content hash of the tree.
func pathCode(repo fs.FS, pl spec.ResolvedPlatform) (PlatformCode, error) {
	root := path.Clean(pl.Source.Path)
	tree, err := fs.Sub(repo, root)
	if err != nil {
		return PlatformCode{}, fmt.Errorf("platform %s: its source %s in the sites repo: %w", pl.Name, root, err)
	}
	sum, err := treeHash(tree)
	if err != nil {
		return PlatformCode{}, fmt.Errorf("platform %s: read its source %s in the sites repo: %w", pl.Name, root, err)
	}
	return PlatformCode{Rev: "sha256:" + sum, Tree: tree, Source: fmt.Sprintf("%s in the sites repo = %s", root, sum[:12])}, nil
}

// treeHash is the SHA-256 of a tree's paths, types, executable bits,
// contents and link targets. It refuses what cannot be shipped (see
// checkEntry).
func treeHash(tree fs.FS) (string, error) {
	h := sha256.New()
	err := fs.WalkDir(tree, ".", func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := checkEntry(tree, p, de.Type()); err != nil {
			return err
		}
		switch t := de.Type(); {
		case de.IsDir():
			fmt.Fprintf(h, "d %s\x00", p)
		case t&fs.ModeSymlink != 0:
			target, err := fs.ReadLink(tree, p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "l %s\x00%s\x00", p, target)
		case t.IsRegular():
			info, err := de.Info()
			if err != nil {
				return err
			}
			f, err := tree.Open(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "f %s\x00%t\x00%d\x00", p, info.Mode()&0o111 != 0, info.Size())
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ErrCodeEntry is wrapped by the error of an entry of a platform's code
// that berth does not ship: a symbolic link that leads outside the code
// tree (or loops), or a named pipe, socket or device.
var ErrCodeEntry = errors.New("cannot be shipped")

// checkEntry refuses an entry of a platform's code tree that must not be
// shipped: a link whose target, resolved within the tree as the server's
// kernel will resolve it, leaves the tree or loops (a link to a missing
// path inside the tree is shipped: the build or the site may create it),
// and pipes, sockets and devices. Submodules (fs.ModeIrregular in a Git
// tree) are left out of the build, not refused.
func checkEntry(tree fs.FS, p string, t fs.FileMode) error {
	switch {
	case t&fs.ModeSymlink != 0:
		rl, ok := tree.(fs.ReadLinkFS)
		if !ok {
			return fmt.Errorf("%s: %w: a symbolic link in a tree whose links cannot be read", p, ErrCodeEntry)
		}
		_, err := fstree.Resolve(rl, p)
		var le *fstree.LinkError
		switch {
		case err == nil, errors.Is(err, fs.ErrNotExist):
			return nil
		case errors.Is(err, fstree.ErrLinkLoop):
			return fmt.Errorf("%s: %w: symbolic links loop (more than %d levels); replace the link with the file", p, ErrCodeEntry, fstree.MaxLinkHops)
		case errors.As(err, &le):
			via := ""
			if le.Link != p {
				via = fmt.Sprintf(" (through the link %s -> %q)", le.Link, le.Target)
			}
			target, _ := fs.ReadLink(tree, p)
			return fmt.Errorf("%s: %w: symbolic link -> %q leads outside the platform's code%s; berth ships only files inside it: copy the file into the code or make the link relative within it", p, ErrCodeEntry, target, via)
		}
		return err
	case t&fs.ModeIrregular != 0:
		return nil
	case t&(fs.ModeNamedPipe|fs.ModeSocket|fs.ModeDevice|fs.ModeCharDevice) != 0:
		return fmt.Errorf("%s: %w: %w", p, ErrCodeEntry, &fstree.IrregularError{Type: t.Type()})
	}
	return nil
}

// CheckPathCode checks the code of every platform of repo whose source is
// a path in the sites repo as Build reads and ships it, without reading
// file contents: the directory must not be a link leading out of the repo,
// and no entry of its tree may be refused by checkEntry. Problems are at
// the platform's source.path. A path that is malformed or missing is left
// to spec's own checks.
func CheckPathCode(fsys fs.FS, repo *spec.Repo) spec.Problems {
	if repo == nil {
		return nil
	}
	var problems spec.Problems
	for _, pl := range repo.Platforms {
		if pl.Source.Path == "" || pl.Source.Git != "" {
			continue
		}
		root := path.Clean(pl.Source.Path)
		if !fs.ValidPath(root) {
			continue
		}
		err := checkTree(fsys, root)
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			continue
		}
		problems = append(problems, spec.Problem{Pos: pl.At("source.path"),
			Message: fmt.Sprintf("platform %q: source.path: %v", pl.Name, err)})
	}
	return problems
}

// checkTree applies checkEntry to the tree at root in fsys.
func checkTree(fsys fs.FS, root string) error {
	tree, err := fs.Sub(fsys, root)
	if err != nil {
		return err
	}
	if _, err := fs.Stat(tree, "."); err != nil {
		return err
	}
	err = fs.WalkDir(tree, ".", func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return checkEntry(tree, p, de.Type())
	})
	if err != nil {
		return fmt.Errorf("in %s/: %w", root, err)
	}
	return nil
}

// buildID names a build: the revision, shortened, and when the platform
// has build commands, a hash of them — the same commit built differently
// is another build.
func buildID(rev string, build []string) string {
	id := short(rev)
	if len(build) > 0 {
		sum := sha256.Sum256([]byte(strings.Join(build, "\x00")))
		id += "-" + hex.EncodeToString(sum[:])[:6]
	}
	return id
}

func short(rev string) string {
	rev = strings.TrimPrefix(rev, "sha256:")
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
