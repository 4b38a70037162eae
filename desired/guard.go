package desired

import (
	"cmp"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/berthhq/berth/backup"
	"github.com/berthhq/berth/kind/database"
	"github.com/berthhq/berth/kind/files"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/spec"
)

// deletionBackups returns the Desired.BeforeDelete of res: a backup of the
// removed site, found from its inventory records (its site directory, its
// database), into the backup store of res (berth.yaml backups:; the site's
// old web server by default; when only its database is removed, a site
// the revision still declares, the store of its own backups). base is
// berth's state directory.
func deletionBackups(b *backup.Backups, res *spec.Resolved, revision, base string) func(site string, recs []reconcile.Record) (reconcile.Resource, error) {
	servers := map[string]spec.ResolvedServer{}
	for _, s := range res.Servers {
		if s.Local() {
			s = s.WithBase(base)
		}
		servers[s.Name] = s
	}
	return func(site string, recs []reconcile.Record) (reconcile.Resource, error) {
		slices.SortFunc(recs, func(a, b reconcile.Record) int { return strings.Compare(a.ID, b.ID) })
		server := ""
		if len(recs) > 0 {
			server = recs[0].Server
		}
		r, err := deletionBackup(b, res, revision, base, servers, site, recs)
		if err != nil {
			return nil, &reconcile.GuardError{ID: BackupID(site, server), Server: server, Err: err}
		}
		return r, nil
	}
}

// deletionBackup is the backup of one removed site, from its records
// sorted by ID; nil when the site holds no data.
func deletionBackup(b *backup.Backups, res *spec.Resolved, revision, base string, servers map[string]spec.ResolvedServer, site string, recs []reconcile.Record) (reconcile.Resource, error) {
	d := backup.SiteData{Env: res.Environment, Site: site}
	for _, rec := range recs {
		switch rec.Kind {
		case files.KindDir:
			if path.Base(rec.Path) == site && path.Base(path.Dir(rec.Path)) == "sites" && d.Web == "" {
				d.Web, d.SiteDir = rec.Server, rec.Path
			}
		case database.KindSQLite:
			d.DB = &backup.SiteDB{Type: "sqlite", Server: rec.Server, Name: database.NameOfID(rec.ID), Path: rec.Path}
		case database.KindMySQL, database.KindPostgres:
			srv, ok := servers[rec.Server]
			if !ok || srv.DB == nil {
				return nil, fmt.Errorf("its database %s is on server %s, which no longer declares a db service; "+
					"back it up and drop it by hand, then remove its inventory record", database.NameOfID(rec.ID), rec.Server)
			}
			d.DB = &backup.SiteDB{Type: srv.DB.Type, Server: rec.Server, Name: database.NameOfID(rec.ID), Admin: database.NewAdmin(*srv.DB)}
		}
	}
	if d.DB == nil && d.SiteDir == "" {
		return nil, nil // nothing holds data: config files only
	}
	server := cmp.Or(res.Backups.Server, d.Web)
	if server == "" {
		// Only a database is removed. When the site is still declared
		// (its database moved to another db server and the move's grace
		// period is over), the backup goes where the site's own backups
		// go, so that berth backups and berth restore of the site find
		// it; else to the db server's store.
		if i := slices.IndexFunc(res.Sites, func(s spec.ResolvedSite) bool { return s.Domain == site }); i >= 0 {
			server = backupWeb(&res.Sites[i])
		}
		server = cmp.Or(server, d.DB.Server)
	}
	store, err := BackupStoreOf(res, server, base)
	if err != nil {
		return nil, err
	}
	return backup.DeletionStep(b, BackupID(site, store.Server), d, store, revision), nil
}

// databasePruner returns the Desired.Prune of res: databases removed from
// the repo get the administrator's access of their server (when it still
// declares its db service), so that they can be dropped after a backup.
func databasePruner(res *spec.Resolved) func(rec reconcile.Record) (reconcile.Resource, bool) {
	dbs := map[string]*spec.ResolvedDBService{}
	for _, s := range res.Servers {
		dbs[s.Name] = s.DB
	}
	return func(rec reconcile.Record) (reconcile.Resource, bool) {
		svc := dbs[rec.Server]
		// Without the server's db service (gone, or of another engine)
		// the resource has no administrator: its plan says to drop it
		// by hand.
		admin := func(types ...string) *database.Admin {
			if svc == nil || !slices.Contains(types, svc.Type) {
				return nil
			}
			return database.NewAdmin(*svc)
		}
		switch rec.Kind {
		case database.KindMySQL:
			return database.PrunedMySQLDB(rec, database.NameOfID(rec.ID), admin("mariadb", "mysql")), true
		case database.KindPostgres:
			return database.PrunedPostgresDB(rec, database.NameOfID(rec.ID), admin("postgresql")), true
		}
		return nil, false
	}
}
