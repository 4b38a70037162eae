package desired

import (
	"context"
	"fmt"
	"io/fs"
	"path"

	"github.com/berthhq/berth/kind/release"
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
		out[pl.Name] = PlatformCode{Rev: rev, Tree: tree, Source: fmt.Sprintf("%s at %s = %s", pl.Source.Git, ref, release.Short(rev))}
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
	sum, err := release.TreeHash(tree)
	if err != nil {
		return PlatformCode{}, fmt.Errorf("platform %s: read its source %s in the sites repo: %w", pl.Name, root, err)
	}
	return PlatformCode{Rev: "sha256:" + sum, Tree: tree, Source: fmt.Sprintf("%s in the sites repo = %s", root, sum[:12])}, nil
}
