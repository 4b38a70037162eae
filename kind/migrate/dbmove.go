package migrate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/internal/failpoint"
	"github.com/berthhq/berth/reconcile"
)

// KindDB is a site's database moving to another db server while the site
// stays on its web server.
const KindDB = "migrate-db"

// DBMarkerName is the file in the site's directory on its web server that
// records a finished move of its database (Marker, To naming the db
// server); DBMovingName one that started and is not switched yet.
const (
	DBMarkerName = ".berth-db-moved"
	DBMovingName = ".berth-db-moving"
	// dbSavedName keeps the site's own vhost while the maintenance page
	// is up (a run cut off in the window finds it there).
	dbSavedName = ".berth-migrate-db-vhost"
)

func init() {
	reconcile.RegisterKind(reconcile.Kind{Name: KindDB, Prune: func(rec reconcile.Record) reconcile.Resource {
		return &DBStep{Base: reconcile.PrunedBase(KindDB, rec)}
	}})
}

// ReadDBMarker reads the marker of a database move in siteDir on h, the
// finished one's first; ok is false when there is none.
func ReadDBMarker(ctx context.Context, h host.Host, siteDir string) (m Marker, ok bool, err error) {
	return readMarker(ctx, h, siteDir, DBMarkerName, DBMovingName)
}

func writeDBMarker(ctx context.Context, h host.Host, siteDir string, m Marker) error {
	return writeMarkerAs(ctx, h, siteDir, m, DBMarkerName, DBMovingName)
}

// DBSpec describes the move of a site's database from the db server
// Source to Target, the site staying on its web servers (Webs).
type DBSpec struct {
	ID, Site string
	// Server is the site's first web server: the step's, whose SiteDir
	// (the site's directory there) holds the move's markers.
	Server  string
	SiteDir string
	// Webs are the site's web servers, Server's first: each gets the
	// maintenance page, the settings pointing at the target, its own
	// vhost back and the health check. Hosts reaches those other than
	// Server (the step's host).
	Webs  []DBWeb
	Hosts reconcile.Hosts
	// Source and Target are the db servers; From and To describe the
	// move for people.
	Source, Target string
	From, To       string
	// Backup backs the site up, with the source's database.
	Backup func(ctx context.Context) error
	// CopyDB replaces the target's database with a fresh dump of the
	// source's; CopyBack the source's with the target's, when the health
	// check after the switch failed (what the site wrote there in the
	// meantime goes back with it).
	CopyDB, CopyBack func(ctx context.Context) error
	// Switch points the site's settings at the target's database on
	// every web server (the revision's settings files, each applied by
	// its own Apply); Unswitch puts them back at the source's. Both must
	// be safe to repeat.
	Switch, Unswitch func(ctx context.Context) error
	// HealthWait bounds the wait for the maintenance page (DBWeb.
	// Maintained) and for each health check.
	HealthWait time.Duration
	// Done: the marker says the move finished.
	Done bool
	// Now is the marker's clock; nil: time.Now.
	Now  func() time.Time
	Deps []string
}

// DBWeb is one web server of a site whose database moves: what the step
// writes, reloads and checks there.
type DBWeb struct {
	Server string
	// SiteDir is the site's directory on Server (the kept vhost's).
	SiteDir string
	// Maintenance is the site's vhost and page there during the window;
	// HTTP the web server checked and reloaded when the vhost changes.
	Maintenance Side
	HTTP        reconcile.Service
	// PHP are the services reloaded once the settings changed (PHP-FPM:
	// a settings file compiled in its cache is read again); none: none.
	PHP []reconcile.Service
	// Maintained checks, by Host header, that Server answers with the
	// maintenance page: the copy waits until every web server did several
	// times in a row (each one's workers from before its reload done),
	// within HealthWait.
	Maintained func(ctx context.Context) error
	// Health checks the site on Server by Host header, retried until
	// HealthWait passed.
	Health func(ctx context.Context) error
}

// DBStep is the move of a site's database to another db server, the
// site staying on its web servers (see the package doc).
type DBStep struct {
	reconcile.Base
	s DBSpec
}

// NewDB returns the step of s.
func NewDB(s DBSpec) *DBStep {
	return &DBStep{Base: reconcile.NewBase(reconcile.BaseSpec{Kind: KindDB, ID: s.ID, Server: s.Server, Site: s.Site, Deps: s.Deps}), s: s}
}

// Observe reads what a finished move leaves behind on the step's server
// when a run was cut off before it cleaned up (the moving marker goes
// last, after the kept vhosts of every web server).
func (s *DBStep) Observe() []string {
	if s.Absent() || !s.s.Done {
		return nil
	}
	return []string{path.Join(s.s.SiteDir, DBMovingName), path.Join(s.s.SiteDir, dbSavedName)}
}

// AfterReload: the step runs once the target's database and user exist
// and the site's configuration is checked and reloaded on every server.
func (s *DBStep) AfterReload() bool { return true }

// DBSteps lists what the move does, for the plan; webs are the site's
// web servers.
func DBSteps(webs []string, source, target, db string, grace time.Duration) []string {
	web := strings.Join(webs, ", ")
	every := web
	if len(webs) > 1 {
		every = "each of " + web
	}
	return []string{
		"database and user on " + target + " (the settings on " + web + " keep pointing at " + source + " until the switch)",
		"back the site up on " + webs[0] + " with its database on " + source,
		"maintenance page on " + every + " (503, Retry-After)",
		"fresh dump of the database, loaded on the target: " + db,
		"settings on " + every + " pointed at " + target + ", PHP-FPM reloaded",
		"the site's own vhost back on " + every + ", then a health check by Host header on " + every,
		"the database on " + source + " is kept " + shortDuration(grace) + ", then removed after its backup",
	}
}

func (s *DBStep) Check(_ context.Context, in reconcile.CheckInput) (reconcile.Change, error) {
	if s.Absent() {
		return s.NewChange(reconcile.Delete, "the move of the database is over; forgotten"), nil
	}
	if s.s.Done {
		for _, p := range s.Observe() {
			if in.Obs[p].Exists {
				return s.NewChange(reconcile.Update, fmt.Sprintf("the database of %s moved to %s: forget what kept the move resumable", s.Site(), s.s.Target)), nil
			}
		}
		return s.NewChange(reconcile.None, ""), nil
	}
	return s.NewChange(reconcile.Update, fmt.Sprintf("move the database of %s: %s → %s", s.Site(), s.s.From, s.s.To)), nil
}

// dbWeb is one web server of the move as Apply reaches it: its
// connection, and its own vhost (old) once kept.
type dbWeb struct {
	DBWeb
	h   host.Host
	old []byte
}

// connect returns the site's web servers, h being the step's.
func (s *DBStep) connect(ctx context.Context, h host.Host) ([]*dbWeb, error) {
	var out []*dbWeb
	for _, w := range s.s.Webs {
		wh := h
		if w.Server != s.Server() {
			if s.s.Hosts == nil {
				return nil, fmt.Errorf("berth was given no connection to %s", w.Server)
			}
			var err error
			if wh, err = s.s.Hosts.Host(ctx, w.Server); err != nil {
				return nil, fmt.Errorf("connect to %s: %w", w.Server, err)
			}
		}
		out = append(out, &dbWeb{DBWeb: w, h: wh})
	}
	return out, nil
}

// Apply runs the sequence; see the package doc.
func (s *DBStep) Apply(ctx context.Context, h host.Host, _ *reconcile.Change) error {
	if s.Absent() {
		return nil
	}
	now := time.Now
	if s.s.Now != nil {
		now = s.s.Now
	}
	webs, err := s.connect(ctx, h)
	if err != nil {
		return fmt.Errorf("move the database of %s: %w; nothing was moved, the site is served from %s", s.Site(), err, s.s.Source)
	}
	m, ok, err := ReadDBMarker(ctx, h, s.s.SiteDir)
	if err != nil {
		return fmt.Errorf("read the marker of the database move on %s: %w", s.Server(), err)
	}
	if ok && m.Done && m.To == s.s.Target {
		return s.finish(ctx, h, webs)
	}
	if ok && m.Done {
		// An earlier move (to another server) is over: this one starts.
		if err := h.Remove(ctx, path.Join(s.s.SiteDir, DBMarkerName)); err != nil {
			return err
		}
	}
	if err := writeDBMarker(ctx, h, s.s.SiteDir, Marker{To: s.s.Target, At: now().UTC()}); err != nil {
		return fmt.Errorf("record the start of the database move on %s: %w; nothing was moved, the site is served from %s", s.Server(), err, s.s.Source)
	}
	for _, w := range webs {
		if w.old, err = w.savedVhost(ctx); err != nil {
			return fmt.Errorf("keep the vhost of %s on %s: %w; nothing was moved, the site is served from %s", s.Site(), w.Server, err, s.s.Source)
		}
	}
	if err := s.s.Backup(ctx); err != nil {
		return s.revert(ctx, h, webs, fmt.Errorf("back up %s before moving its database: %w", s.Site(), err))
	}
	if err := s.maintenance(ctx, webs); err != nil {
		return s.revert(ctx, h, webs, err)
	}
	failpoint.Hit("mid-migrate-db:maintenance")
	if err := s.s.CopyDB(ctx); err != nil {
		return s.revert(ctx, h, webs, fmt.Errorf("copy the database: %w", err))
	}
	failpoint.Hit("mid-migrate-db:copied")
	if err := s.s.Switch(ctx); err != nil {
		return s.revert(ctx, h, webs, fmt.Errorf("point the settings of %s at %s: %w", s.Site(), s.s.Target, err))
	}
	if err := reloadPHP(ctx, webs); err != nil {
		return s.revert(ctx, h, webs, err)
	}
	failpoint.Hit("mid-migrate-db:settings")
	// Recorded before the site serves again: from here on every run
	// renders the settings pointing at the target.
	if err := writeDBMarker(ctx, h, s.s.SiteDir, Marker{To: s.s.Target, At: now().UTC(), Done: true}); err != nil {
		return s.revert(ctx, h, webs, fmt.Errorf("record the switch on %s: %w", s.Server(), err))
	}
	failpoint.Hit("mid-migrate-db:switched")
	var failed []string
	for _, w := range webs {
		if err := w.put(ctx, w.old, false); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", w.Server, err))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("the database of %s is moved to %s, but putting its vhost back failed (the site shows the maintenance page there; the next run puts it back): %s",
			s.Site(), s.s.Target, strings.Join(failed, "; "))
	}
	for _, w := range webs {
		if err := retryHealth(ctx, w.Health, s.s.HealthWait); err != nil {
			return s.back(ctx, h, webs, fmt.Errorf("health check of %s on %s with its database on %s: %w", s.Site(), w.Server, s.s.Target, err))
		}
	}
	return s.finish(ctx, h, webs)
}

// maintenance puts the maintenance page up on every web server, then
// waits until all of them answer it steadily.
func (s *DBStep) maintenance(ctx context.Context, webs []*dbWeb) error {
	for _, w := range webs {
		if err := w.put(ctx, w.Maintenance.Vhost.Content, true); err != nil {
			return fmt.Errorf("maintenance page on %s: %w", w.Server, err)
		}
	}
	return s.settled(ctx, webs)
}

// back reverts a move whose site served from the target (a health check
// failed): the maintenance page again on every web server, and what the
// site wrote on the target since copied back to the source, before
// revert points the settings back there. A failed copy back still
// reverts (the source serves its data from before the switch), saying
// so.
func (s *DBStep) back(ctx context.Context, h host.Host, webs []*dbWeb, cause error) error {
	ctx = context.WithoutCancel(ctx)
	if err := s.maintenance(ctx, webs); err != nil {
		return s.revert(ctx, h, webs, fmt.Errorf("%w; the maintenance page failed too (what the site wrote on %s since the switch stays there only): %v", cause, s.s.Target, err))
	}
	if s.s.CopyBack != nil {
		if err := s.s.CopyBack(ctx); err != nil {
			return s.revert(ctx, h, webs, fmt.Errorf("%w; copying its database back from %s to %s failed too (what the site wrote on %s since the switch stays there only): %v", cause, s.s.Target, s.s.Source, s.s.Target, err))
		}
	}
	return s.revert(ctx, h, webs, cause)
}

// finish removes what kept the move resumable: the kept vhosts of every
// web server, then the moving marker (its presence is what a cut-off
// run's Check finds).
func (s *DBStep) finish(ctx context.Context, h host.Host, webs []*dbWeb) error {
	for _, w := range webs {
		if err := w.h.Remove(ctx, path.Join(w.SiteDir, dbSavedName)); err != nil {
			return fmt.Errorf("remove the kept vhost on %s: %w", w.Server, err)
		}
	}
	return h.Remove(ctx, path.Join(s.s.SiteDir, DBMovingName))
}

// savedVhost returns the site's own vhost on w: the one there unless it
// is the maintenance page (a run cut off in the window), else the kept
// copy; it is kept first.
func (w *dbWeb) savedVhost(ctx context.Context) ([]byte, error) {
	saved := path.Join(w.SiteDir, dbSavedName)
	cur, err := w.h.ReadFile(ctx, w.Maintenance.Vhost.Path)
	if err != nil {
		return nil, err
	}
	if string(cur) == string(w.Maintenance.Vhost.Content) {
		return w.h.ReadFile(ctx, saved)
	}
	return cur, w.h.WriteFile(ctx, saved, cur, host.WriteOptions{Mode: 0o600})
}

// put writes vhost on w (with the maintenance page first when
// maintenance), then checks and reloads its web server; a failed check
// or reload puts the vhost there before back.
func (w *dbWeb) put(ctx context.Context, vhost []byte, maintenance bool) error {
	side, h := w.Maintenance, w.h
	if maintenance {
		if err := h.MkdirAll(ctx, side.PageDir, 0o755); err != nil {
			return err
		}
		if err := h.WriteFile(ctx, side.Page.Path, side.Page.Content, host.WriteOptions{Mode: 0o644}); err != nil {
			return err
		}
	}
	old, err := h.ReadFile(ctx, side.Vhost.Path)
	if err != nil {
		return err
	}
	if err := h.WriteFile(ctx, side.Vhost.Path, vhost, host.WriteOptions{Mode: 0o644}); err != nil {
		return err
	}
	if err := reloadService(ctx, h, w.HTTP); err != nil {
		if werr := h.WriteFile(ctx, side.Vhost.Path, old, host.WriteOptions{Mode: 0o644}); werr != nil {
			return errors.Join(err, werr)
		}
		return errors.Join(err, reloadService(ctx, h, w.HTTP))
	}
	// The maintenance page stays when the own vhost is back: the web
	// server's old workers may still answer with the maintenance vhost
	// for a moment after the reload (a 404 without it); the next window
	// rewrites it.
	return nil
}

// reloadPHP reloads the PHP services of every web server.
func reloadPHP(ctx context.Context, webs []*dbWeb) error {
	for _, w := range webs {
		for _, svc := range w.PHP {
			if err := reloadService(ctx, w.h, svc); err != nil {
				return fmt.Errorf("reload %s on %s: %w", svc.Name, w.Server, err)
			}
		}
	}
	return nil
}

// settled waits until every web server's Maintained passed settledRuns
// times in a row, at most HealthWait: nothing writes to the source's
// database any more.
func (s *DBStep) settled(ctx context.Context, webs []*dbWeb) error {
	all := func(ctx context.Context) error {
		for _, w := range webs {
			if w.Maintained == nil {
				continue
			}
			if err := w.Maintained(ctx); err != nil {
				return fmt.Errorf("the maintenance page on %s is not served: %w", w.Server, err)
			}
		}
		return nil
	}
	wait := s.s.HealthWait
	if wait <= 0 {
		wait = 10 * time.Second
	}
	deadline := time.Now().Add(max(wait, time.Second)) // room for the runs in a row
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for ok := 0; ; {
		err := all(ctx)
		if err == nil {
			ok++
		} else {
			ok = 0
		}
		if ok >= settledRuns {
			return nil
		}
		if time.Now().After(deadline) {
			return cmp.Or(err, errors.New("the maintenance page was not answered steadily"))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// settledRuns is how many answers in a row settled wants.
const settledRuns = 3

// revert points the settings back at the source on every web server
// (the source's database was only read: it serves as before), forgets
// the switch, and puts the site's own vhost back on every web server;
// then returns cause, saying so.
func (s *DBStep) revert(ctx context.Context, h host.Host, webs []*dbWeb, cause error) error {
	ctx = context.WithoutCancel(ctx)
	var problems []string
	if err := s.s.Unswitch(ctx); err != nil {
		problems = append(problems, fmt.Sprintf("point the settings back at %s: %v", s.s.Source, err))
	} else if err := reloadPHP(ctx, webs); err != nil {
		problems = append(problems, err.Error())
	} else if err := h.Remove(ctx, path.Join(s.s.SiteDir, DBMarkerName)); err != nil {
		problems = append(problems, fmt.Sprintf("forget the switch on %s: %v", s.Server(), err))
	}
	if len(problems) == 0 {
		// The own vhosts only once the settings point at the source.
		for _, w := range webs {
			if err := w.put(ctx, w.old, false); err != nil {
				problems = append(problems, fmt.Sprintf("put the vhost back on %s: %v", w.Server, err))
			} else if err := w.h.Remove(ctx, path.Join(w.SiteDir, dbSavedName)); err != nil {
				problems = append(problems, fmt.Sprintf("remove the kept vhost on %s: %v", w.Server, err))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("move of the database of %s to %s failed: %w; reverting it failed too (run berth apply again): %s", s.Site(), s.s.Target, cause, strings.Join(problems, "; "))
	}
	return fmt.Errorf("move of the database of %s to %s failed, reverted (the site is served from its database on %s as before): %w", s.Site(), s.s.Target, s.s.Source, cause)
}

// Undo leaves everything: a failed step reverted itself.
func (s *DBStep) Undo(context.Context, host.Host, *reconcile.Change) error { return nil }

func (s *DBStep) Record() reconcile.Record { return s.NewRecord() }
