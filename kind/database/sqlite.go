package database

import (
	"context"
	"fmt"
	"io/fs"
	"strings"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/reconcile"
)

// KindSQLite is a SQLite database file on a web server.
const KindSQLite = "sqlite-db"

func init() {
	reconcile.RegisterKind(reconcile.Kind{Name: KindSQLite, Prune: func(rec reconcile.Record) reconcile.Resource {
		return &SQLiteDB{Base: reconcile.PrunedBase(KindSQLite, rec)}
	}})
}

// SQLiteDB is a site's SQLite database: a file owned by the site's user,
// readable by no one else. berth creates it empty (an empty file is an
// empty SQLite database) and afterwards only keeps its mode and owner:
// its content is the site's data, never compared or rewritten, and deleted
// only when its whole site is removed, after the site's backup.
type SQLiteDB struct {
	reconcile.Base
	mode         fs.FileMode
	owner, group string
}

// SQLiteSpec describes a SQLite database file.
type SQLiteSpec struct {
	ID, Server, Site, Path string
	Mode                   fs.FileMode // 0 means 0640
	Owner, Group           string
	Deps                   []string
}

// NewSQLiteDB returns the resource for a site's SQLite database file.
func NewSQLiteDB(s SQLiteSpec) *SQLiteDB {
	mode := s.Mode
	if mode == 0 {
		mode = 0o640
	}
	return &SQLiteDB{Base: reconcile.NewBase(reconcile.BaseSpec{Kind: KindSQLite, ID: s.ID, Server: s.Server, Site: s.Site, Path: s.Path, Deps: s.Deps}),
		mode: mode, owner: s.Owner, group: s.Group}
}

func (s *SQLiteDB) Observe() []string { return []string{s.Path()} }

func (s *SQLiteDB) change(a reconcile.Action, reason string) reconcile.Change {
	c := s.NewChange(a, reason)
	c.Sensitive = true
	return c
}

func (s *SQLiteDB) Check(ctx context.Context, in reconcile.CheckInput) (reconcile.Change, error) {
	obs := in.Obs[s.Path()]
	if s.Absent() {
		switch {
		case !obs.Exists:
			return s.change(reconcile.Delete, "already gone; forgotten"), nil
		case in.Record != nil && in.Record.Adopted:
			return s.change(reconcile.None, "kept: it existed before berth managed it"), nil
		}
		if !in.Guarded {
			return s.change(reconcile.Conflict, "blocked: deleting SQLite database "+s.Path()+" needs a backup first, which berth takes only when the whole site is removed; "+
				"back it up and delete it by hand, and the next run forgets it"), nil
		}
		return s.change(reconcile.Delete, "delete SQLite database "+s.Path()+" after the site's backup"), nil
	}
	if !obs.Exists {
		return s.change(reconcile.Create, "sqlite database "+s.Path()), nil
	}
	if !obs.IsRegular() {
		return s.change(reconcile.Conflict, fmt.Sprintf("exists and is not a regular file (%s); remove it by hand", obs.Mode.Type())), nil
	}
	var reasons []string
	if obs.Mode.Perm() != s.mode.Perm() {
		reasons = append(reasons, fmt.Sprintf("mode %04o -> %04o", obs.Mode.Perm(), s.mode.Perm()))
	}
	if s.owner != "" && obs.Owner != s.owner && fmt.Sprint(obs.UID) != s.owner {
		reasons = append(reasons, fmt.Sprintf("owner %s -> %s", obs.Owner, s.owner))
	}
	if s.group != "" && obs.Group != s.group && fmt.Sprint(obs.GID) != s.group {
		reasons = append(reasons, fmt.Sprintf("group %s -> %s", obs.Group, s.group))
	}
	if len(reasons) == 0 {
		return s.change(reconcile.None, ""), nil
	}
	if in.Record == nil && !in.Adopt {
		return s.change(reconcile.Conflict, "exists and was not created by berth ("+strings.Join(reasons, ", ")+"); run with --adopt to let berth take it over"), nil
	}
	return s.change(reconcile.Update, strings.Join(reasons, ", ")), nil
}

func (s *SQLiteDB) Apply(ctx context.Context, h host.Host, c *reconcile.Change) error {
	switch c.Action {
	case reconcile.Create:
		// Never over data: check again right before writing.
		obs, err := h.Observe(ctx, []string{s.Path()})
		if err != nil {
			return err
		}
		if !obs[0].Exists {
			return h.WriteFile(ctx, s.Path(), nil, host.WriteOptions{Mode: s.mode, Owner: s.owner, Group: s.group})
		}
		fallthrough
	case reconcile.Update:
		if s.owner != "" || s.group != "" {
			own := s.owner
			if s.group != "" {
				own += ":" + s.group
			}
			if _, err := h.Run(ctx, []string{"chown", "--", own, s.Path()}, host.RunOptions{}); err != nil {
				return fmt.Errorf("chown %s %s: %w", own, s.Path(), err)
			}
		}
		if _, err := h.Run(ctx, []string{"chmod", "--", fmt.Sprintf("%04o", s.mode.Perm()), s.Path()}, host.RunOptions{}); err != nil {
			return fmt.Errorf("chmod %s: %w", s.Path(), err)
		}
	}
	if c.Action == reconcile.Delete && s.Absent() {
		return h.Remove(ctx, s.Path()) // nil when already gone
	}
	return nil
}

// Undo takes back a creation after a refused configuration check (a
// refused run leaves nothing new behind): the file is removed while it is
// still the empty one Apply created; a file holding data is kept.
func (s *SQLiteDB) Undo(ctx context.Context, h host.Host, c *reconcile.Change) error {
	if c.Action != reconcile.Create {
		return nil
	}
	obs, err := h.Observe(ctx, []string{s.Path()})
	if err != nil {
		return err
	}
	if obs[0].IsRegular() && obs[0].Size == 0 {
		return h.Remove(ctx, s.Path())
	}
	return nil
}

func (s *SQLiteDB) Record() reconcile.Record { return s.NewRecord() }
