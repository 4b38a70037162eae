package reconcile

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/spec"
)

// Deleting a site, safely. When a valid revision no longer declares a site
// at all (every resource of it is only in the inventory), the engine asks
// Desired.BeforeDelete for a step to run before any deletion of the site:
// Prepare gives it a backup of the site (deletionBackups). Then:
//
//  1. Plan checks that step like any resource and shows its change among
//     the others (`+ site/x/backup@host (before deleting x ...)`); the
//     site's pruned resources are checked with CheckInput.Guarded, so the
//     kinds holding data (databases, the site's directory) plan their
//     deletion instead of a conflict;
//  2. Apply runs every such step first, before any server's changes;
//  3. a site whose step failed has none of its deletions run: each fails
//     with the step's error, and the run fails saying why.
//
// The engine knows nothing of backups: a step is a Resource whose Apply
// must succeed; its Record is never kept.

// guardChanges checks the step of every deleted site and returns the
// changes to show, and the sites whose deletions they guard.
func (e *Engine) guardChanges(ctx context.Context, d *Desired, sites []string, recs map[string][]Record) ([]Change, map[string]bool, error) {
	guarded := map[string]bool{}
	if d.BeforeDelete == nil {
		return nil, guarded, nil
	}
	var changes []Change
	// A step that cannot be planned is a conflict: nothing of its site is
	// deleted, and the other sites' changes still run.
	conflict := func(id, server, site string, err error) {
		changes = append(changes, Change{ID: id, Server: server, Kind: "guard", Site: site, Action: Conflict,
			Reason: fmt.Sprintf("site %s is removed from the repo, but berth cannot back it up first, so it deletes nothing of it: %v", site, err)})
	}
	for _, site := range sites {
		r, err := d.BeforeDelete(site, recs[site])
		if err != nil {
			server := ""
			if len(recs[site]) > 0 {
				server = recs[site][0].Server
			}
			conflict(backupID(site, server), server, site, err)
			continue
		}
		if r == nil {
			continue
		}
		c, err := r.Check(ctx, CheckInput{})
		if err != nil {
			conflict(r.ID(), r.Server(), site, err)
			continue
		}
		if c.Action == None {
			continue // nothing to back up
		}
		c.res = r
		changes = append(changes, c)
		guarded[site] = true
	}
	return changes, guarded, nil
}

// runGuards applies the plan's guard steps, one site at a time, and
// returns the error of each site whose step failed.
func (e *Engine) runGuards(ctx context.Context, p *Plan) (map[string]error, *Result) {
	failed := map[string]error{}
	res := &Result{}
	var steps []*Change
	for i := range p.Changes {
		c := &p.Changes[i]
		switch {
		case !p.planned.guards[c.ID]:
		case c.Action == Conflict:
			failed[c.Site] = errors.New(c.Reason)
			res.Errors = append(res.Errors, fmt.Sprintf("%s: %s", cmpOr(c.Server, "-"), c.Reason))
			res.Failures = append(res.Failures, Failure{Server: c.Server, ID: c.ID, Site: c.Site, Error: c.Reason})
		default:
			steps = append(steps, c)
		}
	}
	for i, c := range steps {
		e.hook().Applying(c, i+1, len(steps))
		err := ctx.Err()
		if err == nil {
			var h host.Host
			if h, err = e.Hosts.Host(ctx, c.Server); err == nil {
				err = e.applyOne(ctx, h, c)
			}
		}
		e.hook().Applied(c, err)
		if err != nil {
			failed[c.Site] = fmt.Errorf("%s failed: %w", c.ID, err)
			res.Failed++
			res.failChange(c, "%v; nothing of site %s was deleted", err, c.Site)
			continue
		}
		res.Applied++
	}
	return failed, res
}

// KindBackup is the backup taken before a site is deleted.
const KindBackup = "backup"

// siteBackup backs a removed site up before its deletion.
type siteBackup struct {
	b     *Backups
	data  SiteData
	store BackupStore
	rev   string
}

// backupID names the step that backs a removed site up on server (the
// backup server), also when the step cannot be planned (a conflict).
func backupID(site, server string) string { return fmt.Sprintf("site/%s/backup@%s", site, server) }

func (s *siteBackup) ID() string        { return backupID(s.data.Site, s.store.Server) }
func (s *siteBackup) Server() string    { return s.store.Server }
func (s *siteBackup) Kind() string      { return KindBackup }
func (s *siteBackup) Site() string      { return s.data.Site }
func (s *siteBackup) Path() string      { return "" }
func (s *siteBackup) Deps() []string    { return nil }
func (s *siteBackup) Observe() []string { return nil }

// Check plans the backup; none when the site holds no data (no database,
// and its files directory is empty or gone): its directories are then
// removed only if empty, as any other.
//
// A database already gone is left out: only a run that took this backup
// first deletes it, so it was deleted by a run interrupted before it could
// forget the site's records (the rerun finishes the deletion).
func (s *siteBackup) Check(ctx context.Context, _ CheckInput) (Change, error) {
	if db := s.data.DB; db != nil {
		gone, err := dbGone(ctx, s.b.Hosts, db)
		if err != nil {
			return Change{}, err
		}
		if gone {
			s.data.DB = nil
		}
	}
	if s.data.DB == nil {
		h, err := s.b.Hosts.Host(ctx, s.data.Web)
		if err != nil {
			return Change{}, fmt.Errorf("connect to server %s: %w", s.data.Web, err)
		}
		files := path.Join(s.data.SiteDir, "files")
		_, err = h.Run(ctx, []string{"sh", "-c", `[ ! -d "$1" ] || [ -z "$(ls -A -- "$1")" ]`, "berth-check", files}, host.RunOptions{})
		if err == nil {
			return Change{ID: s.ID(), Server: s.store.Server, Kind: KindBackup, Site: s.data.Site, Action: None}, nil
		}
		var ee *host.ExitError
		if !errors.As(err, &ee) {
			return Change{}, fmt.Errorf("look into %s on %s: %w", files, s.data.Web, err)
		}
	}
	var what []string
	if db := s.data.DB; db != nil {
		what = append(what, db.Type+" database "+db.Name+" on "+db.Server)
	}
	if s.data.SiteDir != "" {
		what = append(what, "files of "+s.data.Web)
	}
	return Change{ID: s.ID(), Server: s.store.Server, Kind: KindBackup, Site: s.data.Site, Path: s.store.siteDir(s.data.Env, s.data.Site),
		Action: Create, Reason: fmt.Sprintf("before deleting %s: %s, into %s", s.data.Site, strings.Join(what, ", "), s.store.siteDir(s.data.Env, s.data.Site))}, nil
}

// dbGone reports whether a removed site's database no longer exists:
// the SQLite file, or the database in its server's catalogue (read as the
// kind's ObserveBatch reads it).
func dbGone(ctx context.Context, hosts Hosts, db *SiteDB) (bool, error) {
	h, err := hosts.Host(ctx, db.Server)
	if err != nil {
		return false, fmt.Errorf("connect to server %s: %w", db.Server, err)
	}
	switch {
	case db.Type == "sqlite":
		obs, err := h.Observe(ctx, []string{db.Path})
		if err != nil {
			return false, fmt.Errorf("look for %s on %s: %w", db.Path, db.Server, err)
		}
		return !obs[0].Exists, nil
	case db.admin == nil:
		return false, nil
	case db.Type == "postgresql":
		r := &PostgresDB{name: db.Name, role: spec.DatabaseUser(db.Name), admin: db.admin}
		cat, err := r.ObserveBatch(ctx, h, []Resource{r})
		if err != nil {
			return false, err
		}
		_, ok := cat.(*pgCatalogue).dbs[db.Name]
		return !ok, nil
	default: // mariadb, mysql
		r := &MySQLDB{name: db.Name, user: spec.DatabaseUser(db.Name), admin: db.admin}
		cat, err := r.ObserveBatch(ctx, h, []Resource{r})
		if err != nil {
			return false, err
		}
		return !cat.(*mysqlCatalogue).dbs[db.Name], nil
	}
}

func (s *siteBackup) Apply(ctx context.Context, _ host.Host, _ *Change) error {
	_, err := s.b.Take(ctx, s.data, s.store, BackupOptions{Revision: s.rev, Reason: ReasonDelete})
	return err
}

func (s *siteBackup) Undo(context.Context, host.Host, *Change) error { return nil }
func (s *siteBackup) Record() Record                                 { return Record{} }

// deletionBackups returns the Desired.BeforeDelete of res: a backup of the
// removed site, found from its inventory records (its site directory, its
// database), into the backup store of res (berth.yaml backups:; the site's
// old web server by default). base is berth's state directory.
func deletionBackups(b *Backups, res *spec.Resolved, revision, base string) func(site string, recs []Record) (Resource, error) {
	servers := map[string]spec.ResolvedServer{}
	for _, s := range res.Servers {
		if s.Local() {
			s = s.WithBase(base)
		}
		servers[s.Name] = s
	}
	return func(site string, recs []Record) (Resource, error) {
		d := SiteData{Env: res.Environment, Site: site}
		slices.SortFunc(recs, func(a, b Record) int { return strings.Compare(a.ID, b.ID) })
		for _, rec := range recs {
			switch rec.Kind {
			case KindDir:
				if path.Base(rec.Path) == site && path.Base(path.Dir(rec.Path)) == "sites" && d.Web == "" {
					d.Web, d.SiteDir = rec.Server, rec.Path
				}
			case KindSQLite:
				d.DB = &SiteDB{Type: "sqlite", Server: rec.Server, Name: dbNameOfID(rec.ID), Path: rec.Path}
			case KindMySQL, KindPostgres:
				srv, ok := servers[rec.Server]
				if !ok || srv.DB == nil {
					return nil, fmt.Errorf("its database %s is on server %s, which no longer declares a db service; "+
						"back it up and drop it by hand, then remove its inventory record", dbNameOfID(rec.ID), rec.Server)
				}
				d.DB = &SiteDB{Type: srv.DB.Type, Server: rec.Server, Name: dbNameOfID(rec.ID), admin: &dbAdmin{svc: *srv.DB}}
			}
		}
		if d.DB == nil && d.SiteDir == "" {
			return nil, nil // nothing holds data: config files only
		}
		server := cmpOr(res.Backups.Server, d.Web)
		if server == "" {
			server = d.DB.Server
		}
		store, err := BackupStoreOf(res, server, base)
		if err != nil {
			return nil, err
		}
		return &siteBackup{b: b, data: d, store: store, rev: revision}, nil
	}
}

// databasePruner returns the Desired.Prune of res: databases removed from
// the repo get the administrator's access of their server (when it still
// declares its db service), so that they can be dropped after a backup.
func databasePruner(res *spec.Resolved) func(rec Record) (Resource, bool) {
	dbs := map[string]*spec.ResolvedDBService{}
	for _, s := range res.Servers {
		dbs[s.Name] = s.DB
	}
	return func(rec Record) (Resource, bool) {
		svc := dbs[rec.Server]
		if svc == nil {
			return nil, false
		}
		switch rec.Kind {
		case KindMySQL:
			if svc.Type != "mariadb" && svc.Type != "mysql" {
				return nil, false
			}
			name := dbNameOfID(rec.ID)
			return &MySQLDB{id: rec.ID, server: rec.Server, site: rec.Site, name: name, user: spec.DatabaseUser(name), absent: true, admin: &dbAdmin{svc: *svc}}, true
		case KindPostgres:
			if svc.Type != "postgresql" {
				return nil, false
			}
			name := dbNameOfID(rec.ID)
			return &PostgresDB{id: rec.ID, server: rec.Server, site: rec.Site, name: name, role: spec.DatabaseUser(name), absent: true, admin: &dbAdmin{svc: *svc}}, true
		}
		return nil, false
	}
}
