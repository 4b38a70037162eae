package main

import (
	"flag"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/source"
	"github.com/berthhq/berth/spec"
)

// A sites repo given by --repo is read one of two ways. A plain directory
// (not the top of a Git work tree: a directory nested inside another
// repository is plain too) is read as it is on disk, its revision a hash
// of its files. A Git repository is read from its objects, never from its
// work tree: an environment converges the head of its branch
// (environments.ENV.branch), whatever is checked out; plan --rev REV plans
// another commit (a pull request's head, say) and warns that it is not the
// branch's head; apply of another commit needs --allow-other-rev and its
// run is recorded with the trigger "cli --rev REV".

// registerRev adds --rev (plan and apply) and --allow-other-rev (apply).
func (f *envFlags) registerRev(fs *flag.FlagSet, apply bool) {
	what := "plan this commit of a Git sites repo (branch, tag or hash) instead of the head of the environment's branch; a warning says when it is not that head"
	if apply {
		what = "apply this commit of a Git sites repo (branch, tag or hash) instead of the head of the environment's branch; needs --allow-other-rev"
		fs.BoolVar(&f.allowOtherRev, "allow-other-rev", false, "allow --rev to name a commit other than the head of the environment's branch (the run records it)")
	}
	fs.StringVar(&f.rev, "rev", "", what)
}

// gitPick is which commit of a Git sites repo a run reads, and why.
type gitPick struct {
	planned source.Revision // the commit read
	head    string          // the head of the environment's branch ("" when the repo lacks the branch)
	branch  string          // the environment's branch
	rev     string          // --rev as given ("" for the branch's head)
}

// other tells whether the commit read is not the head of the branch.
func (g *gitPick) other() bool { return g != nil && g.planned.Hash != g.head }

// trigger is the run's trigger: "cli", or "cli --rev REV" when the run
// applies another commit than the branch's head.
func (g *gitPick) trigger() string {
	if g.other() {
		return "cli --rev " + g.rev
	}
	return "cli"
}

// loadGit reads f.env of the Git repository at f.repo: the head of the
// environment's branch (learnt from berth.yaml of the commit checked out),
// or the commit --rev names. It says on stderr which commit it read and
// warns when that is not the branch's head.
func (f *envFlags) loadGit(stderr io.Writer) (*loaded, error) {
	lr, err := source.OpenLocal(f.repo)
	if err != nil {
		return nil, err
	}
	var planned source.Revision
	if f.rev != "" {
		planned, err = lr.Resolve(f.rev)
	} else {
		planned, _, err = lr.Checkout()
	}
	if err != nil {
		return nil, usageError(err.Error())
	}
	repo, fsys, err := loadCommit(lr, planned, stderr)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(f.stateDir)
	if err != nil {
		return nil, err
	}
	l := &loaded{fsys: fsys, stateDir: dir}
	if err := l.resolve(repo, f.env); err != nil {
		return nil, err
	}
	if l.removed {
		return f.loadRemoved(lr, l, planned, stderr)
	}
	res := l.res
	pick := &gitPick{planned: planned, branch: res.Branch, rev: f.rev}
	head, err := lr.Branch(res.Branch)
	switch {
	case err != nil && f.rev == "":
		return nil, fmt.Errorf("environment %s follows branch %s: %w", f.env, res.Branch, err)
	case err == nil:
		pick.head = head.Hash
	}
	if f.rev == "" && head.Hash != planned.Hash {
		// The commit checked out named the branch; read its head.
		if repo, fsys, err = loadCommit(lr, head, stderr); err != nil {
			return nil, err
		}
		if res, err = spec.Resolve(repo, f.env); err != nil {
			return nil, err
		}
		if res.Branch != pick.branch {
			return nil, fmt.Errorf("berth.yaml checked out says environment %s follows branch %s, but berth.yaml on %s says %s: make them agree, or use --rev",
				f.env, pick.branch, pick.branch, res.Branch)
		}
		pick.planned = head
	}
	f.sayPick(pick, stderr)
	return &loaded{fsys: fsys, res: res, revision: pick.planned.Hash, stateDir: dir, git: pick}, nil
}

// loadRemoved completes l, an environment that berth.yaml of the commit
// read (the one checked out, or --rev) does not declare: it has no branch,
// so the commit checked out is the one to converge its removal from.
func (f *envFlags) loadRemoved(lr *source.Local, l *loaded, planned source.Revision, stderr io.Writer) (*loaded, error) {
	head, _, err := lr.Checkout()
	if err != nil {
		return nil, usageError(err.Error())
	}
	l.revision = planned.Hash
	l.git = &gitPick{planned: planned, head: head.Hash, rev: f.rev}
	short := reconcile.ShortRevision(planned.Hash)
	fmt.Fprintf(stderr, "berth: %s is not declared in berth.yaml of commit %s: what berth recorded of it is planned for removal (berth apply --env %s removes it)\n", f.env, short, f.env)
	if l.git.other() {
		fmt.Fprintf(stderr, "warning: commit %s (--rev %s) is not the commit checked out (%s): berth apply --env %s removes it as of %s\n",
			short, f.rev, reconcile.ShortRevision(head.Hash), f.env, reconcile.ShortRevision(head.Hash))
	}
	return l, nil
}

// sayPick prints the commit read and, when it is not the head of the
// environment's branch, a warning naming both.
func (f *envFlags) sayPick(p *gitPick, stderr io.Writer) {
	short := reconcile.ShortRevision(p.planned.Hash)
	if !p.other() {
		fmt.Fprintf(stderr, "berth: %s at commit %s, the head of branch %s (read from Git; the work tree is not read)\n", f.env, short, p.branch)
		return
	}
	fmt.Fprintf(stderr, "berth: %s at commit %s (--rev %s; read from Git; the work tree is not read)\n", f.env, short, p.rev)
	if p.head == "" {
		fmt.Fprintf(stderr, "warning: commit %s is not on branch %s, which %s follows: the repository has no such branch\n", short, p.branch, f.env)
		return
	}
	fmt.Fprintf(stderr, "warning: commit %s is not the head of branch %s, which %s follows (%s): berth apply --env %s converges %s\n",
		short, p.branch, f.env, reconcile.ShortRevision(p.head), f.env, reconcile.ShortRevision(p.head))
}

// loadCommit reads and validates the sites repo at commit rev.
func loadCommit(lr *source.Local, rev source.Revision, stderr io.Writer) (*spec.Repo, fs.FS, error) {
	fsys, err := lr.FS(rev)
	if err != nil {
		return nil, nil, err
	}
	repo, err := loadFS(fsys, stderr)
	if err != nil {
		return nil, nil, err
	}
	return repo, fsys, nil
}
