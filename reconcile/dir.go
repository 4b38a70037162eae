package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/berthhq/berth/host"
)

// KindDir is a directory.
const KindDir = "dir"

func init() {
	RegisterPruner(KindDir, func(rec Record) Resource {
		return &Dir{id: rec.ID, server: rec.Server, site: rec.Site, path: rec.Path, absent: true}
	})
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
	id, server, site, path string
	mode                   fs.FileMode
	owner, group           string
	deps                   []string
	absent                 bool
	purge                  bool // absent: remove it with its content
}

// DirSpec describes a directory to converge.
type DirSpec struct {
	ID, Server, Site, Path string
	Mode                   fs.FileMode // 0 means 0755
	Owner, Group           string
}

// NewDir returns the resource for a directory that must exist.
func NewDir(s DirSpec) *Dir {
	mode := s.Mode
	if mode == 0 {
		mode = 0o755
	}
	return &Dir{id: s.ID, server: s.Server, site: s.Site, path: s.Path, mode: mode, owner: s.Owner, group: s.Group}
}

func (d *Dir) ID() string     { return d.id }
func (d *Dir) Server() string { return d.server }
func (d *Dir) Kind() string   { return KindDir }
func (d *Dir) Site() string   { return d.site }
func (d *Dir) Path() string   { return d.path }
func (d *Dir) Deps() []string { return d.deps }

// Observe lists the directory and its ancestors: Check notes which of
// them a creation makes (EnsureDir creates missing parents), so that Undo
// takes them back too.
func (d *Dir) Observe() []string { return append([]string{d.path}, ancestors(d.path)...) }

// ancestors returns the parents of p, nearest first, without "/".
func ancestors(p string) []string {
	var out []string
	for dir := path.Dir(p); dir != "/" && dir != "." && dir != p; dir = path.Dir(dir) {
		out = append(out, dir)
		p = dir
	}
	return out
}

func (d *Dir) change(a Action, reason string) Change {
	return Change{ID: d.id, Server: d.server, Kind: KindDir, Site: d.site, Path: d.path, Action: a, Reason: reason}
}

func (d *Dir) Check(ctx context.Context, in CheckInput) (Change, error) {
	obs := in.Obs[d.path]
	if d.absent {
		switch {
		case !obs.Exists: // deleted by an interrupted run
			c := d.change(Delete, "already gone; forgotten")
			c.prior = &prior{}
			return c, nil
		case in.Record != nil && in.Record.Adopted:
			return d.change(None, "kept: it existed before berth managed it"), nil
		case !obs.IsDir():
			return d.change(None, "kept: no longer a directory"), nil
		}
		if in.Guarded && inSiteDir(d.path, d.site) {
			d.purge = true
			c := d.change(Delete, "removed with everything in it, after the site's backup")
			c.prior = &prior{exists: true, obs: obs}
			return c, nil
		}
		reason := "no longer declared (removed only if empty)"
		if d.shared() {
			reason = "no longer declared: removed if empty, otherwise forgotten (what it holds is another environment's or not berth's)"
		}
		c := d.change(Delete, reason)
		c.prior = &prior{exists: true, obs: obs}
		return c, nil
	}
	if !obs.Exists {
		c := d.change(Create, "missing")
		c.prior = &prior{}
		for _, a := range ancestors(d.path) {
			if in.Obs[a].Exists {
				break
			}
			c.prior.parents = append(c.prior.parents, a)
		}
		return c, nil
	}
	if !obs.IsDir() {
		return d.change(Conflict, fmt.Sprintf("exists and is not a directory (%s); remove it by hand", obs.Mode.Type())), nil
	}
	reasons := attrDiffs(obs, d.mode, d.owner, d.group)
	if len(reasons) == 0 {
		return d.change(None, ""), nil
	}
	if in.Record == nil && !in.Adopt {
		// A directory that predates berth keeps its owner and mode: berth
		// only adds to it.
		return d.change(None, "kept as found: it existed before berth managed it"), nil
	}
	c := d.change(Update, strings.Join(reasons, ", "))
	c.prior = &prior{exists: true, obs: obs}
	return c, nil
}

func (d *Dir) Apply(ctx context.Context, h host.Host, c *Change) error {
	switch c.Action {
	case Delete:
		if d.purge && d.absent && inSiteDir(d.path, d.site) {
			if _, err := h.Run(ctx, []string{"rm", "-rf", "--one-file-system", "--", d.path}, host.RunOptions{}); err != nil {
				return fmt.Errorf("remove %s: %w", d.path, runErr(err))
			}
			return nil
		}
		err := h.Remove(ctx, d.path)
		if errors.Is(err, host.ErrNotEmpty) {
			if d.absent && d.shared() {
				return nil // left in place for what it holds; the record goes
			}
			return &KeptError{Path: d.path, Reason: "directory is not empty"}
		}
		return err
	case Create, Update:
		return h.EnsureDir(ctx, d.path, host.WriteOptions{Mode: d.mode, Owner: d.owner, Group: d.group})
	}
	return nil
}

// shared reports whether the directory belongs to no site: a parent that
// the sites, platforms and environments of a server share.
func (d *Dir) shared() bool { return d.site == "" }

func (d *Dir) Undo(ctx context.Context, h host.Host, c *Change) error {
	p := c.prior
	switch {
	case p == nil:
		return fmt.Errorf("cannot restore %s: its prior state was not recorded", d.path)
	case !p.exists:
		// The directory, then the parents its creation made, nearest
		// first; one that is not empty holds something else: kept.
		for _, dir := range append([]string{d.path}, p.parents...) {
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
	return h.EnsureDir(ctx, d.path, host.WriteOptions{Mode: p.obs.Mode.Perm(), Owner: p.obs.Owner, Group: p.obs.Group})
}

func (d *Dir) Record() Record {
	return Record{ID: d.id, Server: d.server, Kind: KindDir, Site: d.site, Path: d.path}
}

// KeptError reports a deletion that was skipped to protect data. It is a
// warning, not a failure: the inventory keeps the record and the next plan
// shows the deletion again.
type KeptError struct {
	Path, Reason string
}

func (e *KeptError) Error() string { return fmt.Sprintf("kept %s: %s", e.Path, e.Reason) }

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
