package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/berthhq/berth/fstree"
	"github.com/berthhq/berth/spec"
)

// PlatformCode is a platform's code at one revision, as a release deploys it.
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
// buildDesired never calls it: resolveCode does, before it, so that the build
// stays free of network I/O. Implementations must honour ctx.
type Code interface {
	Resolve(ctx context.Context, pl spec.ResolvedPlatform) (rev string, tree fs.FS, err error)
}

// resolveCode resolves the code of every git platform of res through code.
// Path platforms need nothing resolved: buildDesired reads them from the sites
// repo. A nil code resolves nothing; buildDesired then deploys no git platform
// and says so in the plan's warnings.
func resolveCode(ctx context.Context, res *spec.Resolved, code Code) (map[string]PlatformCode, error) {
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
// fstree.CheckEntry).
func treeHash(tree fs.FS) (string, error) {
	h := sha256.New()
	err := fs.WalkDir(tree, ".", func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := fstree.CheckEntry(tree, p, de.Type()); err != nil {
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
