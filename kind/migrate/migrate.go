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

// Source is another web server a cluster site leaves besides the
// step's Source: it shows the maintenance page and is disabled with it,
// and a revert puts its own vhost back. Its files are not copied: the
// Source's are the site's (its platform's files primary).
type Source struct {
	Server string
	// SiteDir is the site's directory there (the kept vhost's).
	SiteDir               string
	Maintenance, Disabled Side
	HTTP                  reconcile.Service
}

// Target is another web server a cluster site moves to besides the
// step's own: the Source's files are copied to it too (unless Files is
// "": the platform's files are shared with the step's target), it passes
// its own health check before the switch, and a revert removes its new
// configuration.
type Target struct {
	Server, Files string
	Remove        []string
	Services      []reconcile.Service
	Health        func(ctx context.Context) error
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
	// OtherSources and OtherTargets are the other web servers of a
	// cluster site: it leaves all of them (Source and OtherSources) and
	// moves to all of them (Server and OtherTargets) at once.
	OtherSources []Source
	OtherTargets []Target
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
	// OtherSources and OtherTargets are a cluster's other web servers
	// (Spec.OtherSources, Spec.OtherTargets).
	OtherSources, OtherTargets []string
	DB, Update                 string
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
	all := func(first string, others []string) string {
		return strings.Join(append([]string{first}, others...), ", ")
	}
	sources, targets := all(p.Source, p.OtherSources), all(p.Target, p.OtherTargets)
	serve := "serves"
	if len(p.OtherSources) > 0 {
		serve = "serve"
	}
	var steps []string
	if p.Renamed != "" {
		steps = append(steps, "rename "+p.Renamed+": the data moves to the new name's directory and database")
	}
	steps = append(steps,
		"vhost, pool and settings on "+targets+", checked and reloaded (not yet serving: the names still point at "+sources+")",
		"back the site up on "+p.Source,
		"copy its files from "+p.Source+" to "+targets+" while "+sources+" "+serve,
	)
	if p.Wait > 0 {
		steps = append(steps, fmt.Sprintf("wait until its DNS records, published at TTL %ds since the move started, were so for %s (the zone's TTL: the resolvers' caches expired); the run stops here, not failed, and the next one goes on", p.TTL, shortDuration(p.Wait)))
	}
	steps = append(steps,
		"maintenance page on "+sources+" (503, Retry-After)",
		"final copy of the files",
	)
	if p.DB != "" {
		steps = append(steps, "fresh dump of the database, loaded on the target: "+p.DB)
	}
	if p.Update != "" {
		steps = append(steps, "update step on "+p.Target+": "+p.Update)
	}
	grace := shortDuration(p.Grace)
	last := "disable the site on " + sources + ", kept " + grace + ", then removed after its backup"
	if p.Renamed != "" {
		last = "the old name redirects to the new one; its copy on " + sources + " is kept " + grace + ", then removed after its backup (the new name's vhost redirects it from then on)"
	}
	steps = append(steps, "health check on "+targets+" by Host header")
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

// Check plans the move; once it is switched, only disabling the sources
// when a run was cut off before it did (their vhosts are read there).
func (s *Step) Check(ctx context.Context, _ reconcile.CheckInput) (reconcile.Change, error) {
	if s.Absent() {
		return s.NewChange(reconcile.Delete, "the migration is over; forgotten"), nil
	}
	if s.s.Done {
		srcs, err := s.connect(ctx)
		if err != nil {
			return reconcile.Change{}, err
		}
		var enabled []string
		for _, x := range srcs {
			vhost, err := x.h.ReadFile(ctx, x.Disabled.Vhost.Path)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return reconcile.Change{}, fmt.Errorf("read %s on %s: %w", x.Disabled.Vhost.Path, x.Server, err)
			}
			if string(vhost) != string(x.Disabled.Vhost.Content) {
				enabled = append(enabled, x.Server)
			}
		}
		if len(enabled) == 0 {
			return s.NewChange(reconcile.None, ""), nil
		}
		return s.NewChange(reconcile.Update, fmt.Sprintf("%s is served from %s: disable it on %s (a run was cut off before it did)", s.Site(), s.Server(), strings.Join(enabled, ", "))), nil
	}
	return s.NewChange(reconcile.Update, fmt.Sprintf("move %s: %s → %s", s.Site(), s.s.From, s.s.To)), nil
}

// source is a web server the site leaves, connected; old is its own
// vhost, kept while the move runs.
type source struct {
	Source
	h   host.Host
	old []byte
}

// connect connects to every source: the step's Source first.
func (s *Step) connect(ctx context.Context) ([]*source, error) {
	all := append([]Source{{Server: s.s.Source, SiteDir: s.s.SourceSiteDir, Maintenance: s.s.Maintenance, Disabled: s.s.Disabled, HTTP: s.s.SourceHTTP}}, s.s.OtherSources...)
	out := make([]*source, 0, len(all))
	for _, x := range all {
		h, err := s.s.Hosts.Host(ctx, x.Server)
		if err != nil {
			return nil, fmt.Errorf("connect to the source %s: %w", x.Server, err)
		}
		out = append(out, &source{Source: x, h: h})
	}
	return out, nil
}

// Apply runs the sequence; see the package doc.
func (s *Step) Apply(ctx context.Context, h host.Host, _ *reconcile.Change) error {
	if s.Absent() {
		return nil
	}
	srcs, err := s.connect(ctx)
	if err != nil {
		return fmt.Errorf("%w; the site is still served there, run berth apply again", err)
	}
	src := srcs[0].h
	now := time.Now
	if s.s.Now != nil {
		now = s.s.Now
	}
	if m, ok, err := ReadMarker(ctx, src, s.s.SourceSiteDir); err != nil {
		return fmt.Errorf("read the migration marker on %s: %w", s.s.Source, err)
	} else if ok && m.Done {
		// Switched by a run cut off before it disabled the sources.
		if err := s.disable(ctx, srcs); err != nil {
			return err
		}
		return s.finish(ctx, srcs, h)
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
	for _, x := range srcs {
		if x.old, err = savedVhost(ctx, x); err != nil {
			return fmt.Errorf("keep the vhost of %s on %s: %w; nothing was moved, the site is served from %s", s.Site(), x.Server, err, x.Server)
		}
	}
	if err := s.s.Backup(ctx); err != nil {
		return s.revert(ctx, srcs, h, fmt.Errorf("back up %s on %s before moving it: %w", s.Site(), s.s.Source, err))
	}
	if err := s.copy(ctx); err != nil {
		return s.revert(ctx, srcs, h, err)
	}
	failpoint.Hit("mid-migrate:copied")
	if until := started.Add(s.s.SwitchWait); s.s.SwitchWait > 0 && now().Before(until) {
		// Not reverted: the sources serve as before, the targets hold the
		// first copy, and the next run goes on from there.
		for _, x := range srcs {
			if err := serveAgain(ctx, x); err != nil {
				return s.revert(ctx, srcs, h, fmt.Errorf("%s on %s: %w", s.Site(), x.Server, err))
			}
		}
		return &reconcile.WaitError{Until: until, Reason: fmt.Sprintf("%s is copied to %s; its DNS records are published at a lowered TTL since %s, "+
			"and the move enters its maintenance window once the resolvers' caches of the old ones expired (%s): the next run goes on then",
			s.Site(), s.Server(), started.Format(time.RFC3339), s.s.SwitchWait)}
	}
	for _, x := range srcs {
		if err := put(ctx, x, x.Maintenance); err != nil {
			return s.revert(ctx, srcs, h, fmt.Errorf("maintenance page on %s: %w", x.Server, err))
		}
	}
	failpoint.Hit("mid-migrate:maintenance")
	if err := s.copy(ctx); err != nil {
		return s.revert(ctx, srcs, h, fmt.Errorf("final copy: %w", err))
	}
	if s.s.CopyDB != nil {
		if err := s.s.CopyDB(ctx); err != nil {
			return s.revert(ctx, srcs, h, fmt.Errorf("copy the database: %w", err))
		}
		failpoint.Hit("mid-migrate:database")
	}
	if err := s.carry(ctx, src, h); err != nil {
		return s.revert(ctx, srcs, h, err)
	}
	if s.s.Update != nil {
		if err := s.s.Update(ctx); err != nil {
			return s.revert(ctx, srcs, h, fmt.Errorf("update step on %s: %w", s.Server(), err))
		}
	}
	if err := s.healthy(ctx); err != nil {
		return s.revert(ctx, srcs, h, err)
	}
	if s.s.Switch != nil {
		if err := s.s.Switch(ctx); err != nil {
			return s.revert(ctx, srcs, h, fmt.Errorf("switch the DNS records and load balancers of %s to %s: %w", s.Site(), s.Server(), err))
		}
		failpoint.Hit("mid-migrate:dns")
	}
	if err := writeMarker(ctx, src, s.s.SourceSiteDir, Marker{To: s.Server(), At: now().UTC(), Done: true}); err != nil {
		return s.revert(ctx, srcs, h, fmt.Errorf("record the switch on %s: %w", s.s.Source, err))
	}
	failpoint.Hit("mid-migrate:switched")
	if err := s.disable(ctx, srcs); err != nil {
		return err
	}
	return s.finish(ctx, srcs, h)
}

// disable shows the disabled page on every source, once the move is
// switched.
func (s *Step) disable(ctx context.Context, srcs []*source) error {
	for _, x := range srcs {
		if err := put(ctx, x, x.Disabled); err != nil {
			return fmt.Errorf("%s is served from %s, but disabling it on %s failed (it shows the maintenance page there; run berth apply again): %w", s.Site(), s.Server(), x.Server, err)
		}
	}
	return nil
}

// finish removes, once the move is switched, what kept it resumable on
// the sources and, on the target, the record of an earlier move that
// took the site from it (this one moved it back).
func (s *Step) finish(ctx context.Context, srcs []*source, target host.Host) error {
	if s.s.TargetSiteDir != "" {
		if err := target.Remove(ctx, path.Join(s.s.TargetSiteDir, MarkerName)); err != nil {
			return err
		}
	}
	for _, x := range srcs {
		for _, name := range []string{savedName, MovingName} {
			if err := x.h.Remove(ctx, path.Join(x.SiteDir, name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// savedName is the copy of a source's own vhost, in its site directory,
// kept from before the first maintenance page until the migration is
// switched or reverted: a run cut off during the maintenance window
// finds the vhost to put back there.
const savedName = ".berth-migrate-vhost"

// savedVhost returns the source's own vhost: the kept copy when an
// earlier run left one, else the vhost, which it keeps first.
func savedVhost(ctx context.Context, x *source) ([]byte, error) {
	saved := path.Join(x.SiteDir, savedName)
	data, err := x.h.ReadFile(ctx, saved)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return data, err
	}
	if data, err = x.h.ReadFile(ctx, x.Maintenance.Vhost.Path); err != nil {
		return nil, err
	}
	return data, x.h.WriteFile(ctx, saved, data, host.WriteOptions{Mode: 0o600})
}

// copy copies the site's files from the source to the targets.
func (s *Step) copy(ctx context.Context) error {
	copies := []*filesync.Sync{filesync.NewSync(filesync.SyncSpec{ID: s.ID(), Site: s.Site(), Server: s.Server(), Dir: s.s.TargetFiles,
		Primary: s.s.Source, PrimaryDir: s.s.SourceFiles, Hosts: s.s.Hosts})}
	to := []string{s.Server()}
	for _, t := range s.s.OtherTargets {
		if t.Files != "" {
			copies = append(copies, filesync.NewSync(filesync.SyncSpec{ID: s.ID() + "@" + t.Server, Site: s.Site(), Server: t.Server, Dir: t.Files,
				Primary: s.s.Source, PrimaryDir: s.s.SourceFiles, Hosts: s.s.Hosts}))
			to = append(to, t.Server)
		}
	}
	if _, err := filesync.Resync(ctx, s.s.Hosts, copies); err != nil {
		return fmt.Errorf("copy the files of %s from %s to %s: %w", s.Site(), s.s.Source, strings.Join(to, ", "), err)
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

// healthy runs the health check of every target until it passes or
// HealthWait is over.
func (s *Step) healthy(ctx context.Context) error {
	if err := retryHealth(ctx, s.s.Health, s.s.HealthWait); err != nil {
		return fmt.Errorf("health check of %s on %s: %w", s.Site(), s.Server(), err)
	}
	for _, t := range s.s.OtherTargets {
		if err := retryHealth(ctx, t.Health, s.s.HealthWait); err != nil {
			return fmt.Errorf("health check of %s on %s: %w", s.Site(), t.Server, err)
		}
	}
	return nil
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

// put writes side's page and vhost on the source x, then checks and
// reloads its web server; a failed check or reload puts the old vhost
// back.
func put(ctx context.Context, x *source, side Side) error {
	if err := x.h.MkdirAll(ctx, side.PageDir, 0o755); err != nil {
		return err
	}
	if err := x.h.WriteFile(ctx, side.Page.Path, side.Page.Content, host.WriteOptions{Mode: 0o644}); err != nil {
		return err
	}
	old, err := x.h.ReadFile(ctx, side.Vhost.Path)
	if err != nil {
		return err
	}
	if err := x.h.WriteFile(ctx, side.Vhost.Path, side.Vhost.Content, host.WriteOptions{Mode: 0o644}); err != nil {
		return err
	}
	if err := reloadService(ctx, x.h, x.HTTP); err != nil {
		if werr := x.h.WriteFile(ctx, side.Vhost.Path, old, host.WriteOptions{Mode: 0o644}); werr != nil {
			return errors.Join(err, werr)
		}
		return errors.Join(err, reloadService(ctx, x.h, x.HTTP))
	}
	return nil
}

// serveAgain makes sure the source x serves the site with its own vhost
// (a run cut off in the maintenance window left the maintenance page
// there) and forgets the kept copy, when the move waits.
func serveAgain(ctx context.Context, x *source) error {
	cur, err := x.h.ReadFile(ctx, x.Maintenance.Vhost.Path)
	if err != nil {
		return fmt.Errorf("read the vhost: %w", err)
	}
	if string(cur) != string(x.old) {
		if err := x.h.WriteFile(ctx, x.Maintenance.Vhost.Path, x.old, host.WriteOptions{Mode: 0o644}); err != nil {
			return fmt.Errorf("put the vhost back: %w", err)
		}
		if err := reloadService(ctx, x.h, x.HTTP); err != nil {
			return fmt.Errorf("reload %s: %w", x.HTTP.Name, err)
		}
		if err := x.h.Remove(ctx, x.Maintenance.Page.Path); err != nil {
			return err
		}
	}
	return x.h.Remove(ctx, path.Join(x.SiteDir, savedName))
}

// revert puts every source's own vhost back (always: a run cut off in
// the maintenance window left the maintenance page there) and removes
// the targets' new vhost and pool, then returns cause, saying so.
func (s *Step) revert(ctx context.Context, srcs []*source, target host.Host, cause error) error {
	ctx = context.WithoutCancel(ctx)
	var problems []string
	for _, x := range srcs {
		if x.old == nil {
			continue // never changed: its vhost was not even kept
		}
		if err := x.h.WriteFile(ctx, x.Maintenance.Vhost.Path, x.old, host.WriteOptions{Mode: 0o644}); err != nil {
			problems = append(problems, fmt.Sprintf("put the vhost back on %s: %v", x.Server, err))
		} else if err := reloadService(ctx, x.h, x.HTTP); err != nil {
			problems = append(problems, fmt.Sprintf("reload %s on %s: %v", x.HTTP.Name, x.Server, err))
		} else if err := x.h.Remove(ctx, x.Maintenance.Page.Path); err != nil {
			problems = append(problems, fmt.Sprintf("remove the maintenance page on %s: %v", x.Server, err))
		} else if err := x.h.Remove(ctx, path.Join(x.SiteDir, savedName)); err != nil {
			problems = append(problems, fmt.Sprintf("remove the kept vhost on %s: %v", x.Server, err))
		}
	}
	targets := append([]Target{{Server: s.Server(), Remove: s.s.TargetRemove, Services: s.s.TargetServices}}, s.s.OtherTargets...)
	for i, t := range targets {
		th := target
		if i > 0 {
			var err error
			if th, err = s.s.Hosts.Host(ctx, t.Server); err != nil {
				problems = append(problems, fmt.Sprintf("connect to %s: %v", t.Server, err))
				continue
			}
		}
		for _, p := range t.Remove {
			if err := th.Remove(ctx, p); err != nil {
				problems = append(problems, fmt.Sprintf("remove %s on %s: %v", p, t.Server, err))
			}
		}
		for _, svc := range t.Services {
			if err := reloadService(ctx, th, svc); err != nil {
				problems = append(problems, fmt.Sprintf("reload %s on %s: %v", svc.Name, t.Server, err))
			}
		}
	}
	var fromList, toList []string
	for _, x := range srcs {
		fromList = append(fromList, x.Server)
	}
	for _, t := range targets {
		toList = append(toList, t.Server)
	}
	from, to := strings.Join(fromList, ", "), strings.Join(toList, ", ")
	if len(problems) > 0 {
		return fmt.Errorf("migration of %s to %s failed: %w; reverting it failed too: %s", s.Site(), to, cause, strings.Join(problems, "; "))
	}
	return fmt.Errorf("migration of %s to %s failed, reverted (the site is served from %s as before; its new vhost and pool on %s removed): %w",
		s.Site(), to, from, to, cause)
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
