package source

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// Local is a Git repository on this machine read in place, for the CLI:
// its refs and objects are read, nothing is cloned, fetched or checked
// out, and its work tree (uncommitted changes included) is never read.
//
// A Local is not safe for concurrent use; the fs.FS its FS returns is.
type Local struct {
	dir   string
	repo  *git.Repository
	store *objectStore
}

// IsGitRepo tells whether dir is the top of a Git work tree (dir/.git
// exists) or a bare repository. A directory nested inside some other
// repository's work tree is not: it is read as a plain directory.
func IsGitRepo(dir string) bool { return gitDir(dir) != "" }

// OpenLocal opens the repository at dir (see IsGitRepo) read-only.
func OpenLocal(dir string) (*Local, error) {
	opts := &git.PlainOpenOptions{EnableDotGitCommonDir: true}
	repo, err := git.PlainOpenWithOptions(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("source: open the Git repository %s: %w", dir, err)
	}
	// A second handle for the objects: the object store serialises its
	// own reads, and ref lookups go through repo.
	objs, err := git.PlainOpenWithOptions(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("source: open the Git repository %s: %w", dir, err)
	}
	st, ok := objs.Storer.(*filesystem.Storage)
	if !ok {
		return nil, fmt.Errorf("source: %s is not a repository on disk", dir)
	}
	store, err := storeOf(st, dir)
	if err != nil {
		return nil, err
	}
	return &Local{dir: dir, repo: repo, store: store}, nil
}

// Checkout returns the commit HEAD points at and the branch checked out
// ("" when HEAD is detached).
func (l *Local) Checkout() (Revision, string, error) {
	ref, err := l.repo.Head()
	if err != nil {
		return Revision{}, "", fmt.Errorf("source: %s has no commit checked out (commit first): %w", l.dir, err)
	}
	rev, err := l.commit(ref.Hash(), "HEAD")
	if err != nil {
		return Revision{}, "", err
	}
	branch := ""
	if ref.Name().IsBranch() {
		branch = ref.Name().Short()
	}
	return rev, branch, nil
}

// Branch returns the head of branch: the local branch, or when there is
// none, origin's as last fetched. An unknown branch returns an error
// wrapping fs.ErrNotExist.
func (l *Local) Branch(branch string) (Revision, error) {
	for _, name := range []plumbing.ReferenceName{plumbing.NewBranchReferenceName(branch), plumbing.NewRemoteReferenceName("origin", branch)} {
		ref, err := l.repo.Reference(name, true)
		if errors.Is(err, plumbing.ErrReferenceNotFound) {
			continue
		}
		if err != nil {
			return Revision{}, fmt.Errorf("source: read branch %s of %s: %w", branch, l.dir, err)
		}
		return l.commit(ref.Hash(), branch)
	}
	return Revision{}, fmt.Errorf("source: %s has no branch %q, nor origin/%s: create or fetch it: %w", l.dir, branch, branch, fs.ErrNotExist)
}

// Resolve returns the commit rev names: a branch, a tag, a (short) hash or
// any expression go-git resolves (HEAD~1, main^).
func (l *Local) Resolve(rev string) (Revision, error) {
	h, err := l.repo.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return Revision{}, fmt.Errorf("source: %s names no commit of %s: %w", rev, l.dir, err)
	}
	return l.commit(*h, rev)
}

func (l *Local) commit(h plumbing.Hash, name string) (Revision, error) {
	c, err := object.GetCommit(l.repo.Storer, h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		// An annotated tag: the commit it points at.
		if t, terr := object.GetTag(l.repo.Storer, h); terr == nil {
			c, err = t.Commit()
		}
	}
	if err != nil {
		return Revision{}, fmt.Errorf("source: %s of %s is not a commit: %w", name, l.dir, err)
	}
	return revision(c), nil
}

// FS returns the tree of the commit rev.Hash as a TreeFS, read from the
// object store.
func (l *Local) FS(rev Revision) (fs.FS, error) {
	if !plumbing.IsHash(rev.Hash) {
		return nil, fmt.Errorf("source: %q is not a commit hash: %w", rev.Hash, fs.ErrNotExist)
	}
	return l.store.treeFS(plumbing.NewHash(rev.Hash))
}
