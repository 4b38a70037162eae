package migrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/internal/failpoint"
	"github.com/berthhq/berth/kind/filesync"
	"github.com/berthhq/berth/reconcile"
)

// Kind is a site's migration to another web server.
const Kind = "migrate"

// MarkerName is the file in the source's site directory that records a
// finished migration (Marker, as JSON); MovingName one that started and
// is not switched yet (tried again by the next run).
const (
	MarkerName = ".berth-migrated"
	MovingName = ".berth-migrating"
)

func init() {
	reconcile.RegisterKind(reconcile.Kind{Name: Kind, Prune: func(rec reconcile.Record) reconcile.Resource {
		return &Step{Base: reconcile.PrunedBase(Kind, rec)}
	}})
}

// Marker is what a migration leaves in the source's site directory: to
// which server it goes, when it started or was switched, and whether it
// was (Done).
type Marker struct {
	To   string    `json:"to"`
	At   time.Time `json:"at"`
	Done bool      `json:"done,omitempty"`
}

// ReadMarker reads the marker of a migration in siteDir on h, the
// finished one's first; ok is false when there is none.
func ReadMarker(ctx context.Context, h host.Host, siteDir string) (m Marker, ok bool, err error) {
	return readMarker(ctx, h, siteDir, MarkerName, MovingName)
}

// writeMarker writes m in siteDir on h.
func writeMarker(ctx context.Context, h host.Host, siteDir string, m Marker) error {
	return writeMarkerAs(ctx, h, siteDir, m, MarkerName, MovingName)
}

// readMarker reads a move's marker in siteDir on h: the file done when
// the move is switched, else moving; ok is false when neither is there.
func readMarker(ctx context.Context, h host.Host, siteDir, done, moving string) (m Marker, ok bool, err error) {
	for _, name := range []string{done, moving} {
		data, err := h.ReadFile(ctx, path.Join(siteDir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return Marker{}, false, err
		}
		if err := json.Unmarshal(data, &m); err != nil {
			return Marker{}, false, fmt.Errorf("%s: %w", path.Join(siteDir, name), err)
		}
		m.Done = name == done
		return m, true, nil
	}
	return Marker{}, false, nil
}

// writeMarkerAs writes m in siteDir on h, as the file done when m is
// done, else moving.
func writeMarkerAs(ctx context.Context, h host.Host, siteDir string, m Marker, done, moving string) error {
	name := moving
	if m.Done {
		name = done
	}
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return h.WriteFile(ctx, path.Join(siteDir, name), append(data, '\n'), host.WriteOptions{Mode: 0o600})
}

// Hosts connects to the source server (reconcile.Hosts).
type Hosts interface {
	Host(ctx context.Context, server string) (host.Host, error)
}

// File is a file the step writes on the source.
type File struct {
	Path    string
	Content []byte
}

// Side is what the step writes on the source in one state (maintenance,
// disabled): the directory of the page, the page and the vhost.
type Side struct {
	PageDir string
	Page    File
	Vhost   File
}

// Spec describes a site's migration from Source to Server (the target).
type Spec struct {
	ID, Site string
	Server   string // the target web server
	Source   string // the web server the site leaves
	// From and To describe the move for people: web1/app → web2/app2.
	From, To string
	Hosts    Hosts
	// SourceSiteDir is the site's directory on the source (the marker's);
	// SourceFiles and TargetFiles its files directories.
	SourceSiteDir, SourceFiles, TargetFiles string
	// Backup backs the site up on the source.
	Backup func(ctx context.Context) error
	// Maintenance and Disabled are the source's vhost and page during the
	// final copy, and once the site is served from the target.
	Maintenance, Disabled Side
	// SourceHTTP is the source's web server; TargetFiles are the files
	// a revert removes on the target (vhost, pool), TargetServices the
	// services it then reloads there.
	SourceHTTP     reconcile.Service
	TargetRemove   []string
	TargetServices []reconcile.Service
	// CopyDB, when the database moves too (another server, or a SQLite
	// file on the web server), replaces the target's database with a
	// fresh dump of the source's, in the maintenance window after the
	// final copy of the files; nil: the database stays where it is.
	CopyDB func(ctx context.Context) error
	// Carry names files of the source's site directory copied into the
	// target's (TargetSiteDir) in the window, when they exist there: the
	// install's marker, so that the target does not install a site that
	// is installed, and the update step's. CarryOwner and CarryGroup own
	// the copies.
	Carry                  []string
	TargetSiteDir          string
	CarryOwner, CarryGroup string
	// Update runs the platform's update step on the target (the new
	// code against the moved data: drush updatedb, WordPress's upgrade
	// routine), in the window after the data is there and before the
	// health check; nil: none.
	Update func(ctx context.Context) error
	// Health checks the site on the target; it is retried until
	// HealthWait passed (the target's reload may not be live yet).
	Health     func(ctx context.Context) error
	HealthWait time.Duration
	// Switch points the site's names at the target: its DNS zones and
	// load balancers, rewritten and reloaded (the builder's resources,
	// applied by their own Apply), after the health check passed and
	// before the switch is recorded; an error must leave them pointing at
	// the source (the step then reverts). nil: nothing to switch (the
	// names are not in a zone berth serves, no load balancer).
	Switch func(ctx context.Context) error
	// SwitchWait is how long the move waits, from its start (the marker's
	// At), before its maintenance window: the zones' normal TTL, while
	// the builder publishes the site's records at a lowered TTL (the
	// resolvers' caches of the old records expire first). Until then the
	// step does its first copy and returns a reconcile.WaitError, the
	// source still serving. 0: no wait.
	SwitchWait time.Duration
	// Done: the marker says the migration finished; nothing to do.
	Done bool
	// Now is the clock of the marker; nil: time.Now.
	Now  func() time.Time
	Deps []string
}

// Step is a site's migration to its new web server (see the package doc).
type Step struct {
	reconcile.Base
	s Spec
}

// New returns the migration step of s.
func New(s Spec) *Step {
	return &Step{Base: reconcile.NewBase(reconcile.BaseSpec{Kind: Kind, ID: s.ID, Server: s.Server, Site: s.Site, Deps: s.Deps}), s: s}
}

func (s *Step) Observe() []string { return nil }

// AfterReload: the step runs once the target's new configuration is
// checked and reloaded on every server.
func (s *Step) AfterReload() bool { return true }

// Plan describes a migration for people: its servers, and what it does
// besides moving the files (DB: "db1 → db2" when the database moves;
// Update: the update step's command, when the platform has one).
type Plan struct {
	Source, Target string
	DB, Update     string
	// Renamed is "old → new" when the site is renamed (renamed_from).
	Renamed string
	Grace   time.Duration
	// DNS and LB say what the switch points at the target, "" when
	// nothing: the site's records in the zones berth serves ("A of
	// example.com in zone example.com: 192.0.2.1 → 192.0.2.2"), its load
	// balancers' routes ("lb1: berth-prod-app → berth-prod-app2").
	DNS, LB string
	// TTL and Wait: the records are published at TTL seconds until the
	// switch, and the maintenance window waits until that was published
	// for Wait (the zones' normal TTL); 0: no wait.
	TTL  int
	Wait time.Duration
}

// Steps lists what the migration does, for the plan, in the order the
// step runs them (the target's configuration is written and reloaded
// before the step starts).
func Steps(p Plan) []string {
	var steps []string
	if p.Renamed != "" {
		steps = append(steps, "rename "+p.Renamed+": the data moves to the new name's directory and database")
	}
	steps = append(steps,
		"vhost, pool and settings on "+p.Target+", checked and reloaded (not yet serving: the names still point at "+p.Source+")",
		"back the site up on "+p.Source,
		"copy its files from "+p.Source+" to "+p.Target+" while "+p.Source+" serves",
	)
	if p.Wait > 0 {
		steps = append(steps, fmt.Sprintf("wait until its DNS records, published at TTL %ds since the move started, were so for %s (the zone's TTL: the resolvers' caches expired); the run stops here, not failed, and the next one goes on", p.TTL, shortDuration(p.Wait)))
	}
	steps = append(steps,
		"maintenance page on "+p.Source+" (503, Retry-After)",
		"final copy of the files",
	)
	if p.DB != "" {
		steps = append(steps, "fresh dump of the database, loaded on the target: "+p.DB)
	}
	if p.Update != "" {
		steps = append(steps, "update step on "+p.Target+": "+p.Update)
	}
	grace := shortDuration(p.Grace)
	last := "disable the site on " + p.Source + ", kept " + grace + ", then removed after its backup"
	if p.Renamed != "" {
		last = "the old name redirects to the new one; its copy on " + p.Source + " is kept " + grace + ", then removed after its backup (the new name's vhost redirects it from then on)"
	}
	steps = append(steps, "health check on "+p.Target+" by Host header")
	if p.LB != "" {
		steps = append(steps, "switch the load balancer: "+p.LB+", checked and reloaded (the one it moves to first, the one it leaves after DNS)")
	}
	if p.DNS != "" {
		steps = append(steps, "switch DNS: "+p.DNS+", zone reloaded")
	}
	return append(steps, last)
}

// shortDuration is d without its zero minutes and seconds: 24h, 1h30m.
func shortDuration(d time.Duration) string {
	return strings.TrimSuffix(strings.TrimSuffix(d.String(), "0s"), "0m")
}

// Check plans the move; once it is switched, only disabling the source
// when a run was cut off before it did (its vhost is read there).
func (s *Step) Check(ctx context.Context, _ reconcile.CheckInput) (reconcile.Change, error) {
	if s.Absent() {
		return s.NewChange(reconcile.Delete, "the migration is over; forgotten"), nil
	}
	if s.s.Done {
		src, err := s.s.Hosts.Host(ctx, s.s.Source)
		if err != nil {
			return reconcile.Change{}, fmt.Errorf("connect to the source %s: %w", s.s.Source, err)
		}
		vhost, err := src.ReadFile(ctx, s.s.Disabled.Vhost.Path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return reconcile.Change{}, fmt.Errorf("read %s on %s: %w", s.s.Disabled.Vhost.Path, s.s.Source, err)
		}
		if string(vhost) == string(s.s.Disabled.Vhost.Content) {
			return s.NewChange(reconcile.None, ""), nil
		}
		return s.NewChange(reconcile.Update, fmt.Sprintf("%s is served from %s: disable it on %s (a run was cut off before it did)", s.Site(), s.Server(), s.s.Source)), nil
	}
	return s.NewChange(reconcile.Update, fmt.Sprintf("move %s: %s → %s", s.Site(), s.s.From, s.s.To)), nil
}

// Apply runs the sequence; see the package doc.
func (s *Step) Apply(ctx context.Context, h host.Host, _ *reconcile.Change) error {
	if s.Absent() {
		return nil
	}
	src, err := s.s.Hosts.Host(ctx, s.s.Source)
	if err != nil {
		return fmt.Errorf("connect to the source %s: %w; the site is still served there, run berth apply again", s.s.Source, err)
	}
	now := time.Now
	if s.s.Now != nil {
		now = s.s.Now
	}
	if m, ok, err := ReadMarker(ctx, src, s.s.SourceSiteDir); err != nil {
		return fmt.Errorf("read the migration marker on %s: %w", s.s.Source, err)
	} else if ok && m.Done {
		// Switched by a run cut off before it disabled the source.
		if err := s.put(ctx, src, s.s.Disabled); err != nil {
			return err
		}
		return s.finish(ctx, src, h)
	}
	// The move is wanted until it is switched, or the revision no longer
	// asks for it: a failed run leaves this marker, and the next one
	// tries again. The marker of an earlier run of the same move keeps
	// its time: the wait for the DNS caches counts from it.
	started := now().UTC()
	if m, ok, err := ReadMarker(ctx, src, s.s.SourceSiteDir); err == nil && ok && !m.Done && m.To == s.Server() && !m.At.IsZero() {
		started = m.At
	} else if err := writeMarker(ctx, src, s.s.SourceSiteDir, Marker{To: s.Server(), At: started}); err != nil {
		return fmt.Errorf("record the start of the move on %s: %w; nothing was moved, the site is served from %s", s.s.Source, err, s.s.Source)
	}
	old, err := s.savedVhost(ctx, src)
	if err != nil {
		return fmt.Errorf("keep the vhost of %s on %s: %w; nothing was moved, the site is served from %s", s.Site(), s.s.Source, err, s.s.Source)
	}
	if err := s.s.Backup(ctx); err != nil {
		return s.revert(ctx, src, h, old, fmt.Errorf("back up %s on %s before moving it: %w", s.Site(), s.s.Source, err))
	}
	if err := s.copy(ctx); err != nil {
		return s.revert(ctx, src, h, old, err)
	}
	failpoint.Hit("mid-migrate:copied")
	if until := started.Add(s.s.SwitchWait); s.s.SwitchWait > 0 && now().Before(until) {
		// Not reverted: the source serves as before, the target holds the
		// first copy, and the next run goes on from there.
		if err := s.serveAgain(ctx, src, old); err != nil {
			return s.revert(ctx, src, h, old, err)
		}
		return &reconcile.WaitError{Until: until, Reason: fmt.Sprintf("%s is copied to %s; its DNS records are published at a lowered TTL since %s, "+
			"and the move enters its maintenance window once the resolvers' caches of the old ones expired (%s): the next run goes on then",
			s.Site(), s.Server(), started.Format(time.RFC3339), s.s.SwitchWait)}
	}
	if err := s.put(ctx, src, s.s.Maintenance); err != nil {
		return s.revert(ctx, src, h, old, fmt.Errorf("maintenance page on %s: %w", s.s.Source, err))
	}
	failpoint.Hit("mid-migrate:maintenance")
	if err := s.copy(ctx); err != nil {
		return s.revert(ctx, src, h, old, fmt.Errorf("final copy: %w", err))
	}
	if s.s.CopyDB != nil {
		if err := s.s.CopyDB(ctx); err != nil {
			return s.revert(ctx, src, h, old, fmt.Errorf("copy the database: %w", err))
		}
		failpoint.Hit("mid-migrate:database")
	}
	if err := s.carry(ctx, src, h); err != nil {
		return s.revert(ctx, src, h, old, err)
	}
	if s.s.Update != nil {
		if err := s.s.Update(ctx); err != nil {
			return s.revert(ctx, src, h, old, fmt.Errorf("update step on %s: %w", s.Server(), err))
		}
	}
	if err := s.healthy(ctx); err != nil {
		return s.revert(ctx, src, h, old, fmt.Errorf("health check of %s on %s: %w", s.Site(), s.Server(), err))
	}
	if s.s.Switch != nil {
		if err := s.s.Switch(ctx); err != nil {
			return s.revert(ctx, src, h, old, fmt.Errorf("switch the DNS records and load balancers of %s to %s: %w", s.Site(), s.Server(), err))
		}
		failpoint.Hit("mid-migrate:dns")
	}
	if err := writeMarker(ctx, src, s.s.SourceSiteDir, Marker{To: s.Server(), At: now().UTC(), Done: true}); err != nil {
		return s.revert(ctx, src, h, old, fmt.Errorf("record the switch on %s: %w", s.s.Source, err))
	}
	failpoint.Hit("mid-migrate:switched")
	if err := s.put(ctx, src, s.s.Disabled); err != nil {
		return fmt.Errorf("%s is served from %s, but disabling it on %s failed (it shows the maintenance page there): %w", s.Site(), s.Server(), s.s.Source, err)
	}
	return s.finish(ctx, src, h)
}

// finish removes, once the move is switched, what kept it resumable on
// the source and, on the target, the record of an earlier move that took
// the site from it (this one moved it back).
func (s *Step) finish(ctx context.Context, src, target host.Host) error {
	if s.s.TargetSiteDir != "" {
		if err := target.Remove(ctx, path.Join(s.s.TargetSiteDir, MarkerName)); err != nil {
			return err
		}
	}
	for _, name := range []string{savedName, MovingName} {
		if err := src.Remove(ctx, path.Join(s.s.SourceSiteDir, name)); err != nil {
			return err
		}
	}
	return nil
}

// savedName is the copy of the source's own vhost, in its site
// directory, kept from before the first maintenance page until the
// migration is switched or reverted: a run cut off during the
// maintenance window finds the vhost to put back there.
const savedName = ".berth-migrate-vhost"

// savedVhost returns the source's own vhost: the kept copy when an
// earlier run left one, else the vhost, which it keeps first.
func (s *Step) savedVhost(ctx context.Context, src host.Host) ([]byte, error) {
	saved := path.Join(s.s.SourceSiteDir, savedName)
	data, err := src.ReadFile(ctx, saved)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return data, err
	}
	if data, err = src.ReadFile(ctx, s.s.Maintenance.Vhost.Path); err != nil {
		return nil, err
	}
	return data, src.WriteFile(ctx, saved, data, host.WriteOptions{Mode: 0o600})
}

// copy copies the site's files from the source to the target.
func (s *Step) copy(ctx context.Context) error {
	c := filesync.NewSync(filesync.SyncSpec{ID: s.ID(), Site: s.Site(), Server: s.Server(), Dir: s.s.TargetFiles,
		Primary: s.s.Source, PrimaryDir: s.s.SourceFiles, Hosts: s.s.Hosts})
	if _, err := filesync.Resync(ctx, s.s.Hosts, []*filesync.Sync{c}); err != nil {
		return fmt.Errorf("copy the files of %s from %s to %s: %w", s.Site(), s.s.Source, s.Server(), err)
	}
	return nil
}

// carry copies the Carry files of the source's site directory that
// exist there into the target's.
func (s *Step) carry(ctx context.Context, src, target host.Host) error {
	for _, name := range s.s.Carry {
		data, err := src.ReadFile(ctx, path.Join(s.s.SourceSiteDir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil {
			err = target.WriteFile(ctx, path.Join(s.s.TargetSiteDir, name), data, host.WriteOptions{Mode: 0o640, Owner: s.s.CarryOwner, Group: s.s.CarryGroup})
		}
		if err != nil {
			return fmt.Errorf("copy %s of %s from %s to %s: %w", name, s.Site(), s.s.Source, s.Server(), err)
		}
	}
	return nil
}

// healthy runs the health check until it passes or HealthWait is over.
func (s *Step) healthy(ctx context.Context) error {
	return retryHealth(ctx, s.s.Health, s.s.HealthWait)
}

// retryHealth runs check until it passes or wait (0: 10 s) is over: a
// reload may not be live yet.
func retryHealth(ctx context.Context, check func(context.Context) error, wait time.Duration) error {
	if wait <= 0 {
		wait = 10 * time.Second
	}
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		err := check(ctx)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-tick.C:
		}
	}
}

// put writes side's page and vhost on the source, then checks and reloads
// its web server; a failed check or reload puts the old vhost back.
func (s *Step) put(ctx context.Context, src host.Host, side Side) error {
	if err := src.MkdirAll(ctx, side.PageDir, 0o755); err != nil {
		return err
	}
	if err := src.WriteFile(ctx, side.Page.Path, side.Page.Content, host.WriteOptions{Mode: 0o644}); err != nil {
		return err
	}
	old, err := src.ReadFile(ctx, side.Vhost.Path)
	if err != nil {
		return err
	}
	if err := src.WriteFile(ctx, side.Vhost.Path, side.Vhost.Content, host.WriteOptions{Mode: 0o644}); err != nil {
		return err
	}
	if err := reloadService(ctx, src, s.s.SourceHTTP); err != nil {
		if werr := src.WriteFile(ctx, side.Vhost.Path, old, host.WriteOptions{Mode: 0o644}); werr != nil {
			return errors.Join(err, werr)
		}
		return errors.Join(err, reloadService(ctx, src, s.s.SourceHTTP))
	}
	return nil
}

// serveAgain makes sure the source serves the site with its own vhost
// (oldVhost: a run cut off in the maintenance window left the
// maintenance page there) and forgets the kept copy, when the move waits.
func (s *Step) serveAgain(ctx context.Context, src host.Host, oldVhost []byte) error {
	cur, err := src.ReadFile(ctx, s.s.Maintenance.Vhost.Path)
	if err != nil {
		return fmt.Errorf("read the vhost of %s on %s: %w", s.Site(), s.s.Source, err)
	}
	if string(cur) != string(oldVhost) {
		if err := src.WriteFile(ctx, s.s.Maintenance.Vhost.Path, oldVhost, host.WriteOptions{Mode: 0o644}); err != nil {
			return fmt.Errorf("put the vhost of %s back on %s: %w", s.Site(), s.s.Source, err)
		}
		if err := reloadService(ctx, src, s.s.SourceHTTP); err != nil {
			return fmt.Errorf("reload %s on %s: %w", s.s.SourceHTTP.Name, s.s.Source, err)
		}
		if err := src.Remove(ctx, s.s.Maintenance.Page.Path); err != nil {
			return err
		}
	}
	return src.Remove(ctx, path.Join(s.s.SourceSiteDir, savedName))
}

// revert puts the source's own vhost back (always: a run cut off in the
// maintenance window left the maintenance page there) and removes the
// target's new vhost and pool, then returns cause, saying so.
func (s *Step) revert(ctx context.Context, src, target host.Host, oldVhost []byte, cause error) error {
	ctx = context.WithoutCancel(ctx)
	var problems []string
	if err := src.WriteFile(ctx, s.s.Maintenance.Vhost.Path, oldVhost, host.WriteOptions{Mode: 0o644}); err != nil {
		problems = append(problems, fmt.Sprintf("put the vhost back on %s: %v", s.s.Source, err))
	} else if err := reloadService(ctx, src, s.s.SourceHTTP); err != nil {
		problems = append(problems, fmt.Sprintf("reload %s on %s: %v", s.s.SourceHTTP.Name, s.s.Source, err))
	} else if err := src.Remove(ctx, s.s.Maintenance.Page.Path); err != nil {
		problems = append(problems, fmt.Sprintf("remove the maintenance page on %s: %v", s.s.Source, err))
	}
	if len(problems) == 0 {
		if err := src.Remove(ctx, path.Join(s.s.SourceSiteDir, savedName)); err != nil {
			problems = append(problems, fmt.Sprintf("remove the kept vhost on %s: %v", s.s.Source, err))
		}
	}
	for _, p := range s.s.TargetRemove {
		if err := target.Remove(ctx, p); err != nil {
			problems = append(problems, fmt.Sprintf("remove %s on %s: %v", p, s.Server(), err))
		}
	}
	for _, svc := range s.s.TargetServices {
		if err := reloadService(ctx, target, svc); err != nil {
			problems = append(problems, fmt.Sprintf("reload %s on %s: %v", svc.Name, s.Server(), err))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("migration of %s to %s failed: %w; reverting it failed too: %s", s.Site(), s.Server(), cause, strings.Join(problems, "; "))
	}
	return fmt.Errorf("migration of %s to %s failed, reverted (the site is served from %s as before; its new vhost and pool on %s removed): %w",
		s.Site(), s.Server(), s.s.Source, s.Server(), cause)
}

// reloadService checks and reloads svc on h: SIGHUP to its PIDFile's
// process when it has one, else its Reload command.
func reloadService(ctx context.Context, h host.Host, svc reconcile.Service) error {
	run := func(argv []string) error {
		if len(argv) == 0 {
			return nil
		}
		if _, err := h.Run(ctx, argv, host.RunOptions{Dir: svc.Dir}); err != nil {
			return fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
		}
		return nil
	}
	if err := run(svc.Test); err != nil {
		return err
	}
	if svc.PIDFile != "" {
		if data, err := h.ReadFile(ctx, svc.PIDFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 1 {
				return run([]string{"kill", "-HUP", strconv.Itoa(pid)})
			}
		}
	}
	return run(svc.Reload)
}

// Undo leaves everything: a failed step reverted itself.
func (s *Step) Undo(context.Context, host.Host, *reconcile.Change) error { return nil }

func (s *Step) Record() reconcile.Record { return s.NewRecord() }
