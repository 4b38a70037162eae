package desired

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/berthhq/berth/backup"
	"github.com/berthhq/berth/kind/lb"
	"github.com/berthhq/berth/kind/migrate"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/render"
	"github.com/berthhq/berth/spec"
)

// MigrationGrace is how long a migrated site's disabled copy stays on the
// server it left before a later run removes it (after its backup).
var MigrationGrace = migrate.DefaultGrace

// ReasonMigrate is the reason recorded in the manifest of the backup a
// migration takes on the source.
const ReasonMigrate = "before migrating the site"

// MigrateID names a site's migration step, on its target web server.
func MigrateID(domain, server string) string { return SiteID(domain, "migrate", server) }

// addMigrations recognises the sites of res that move to another web
// server — the inventory (recs) holds a vhost of the site on a server the
// revision no longer places it on, while the revision places it on
// others — and adds to d, for each, its migration (reconcile.Migration:
// the source's records kept until the grace period is over) and, until
// then, its step (kind/migrate) on the target. The state of a migration is
// read on its source (migrate.Marker): the source must be reachable. now
// is the clock of the grace period.
func addMigrations(ctx context.Context, d *reconcile.Desired, res *spec.Resolved, recs []reconcile.Record, base, revision string, hosts reconcile.Hosts, b *backup.Backups, now func() time.Time) error {
	servers := map[string]spec.ResolvedServer{}
	for _, s := range res.Servers {
		if s.Local() {
			s = s.WithBase(base)
		}
		servers[s.Name] = s
	}
	vhostsOf := map[string]map[string]bool{} // site -> servers with a recorded vhost
	for _, rec := range recs {
		if rec.Site != "" && rec.ID == SiteID(rec.Site, "vhost", rec.Server) {
			if vhostsOf[rec.Site] == nil {
				vhostsOf[rec.Site] = map[string]bool{}
			}
			vhostsOf[rec.Site][rec.Server] = true
		}
	}
	for i := range res.Sites {
		site := &res.Sites[i]
		if len(site.Servers) == 0 {
			continue
		}
		var sources []string
		for _, sn := range slices.Sorted(maps.Keys(vhostsOf[site.Domain])) {
			if !slices.Contains(site.Servers, sn) {
				sources = append(sources, sn)
			}
		}
		if len(sources) == 0 {
			continue
		}
		m, step, err := migration(ctx, res, site, servers, sources[0], base, revision, hosts, b, now)
		if err != nil {
			return fmt.Errorf("site %s moves from %s to %s: %w", site.Name, sources[0], site.Servers[0], err)
		}
		m.Hold = append(m.Hold, sources...)
		if m.Retire {
			m.Hold = nil
		}
		d.Migrations = append(d.Migrations, m)
		if step != nil {
			d.Resources = append(d.Resources, step)
		}
	}
	return nil
}

// platformOn names the platform of res on server, for a migration's
// line: the one platform there, or "" when there are none or several.
func platformOn(res *spec.Resolved, server string) string {
	var names []string
	for _, pl := range res.Platforms {
		if slices.Contains(pl.Servers, server) {
			names = append(names, pl.Name)
		}
	}
	if len(names) == 1 {
		return names[0]
	}
	return ""
}

// migration builds the migration of site from source to its first web
// server, and its step (nil once the grace period is over).
func migration(ctx context.Context, res *spec.Resolved, site *spec.ResolvedSite, servers map[string]spec.ResolvedServer, source, base, revision string, hosts reconcile.Hosts, b *backup.Backups, now func() time.Time) (reconcile.Migration, reconcile.Resource, error) {
	target := site.Servers[0]
	srcSrv, ok := servers[source]
	if !ok || srcSrv.HTTP == nil {
		return reconcile.Migration{}, nil, fmt.Errorf("server %s is no longer declared with a web server, so berth cannot move the site's files from it: "+
			"declare it again until the move is done, or copy the files by hand and remove the site's inventory records of %s", source, source)
	}
	tgtSrv := servers[target]
	from := strings.TrimSuffix(source+"/"+platformOn(res, source), "/")
	m := reconcile.Migration{Site: site.Domain, From: from, To: target + "/" + site.Platform, Steps: migrate.Steps(source, target, MigrationGrace), State: "planned"}

	srcPaths := render.Paths(site, &srcSrv)
	if hosts == nil {
		return m, nil, fmt.Errorf("berth was given no connection to %s", source)
	}
	h, err := hosts.Host(ctx, source)
	if err != nil {
		return m, nil, fmt.Errorf("connect to %s to read the state of the move: %w", source, err)
	}
	marker, done, err := migrate.ReadMarker(ctx, h, srcPaths.SiteDir)
	if err != nil {
		return m, nil, fmt.Errorf("read the state of the move on %s: %w", source, err)
	}
	if done {
		until := marker.At.Add(MigrationGrace)
		if !now().Before(until) {
			m.Retire = true
			m.State = fmt.Sprintf("done %s; the grace period is over: the copy on %s is removed after its backup", marker.At.Format(time.RFC3339), source)
			return m, nil, nil
		}
		m.State = fmt.Sprintf("done %s; the copy on %s is kept disabled until %s", marker.At.Format(time.RFC3339), source, until.Format(time.RFC3339))
	}

	// The source's vhost and page in the maintenance window, and once
	// the site is served from the target (rendered disabled).
	side := func(site *spec.ResolvedSite, o render.Options) (migrate.Side, error) {
		_, files, err := render.SiteWith(site, &srcSrv, o)
		if err != nil {
			return migrate.Side{}, err
		}
		s := migrate.Side{PageDir: srcPaths.DisabledDir}
		for _, f := range files {
			switch f.Path {
			case srcPaths.Vhost:
				s.Vhost = migrate.File{Path: f.Path, Content: f.Content}
			case path.Join(srcPaths.DisabledDir, "index.html"):
				s.Page = migrate.File{Path: f.Path, Content: f.Content}
			}
		}
		return s, nil
	}
	maint, err := side(site, render.Options{Maintenance: true})
	if err != nil {
		return m, nil, err
	}
	disabled := *site
	disabled.State = "disabled"
	off, err := side(&disabled, render.Options{})
	if err != nil {
		return m, nil, err
	}
	srcHTTP, err := serviceOf(srcSrv, render.ServiceHTTP, base)
	if err != nil {
		return m, nil, err
	}
	tgtPaths := render.Paths(site, &tgtSrv)
	var tgtServices []reconcile.Service
	remove := []string{tgtPaths.Vhost}
	if svc, err := serviceOf(tgtSrv, render.ServiceHTTP, base); err == nil {
		tgtServices = append(tgtServices, svc)
	}
	if site.PHP != "" && tgtPaths.Pool != "" {
		remove = append(remove, tgtPaths.Pool)
		if svc, err := serviceOf(tgtSrv, render.PHPFPM(site.PHP), base); err == nil {
			tgtServices = append(tgtServices, svc)
		}
	}
	data, _, err := SiteDataOf(res, site.Name, base)
	if err != nil {
		return m, nil, err
	}
	data.Web, data.SiteDir = source, srcPaths.SiteDir
	store, err := BackupStoreOf(res, cmp.Or(res.Backups.Server, source), base)
	if err != nil {
		return m, nil, err
	}
	address, domain, health := spec.NodeAddress(&tgtSrv), site.Domain, site.Health
	step := migrate.New(migrate.Spec{ID: MigrateID(site.Domain, target), Site: site.Domain, Server: target, Source: source,
		From: m.From, To: m.To, Hosts: hosts,
		SourceSiteDir: srcPaths.SiteDir, SourceFiles: srcPaths.FilesDir, TargetFiles: tgtPaths.FilesDir,
		Backup: func(ctx context.Context) error {
			_, err := b.Take(ctx, data, store, backup.Options{Revision: revision, Reason: ReasonMigrate})
			return err
		},
		Maintenance: maint, Disabled: off, SourceHTTP: srcHTTP, TargetRemove: remove, TargetServices: tgtServices,
		Health: func(ctx context.Context) error {
			return lb.Healthy(ctx, address, domain, health.Path, health.Status)
		},
		Done: done, Now: now,
		Deps: []string{SiteID(site.Domain, "vhost", target), FilesDirID(site.Domain, target)},
	})
	return m, step, nil
}
