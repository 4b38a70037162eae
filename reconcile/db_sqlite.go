package reconcile

import (
	"context"
	"fmt"
	"io/fs"
	"strings"

	"github.com/berthhq/berth/host"
)

// KindSQLite is a SQLite database file on a web server.
const KindSQLite = "sqlite-db"

func init() {
	RegisterPruner(KindSQLite, func(rec Record) Resource {
		return &SQLiteDB{id: rec.ID, server: rec.Server, site: rec.Site, path: rec.Path, absent: true}
	})
}

// SQLiteDB is a site's SQLite database: a file owned by the site's user,
// readable by no one else. berth creates it empty (an empty file is an
// empty SQLite database) and afterwards only keeps its mode and owner:
// its content is the site's data, never compared or rewritten, and deleted
// only when its whole site is removed, after the site's backup.
type SQLiteDB struct {
	id, server, site, path string
	mode                   fs.FileMode
	owner, group           string
	deps                   []string
	absent                 bool
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
	return &SQLiteDB{id: s.ID, server: s.Server, site: s.Site, path: s.Path, mode: mode, owner: s.Owner, group: s.Group, deps: s.Deps}
}

func (s *SQLiteDB) ID() string        { return s.id }
func (s *SQLiteDB) Server() string    { return s.server }
func (s *SQLiteDB) Kind() string      { return KindSQLite }
func (s *SQLiteDB) Site() string      { return s.site }
func (s *SQLiteDB) Path() string      { return s.path }
func (s *SQLiteDB) Deps() []string    { return s.deps }
func (s *SQLiteDB) Observe() []string { return []string{s.path} }

func (s *SQLiteDB) change(a Action, reason string) Change {
	return Change{ID: s.id, Server: s.server, Kind: KindSQLite, Site: s.site, Path: s.path, Action: a, Reason: reason, Sensitive: true}
}

func (s *SQLiteDB) Check(ctx context.Context, in CheckInput) (Change, error) {
	obs := in.Obs[s.path]
	if s.absent {
		switch {
		case !obs.Exists:
			return s.change(Delete, "already gone; forgotten"), nil
		case in.Record != nil && in.Record.Adopted:
			return s.change(None, "kept: it existed before berth managed it"), nil
		}
		if !in.Guarded {
			return s.change(Conflict, "blocked: deleting SQLite database "+s.path+" needs a backup first, which berth takes only when the whole site is removed; "+
				"back it up and delete it by hand, and the next run forgets it"), nil
		}
		return s.change(Delete, "delete SQLite database "+s.path+" after the site's backup"), nil
	}
	if !obs.Exists {
		return s.change(Create, "sqlite database "+s.path), nil
	}
	if !obs.IsRegular() {
		return s.change(Conflict, fmt.Sprintf("exists and is not a regular file (%s); remove it by hand", obs.Mode.Type())), nil
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
		return s.change(None, ""), nil
	}
	if in.Record == nil && !in.Adopt {
		return s.change(Conflict, "exists and was not created by berth ("+strings.Join(reasons, ", ")+"); run with --adopt to let berth take it over"), nil
	}
	return s.change(Update, strings.Join(reasons, ", ")), nil
}

func (s *SQLiteDB) Apply(ctx context.Context, h host.Host, c *Change) error {
	switch c.Action {
	case Create:
		// Never over data: check again right before writing.
		obs, err := h.Observe(ctx, []string{s.path})
		if err != nil {
			return err
		}
		if !obs[0].Exists {
			return h.WriteFile(ctx, s.path, nil, host.WriteOptions{Mode: s.mode, Owner: s.owner, Group: s.group})
		}
		fallthrough
	case Update:
		if s.owner != "" || s.group != "" {
			own := s.owner
			if s.group != "" {
				own += ":" + s.group
			}
			if _, err := h.Run(ctx, []string{"chown", "--", own, s.path}, host.RunOptions{}); err != nil {
				return fmt.Errorf("chown %s %s: %w", own, s.path, err)
			}
		}
		if _, err := h.Run(ctx, []string{"chmod", "--", fmt.Sprintf("%04o", s.mode.Perm()), s.path}, host.RunOptions{}); err != nil {
			return fmt.Errorf("chmod %s: %w", s.path, err)
		}
	}
	if c.Action == Delete && s.absent {
		return h.Remove(ctx, s.path) // nil when already gone
	}
	return nil
}

// Undo takes back a creation after a refused configuration check (a
// refused run leaves nothing new behind): the file is removed while it is
// still the empty one Apply created; a file holding data is kept.
func (s *SQLiteDB) Undo(ctx context.Context, h host.Host, c *Change) error {
	if c.Action != Create {
		return nil
	}
	obs, err := h.Observe(ctx, []string{s.path})
	if err != nil {
		return err
	}
	if obs[0].IsRegular() && obs[0].Size == 0 {
		return h.Remove(ctx, s.path)
	}
	return nil
}

func (s *SQLiteDB) Record() Record {
	return Record{ID: s.id, Server: s.server, Kind: KindSQLite, Site: s.site, Path: s.path}
}
