package desired

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"

	"github.com/berthhq/berth/backup"
	"github.com/berthhq/berth/kind/database"
	"github.com/berthhq/berth/kind/filesync"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/render"
	"github.com/berthhq/berth/spec"
)

// SiteDataOf returns where site (its name in the repo) keeps its data in
// res and where its backups go. base is berth's state directory. The
// files of a site whose platform shares them between its servers
// (spec/files.go) are taken from the primary, or from the shared path.
func SiteDataOf(res *spec.Resolved, site, base string) (backup.SiteData, backup.Store, error) {
	i := slices.IndexFunc(res.Sites, func(s spec.ResolvedSite) bool { return s.Name == site || s.Domain == site })
	if i < 0 {
		return backup.SiteData{}, backup.Store{}, fmt.Errorf("environment %s has no site %s: %w", res.Environment, site, ErrNoSite)
	}
	s := &res.Sites[i]
	servers := map[string]spec.ResolvedServer{}
	for _, srv := range res.Servers {
		if srv.Local() {
			srv = srv.WithBase(base)
		}
		servers[srv.Name] = srv
	}
	d := backup.SiteData{Env: res.Environment, Site: s.Domain}
	if len(s.Servers) > 0 {
		// A cluster site's files are its platform's primary's (sync
		// mode), or on the shared path, read on the first server
		// (shared mode: <path>/<domain>/files, which backup finds as
		// <SiteDir>/files); otherwise the first server's.
		d.Web = backupWeb(s)
		web := servers[d.Web]
		p := render.Paths(s, &web)
		d.SiteDir = path.Dir(p.FilesDir)
	}
	if db := s.DB; db != nil {
		sd := &backup.SiteDB{Type: db.Type, Server: db.Server, Name: db.Name}
		if db.Type == "postgresql" {
			sd.Owner = db.User
		}
		if db.Type == "sqlite" {
			sd.Server = d.Web
			web := servers[d.Web]
			sd.Path = render.SQLitePath(s, &web)
		} else {
			dbsrv := servers[db.Server]
			if dbsrv.DB == nil {
				return d, backup.Store{}, fmt.Errorf("site %s: server %s has no db service", s.Name, db.Server)
			}
			sd.Type = dbsrv.DB.Type
			sd.Admin = database.NewAdmin(*dbsrv.DB)
		}
		d.DB = sd
	}
	store, err := BackupStoreOf(res, cmp.Or(res.Backups.Server, d.Web), base)
	return d, store, err
}

// backupWeb is the web server site's backups take its files from, whose
// backup store is the site's own unless backups.server is set: its
// platform's primary when it syncs its files, else its first web server;
// "" when it has none.
func backupWeb(s *spec.ResolvedSite) string {
	if len(s.Servers) == 0 {
		return ""
	}
	if f := s.Files; f != nil && f.Primary != "" {
		return f.Primary
	}
	return s.Servers[0]
}

// FileSyncsOf returns the copies of site's files (its domain in res) from
// its platform's primary to its other web servers, for a re-sync outside
// a plan (filesync.Resync after a restore); none when the site's files
// are not synced.
func FileSyncsOf(res *spec.Resolved, site, base string, hosts reconcile.Hosts) ([]*filesync.Sync, error) {
	return fileSyncs(res, base, hosts, site)
}

// ErrNoSite is wrapped by SiteDataOf's error for a site the environment
// does not declare.
var ErrNoSite = errors.New("no such site")

// BackupStoreOf returns the backup store of res on server (berth.yaml
// backups.dir there, /var/backups/berth by default).
func BackupStoreOf(res *spec.Resolved, server, base string) (backup.Store, error) {
	store := backup.Store{Server: server, Dir: cmp.Or(res.Backups.Dir, backup.DefaultDir)}
	i := slices.IndexFunc(res.Servers, func(s spec.ResolvedServer) bool { return s.Name == server })
	if i < 0 {
		return store, fmt.Errorf("the backup server %s is not declared in %s; set backups.server in berth.yaml", server, res.Environment)
	}
	if !path.IsAbs(store.Dir) {
		if !res.Servers[i].Local() {
			return store, fmt.Errorf("backups.dir %s is relative, which only a local backup server allows", store.Dir)
		}
		store.Dir = path.Join(base, store.Dir)
	}
	return store, nil
}

// ScheduledBackups returns the sites of res whose backups are taken on a
// schedule, with where their data lives and where their backups go; a
// site whose data cannot be found carries its error (Scheduled.Err).
func ScheduledBackups(res *spec.Resolved, base string) []backup.Scheduled {
	var out []backup.Scheduled
	for i := range res.Sites {
		s := &res.Sites[i]
		if s.Backup == nil || s.Backup.Schedule == "" {
			continue
		}
		d, store, err := SiteDataOf(res, s.Name, base)
		out = append(out, backup.Scheduled{Name: s.Name, Data: d, Store: store, Schedule: s.Backup.Schedule, Keep: s.Backup.Keep, Err: err})
	}
	return out
}

// RestoreSite puts backup id back into site of res (backup.Backups.Restore:
// checksums verified, a fresh backup of the site taken first, database and
// files replaced), then copies the restored files from the platform's
// primary to its other web servers when it syncs them. It writes what it
// did to out and returns the fresh backup's manifest. berth restore and
// the dashboard's restore both run it.
func RestoreSite(ctx context.Context, b *backup.Backups, res *spec.Resolved, base string, hosts reconcile.Hosts, site, id, revision string, out io.Writer) (*backup.Manifest, error) {
	d, store, err := SiteDataOf(res, site, base)
	if err != nil {
		return nil, err
	}
	pre, err := b.Restore(ctx, d, store, id, revision)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "Restored %s from backup %s; what was there before is backup %s.\n", d.Site, id, pre.ID)
	copies, err := FileSyncsOf(res, d.Site, base, hosts)
	if err == nil && len(copies) > 0 {
		var lines []string
		lines, err = filesync.Resync(ctx, hosts, copies)
		for _, l := range lines {
			fmt.Fprintf(out, "Synced %s.\n", l)
		}
	}
	if err != nil {
		return pre, fmt.Errorf("the restore is done on %s, but its files did not reach the other web servers: %w; run berth apply to copy them", d.Web, err)
	}
	return pre, nil
}
