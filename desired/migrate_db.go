package desired

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/berthhq/berth/backup"
	"github.com/berthhq/berth/kind/database"
	"github.com/berthhq/berth/kind/lb"
	"github.com/berthhq/berth/kind/migrate"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/render"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

// ReasonMigrateDB is the reason recorded in the manifest of the backup a
// database move takes before its maintenance window.
const ReasonMigrateDB = "before moving the site's database"

// MigrateDBID names the step that moves a site's database to another db
// server while the site stays on its web server.
func MigrateDBID(domain, server string) string { return SiteID(domain, "migrate-db", server) }

// dbMove is a site of the revision that stays on its web server while
// its database moves to another db server: the inventory holds its
// database on src.Server, the revision places it on site.DB.Server.
type dbMove struct {
	site   int    // index in res.Sites
	web    string // the site's first web server: the marker's, the step's
	src    *backup.SiteDB
	marker migrate.Marker
	done   bool // the marker says the move to the revision's db server is done
	grace  time.Duration
	// before and after are the site's settings files as they point at
	// the source's database (what the run converges until the switch)
	// and at the target's (the revision's, applied by the step's switch).
	before, after []reconcile.Resource
}

// retired reports whether the move's grace period is over.
func (mv dbMove) retired(now time.Time) bool {
	return mv.done && !now.Before(mv.marker.At.Add(mv.grace))
}

// findDBMoves recognises the sites of res that stay on their web servers
// (none of moves, the web servers' moves) while the inventory (recs)
// holds their database on another db server of the same engine, and
// reads on the site's web server whether the move is done
// (migrate.ReadDBMarker; a site on several web servers keeps it on its
// first). A SQLite database lives on the web server: it moves only with
// the site (findMoves).
func findDBMoves(ctx context.Context, res *spec.Resolved, recs []reconcile.Record, base string, hosts reconcile.Hosts, moves []move) ([]dbMove, error) {
	var out []dbMove
	for i := range res.Sites {
		site := &res.Sites[i]
		if len(site.Servers) == 0 || site.DB == nil || site.DB.Type == "sqlite" ||
			slices.ContainsFunc(moves, func(mv move) bool { return mv.site == i }) {
			continue
		}
		src, err := sourceDB(res, site, recs, base, site.Domain)
		if err != nil {
			return nil, fmt.Errorf("site %s: %w", site.Name, err)
		}
		if src == nil || src.Type == "sqlite" || src.Server == site.DB.Server {
			continue
		}
		fail := func(err error) ([]dbMove, error) {
			return nil, fmt.Errorf("site %s: its database moves from %s to %s: %w", site.Name, src.Server, site.DB.Server, err)
		}
		web := site.Servers[0]
		srv, ok := serverOf(res, web, base)
		if !ok || srv.HTTP == nil {
			continue // buildDesired reports it
		}
		if hosts == nil {
			return fail(fmt.Errorf("berth was given no connection to %s", web))
		}
		h, err := hosts.Host(ctx, web)
		if err != nil {
			return fail(fmt.Errorf("connect to %s to read the state of the move: %w", web, err))
		}
		m, found, err := migrate.ReadDBMarker(ctx, h, render.Paths(site, &srv).SiteDir)
		if err != nil {
			return fail(fmt.Errorf("read the state of the move on %s: %w", web, err))
		}
		out = append(out, dbMove{site: i, web: web, src: src, marker: m, done: found && m.Done && m.To == site.DB.Server, grace: site.MigrationGrace()})
	}
	return out, nil
}

// sourceView is site's database as the site reaches it on the db server
// it leaves (src): the settings point there until the switch.
func sourceView(res *spec.Resolved, site *spec.ResolvedSite, src *backup.SiteDB, base string) *spec.ResolvedDB {
	db := *site.DB
	db.Server, db.Name, db.User = src.Server, src.Name, spec.DatabaseUser(src.Name)
	db.Host, db.Port, db.Socket = "", 0, ""
	dbsrv, _ := serverOf(res, src.Server, base)
	svc := dbsrv.DB
	local := true
	for _, sn := range site.Servers {
		w, _ := serverOf(res, sn, base)
		local = local && (w.Name == dbsrv.Name || w.Address == dbsrv.Address)
	}
	switch {
	case !local:
		db.Host, db.Port = dbsrv.Address, svc.Port
	case svc.Type == "postgresql":
		db.Host, db.Port = svc.Host, svc.Port
		if db.Host == "" {
			db.Host = "127.0.0.1"
		}
	case svc.Host != "":
		db.Host, db.Port = svc.Host, svc.Port
	default:
		db.Socket = svc.Socket
	}
	return &db
}

// preSwitchSettings replaces in d, for every database move not switched
// yet, the site's settings files with ones pointing at the source's
// database (its database and user on the target are the revision's, in
// d): nothing serves the empty target before the copy. It keeps both in
// the moves (before, after) for the step's switch.
func preSwitchSettings(ctx context.Context, d *reconcile.Desired, res *spec.Resolved, dbMoves []dbMove, base string, secrets Secrets) error {
	view := *res
	view.Sites = nil
	for _, mv := range dbMoves {
		site := res.Sites[mv.site]
		site.DB = sourceView(res, &site, mv.src, base)
		view.Sites = append(view.Sites, site)
	}
	if len(view.Sites) == 0 {
		return nil
	}
	scratch := &reconcile.Desired{Resources: slices.Clone(d.Resources)}
	n := len(scratch.Resources)
	if err := addDatabases(ctx, scratch, &view, base, secrets); err != nil {
		return err
	}
	byID := map[string]reconcile.Resource{}
	for _, r := range scratch.Resources[n:] {
		byID[r.ID()] = r
	}
	for i := range dbMoves {
		mv := &dbMoves[i]
		site := &res.Sites[mv.site]
		for _, sn := range site.Servers {
			id := SettingsID(site.Domain, sn)
			j := slices.IndexFunc(d.Resources, func(r reconcile.Resource) bool { return r.ID() == id })
			before := byID[id]
			if j < 0 || before == nil {
				continue
			}
			mv.before, mv.after = append(mv.before, before), append(mv.after, d.Resources[j])
			if !mv.done {
				d.Resources[j] = before
			}
		}
	}
	return nil
}

// addDBMigrations adds to d, for every database move, its migration
// (reconcile.Migration: the source's database held until the grace
// period is over) and, until then, its step (kind/migrate's DBStep) on
// the site's web server.
func addDBMigrations(d *reconcile.Desired, res *spec.Resolved, dbMoves []dbMove, base, revision string, hosts reconcile.Hosts, inv reconcile.Inventory, b *backup.Backups, now func() time.Time) error {
	for _, mv := range dbMoves {
		site := &res.Sites[mv.site]
		m, step, err := dbMigration(res, site, mv, base, revision, hosts, inv, b, now)
		if err != nil {
			return fmt.Errorf("site %s: its database moves from %s to %s: %w", site.Name, mv.src.Server, site.DB.Server, err)
		}
		if !m.Retire {
			m.Hold = []string{mv.src.Server}
		}
		d.Migrations = append(d.Migrations, m)
		if step != nil {
			d.Resources = append(d.Resources, step)
		}
	}
	return nil
}

// dbMigration builds the migration of site's database and its step (nil
// once the grace period is over): one step on the site's first web
// server, reaching the others through hosts.
func dbMigration(res *spec.Resolved, site *spec.ResolvedSite, mv dbMove, base, revision string, hosts reconcile.Hosts, inv reconcile.Inventory, b *backup.Backups, now func() time.Time) (reconcile.Migration, reconcile.Resource, error) {
	source, target, web := mv.src.Server, site.DB.Server, mv.web
	desc := fmt.Sprintf("%s on %s → %s on %s", mv.src.Name, source, site.DB.Name, target)
	m := reconcile.Migration{Site: site.Domain, From: source, To: target, Steps: migrate.DBSteps(site.Servers, source, target, desc, mv.grace), State: "planned"}
	if mv.done {
		until := mv.marker.At.Add(mv.grace)
		if mv.retired(now()) {
			m.Retire = true
			m.State = fmt.Sprintf("done %s; the grace period is over: the database on %s is removed after its backup", mv.marker.At.Format(time.RFC3339), source)
			return m, nil, nil
		}
		m.State = fmt.Sprintf("done %s; the database on %s is kept until %s", mv.marker.At.Format(time.RFC3339), source, until.Format(time.RFC3339))
	}
	deps := []string{DatabaseID(site.Domain, site.DB.Name, target)}
	var webs []migrate.DBWeb
	for _, sn := range site.Servers {
		w, err := dbMoveWeb(res, site, sn, base)
		if err != nil {
			return m, nil, err
		}
		webs = append(webs, w)
		deps = append(deps, SiteID(site.Domain, "vhost", sn), SettingsID(site.Domain, sn))
	}
	// The backup is the site's own (its files from where its backups
	// take them) with the database it leaves, in the site's own store.
	data, store, err := SiteDataOf(res, site.Name, base)
	if err != nil {
		return m, nil, err
	}
	src, dst := mv.src, data.DB
	data.DB = src
	step := migrate.NewDB(migrate.DBSpec{ID: MigrateDBID(site.Domain, web), Site: site.Domain, Server: web, SiteDir: webs[0].SiteDir,
		Webs: webs, Hosts: hosts, Source: source, Target: target, From: source, To: target,
		Backup: func(ctx context.Context) error {
			_, err := b.Take(ctx, data, store, backup.Options{Revision: revision, Reason: ReasonMigrateDB})
			return err
		},
		CopyDB:   func(ctx context.Context) error { return b.CopyDB(ctx, src, dst) },
		CopyBack: func(ctx context.Context) error { return b.CopyDB(ctx, dst, src) },
		Switch:   applySettings(hosts, inv, res.Environment, revision, mv.after),
		Unswitch: applySettings(hosts, inv, res.Environment, revision, mv.before),
		Done:     mv.done, Now: now, Deps: deps,
	})
	return m, step, nil
}

// dbMoveWeb is what the step of a database move writes, reloads and
// checks on web server sn of site: the site's maintenance vhost and
// page there, its web server and PHP-FPM, and the checks by Host header
// at its address.
func dbMoveWeb(res *spec.Resolved, site *spec.ResolvedSite, sn, base string) (migrate.DBWeb, error) {
	srv, ok := serverOf(res, sn, base)
	if !ok || srv.HTTP == nil {
		return migrate.DBWeb{}, fmt.Errorf("web server %s of the site has no http service", sn)
	}
	paths := render.Paths(site, &srv)
	maint, err := renderSide(site, &srv, paths, render.Options{Maintenance: true})
	if err != nil {
		return migrate.DBWeb{}, err
	}
	httpSvc, err := serviceOf(srv, render.ServiceHTTP, base)
	if err != nil {
		return migrate.DBWeb{}, err
	}
	var php []reconcile.Service
	if site.PHP != "" && paths.Pool != "" {
		if svc, err := serviceOf(srv, render.PHPFPM(site.PHP), base); err == nil {
			php = append(php, svc)
		}
	}
	address, domain, health := spec.NodeAddress(&srv), site.Domain, site.Health
	return migrate.DBWeb{Server: sn, SiteDir: paths.SiteDir, Maintenance: maint, HTTP: httpSvc, PHP: php,
		Maintained: func(ctx context.Context) error {
			return lb.Healthy(ctx, address, domain, health.Path, http.StatusServiceUnavailable)
		},
		Health: func(ctx context.Context) error {
			return lb.Healthy(ctx, address, domain, health.Path, health.Status)
		},
	}, nil
}

// applySettings returns a switch of a database move: the settings files
// rs, each converged by its own Apply (written atomically), then recorded
// in the inventory as a run would.
func applySettings(hosts reconcile.Hosts, inv reconcile.Inventory, env, revision string, rs []reconcile.Resource) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		var recs []reconcile.Record
		for _, r := range rs {
			h, err := hosts.Host(ctx, r.Server())
			if err != nil {
				return fmt.Errorf("connect to %s: %w", r.Server(), err)
			}
			if _, err := reconcile.ApplyNow(ctx, h, r, nil); err != nil {
				return fmt.Errorf("%s on %s: %w", r.ID(), r.Server(), err)
			}
			recs = append(recs, r.Record())
		}
		if inv == nil || len(recs) == 0 {
			return nil
		}
		if err := inv.SaveRecords(ctx, env, revision, recs); err != nil {
			return fmt.Errorf("record the settings in the inventory: %w", err)
		}
		return nil
	}
}

// rollbackDB returns the hold that moves site's database back to the db
// server a finished move of it alone took it from (Rollback), within the
// move's grace period; ok is false when the site's web server records no
// such move.
func rollbackDB(ctx context.Context, res *spec.Resolved, site *spec.ResolvedSite, recs []reconcile.Record, hosts reconcile.Hosts, base string, now time.Time) (hold state.Hold, ok bool, err error) {
	if site.DB == nil || site.DB.Type == "sqlite" || len(site.Servers) == 0 {
		return state.Hold{}, false, nil
	}
	web := site.Servers[0]
	srv, found := serverOf(res, web, base)
	if !found || srv.HTTP == nil {
		return state.Hold{}, false, nil
	}
	h, err := hosts.Host(ctx, web)
	if err != nil {
		return state.Hold{}, false, fmt.Errorf("read the state of the database move on %s: %w", web, err)
	}
	m, found, err := migrate.ReadDBMarker(ctx, h, render.Paths(site, &srv).SiteDir)
	if err != nil {
		return state.Hold{}, false, fmt.Errorf("read the state of the database move on %s: %w", web, err)
	}
	if !found || !m.Done || m.To != site.DB.Server {
		return state.Hold{}, false, nil
	}
	var from string
	for _, rec := range recs {
		if rec.Site == site.Domain && (rec.Kind == database.KindMySQL || rec.Kind == database.KindPostgres) && rec.Server != site.DB.Server {
			from = rec.Server
		}
	}
	grace := site.MigrationGrace()
	if from == "" || !now.Before(m.At.Add(grace)) {
		return state.Hold{}, false, fmt.Errorf("the database of site %s moved to %s at %s; its grace period ended at %s and the database it left is (or is about to be) removed: "+
			"move it by changing the site in the repo", site.Name, m.To, m.At.UTC().Format(time.RFC3339), m.At.Add(grace).UTC().Format(time.RFC3339))
	}
	return state.Hold{Env: res.Environment, Site: site.Name, RevPlatform: site.Platform, RevDBServer: site.DB.Server, At: now,
		Platform: site.Platform, DBServer: from}, true, nil
}
