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
// Source to Target, the site staying on its web server (Server).
type DBSpec struct {
	ID, Site string
	Server   string // the site's web server
	// Source and Target are the db servers; From and To describe the
	// move for people.
	Source, Target string
	From, To       string
	// SiteDir is the site's directory on Server (the markers').
	SiteDir string
	// Backup backs the site up, with the source's database.
	Backup func(ctx context.Context) error
	// Maintenance is the site's vhost and page during the window; HTTP
	// the web server checked and reloaded when the vhost changes.
	Maintenance Side
	HTTP        reconcile.Service
	// PHP are the services reloaded once the settings changed (PHP-FPM:
	// a settings file compiled in its cache is read again); none: none.
	PHP []reconcile.Service
	// CopyDB replaces the target's database with a fresh dump of the
	// source's; CopyBack the source's with the target's, when the health
	// check after the switch failed (what the site wrote there in the
	// meantime goes back with it).
	CopyDB, CopyBack func(ctx context.Context) error
	// Switch points the site's settings at the target's database (the
	// revision's settings file, applied by its own Apply); Unswitch puts
	// them back at the source's. Both must be safe to repeat.
	Switch, Unswitch func(ctx context.Context) error
	// Maintained checks, by Host header, that Server answers with the
	// maintenance page: the copy waits until it did several times in a
	// row (the web server's workers from before its reload done), within
	// HealthWait.
	Maintained func(ctx context.Context) error
	// Health checks the site on Server by Host header, retried until
	// HealthWait passed.
	Health     func(ctx context.Context) error
	HealthWait time.Duration
	// Done: the marker says the move finished.
	Done bool
	// Now is the marker's clock; nil: time.Now.
	Now  func() time.Time
	Deps []string
}

// DBStep is the move of a site's database to another db server, the
// site staying on its web server (see the package doc).
type DBStep struct {
	reconcile.Base
	s DBSpec
}

// NewDB returns the step of s.
func NewDB(s DBSpec) *DBStep {
	return &DBStep{Base: reconcile.NewBase(reconcile.BaseSpec{Kind: KindDB, ID: s.ID, Server: s.Server, Site: s.Site, Deps: s.Deps}), s: s}
}

// Observe reads what a finished move leaves behind when a run was cut
// off before it cleaned up.
func (s *DBStep) Observe() []string {
	if s.Absent() || !s.s.Done {
		return nil
	}
	return []string{path.Join(s.s.SiteDir, DBMovingName), path.Join(s.s.SiteDir, dbSavedName)}
}

// AfterReload: the step runs once the target's database and user exist
// and the site's configuration is checked and reloaded.
func (s *DBStep) AfterReload() bool { return true }

// DBSteps lists what the move does, for the plan.
func DBSteps(web, source, target, db string, grace time.Duration) []string {
	return []string{
		"database and user on " + target + " (the settings on " + web + " keep pointing at " + source + " until the switch)",
		"back the site up on " + web + " with its database on " + source,
		"maintenance page on " + web + " (503, Retry-After)",
		"fresh dump of the database, loaded on the target: " + db,
		"settings on " + web + " pointed at " + target + ", PHP-FPM reloaded",
		"the site's own vhost back on " + web + ", then a health check by Host header",
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

// Apply runs the sequence; see the package doc.
func (s *DBStep) Apply(ctx context.Context, h host.Host, _ *reconcile.Change) error {
	if s.Absent() {
		return nil
	}
	now := time.Now
	if s.s.Now != nil {
		now = s.s.Now
	}
	m, ok, err := ReadDBMarker(ctx, h, s.s.SiteDir)
	if err != nil {
		return fmt.Errorf("read the marker of the database move on %s: %w", s.Server(), err)
	}
	if ok && m.Done && m.To == s.s.Target {
		return s.finish(ctx, h)
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
	old, err := s.savedVhost(ctx, h)
	if err != nil {
		return fmt.Errorf("keep the vhost of %s on %s: %w; nothing was moved, the site is served from %s", s.Site(), s.Server(), err, s.s.Source)
	}
	if err := s.s.Backup(ctx); err != nil {
		return s.revert(ctx, h, old, fmt.Errorf("back up %s before moving its database: %w", s.Site(), err))
	}
	if err := s.put(ctx, h, s.s.Maintenance.Vhost.Content, true); err != nil {
		return s.revert(ctx, h, old, fmt.Errorf("maintenance page on %s: %w", s.Server(), err))
	}
	if err := s.settled(ctx); err != nil {
		return s.revert(ctx, h, old, fmt.Errorf("the maintenance page on %s is not served: %w", s.Server(), err))
	}
	failpoint.Hit("mid-migrate-db:maintenance")
	if err := s.s.CopyDB(ctx); err != nil {
		return s.revert(ctx, h, old, fmt.Errorf("copy the database: %w", err))
	}
	failpoint.Hit("mid-migrate-db:copied")
	if err := s.s.Switch(ctx); err != nil {
		return s.revert(ctx, h, old, fmt.Errorf("point the settings of %s at %s: %w", s.Site(), s.s.Target, err))
	}
	if err := s.reloadPHP(ctx, h); err != nil {
		return s.revert(ctx, h, old, err)
	}
	failpoint.Hit("mid-migrate-db:settings")
	// Recorded before the site serves again: from here on every run
	// renders the settings pointing at the target.
	if err := writeDBMarker(ctx, h, s.s.SiteDir, Marker{To: s.s.Target, At: now().UTC(), Done: true}); err != nil {
		return s.revert(ctx, h, old, fmt.Errorf("record the switch on %s: %w", s.Server(), err))
	}
	failpoint.Hit("mid-migrate-db:switched")
	if err := s.put(ctx, h, old, false); err != nil {
		return fmt.Errorf("the database of %s is moved to %s, but putting its vhost back on %s failed (it shows the maintenance page; the next run puts it back): %w",
			s.Site(), s.s.Target, s.Server(), err)
	}
	if err := s.healthy(ctx); err != nil {
		return s.back(ctx, h, old, fmt.Errorf("health check of %s on %s with its database on %s: %w", s.Site(), s.Server(), s.s.Target, err))
	}
	return s.finish(ctx, h)
}

// back reverts a move whose site served from the target (its health
// check failed): the maintenance page again, and what the site wrote on
// the target since copied back to the source, before revert points the
// settings back there. A failed copy back still reverts (the source
// serves its data from before the switch), saying so.
func (s *DBStep) back(ctx context.Context, h host.Host, old []byte, cause error) error {
	ctx = context.WithoutCancel(ctx)
	if err := s.put(ctx, h, s.s.Maintenance.Vhost.Content, true); err != nil {
		return s.revert(ctx, h, old, fmt.Errorf("%w; the maintenance page failed too (what the site wrote on %s since the switch stays there only): %v", cause, s.s.Target, err))
	}
	if err := s.settled(ctx); err != nil {
		return s.revert(ctx, h, old, fmt.Errorf("%w; the maintenance page is not served (what the site wrote on %s since the switch stays there only): %v", cause, s.s.Target, err))
	}
	if s.s.CopyBack != nil {
		if err := s.s.CopyBack(ctx); err != nil {
			return s.revert(ctx, h, old, fmt.Errorf("%w; copying its database back from %s to %s failed too (what the site wrote on %s since the switch stays there only): %v", cause, s.s.Target, s.s.Source, s.s.Target, err))
		}
	}
	return s.revert(ctx, h, old, cause)
}

// finish removes what kept the move resumable.
func (s *DBStep) finish(ctx context.Context, h host.Host) error {
	for _, name := range []string{dbSavedName, DBMovingName} {
		if err := h.Remove(ctx, path.Join(s.s.SiteDir, name)); err != nil {
			return err
		}
	}
	return nil
}

// savedVhost returns the site's own vhost: the one there unless it is the
// maintenance page (a run cut off in the window), else the kept copy;
// it is kept first.
func (s *DBStep) savedVhost(ctx context.Context, h host.Host) ([]byte, error) {
	saved := path.Join(s.s.SiteDir, dbSavedName)
	cur, err := h.ReadFile(ctx, s.s.Maintenance.Vhost.Path)
	if err != nil {
		return nil, err
	}
	if string(cur) == string(s.s.Maintenance.Vhost.Content) {
		return h.ReadFile(ctx, saved)
	}
	return cur, h.WriteFile(ctx, saved, cur, host.WriteOptions{Mode: 0o600})
}

// put writes vhost (with the maintenance page first when maintenance),
// then checks and reloads the web server; a failed check
// or reload puts the vhost there before back.
func (s *DBStep) put(ctx context.Context, h host.Host, vhost []byte, maintenance bool) error {
	side := s.s.Maintenance
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
	if err := reloadService(ctx, h, s.s.HTTP); err != nil {
		if werr := h.WriteFile(ctx, side.Vhost.Path, old, host.WriteOptions{Mode: 0o644}); werr != nil {
			return errors.Join(err, werr)
		}
		return errors.Join(err, reloadService(ctx, h, s.s.HTTP))
	}
	// The maintenance page stays when the own vhost is back: the web
	// server's old workers may still answer with the maintenance vhost
	// for a moment after the reload (a 404 without it); the next window
	// rewrites it.
	return nil
}

func (s *DBStep) reloadPHP(ctx context.Context, h host.Host) error {
	for _, svc := range s.s.PHP {
		if err := reloadService(ctx, h, svc); err != nil {
			return fmt.Errorf("reload %s on %s: %w", svc.Name, s.Server(), err)
		}
	}
	return nil
}

// settled waits until Maintained passed settledRuns times in a row, at
// most HealthWait: nothing writes to the source's database any more.
func (s *DBStep) settled(ctx context.Context) error {
	if s.s.Maintained == nil {
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
		err := s.s.Maintained(ctx)
		if err == nil {
			ok++
		} else {
			ok = 0
		}
		if ok >= settledRuns {
			return nil
		}
		if time.Now().After(deadline) {
			return cmp.Or(err, errors.New("it was not answered steadily"))
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

// healthy runs the health check until it passes or HealthWait is over.
func (s *DBStep) healthy(ctx context.Context) error {
	return retryHealth(ctx, s.s.Health, s.s.HealthWait)
}

// revert points the settings back at the source (whose database was only
// read: it serves as before), forgets the switch, and puts the site's own
// vhost back; then returns cause, saying so.
func (s *DBStep) revert(ctx context.Context, h host.Host, oldVhost []byte, cause error) error {
	ctx = context.WithoutCancel(ctx)
	var problems []string
	if err := s.s.Unswitch(ctx); err != nil {
		problems = append(problems, fmt.Sprintf("point the settings back at %s: %v", s.s.Source, err))
	} else if err := s.reloadPHP(ctx, h); err != nil {
		problems = append(problems, err.Error())
	} else if err := h.Remove(ctx, path.Join(s.s.SiteDir, DBMarkerName)); err != nil {
		problems = append(problems, fmt.Sprintf("forget the switch on %s: %v", s.Server(), err))
	}
	if len(problems) == 0 {
		// The own vhost only once the settings point at the source.
		if err := s.put(ctx, h, oldVhost, false); err != nil {
			problems = append(problems, fmt.Sprintf("put the vhost back on %s: %v", s.Server(), err))
		} else if err := h.Remove(ctx, path.Join(s.s.SiteDir, dbSavedName)); err != nil {
			problems = append(problems, fmt.Sprintf("remove the kept vhost on %s: %v", s.Server(), err))
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
