package desired

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/berthhq/berth/kind/database"
	"github.com/berthhq/berth/kind/migrate"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/render"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

// Holds: berth rollback-migration moves a migrated site back to the
// server it left, within its grace period, without a commit: it records a
// hold (state.Hold) that places the site on the platform (and its
// database on the db server) it had there, and runs the same pipeline.
// The move back is then the migration a revert of the commit would plan
// (migrate.go's movedBack): a fresh backup of the target, the data
// written there since copied back, the target disabled and kept for its
// own grace period.
//
// A hold is in force while the revision places the site where it did
// when the hold was made (the rolled-back migration's target): every
// run, of the CLI and the daemon, applies it in Prepare (applyHolds)
// and its plan warns. Once the revision places the site elsewhere — the
// commit reverted, or a move to somewhere new — the hold has ended: it
// changes nothing, and the run that applies that revision forgets it
// (run.Prepared.Converge, through EndedHolds).

// dbServerOf is the db server of site's database that a hold records:
// "" for none or SQLite (the file moves with the web server).
func dbServerOf(site *spec.ResolvedSite) string {
	if site.DB == nil || site.DB.Type == "sqlite" {
		return ""
	}
	return site.DB.Server
}

// inForce reports whether h holds a site of res: the revision places
// the site where it did when the hold was made.
func inForce(res *spec.Resolved, h state.Hold) bool {
	i := slices.IndexFunc(res.Sites, func(s spec.ResolvedSite) bool { return s.Name == h.Site })
	return i >= 0 && res.Sites[i].Platform == h.RevPlatform && dbServerOf(&res.Sites[i]) == h.RevDBServer
}

// applyHolds returns res with the holds of its environment in force
// applied (spec.Resolved.WithHolds), and a warning for each: res itself
// is not changed. store nil: none.
func applyHolds(ctx context.Context, store *state.Store, res *spec.Resolved) (*spec.Resolved, []string, error) {
	if store == nil {
		return res, nil, nil
	}
	holds, err := store.Holds(ctx, res.Environment)
	if err != nil {
		return nil, nil, err
	}
	var apply []spec.Hold
	var warnings []string
	for _, h := range holds {
		if !inForce(res, h) {
			continue
		}
		apply = append(apply, spec.Hold{Site: h.Site, Platform: h.Platform, DBServer: h.DBServer})
		warnings = append(warnings, fmt.Sprintf("site %s is held on %s by berth rollback-migration (%s, %s), while the revision places it on %s: "+
			"change the site in the repo (revert the migration's commit), or run berth rollback-migration --release %s --env %s to move it there again",
			h.Site, placement(h.Platform, h.DBServer), strings.TrimSpace(h.By), h.At.UTC().Format(time.RFC3339), placement(h.RevPlatform, h.RevDBServer), h.Site, res.Environment))
	}
	if len(apply) == 0 {
		return res, nil, nil
	}
	held, err := res.WithHolds(apply)
	if err != nil {
		return nil, nil, fmt.Errorf("%w; release it with berth rollback-migration --release SITE --env %s", err, res.Environment)
	}
	return held, warnings, nil
}

// placement is a platform and db server as a hold's warning says them.
func placement(platform, db string) string {
	if db == "" {
		return "platform " + platform
	}
	return "platform " + platform + ", database on " + db
}

// EndedHolds returns the holds of res's environment that res (the
// revision, without holds) ended: it places their sites elsewhere than
// when they were made, or no longer declares them. The run that applies
// res forgets them.
func EndedHolds(ctx context.Context, store *state.Store, res *spec.Resolved) ([]state.Hold, error) {
	holds, err := store.Holds(ctx, res.Environment)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(holds, func(h state.Hold) bool { return inForce(res, h) }), nil
}

// Rollback returns the hold that moves site (its name or domain) of res
// back to the server a finished migration took it from, within the
// migration's grace period: the platform it had there (platform, when
// given; else the one platform of its type on that server) and the db
// server its database is kept on. It reads the inventory (store) and the
// migration's marker on each server the site left (hosts); it changes
// nothing.
func Rollback(ctx context.Context, res *spec.Resolved, store *state.Store, hosts reconcile.Hosts, base, name, platform string, now time.Time) (state.Hold, error) {
	i := slices.IndexFunc(res.Sites, func(s spec.ResolvedSite) bool { return s.Name == name || s.Domain == name })
	if i < 0 {
		return state.Hold{}, fmt.Errorf("environment %s has no site %s", res.Environment, name)
	}
	site := &res.Sites[i]
	recs, err := StoreInventory(store).Records(ctx, res.Environment)
	if err != nil {
		return state.Hold{}, fmt.Errorf("read the inventory of %s: %w", res.Environment, err)
	}
	var left []string // servers with a vhost of the site the revision does not place it on
	for _, rec := range recs {
		switch {
		case site.RenamedFrom != "" && rec.Site == site.RenamedFrom:
			return state.Hold{}, fmt.Errorf("site %s was renamed from %s: move a rename back by reverting its commit", site.Name, site.RenamedFrom)
		case rec.Site == site.Domain && rec.ID == SiteID(site.Domain, "vhost", rec.Server) && !slices.Contains(site.Servers, rec.Server):
			left = append(left, rec.Server)
		}
	}
	var source string
	var marker migrate.Marker
	for _, sn := range slices.Sorted(slices.Values(left)) {
		srv, ok := serverOf(res, sn, base)
		if !ok || srv.HTTP == nil {
			continue
		}
		h, err := hosts.Host(ctx, sn)
		if err != nil {
			return state.Hold{}, fmt.Errorf("read the state of the move on %s: %w", sn, err)
		}
		m, found, err := migrate.ReadMarker(ctx, h, render.Paths(site, &srv).SiteDir)
		if err != nil {
			return state.Hold{}, fmt.Errorf("read the state of the move on %s: %w", sn, err)
		}
		if found && m.Done && slices.Contains(site.Servers, m.To) {
			source, marker = sn, m
			break
		}
	}
	if source == "" {
		// A move of its database alone (migrate_db.go).
		if hold, ok, err := rollbackDB(ctx, res, site, recs, hosts, base, now); err != nil || ok {
			return hold, err
		}
	}
	switch {
	case source == "":
		return state.Hold{}, fmt.Errorf("site %s has no finished migration to move back: no server it left (in the inventory) says the site moved from it to %s; "+
			"a migration that has not switched reverts by itself when it fails, and reverting its commit cancels it", site.Name, strings.Join(site.Servers, ", "))
	case !now.Before(marker.At.Add(site.MigrationGrace())):
		return state.Hold{}, fmt.Errorf("site %s moved from %s to %s at %s; its grace period ended at %s and the copy on %s is (or is about to be) removed: "+
			"move it by changing the site in the repo", site.Name, source, marker.To, marker.At.UTC().Format(time.RFC3339),
			marker.At.Add(site.MigrationGrace()).UTC().Format(time.RFC3339), source)
	}
	hold := state.Hold{Env: res.Environment, Site: site.Name, RevPlatform: site.Platform, RevDBServer: dbServerOf(site), At: now}
	if hold.Platform, err = platformFor(res, site, source, platform); err != nil {
		return state.Hold{}, err
	}
	if hold.RevDBServer != "" {
		for _, rec := range recs {
			if rec.Site != site.Domain || (rec.Kind != database.KindMySQL && rec.Kind != database.KindPostgres) || rec.ID == DatabaseID(site.Domain, site.DB.Name, site.DB.Server) {
				continue
			}
			if rec.Server == site.DB.Server {
				return state.Hold{}, fmt.Errorf("site %s's database was renamed on %s (%s): move it back by reverting the commit", site.Name, rec.Server, database.NameOfID(rec.ID))
			}
			hold.DBServer = rec.Server
		}
	}
	if hold.Platform == site.Platform && hold.DBServer == "" {
		return state.Hold{}, fmt.Errorf("site %s's platform %s is on %s too: berth cannot hold it there alone", site.Name, site.Platform, source)
	}
	return hold, nil
}

// platformFor returns the platform a site moving back to server takes:
// name, when given (it must be on server, of the site's type), else the
// one platform of the site's type on server.
func platformFor(res *spec.Resolved, site *spec.ResolvedSite, server, name string) (string, error) {
	var fits []string
	for _, p := range res.Platforms {
		if slices.Contains(p.Servers, server) && p.Type == site.Type {
			fits = append(fits, p.Name)
		}
	}
	switch {
	case name != "" && slices.Contains(fits, name):
		return name, nil
	case name != "":
		return "", fmt.Errorf("platform %s is not a %s platform on %s in %s (those are: %s)", name, site.Type, server, res.Environment, orNothing(fits))
	case len(fits) == 1:
		return fits[0], nil
	case len(fits) == 0:
		return "", fmt.Errorf("no %s platform of the revision is on %s, where site %s moved from: declare one there again, or move the site by changing it in the repo", site.Type, server, site.Name)
	}
	return "", fmt.Errorf("several %s platforms are on %s (%s): name the one site %s goes back to with --platform", site.Type, server, strings.Join(fits, ", "), site.Name)
}

// orNothing joins names, or says none.
func orNothing(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
