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
	"github.com/berthhq/berth/kind/database"
	"github.com/berthhq/berth/kind/install"
	"github.com/berthhq/berth/kind/lb"
	"github.com/berthhq/berth/kind/migrate"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/render"
	"github.com/berthhq/berth/spec"
)

// ReasonMigrate is the reason recorded in the manifest of the backup a
// migration takes on the source.
const ReasonMigrate = "before migrating the site"

// move is a site of the revision that the inventory holds on a web
// server the revision no longer places it on: its source.
type move struct {
	site   int    // index in res.Sites
	source string // the web server it leaves
	// from is the domain the site leaves: its own, or its former name
	// when it is renamed (renamed_from).
	from string
	// others are the other servers it leaves (a cluster site): they show
	// the maintenance page and are disabled with source, whose files are
	// the site's (primarySource).
	others []string
	marker migrate.Marker
	done   bool // the marker says it is done
	// grace is how long the site's disabled copy stays on the source
	// after the switch (the site's migration.grace_hours).
	grace time.Duration
	// db is the site's database the inventory holds elsewhere than the
	// revision places it (another db server, or the SQLite file of the
	// source): it is copied in the maintenance window. nil: it stays.
	db *backup.SiteDB
	// sw is what its switch points at the target (migrate_switch.go):
	// nil when neither DNS nor a load balancer is involved.
	sw *siteSwitch
}

// findMoves recognises the sites of res that move to another web
// server — the inventory (recs) holds a vhost of the site on a server the
// revision no longer places it on, while the revision places it on
// others — and reads on each source whether the move is done
// (migrate.Marker): the source must be reachable.
func findMoves(ctx context.Context, res *spec.Resolved, recs []reconcile.Record, base string, hosts reconcile.Hosts) ([]move, error) {
	vhostsOf := map[string]map[string]bool{} // site -> servers with a recorded vhost
	for _, rec := range recs {
		if rec.Site != "" && rec.ID == SiteID(rec.Site, "vhost", rec.Server) {
			if vhostsOf[rec.Site] == nil {
				vhostsOf[rec.Site] = map[string]bool{}
			}
			vhostsOf[rec.Site][rec.Server] = true
		}
	}
	declared := map[string]bool{}
	for _, s := range res.Sites {
		declared[s.Domain] = true
	}
	var moves []move
	for i := range res.Sites {
		site := &res.Sites[i]
		if len(site.Servers) == 0 {
			continue
		}
		// A renamed site moves from its former name while the inventory
		// holds a vhost of it and no site of the revision has it.
		from := site.Domain
		if r := site.RenamedFrom; r != "" && len(vhostsOf[r]) > 0 && !declared[r] {
			from = r
		}
		var sources []string
		for _, sn := range slices.Sorted(maps.Keys(vhostsOf[from])) {
			if from != site.Domain || !slices.Contains(site.Servers, sn) {
				sources = append(sources, sn)
			}
		}
		if len(sources) == 0 {
			continue
		}
		sources = primaryFirst(sources, from, recs)
		mv := move{site: i, from: from, source: sources[0], others: sources[1:], grace: site.MigrationGrace()}
		// A site the revision also keeps on a server it was on (a
		// cluster losing a node) moves only when its source says a move
		// to one of its servers started: the move's first run failed
		// after the target's configuration was recorded.
		stays := from == site.Domain && slices.ContainsFunc(site.Servers, func(sn string) bool { return vhostsOf[site.Domain][sn] })
		fail := func(err error) ([]move, error) {
			return nil, fmt.Errorf("site %s moves from %s to %s: %w", site.Name, mv.source, site.Servers[0], err)
		}
		srv, ok := serverOf(res, mv.source, base)
		switch {
		case (!ok || srv.HTTP == nil) && stays:
			continue
		case !ok || srv.HTTP == nil:
			return fail(fmt.Errorf("server %s is no longer declared with a web server, so berth cannot move the site's files from it: "+
				"declare it again until the move is done, or copy the files by hand and remove the site's inventory records of %s", mv.source, mv.source))
		}
		if hosts == nil {
			return fail(fmt.Errorf("berth was given no connection to %s", mv.source))
		}
		h, err := hosts.Host(ctx, mv.source)
		if err == nil {
			var found bool
			mv.marker, found, err = migrate.ReadMarker(ctx, h, render.Paths(mv.sourceSite(site), &srv).SiteDir)
			mv.done = found && mv.marker.Done
			if stays && (!found || !slices.Contains(site.Servers, mv.marker.To)) {
				var back bool
				if back, err = movedBack(ctx, res, site, sources, base, hosts); err == nil && !back {
					continue // not a move: the server's copy is pruned as before
				}
			}
		}
		switch {
		case err != nil && stays:
			continue // unreachable: nothing is planned on it anyway
		case err != nil:
			return fail(fmt.Errorf("read the state of the move on %s: %w", mv.source, err))
		}
		if mv.db, err = sourceDB(res, site, recs, base, from); err != nil {
			return fail(err)
		}
		moves = append(moves, mv)
	}
	return moves, nil
}

// primaryFirst returns sources, the web servers a site (of domain from)
// leaves, with the one whose files are the site's first: in a cluster
// whose files are synced, the one that has no copy of them recorded
// (files-sync: the others copy from it); otherwise (shared files, or a
// single server) the first by name.
func primaryFirst(sources []string, from string, recs []reconcile.Record) []string {
	replica := map[string]bool{}
	for _, rec := range recs {
		if rec.Site == from && rec.ID == FilesSyncID(from, rec.Server) {
			replica[rec.Server] = true
		}
	}
	i := slices.IndexFunc(sources, func(sn string) bool { return !replica[sn] })
	if i <= 0 {
		return sources
	}
	return append([]string{sources[i]}, slices.Delete(slices.Clone(sources), i, i+1)...)
}

// movedBack reports whether site, which the revision places on servers
// it is recorded on, is moving back from sources: one of those servers
// says a finished migration took the site from it to one of sources (the
// migration's commit was reverted within its grace period). The move
// back brings the data written on sources since.
func movedBack(ctx context.Context, res *spec.Resolved, site *spec.ResolvedSite, sources []string, base string, hosts reconcile.Hosts) (bool, error) {
	for _, sn := range site.Servers {
		srv, ok := serverOf(res, sn, base)
		if !ok || srv.HTTP == nil {
			continue
		}
		h, err := hosts.Host(ctx, sn)
		if err != nil {
			return false, err
		}
		m, found, err := migrate.ReadMarker(ctx, h, render.Paths(site, &srv).SiteDir)
		if err != nil {
			return false, err
		}
		if found && m.Done && slices.Contains(sources, m.To) {
			return true, nil
		}
	}
	return false, nil
}

// sourceDB returns the database of a moving site (of domain from: its
// former name when it is renamed) that the inventory (recs) holds where
// the revision no longer places it — on another db
// server, under another name, or the SQLite file on the web server the
// site leaves — nil when it stays where it is. A database changing engine
// is refused: a dump of one does not load into the other.
func sourceDB(res *spec.Resolved, site *spec.ResolvedSite, recs []reconcile.Record, base, from string) (*backup.SiteDB, error) {
	if site.DB == nil {
		return nil, nil
	}
	target := site.DB.Server
	if site.DB.Type == "sqlite" {
		target = site.Servers[0]
	}
	var found *backup.SiteDB
	for _, rec := range recs {
		if rec.Site != from || rec.ID == DatabaseID(site.Domain, site.DB.Name, target) {
			continue
		}
		var db backup.SiteDB
		switch rec.Kind {
		case database.KindSQLite:
			db = backup.SiteDB{Type: "sqlite", Server: rec.Server, Name: database.NameOfID(rec.ID), Path: rec.Path}
		case database.KindMySQL, database.KindPostgres:
			srv, ok := serverOf(res, rec.Server, base)
			if !ok || srv.DB == nil {
				return nil, fmt.Errorf("its database %s is on server %s, which no longer declares its db service, so berth cannot copy it: "+
					"declare the server's db service again until the move is done", database.NameOfID(rec.ID), rec.Server)
			}
			db = backup.SiteDB{Type: srv.DB.Type, Server: rec.Server, Name: database.NameOfID(rec.ID), Admin: database.NewAdmin(*srv.DB)}
		default:
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("the inventory holds two earlier databases of it (%s on %s, %s on %s): berth copies one; "+
				"remove the other's inventory record after backing it up", cmp.Or(found.Name, found.Path), found.Server, cmp.Or(db.Name, db.Path), db.Server)
		}
		found = &db
	}
	if found == nil {
		return nil, nil
	}
	engine := func(t string) string { return strings.Replace(t, "mysql", "mariadb", 1) }
	if engine(found.Type) != engine(site.DB.Type) {
		return nil, fmt.Errorf("its database moves from %s on %s to %s on %s: berth cannot convert a database between engines; "+
			"keep the engine, or move the data by hand (berth backup, then a load of your own)", found.Type, found.Server, site.DB.Type, target)
	}
	return found, nil
}

// sourceSite is site as it was on the source: under its former name
// when it is renamed (its paths, vhost and pool there), else itself.
func (mv move) sourceSite(site *spec.ResolvedSite) *spec.ResolvedSite {
	if mv.from == site.Domain || mv.from == "" {
		return site
	}
	old := *site
	old.Name, old.Domain, old.Aliases, old.RedirectAliases, old.RenamedFrom, old.RedirectNames, old.Clone = mv.from, mv.from, nil, false, "", nil, nil
	return &old
}

// retired reports whether the move's grace period is over.
func (mv move) retired(now time.Time) bool {
	return mv.done && !now.Before(mv.marker.At.Add(mv.grace))
}

// keepOldNames returns res with the renamed sites' former names taken
// out of their redirects while their rename runs or its grace period
// lasts: the old name's own vhost answers for it until it is removed.
// res itself is not changed.
func keepOldNames(res *spec.Resolved, moves []move, now time.Time) *spec.Resolved {
	out := *res
	out.Sites = slices.Clone(res.Sites)
	for _, mv := range moves {
		site := &out.Sites[mv.site]
		if mv.from != site.Domain && !mv.retired(now) {
			site.RedirectNames = slices.DeleteFunc(slices.Clone(site.RedirectNames), func(n string) bool { return n == mv.from })
		}
	}
	return &out
}

// moving returns the domains of the sites whose move is not switched
// yet: their target is not installed, its data is moved there (with the
// install's marker).
func moving(res *spec.Resolved, moves []move) map[string]bool {
	out := map[string]bool{}
	for _, mv := range moves {
		if !mv.done {
			out[res.Sites[mv.site].Domain] = true
		}
	}
	return out
}

// serverOf returns the server called name in res, its paths under base
// when it is local.
func serverOf(res *spec.Resolved, name, base string) (spec.ResolvedServer, bool) {
	for _, s := range res.Servers {
		if s.Name == name {
			if s.Local() {
				s = s.WithBase(base)
			}
			return s, true
		}
	}
	return spec.ResolvedServer{}, false
}

// widenGrants returns res with the database users of the sites moving
// and not yet switched allowed from their sources too: the source keeps
// serving the site until the target passed its health check. res itself
// is not changed.
func widenGrants(res *spec.Resolved, moves []move) *spec.Resolved {
	out := *res
	out.Sites = slices.Clone(res.Sites)
	for _, mv := range moves {
		site := &out.Sites[mv.site]
		if mv.done || mv.db != nil || mv.from != site.Domain || site.DB == nil || site.DB.Type == "sqlite" {
			continue
		}
		db := *site.DB
		db.From = slices.Clone(db.From)
		for _, sn := range append([]string{mv.source}, mv.others...) {
			srv, _ := serverOf(res, sn, "")
			if srv.Address != "local" && srv.Address != "" && !slices.Contains(db.From, srv.Address) {
				db.From = append(db.From, srv.Address)
			}
		}
		site.DB = &db
	}
	return &out
}

// addMigrations adds to d, for every move, its migration
// (reconcile.Migration: the source's records kept until the grace period
// is over, now's clock) and, until then, its step (kind/migrate) on the
// target. recs is the inventory.
func addMigrations(d *reconcile.Desired, res *spec.Resolved, moves []move, updates map[string]*install.Update, recs []reconcile.Record, base, revision string, hosts reconcile.Hosts, b *backup.Backups, now func() time.Time) error {
	for _, mv := range moves {
		site := &res.Sites[mv.site]
		m, step, err := migration(res, site, mv, updates[site.Domain], base, revision, hosts, b, now)
		if err != nil {
			return fmt.Errorf("site %s moves from %s to %s: %w", site.Name, mv.source, site.Servers[0], err)
		}
		if mv.from != site.Domain {
			m.SourceSite = mv.from
		}
		if !m.Retire {
			m.Hold = append([]string{mv.source}, mv.others...)
			if mv.db != nil && !slices.Contains(m.Hold, mv.db.Server) {
				m.Hold = append(m.Hold, mv.db.Server) // its database there
			}
			// What no site owns on the source (its platform's release,
			// the shared directories) serves the site there until the
			// switch, and holds its disabled copy after.
			for _, rec := range recs {
				if rec.Site == "" && slices.Contains(m.Hold, rec.Server) {
					m.Keep = append(m.Keep, rec.ID)
				}
			}
		}
		d.Migrations = append(d.Migrations, m)
		if step == nil {
			continue
		}
		d.Resources = append(d.Resources, step)
		// The move is marked on the source before anything of it is
		// written on the target (converged once a marker is there).
		srcSrv, _ := serverOf(res, mv.source, base)
		start := migrate.NewStart(migrate.StartSpec{ID: MigrateStartID(site.Domain, mv.source), Site: site.Domain, Server: mv.source,
			SiteDir: render.Paths(mv.sourceSite(site), &srcSrv).SiteDir, To: site.Servers[0], Now: now, Deps: mv.sw.startDeps()})
		d.Resources = append(d.Resources, start)
		for _, r := range d.Resources {
			if x, ok := r.(depender); ok && r.Site() == site.Domain && slices.Contains(site.Servers, r.Server()) && r.ID() != step.ID() && r.ID() != start.ID() {
				x.AddDeps(start.ID())
			}
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
func migration(res *spec.Resolved, site *spec.ResolvedSite, mv move, update *install.Update, base, revision string, hosts reconcile.Hosts, b *backup.Backups, now func() time.Time) (reconcile.Migration, reconcile.Resource, error) {
	source, target := mv.source, site.Servers[0]
	srcSrv, _ := serverOf(res, source, base)
	tgtSrv, _ := serverOf(res, target, base)
	sources := append([]string{source}, mv.others...)
	from, to := strings.TrimSuffix(strings.Join(sources, "+")+"/"+platformOn(res, source), "/"), strings.Join(site.Servers, "+")+"/"+site.Platform
	plan := migrate.Plan{Source: source, Target: target, OtherSources: mv.others, OtherTargets: site.Servers[1:], Grace: mv.grace}
	mv.sw.describe(&plan, mv.done)
	old := mv.sourceSite(site)
	if old != site {
		plan.Renamed = old.Domain + " → " + site.Domain
	}
	if db := mv.db; db != nil {
		if db.Type == "sqlite" {
			plan.DB = fmt.Sprintf("SQLite %s on %s → %s", db.Path, db.Server, target)
		} else {
			plan.DB = fmt.Sprintf("%s on %s → %s on %s", db.Name, db.Server, site.DB.Name, site.DB.Server)
			if db.Server != site.DB.Server {
				from, to = from+", "+db.Server, to+", "+site.DB.Server
			}
		}
	}
	var runUpdate func(ctx context.Context) error
	if update != nil {
		plan.Update = update.Shown()
		runUpdate = func(ctx context.Context) error {
			h, err := hosts.Host(ctx, target)
			if err != nil {
				return err
			}
			if current, err := update.Current(ctx, h); err != nil || current {
				return err // the source's data was updated to this build
			}
			_, err = update.Run(ctx, h)
			return err
		}
	}
	m := reconcile.Migration{Site: site.Domain, From: from, To: to, Steps: migrate.Steps(plan), State: "planned"}

	srcPaths := render.Paths(old, &srcSrv)
	marker, done := mv.marker, mv.done
	if done {
		until := marker.At.Add(mv.grace)
		on := strings.Join(sources, ", ")
		if mv.retired(now()) {
			m.Retire = true
			m.State = fmt.Sprintf("done %s; the grace period is over: the copy on %s is removed after its backup", marker.At.Format(time.RFC3339), on)
			return m, nil, nil
		}
		m.State = fmt.Sprintf("done %s; the copy on %s is kept disabled until %s", marker.At.Format(time.RFC3339), on, until.Format(time.RFC3339))
	}

	// Each source's vhost and page in the maintenance window, and once
	// the site is served from the target (rendered disabled).
	var srcs []migrate.Source
	for _, sn := range sources {
		x, err := sourceSide(res, site, old, sn, base)
		if err != nil {
			return m, nil, err
		}
		srcs = append(srcs, x)
	}
	var targets []migrate.Target
	for _, sn := range site.Servers {
		targets = append(targets, targetSide(res, site, sn, base))
	}
	tgtPaths := render.Paths(site, &tgtSrv)
	data, _, err := SiteDataOf(res, site.Name, base)
	if err != nil {
		return m, nil, err
	}
	data.Site, data.Web, data.SiteDir = old.Domain, source, srcPaths.SiteDir
	var copyDB func(ctx context.Context) error
	deps := []string{SiteID(site.Domain, "vhost", target), FilesDirID(site.Domain, target)}
	for _, sn := range site.Servers[1:] {
		deps = append(deps, SiteID(site.Domain, "vhost", sn), FilesDirID(site.Domain, sn))
	}
	if src, dst := mv.db, data.DB; src != nil && dst != nil {
		data.DB = src // the backup on the source holds the database the site leaves
		copyDB = func(ctx context.Context) error { return b.CopyDB(ctx, src, dst) }
		deps = append(deps, DatabaseID(site.Domain, site.DB.Name, dst.Server))
	}
	run, private := render.SiteOwners(site, tgtSrv.HTTP)
	store, err := BackupStoreOf(res, cmp.Or(res.Backups.Server, source), base)
	if err != nil {
		return m, nil, err
	}
	step := migrate.New(migrate.Spec{ID: MigrateID(site.Domain, target), Site: site.Domain, Server: target, Source: source,
		From: m.From, To: m.To, Hosts: hosts,
		SourceSiteDir: srcs[0].SiteDir, SourceFiles: srcPaths.FilesDir, TargetFiles: tgtPaths.FilesDir,
		Backup: func(ctx context.Context) error {
			_, err := b.Take(ctx, data, store, backup.Options{Revision: revision, Reason: ReasonMigrate})
			return err
		},
		Maintenance: srcs[0].Maintenance, Disabled: srcs[0].Disabled, SourceHTTP: srcs[0].HTTP,
		TargetRemove: targets[0].Remove, TargetServices: targets[0].Services,
		OtherSources: srcs[1:], OtherTargets: targets[1:],
		CopyDB: copyDB, Update: runUpdate, Carry: []string{install.InstallMarker, install.UpdateMarker, migrate.ClonedMarker}, TargetSiteDir: tgtPaths.SiteDir, CarryOwner: run, CarryGroup: private,
		Health: targets[0].Health,
		Switch: mv.sw.switchFunc(), SwitchWait: mv.sw.waitFor(done),
		Done: done, Now: now, Deps: append(deps, mv.sw.deps()...),
	})
	return m, step, nil
}

// sourceSide is what a migration writes on server, a web server the
// site leaves (old: the site as it was there): its vhost and page in the
// maintenance window and once the site is served from its targets
// (rendered disabled; a renamed site's old name redirects to the new).
func sourceSide(res *spec.Resolved, site, old *spec.ResolvedSite, server, base string) (migrate.Source, error) {
	srv, _ := serverOf(res, server, base)
	paths := render.Paths(old, &srv)
	side := func(site *spec.ResolvedSite, o render.Options) (migrate.Side, error) {
		return renderSide(site, &srv, paths, o)
	}
	x := migrate.Source{Server: server, SiteDir: paths.SiteDir}
	var err error
	if x.Maintenance, err = side(old, render.Options{Maintenance: true}); err != nil {
		return x, err
	}
	if old != site {
		// The former name goes to the new one from the switch on.
		x.Disabled, err = side(old, render.Options{MovedTo: site.Domain})
	} else {
		disabled := *old
		disabled.State = "disabled"
		x.Disabled, err = side(&disabled, render.Options{})
	}
	if err != nil {
		return x, err
	}
	x.HTTP, err = serviceOf(srv, render.ServiceHTTP, base)
	return x, err
}

// targetSide is what a migration knows of server, a web server the site
// moves to: its files directory (none when the platform's files are
// shared: the first server's copy is theirs), the vhost and pool a
// revert removes and the services it reloads, and its health check by
// Host header.
func targetSide(res *spec.Resolved, site *spec.ResolvedSite, server, base string) migrate.Target {
	srv, _ := serverOf(res, server, base)
	paths := render.Paths(site, &srv)
	t := migrate.Target{Server: server, Remove: []string{paths.Vhost}}
	if site.Files == nil || site.Files.Mode != spec.FilesShared || server == site.Servers[0] {
		t.Files = paths.FilesDir
	}
	if svc, err := serviceOf(srv, render.ServiceHTTP, base); err == nil {
		t.Services = append(t.Services, svc)
	}
	if site.PHP != "" && paths.Pool != "" {
		t.Remove = append(t.Remove, paths.Pool)
		if svc, err := serviceOf(srv, render.PHPFPM(site.PHP), base); err == nil {
			t.Services = append(t.Services, svc)
		}
	}
	address, domain, health := spec.NodeAddress(&srv), site.Domain, site.Health
	t.Health = func(ctx context.Context) error {
		return lb.Healthy(ctx, address, domain, health.Path, health.Status)
	}
	return t
}

// renderSide is the vhost and page of site on srv (paths: the site's
// there) rendered with o: the maintenance page, the disabled one.
func renderSide(site *spec.ResolvedSite, srv *spec.ResolvedServer, paths render.SitePaths, o render.Options) (migrate.Side, error) {
	_, files, err := render.SiteWith(site, srv, o)
	if err != nil {
		return migrate.Side{}, err
	}
	s := migrate.Side{PageDir: paths.DisabledDir}
	for _, f := range files {
		switch f.Path {
		case paths.Vhost:
			s.Vhost = migrate.File{Path: f.Path, Content: f.Content}
		case path.Join(paths.DisabledDir, "index.html"):
			s.Page = migrate.File{Path: f.Path, Content: f.Content}
		}
	}
	return s, nil
}
