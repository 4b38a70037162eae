package files

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/reconcile"
)

// KindDir is a directory.
const KindDir = "dir"

func init() {
	reconcile.RegisterKind(reconcile.Kind{Name: KindDir, Prune: func(rec reconcile.Record) reconcile.Resource {
		return &Dir{Base: reconcile.PrunedBase(KindDir, rec)}
	}})
}

// Dir is a directory with a mode and owner. Deleting one removes it only
// when it is empty: site data is never swept away with a directory —
// except a removed site's own directory (<web root>/sites/<site> and what
// berth created under it), after the site's backup (CheckInput.Guarded).
//
// A shared directory (no site: <web_root>/sites, the vhost directory,
// <web_root>/platforms/<platform>, ...) is recorded by every environment
// whose resources live in it. The environment that no longer declares one
// removes it when it is empty and otherwise forgets it: what it still
// holds belongs to another environment (or to nobody berth knows), whose
// inventory records it; keeping the record would show the same deletion
// in every plan of this environment for as long as the other one is there.
type Dir struct {
	reconcile.Base
	mode         fs.FileMode
	owner, group string
}

// DirSpec describes a directory to converge.
type DirSpec struct {
	ID, Server, Site, Path string
	Mode                   fs.FileMode // 0 means 0755
	Owner, Group           string
	Deps                   []string
}

// NewDir returns the resource for a directory that must exist.
func NewDir(s DirSpec) *Dir {
	mode := s.Mode
	if mode == 0 {
		mode = 0o755
	}
	return &Dir{Base: reconcile.NewBase(reconcile.BaseSpec{Kind: KindDir, ID: s.ID, Server: s.Server, Site: s.Site, Path: s.Path, Deps: s.Deps}),
		mode: mode, owner: s.Owner, group: s.Group}
}

// Observe lists the directory and its ancestors: Check notes which of
// them a creation makes (EnsureDir creates missing parents), so that Undo
// takes them back too.
func (d *Dir) Observe() []string { return append([]string{d.Path()}, ancestors(d.Path())...) }

// ancestors returns the parents of p, nearest first, without "/".
func ancestors(p string) []string {
	var out []string
	for dir := path.Dir(p); dir != "/" && dir != "." && dir != p; dir = path.Dir(dir) {
		out = append(out, dir)
		p = dir
	}
	return out
}

func (d *Dir) Check(ctx context.Context, in reconcile.CheckInput) (reconcile.Change, error) {
	obs := in.Obs[d.Path()]
	if d.Absent() {
		switch {
		case !obs.Exists: // deleted by an interrupted run
			c := d.NewChange(reconcile.Delete, "already gone; forgotten")
			c.Found = &prior{}
			return c, nil
		case in.Record != nil && in.Record.Adopted:
			return d.NewChange(reconcile.None, "kept: it existed before berth managed it"), nil
		case !obs.IsDir():
			return d.NewChange(reconcile.None, "kept: no longer a directory"), nil
		}
		if in.Guarded && inSiteDir(d.Path(), d.Site()) {
			c := d.NewChange(reconcile.Delete, "removed with everything in it, after the site's backup")
			c.Found = &prior{exists: true, obs: obs, purge: true}
			return c, nil
		}
		reason := "no longer declared (removed only if empty)"
		if d.shared() {
			reason = "no longer declared: removed if empty, otherwise forgotten (what it holds is another environment's or not berth's)"
		}
		c := d.NewChange(reconcile.Delete, reason)
		c.Found = &prior{exists: true, obs: obs}
		return c, nil
	}
	if !obs.Exists {
		c := d.NewChange(reconcile.Create, "missing")
		p := &prior{}
		for _, a := range ancestors(d.Path()) {
			if in.Obs[a].Exists {
				break
			}
			p.parents = append(p.parents, a)
		}
		c.Found = p
		return c, nil
	}
	if !obs.IsDir() {
		return d.NewChange(reconcile.Conflict, fmt.Sprintf("exists and is not a directory (%s); remove it by hand", obs.Mode.Type())), nil
	}
	reasons := attrDiffs(obs, d.mode, d.owner, d.group)
	if len(reasons) == 0 {
		return d.NewChange(reconcile.None, ""), nil
	}
	if in.Record == nil && !in.Adopt {
		// A directory that predates berth keeps its owner and mode: berth
		// only adds to it.
		return d.NewChange(reconcile.None, "kept as found: it existed before berth managed it"), nil
	}
	c := d.NewChange(reconcile.Update, strings.Join(reasons, ", "))
	c.Found = &prior{exists: true, obs: obs}
	return c, nil
}

func (d *Dir) Apply(ctx context.Context, h host.Host, c *reconcile.Change) error {
	switch c.Action {
	case reconcile.Delete:
		if p, _ := c.Found.(*prior); p != nil && p.purge && d.Absent() && inSiteDir(d.Path(), d.Site()) {
			if _, err := h.Run(ctx, []string{"rm", "-rf", "--one-file-system", "--", d.Path()}, host.RunOptions{}); err != nil {
				return fmt.Errorf("remove %s: %w", d.Path(), host.WithStderr(err))
			}
			return nil
		}
		err := h.Remove(ctx, d.Path())
		if errors.Is(err, host.ErrNotEmpty) {
			if d.Absent() && d.shared() {
				return nil // left in place for what it holds; the record goes
			}
			return &reconcile.KeptError{Path: d.Path(), Reason: "directory is not empty"}
		}
		return err
	case reconcile.Create, reconcile.Update:
		return h.EnsureDir(ctx, d.Path(), host.WriteOptions{Mode: d.mode, Owner: d.owner, Group: d.group})
	}
	return nil
}

// shared reports whether the directory belongs to no site: a parent that
// the sites, platforms and environments of a server share.
func (d *Dir) shared() bool { return d.Site() == "" }

func (d *Dir) Undo(ctx context.Context, h host.Host, c *reconcile.Change) error {
	p, _ := c.Found.(*prior)
	switch {
	case p == nil:
		return fmt.Errorf("cannot restore %s: its prior state was not recorded", d.Path())
	case !p.exists:
		// The directory, then the parents its creation made, nearest
		// first; one that is not empty holds something else: kept.
		for _, dir := range append([]string{d.Path()}, p.parents...) {
			err := h.Remove(ctx, dir)
			if errors.Is(err, host.ErrNotEmpty) {
				return nil
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	return h.EnsureDir(ctx, d.Path(), host.WriteOptions{Mode: p.obs.Mode.Perm(), Owner: p.obs.Owner, Group: p.obs.Group})
}

func (d *Dir) Record() reconcile.Record { return d.NewRecord() }

// inSiteDir reports whether p is a site's directory, <root>/sites/<site>,
// or one under it: the only directories removed with their content.
func inSiteDir(p, site string) bool {
	if site == "" || p != path.Clean(p) || !path.IsAbs(p) {
		return false
	}
	for dir := p; dir != "/"; dir = path.Dir(dir) {
		if path.Base(dir) == site && path.Base(path.Dir(dir)) == "sites" && path.Dir(path.Dir(dir)) != "/" {
			return true
		}
	}
	return false
}
