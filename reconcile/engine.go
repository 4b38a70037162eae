package reconcile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/internal/failpoint"
)

// Hosts connects the engine to servers.
type Hosts interface {
	// Host returns a connection to the named server. The engine does not
	// close it; the caller owns it. It must be safe for concurrent use and
	// honour ctx while connecting.
	Host(ctx context.Context, server string) (host.Host, error)
}

// Inventory is the engine's record of what berth created, per environment.
// Implementations must be safe for concurrent use and honour ctx.
type Inventory interface {
	// Records returns every record of env; none is not an error.
	Records(ctx context.Context, env string) ([]Record, error)
	// SaveRecords inserts or replaces records, all or none.
	SaveRecords(ctx context.Context, env, revision string, recs []Record) error
	// DeleteRecords removes records by ID; unknown IDs are ignored.
	DeleteRecords(ctx context.Context, env string, ids []string) error
	// AppliedPolicy returns the policy of the revision last applied to
	// env (see Policy); ok is false when none was recorded.
	AppliedPolicy(ctx context.Context, env string) (p Policy, ok bool, err error)
	// SaveAppliedPolicy records p, the own policy of revision, as the
	// policy last applied to env.
	SaveAppliedPolicy(ctx context.Context, env, revision string, p Policy) error
	// PendingReloads returns the services of env recorded as pending check
	// and reload; none is not an error.
	PendingReloads(ctx context.Context, env string) ([]PendingReload, error)
	// AddPendingReloads records services of server as pending. It returns
	// once the record survives a crash.
	AddPendingReloads(ctx context.Context, env, server string, services []string) error
	// ClearPendingReloads removes services of server from the pending
	// reloads; services not pending are ignored.
	ClearPendingReloads(ctx context.Context, env, server string, services []string) error
}

// Service is something on a server that checks and reloads its
// configuration, such as nginx or one PHP version's FPM.
type Service struct {
	Name   string
	Test   []string // run once after files changed; failure restores them
	Reload []string // run once after a successful test
	Dir    string   // working directory of the commands, "" for the default
}

// Desired is what one environment should look like: its resources and how
// to check and reload the services they feed.
type Desired struct {
	Env          string
	Revision     string
	MaxDeletions int
	Resources    []Resource
	// Warnings are carried into the plan.
	Warnings []string
	// Service returns the service called name on server (as named by a
	// Change's Service field).
	Service func(server, name string) (Service, error)
	// BeforeDelete, when set, returns for a site the revision removes
	// entirely (recs: its inventory records) the step that must succeed
	// before any deletion of that site runs, such as a backup; nil for
	// none. See guard.go.
	BeforeDelete func(site string, recs []Record) (Resource, error)
	// Prune, when set, makes the resource that deletes rec when the
	// builder knows more than the kind's registered pruner (how to reach
	// a database server as administrator); false: the registered pruner.
	Prune func(rec Record) (Resource, bool)
}

// Engine plans and applies. Its zero value is not usable: set Hosts and
// Inventory. An Engine is safe for concurrent use on different environments.
type Engine struct {
	Hosts     Hosts
	Inventory Inventory
	Hook      Hook // nil: no progress reported
	// Workers is how many changes run at once on one server (default 4).
	Workers int
}

// PlanOptions change what a plan may do.
type PlanOptions struct {
	// Adopt lets berth take over files it did not create.
	Adopt bool
	// AllowDeletions raises policy.max_deletions for this plan only.
	AllowDeletions int
	// MaxCreateDiffs keeps the diffs (the whole content) of only the
	// first N new files; 0 keeps all. A first converge of thousands of
	// sites is otherwise mostly copies of their config in the plan.
	MaxCreateDiffs int
	// Sites limits the plan to the resources of these sites (by domain)
	// and what they depend on (shared directories, their platform's
	// release): nothing else is checked, changed or pruned, and of the
	// inventory only these sites' records are read. Empty: the whole
	// environment. This is `berth verify`.
	Sites []string
}

// finishTimeout bounds the service checks, reloads and inventory writes
// that finish an apply after it was cancelled.
const finishTimeout = 5 * time.Minute

// ErrPolicy is wrapped by the error of a plan that policy refuses.
var ErrPolicy = errors.New("refused by policy")

// planned is the engine's private part of a Plan: what Apply needs.
type planned struct {
	desired  *Desired
	adopt    bool
	records  map[string][]Record    // server -> records to save even without a change
	forget   map[string][]forgotten // server -> records superseded by a desired resource
	observed map[string]error       // server -> observation error
	guards   map[string]bool        // IDs of the steps run before a site's deletions
	scoped   bool                   // limited to some sites: not the whole revision
	pending  map[string][]string    // server -> services pending check and reload before the run
	dirs     map[string][]string    // server -> directories berth writes in, swept of temp files
	// interrupted marks servers where an earlier run stopped between its
	// first write and its end (a pending reload or record): they are swept
	// of temp files even when this run writes nothing there.
	interrupted map[string]bool
	// orphans are pending reloads of servers the environment no longer
	// declares: Apply forgets them, saying so.
	orphans []PendingReload
}

// superseder is implemented by a resource that takes over paths that
// resources of another kind managed before (a release replacing the code
// an older berth copied file by file into its `current` directory).
// Inventory records of paths at or under Supersedes() that the revision no
// longer declares are not pruned — deleting them would reach through the
// new resource — but forgotten once the superseding resource has
// converged; its Apply deals with what is on disk.
type superseder interface {
	Supersedes() []string
}

// forgotten is an inventory record superseded by the resource by.
type forgotten struct {
	id, by string
}

// Plan observes every server of the environment (one round trip each),
// checks every resource and returns the changes. It writes nothing,
// neither on hosts nor in the inventory. A server that cannot be observed
// does not stop the plan: its error is in Plan.Unreachable.
func (e *Engine) Plan(ctx context.Context, d *Desired, opts PlanOptions) (*Plan, error) {
	recs, err := e.Inventory.Records(ctx, d.Env)
	if err != nil {
		return nil, fmt.Errorf("read the inventory of %s: %w", d.Env, err)
	}
	pending, err := e.Inventory.PendingReloads(ctx, d.Env)
	if err != nil {
		return nil, fmt.Errorf("read the pending reloads of %s: %w", d.Env, err)
	}
	resources := d.Resources
	if len(opts.Sites) > 0 {
		if resources, recs, err = scope(d, recs, opts.Sites); err != nil {
			return nil, err
		}
	}
	byID := make(map[string]*Record, len(recs))
	for i := range recs {
		byID[recs[i].ID] = &recs[i]
	}

	desired := make(map[string]Resource, len(resources))
	servers := map[string][]Resource{}
	sitesNow := map[string]bool{}
	for _, r := range resources {
		if _, dup := desired[r.ID()]; dup {
			return nil, fmt.Errorf("two resources have the ID %s; this is a bug in berth", r.ID())
		}
		desired[r.ID()] = r
		servers[r.Server()] = append(servers[r.Server()], r)
		if r.Site() != "" {
			sitesNow[r.Site()] = true
		}
	}
	p := &Plan{Env: d.Env, Revision: d.Revision, Warnings: d.Warnings}
	type claim struct{ prefix, by string }
	claims := map[string][]claim{}
	for _, r := range resources {
		if s, ok := r.(superseder); ok {
			for _, prefix := range s.Supersedes() {
				claims[r.Server()] = append(claims[r.Server()], claim{prefix, r.ID()})
			}
		}
	}
	forget := map[string][]forgotten{}
	deletedSites := map[string]bool{}
	siteRecs := map[string][]Record{} // records of sites the revision removes
records:
	for _, rec := range recs {
		if _, ok := desired[rec.ID]; ok {
			continue
		}
		for _, c := range claims[rec.Server] {
			if rec.Path == c.prefix || strings.HasPrefix(rec.Path, c.prefix+"/") {
				forget[rec.Server] = append(forget[rec.Server], forgotten{id: rec.ID, by: c.by})
				continue records
			}
		}
		var r Resource
		if d.Prune != nil {
			r, _ = d.Prune(rec)
		}
		if r == nil {
			prune, err := prunerFor(rec.Kind)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", rec.ID, err)
			}
			r = prune(rec)
		}
		servers[rec.Server] = append(servers[rec.Server], r)
		if rec.Site != "" && !sitesNow[rec.Site] && !rec.Adopted {
			deletedSites[rec.Site] = true
		}
		if rec.Site != "" && !sitesNow[rec.Site] {
			siteRecs[rec.Site] = append(siteRecs[rec.Site], rec)
		}
	}
	p.DeletedSites = slices.Sorted(maps.Keys(deletedSites))
	p.Sites = slices.Sorted(maps.Keys(sitesNow))
	policy, raised, err := e.policyInForce(ctx, d)
	if err != nil {
		return nil, err
	}
	p.Warnings = append(slices.Clip(p.Warnings), raised...)
	if limit := max(policy.MaxDeletions, opts.AllowDeletions); len(p.DeletedSites) > limit {
		why := ""
		if policy.MaxDeletions < d.MaxDeletions {
			why = fmt.Sprintf(" (this revision raises it to %d, which takes effect from the next revision on)", d.MaxDeletions)
		}
		return nil, fmt.Errorf("the plan deletes %d sites (%s), more than policy.max_deletions = %d allows%s: %w; "+
			"if that is intended, run again with --allow-deletions=%d, or raise policy.max_deletions in berth.yaml in a revision of its own",
			len(p.DeletedSites), strings.Join(p.DeletedSites, ", "), policy.MaxDeletions, why, ErrPolicy, len(p.DeletedSites))
	}

	guards, guarded, err := e.guardChanges(ctx, d, p.DeletedSites, siteRecs)
	if err != nil {
		return nil, err
	}
	pl := &planned{desired: d, adopt: opts.Adopt, records: map[string][]Record{}, observed: map[string]error{}, forget: forget, guards: map[string]bool{}, scoped: len(opts.Sites) > 0,
		pending: map[string][]string{}, dirs: map[string][]string{}, interrupted: map[string]bool{}}
	for _, rec := range recs {
		if rec.Pending {
			pl.interrupted[rec.Server] = true
		}
	}
	for _, pr := range pending {
		if _, ok := servers[pr.Server]; ok || len(opts.Sites) > 0 {
			pl.interrupted[pr.Server] = true
			continue
		}
		// A server berth manages nothing on any more: reload its service
		// if the environment still declares it, else forget it.
		if d.Service == nil {
			pl.orphans = append(pl.orphans, pr)
		} else if _, err := d.Service(pr.Server, pr.Service); err != nil {
			pl.orphans = append(pl.orphans, pr)
		} else {
			pl.interrupted[pr.Server] = true
			servers[pr.Server] = nil
			continue
		}
		p.Pending = append(p.Pending, pr)
	}
	for _, g := range guards {
		pl.guards[g.ID] = true
	}
	p.Changes = append(p.Changes, guards...)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for server, rs := range servers {
		wg.Go(func() {
			changes, save, unchanged, dirs, err := e.checkServer(ctx, server, rs, byID, opts.Adopt, guarded)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				pl.observed[server] = err
				p.Unreachable = append(p.Unreachable, ServerError{Server: server, Error: err.Error()})
				return
			}
			p.Changes = append(p.Changes, changes...)
			p.Unchanged += unchanged
			if len(save) > 0 {
				pl.records[server] = save
			}
			pl.dirs[server] = dirs
			for _, pr := range pending {
				if pr.Server == server {
					pl.pending[server] = append(pl.pending[server], pr.Service)
					p.Pending = append(p.Pending, pr)
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sortChanges(p.Changes)
	if n := opts.MaxCreateDiffs; n > 0 {
		for i := range p.Changes {
			if c := &p.Changes[i]; c.Action == Create && c.Diff != "" {
				if n == 0 {
					c.Diff = ""
					p.OmittedDiffs++
				} else {
					n--
				}
			}
		}
	}
	slices.SortFunc(p.Unreachable, func(a, b ServerError) int { return strings.Compare(a.Server, b.Server) })
	slices.SortFunc(p.Pending, func(a, b PendingReload) int {
		return cmp.Or(strings.Compare(a.Server, b.Server), strings.Compare(a.Service, b.Service))
	})
	p.planned = pl
	return p, nil
}

// scope returns the resources of sites and, transitively, what they
// depend on, and the inventory records of sites.
func scope(d *Desired, recs []Record, sites []string) ([]Resource, []Record, error) {
	want := map[string]bool{}
	for _, s := range sites {
		want[s] = true
	}
	byID := make(map[string]Resource, len(d.Resources))
	found := map[string]bool{}
	var queue []string
	for _, r := range d.Resources {
		byID[r.ID()] = r
		if want[r.Site()] {
			found[r.Site()] = true
			queue = append(queue, r.ID())
		}
	}
	for _, s := range sites {
		if !found[s] {
			return nil, nil, fmt.Errorf("environment %s has no site %s: check its name (berth status lists the sites)", d.Env, s)
		}
	}
	in := map[string]bool{}
	var out []Resource
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		r, ok := byID[id]
		if !ok || in[id] {
			continue
		}
		in[id] = true
		out = append(out, r)
		queue = append(queue, r.Deps()...)
	}
	var kept []Record
	for _, rec := range recs {
		if want[rec.Site] {
			kept = append(kept, rec)
		}
	}
	return out, kept, nil
}

// ServerError is a server the plan could not observe.
type ServerError struct {
	Server string `json:"server"`
	Error  string `json:"error"`
}

// checkServer observes one server in one round trip and checks its
// resources. dirs are the directories holding the resources' paths: where
// berth writes, and where an interrupted write may have left a temporary
// file.
func (e *Engine) checkServer(ctx context.Context, server string, rs []Resource, recs map[string]*Record, adopt bool, guarded map[string]bool) (changes []Change, save []Record, unchanged int, dirs []string, err error) {
	h, err := e.Hosts.Host(ctx, server)
	if err != nil {
		e.hook().Observed(server, 0, err)
		return nil, nil, 0, nil, fmt.Errorf("connect to server %s: %w", server, err)
	}
	seen := map[string]bool{}
	seenDir := map[string]bool{}
	var paths []string
	for _, r := range rs {
		for _, p := range r.Observe() {
			if !seen[p] {
				seen[p] = true
				paths = append(paths, p)
			}
		}
		if p := r.Path(); p != "" {
			if d := path.Dir(p); !seenDir[d] {
				seenDir[d] = true
				dirs = append(dirs, d)
			}
		}
	}
	slices.Sort(dirs)
	var obs []host.Observation
	if len(paths) > 0 {
		obs, err = h.Observe(ctx, paths)
	}
	e.hook().Observed(server, len(paths), err)
	if err != nil {
		return nil, nil, 0, nil, fmt.Errorf("observe server %s: %w", server, err)
	}
	byPath := make(map[string]host.Observation, len(obs))
	for _, o := range obs {
		byPath[o.Path] = o
	}
	slices.SortFunc(rs, func(a, b Resource) int { return strings.Compare(a.ID(), b.ID()) })
	batches, err := observeBatches(ctx, h, rs)
	if err != nil {
		return nil, nil, 0, nil, fmt.Errorf("observe server %s: %w", server, err)
	}
	for _, r := range rs {
		rec := recs[r.ID()]
		in := CheckInput{Host: h, Obs: byPath, Record: rec, Adopt: adopt, Guarded: guarded[r.Site()]}
		if bc, ok := r.(BatchChecker); ok {
			in.Batch = batches[bc.BatchKey()]
		}
		c, err := r.Check(ctx, in)
		if err != nil {
			return nil, nil, 0, nil, fmt.Errorf("check %s: %w", r.ID(), err)
		}
		c.res = r
		if rec != nil {
			before := *rec
			c.before = &before
		}
		// The inventory entry to keep if this change succeeds (or now, for
		// an unchanged resource whose record is missing or stale).
		if c.Action != Delete && c.Action != Conflict {
			nr := r.Record()
			switch {
			case rec != nil:
				nr.Adopted = rec.Adopted && c.Action == None
			case c.Action == None:
				nr.Adopted = !adopt // it was there before berth: never delete it
			}
			c.record = &nr
			if c.Action == None && (rec == nil || *rec != nr) {
				save = append(save, nr)
			}
		}
		if c.Action == None {
			unchanged++
			continue
		}
		changes = append(changes, c)
	}
	return changes, save, unchanged, dirs, nil
}

// observeBatches runs ObserveBatch once per batch key among rs, which are
// sorted by ID, and returns the results by key.
func observeBatches(ctx context.Context, h host.Host, rs []Resource) (map[string]any, error) {
	groups := map[string][]Resource{}
	var keys []string
	for _, r := range rs {
		if bc, ok := r.(BatchChecker); ok {
			k := bc.BatchKey()
			if _, seen := groups[k]; !seen {
				keys = append(keys, k)
			}
			groups[k] = append(groups[k], r)
		}
	}
	out := make(map[string]any, len(keys))
	for _, k := range keys {
		g := groups[k]
		v, err := g[0].(BatchChecker).ObserveBatch(ctx, h, g)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out[k] = v
	}
	return out, nil
}

func (e *Engine) hook() Hook {
	if e.Hook == nil {
		return NopHook{}
	}
	return e.Hook
}

// Failure is one failure of a run: of a change (ID, and Site when the
// resource is a site's) or of a server as a whole (a connection, a
// configuration check or reload, the inventory: ID and Site "").
type Failure struct {
	Server string `json:"server,omitempty"`
	ID     string `json:"id,omitempty"`
	Site   string `json:"site,omitempty"`
	Error  string `json:"error"`
}

// failServer records a failure of server as a whole.
func (r *Result) failServer(server, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.Errors = append(r.Errors, server+": "+msg)
	r.Failures = append(r.Failures, Failure{Server: server, Error: msg})
}

// failChange records a failure of the change c.
func (r *Result) failChange(c *Change, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.Errors = append(r.Errors, fmt.Sprintf("%s: %s: %s", c.Server, c.ID, msg))
	r.Failures = append(r.Failures, Failure{Server: c.Server, ID: c.ID, Site: c.Site, Error: msg})
}

// Result is what Apply did.
type Result struct {
	Applied  int      `json:"applied"`
	Failed   int      `json:"failed"`
	Restored int      `json:"restored"` // changes undone after a failed service check
	Reloads  []string `json:"reloads,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	Errors   []string `json:"errors,omitempty"`
	// Failures are the errors again, structured: which resource of which
	// site failed, or which server failed as a whole (ID and Site ""),
	// for status per site without reading messages.
	Failures []Failure `json:"failures,omitempty"`

	// Set by phase 1 on one server: why no data may be deleted anywhere
	// ("" when nothing stops it), and the sites with a failed change,
	// whose data must not be deleted.
	stop        string
	failedSites map[string]bool
}

// Apply runs exactly the changes of p, in two phases separated by a
// barrier across all servers:
//
//  1. configuration, servers in parallel: every change except the data
//     deletions (Change.dataPhase), in dependency order with up to Workers
//     at once (a change that depends on one on another server waits for
//     it, and is skipped when it failed: crossDeps); then one check of every service whose files changed (or
//     that an interrupted run left pending); only when every check on the
//     server passed, the installs (afterChecker) run, then one reload of
//     each service. A failed check restores every
//     change of the run on that server, of every service and kind (files
//     written or deleted, directories created), and reloads nothing there;
//  2. data, servers in parallel, only when phase 1 succeeded on every
//     server (no failed check or reload, no failed shared change, no
//     unreachable server, not cancelled): the deletions that feed no
//     service, such as a removed site's directory and database; a site
//     with a failed change of its own keeps its data for the next run.
//     They need no check and no reload: their service files went in
//     phase 1, so the rule "one check and one reload per service per
//     server per run" holds.
//
// A removed site's guard step (its backup) runs before both; when it
// fails, none of the site's deletions runs. Conflicts are not applied.
//
// Crash consistency, on each server before its first write: the services
// the run changes are recorded as pending check and reload (cleared after
// each one's reload), the records of what it will write are saved marked
// Pending (confirmed or taken back after), and temporary files an earlier
// interrupted write left in berth's directories are removed.
//
// The returned error is non-nil when anything failed; Result says what.
func (e *Engine) Apply(ctx context.Context, p *Plan) (*Result, error) {
	if p.planned == nil {
		return nil, errors.New("apply: the plan was not made by Engine.Plan")
	}
	blocked, res := e.runGuards(ctx, p)
	for _, pr := range p.planned.orphans {
		if err := e.Inventory.ClearPendingReloads(ctx, p.Env, pr.Server, []string{pr.Service}); err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("%s: clear the pending reload of %s: %v", pr.Server, pr.Service, err))
			continue
		}
		res.Warnings = append(res.Warnings, fmt.Sprintf("%s: %s was left pending check and reload by an interrupted run, but environment %s no longer declares it: forgotten; check and reload it by hand if it still runs", pr.Server, pr.Service, p.Env))
	}
	config := map[string][]*Change{}
	data := map[string][]*Change{}
	total := 0
	for i := range p.Changes {
		c := &p.Changes[i]
		if c.Action == Conflict || c.Action == None || p.planned.guards[c.ID] {
			continue
		}
		if err := blocked[c.Site]; err != nil && c.Action == Delete {
			e.hook().Applied(c, fmt.Errorf("not deleted: %w", err))
			res.Failed++
			continue
		}
		if c.dataPhase() {
			data[c.Server] = append(data[c.Server], c)
		} else {
			config[c.Server] = append(config[c.Server], c)
		}
		total++
	}
	ensure := func(server string) {
		if _, ok := config[server]; !ok {
			config[server] = nil
		}
	}
	for server := range p.planned.records {
		ensure(server)
	}
	for server := range p.planned.forget {
		if p.planned.observed[server] == nil {
			ensure(server)
		}
	}
	for server := range p.planned.pending {
		ensure(server)
	}
	for server := range p.planned.interrupted {
		if p.planned.observed[server] == nil {
			ensure(server)
		}
	}
	for server := range data {
		ensure(server)
	}
	var mu sync.Mutex
	var n atomic.Int64
	merge := func(r *Result) {
		mu.Lock()
		defer mu.Unlock()
		res.Applied += r.Applied
		res.Failed += r.Failed
		res.Restored += r.Restored
		res.Reloads = append(res.Reloads, r.Reloads...)
		res.Warnings = append(res.Warnings, r.Warnings...)
		res.Errors = append(res.Errors, r.Errors...)
		res.Failures = append(res.Failures, r.Failures...)
	}

	// Phase 1: configuration.
	var stops []string
	if len(p.Unreachable) > 0 {
		stops = append(stops, "a server could not be observed")
	}
	failedSites := map[string]bool{}
	cross := newCrossDeps(config)
	var wg sync.WaitGroup
	for server, changes := range config {
		wg.Go(func() {
			r := e.applyServer(ctx, p, server, changes, &n, total, cross)
			merge(r)
			mu.Lock()
			defer mu.Unlock()
			if r.stop != "" {
				stops = append(stops, server+": "+r.stop)
			}
			for site := range r.failedSites {
				failedSites[site] = true
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		stops = append(stops, "the run was cancelled")
	}

	// Barrier, then phase 2: data. A failed check or reload anywhere stops
	// all of it; a failed change of a site stops that site's.
	skipped := 0
	for _, server := range slices.Sorted(maps.Keys(data)) {
		var run []*Change
		for _, c := range data[server] {
			switch {
			case len(stops) > 0:
				e.hook().Applied(c, errors.New("not deleted: the configuration phase of this run failed; the next successful run deletes it"))
			case failedSites[c.Site]:
				e.hook().Applied(c, fmt.Errorf("not deleted: a configuration change of site %s failed in this run; the next successful run deletes it", c.Site))
			default:
				run = append(run, c)
				continue
			}
			res.Failed++
			skipped++
		}
		data[server] = run
	}
	if skipped > 0 {
		why := "a configuration change of the site failed"
		if len(stops) > 0 {
			slices.Sort(stops)
			why = strings.Join(stops, "; ")
		}
		res.Errors = append(res.Errors, fmt.Sprintf("%d deletion(s) of data not run, because %s: nothing of a removed site's data is deleted until its configuration is gone everywhere", skipped, why))
	}
	if len(stops) == 0 && len(data) > 0 {
		failpoint.Hit("before-data")
		for server, changes := range data {
			if len(changes) > 0 {
				wg.Go(func() { merge(e.applyData(ctx, p, server, changes, &n, total)) })
			}
		}
		wg.Wait()
	}

	for _, u := range p.Unreachable {
		res.failServer(u.Server, "not applied: %s", u.Error)
	}
	slices.SortStableFunc(res.Failures, func(a, b Failure) int {
		return cmp.Or(strings.Compare(a.Server, b.Server), strings.Compare(a.ID, b.ID))
	})
	slices.Sort(res.Reloads)
	slices.Sort(res.Warnings)
	slices.Sort(res.Errors)
	if len(res.Errors) == 0 && !p.planned.scoped {
		// The revision is applied: its own limits are in force from the
		// next plan on (a raised one only now; see Policy).
		if err := e.Inventory.SaveAppliedPolicy(context.WithoutCancel(ctx), p.Env, p.Revision, p.planned.desired.policy()); err != nil {
			res.Errors = append(res.Errors, err.Error())
		}
	}
	if len(res.Errors) > 0 {
		return res, fmt.Errorf("apply of %s: %d error(s):\n  %s", p.Env, len(res.Errors), strings.Join(res.Errors, "\n  "))
	}
	return res, nil
}

// applyServer is phase 1 of Apply on one server.
func (e *Engine) applyServer(ctx context.Context, p *Plan, server string, changes []*Change, n *atomic.Int64, total int, cross *crossDeps) *Result {
	// Whatever happens here, no change on another server waits forever for
	// one of this server's.
	defer cross.completeAll(changes)
	res := &Result{}
	fail := func(format string, args ...any) { res.failServer(server, format, args...) }
	abort := func(format string, args ...any) *Result {
		fail(format, args...)
		res.stop = "nothing was applied"
		for _, c := range changes {
			e.hook().Applied(c, errors.New("not applied: "+res.Errors[len(res.Errors)-1]))
		}
		res.Failed = len(changes)
		return res
	}
	h, err := e.Hosts.Host(ctx, server)
	if err != nil {
		return abort("connect: %v", err)
	}

	// Which services the run must check and reload here: those whose files
	// change, and those an interrupted run left pending.
	wasPending := map[string]bool{}
	for _, s := range p.planned.pending[server] {
		wasPending[s] = true
	}
	services := maps.Clone(wasPending)
	var newPending []string
	var intents []Record
	for _, c := range changes {
		if c.Service != "" && !services[c.Service] {
			services[c.Service] = true
			newPending = append(newPending, c.Service)
		}
		if c.record != nil && c.Action != Delete {
			r := *c.record
			r.Pending = true
			intents = append(intents, r)
		}
	}
	slices.Sort(newPending)

	// Before the first write: sweep what an interrupted write left, record
	// the services as pending and what will be written as berth's.
	if len(changes) > 0 || p.planned.interrupted[server] {
		if dirs := p.planned.dirs[server]; len(dirs) > 0 {
			// A leftover is never read by a service: failing to remove it
			// is worth a warning, not the run.
			if _, err := h.SweepTemp(ctx, dirs); err != nil {
				res.Warnings = append(res.Warnings, fmt.Sprintf("%s: temporary files (%s*) left by an interrupted run could not be removed: %v", server, host.TempPrefix, err))
			}
			failpoint.Hit("after-sweep")
		}
	}
	if len(newPending) > 0 {
		if err := e.Inventory.AddPendingReloads(ctx, p.Env, server, newPending); err != nil {
			return abort("record %s as pending check and reload (nothing was written): %v", strings.Join(newPending, ", "), err)
		}
		failpoint.Hit("after-record-pending")
	}
	if len(intents) > 0 {
		if err := e.Inventory.SaveRecords(ctx, p.Env, p.Revision, intents); err != nil {
			return abort("record %d resources in the inventory before writing them (nothing was written): %v", len(intents), err)
		}
		failpoint.Hit("after-record-intent")
	}

	// The changes that run between the checks and the reloads (installs,
	// see afterChecker) go last; the DAG runs the others first.
	changes = slices.Clone(changes)
	slices.SortStableFunc(changes, func(a, b *Change) int {
		return cmp.Compare(afterRank(a), afterRank(b))
	})
	npre := slices.IndexFunc(changes, (*Change).afterCheck)
	if npre < 0 {
		npre = len(changes)
	}
	runCtx := ctx
	errs, order := e.runDAG(ctx, h, changes[:npre], n, total, cross, nil)
	errs = append(errs, make([]error, len(changes)-npre)...)

	// Once changes were written, their service check, restore or reload and
	// the inventory must happen even when ctx was cancelled (SIGTERM): the
	// DAG stopped starting new changes, and what it did must not be left
	// unchecked, unreloaded or unrecorded.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()

	ok := make([]bool, len(changes))
	account := func(i int) {
		c := changes[i]
		var kept *KeptError
		switch {
		case errs[i] == nil:
			ok[i] = true
			res.Applied++
		case errors.As(errs[i], &kept):
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s: %v", server, kept))
		default:
			res.Failed++
			res.failChange(c, "%v", errs[i])
			if c.Site == "" {
				res.stop = "a shared resource failed"
			} else {
				if res.failedSites == nil {
					res.failedSites = map[string]bool{}
				}
				res.failedSites[c.Site] = true
			}
		}
	}
	for i := range npre {
		account(i)
	}

	// Check every service; reload only when all passed.
	names := slices.Sorted(maps.Keys(services))
	failpoint.Hit("before-check")
	var refused []string
	svcs := map[string]Service{}
	for _, name := range names {
		svc, err := p.planned.desired.Service(server, name)
		if err != nil && wasPending[name] && !slices.ContainsFunc(changes, func(c *Change) bool { return c.Service == name }) {
			// Pending from an interrupted run, and no longer declared: no
			// check can ever pass, so it must not refuse every later run.
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s: %s was left pending check and reload by an interrupted run, but berth can no longer check it (%v): forgotten; check and reload it by hand if it still runs", server, name, err))
			if cerr := e.Inventory.ClearPendingReloads(ctx, p.Env, server, []string{name}); cerr != nil {
				fail("clear the pending reload of %s: %v", name, cerr)
			}
			delete(services, name)
			continue
		}
		if err == nil {
			svcs[name] = svc
			err = e.runService(ctx, h, svc.Test, svc.Dir)
			e.hook().ServiceChecked(server, name, err)
		}
		if err != nil {
			refused = append(refused, name)
			fail("%s: configuration check failed: %v", name, err)
		}
	}
	if len(refused) > 0 {
		for _, c := range changes[npre:] {
			e.hook().Applied(c, errors.New("not run: the configuration check of this server failed"))
			res.Failed++
		}
		// Put back every change of this run on this server, newest first,
		// so that it serves and holds what it did before the run.
		restored, unrestored := 0, 0
		for _, i := range slices.Backward(order) {
			if !ok[i] {
				continue
			}
			if uerr := changes[i].res.Undo(ctx, h, changes[i]); uerr != nil {
				res.failChange(changes[i], "restore after the failed check: %v", uerr)
				unrestored++
				continue
			}
			ok[i] = false
			res.Applied--
			res.Restored++
			restored++
		}
		fail("%d change(s) of this run restored and nothing reloaded, because the configuration check of %s failed", restored, strings.Join(refused, ", "))
		res.stop = "the configuration check of " + strings.Join(refused, ", ") + " failed"
		// Restored, the files are what the services run: this run's
		// pending records go (an interrupted run's stay). A change that
		// could not be restored leaves them: the next run checks again.
		if unrestored == 0 && len(newPending) > 0 {
			if err := e.Inventory.ClearPendingReloads(ctx, p.Env, server, newPending); err != nil {
				fail("clear pending reloads of %s: %v", strings.Join(newPending, ", "), err)
			}
		}
	} else {
		e.runAfterCheck(runCtx, h, changes, npre, errs, &order, n, total, cross)
		for i := npre; i < len(changes); i++ {
			account(i)
		}
		failpoint.Hit("before-reload")
		for _, name := range names {
			svc, ok := svcs[name]
			if !ok {
				continue // forgotten above
			}
			err := e.runService(ctx, h, svc.Reload, svc.Dir)
			e.hook().Reloaded(server, name, err)
			if err != nil {
				fail("%s: reload failed (the files are written and checked; the old configuration may still be running; the next run reloads it again): %v", name, err)
				res.stop = "the reload of " + name + " failed"
				continue
			}
			res.Reloads = append(res.Reloads, server+"/"+name)
			if err := e.Inventory.ClearPendingReloads(ctx, p.Env, server, []string{name}); err != nil {
				fail("%s: reloaded, but its pending record was not cleared (the next run reloads it again): %v", name, err)
			}
			failpoint.Hit("after-reload")
		}
	}

	// Record what stuck; take back the intent of what did not.
	failpoint.Hit("before-inventory")
	save := slices.Clone(p.planned.records[server])
	var gone []string
	for i, c := range changes {
		switch {
		case ok[i] && c.Action == Delete:
			gone = append(gone, c.ID)
		case ok[i] && c.record != nil:
			save = append(save, *c.record)
		case c.record != nil && c.Action != Delete && c.before != nil:
			save = append(save, *c.before)
		case c.record != nil && c.Action != Delete:
			gone = append(gone, c.ID)
		}
	}
	gone = append(gone, e.superseded(p, server, changes, ok)...)
	if len(save) > 0 {
		if err := e.Inventory.SaveRecords(ctx, p.Env, p.Revision, save); err != nil {
			fail("record %d resources in the inventory: %v", len(save), err)
		}
	}
	if len(gone) > 0 {
		if err := e.Inventory.DeleteRecords(ctx, p.Env, gone); err != nil {
			fail("remove %d resources from the inventory: %v", len(gone), err)
		}
	}
	return res
}

// afterRank sorts the changes that run after the checks last.
func afterRank(c *Change) int {
	if c.afterCheck() {
		return 1
	}
	return 0
}

// runAfterCheck runs changes[npre:] (see afterChecker) once the server's
// checks passed, in dependency order: their errors go to errs, the ones
// that succeeded are appended to order. One whose dependency failed (here
// or on another server) is skipped.
func (e *Engine) runAfterCheck(ctx context.Context, h host.Host, changes []*Change, npre int, errs []error, order *[]int, n *atomic.Int64, total int, cross *crossDeps) {
	postErrs, postOrder := e.runDAG(ctx, h, changes[npre:], n, total, cross, nil)
	copy(errs[npre:], postErrs)
	for _, j := range postOrder {
		*order = append(*order, npre+j)
	}
}

// applyData is phase 2 of Apply on one server: deletions of data, each
// forgotten by the inventory as soon as it is done, so that a crash
// between two of them leaves no record of something already gone.
func (e *Engine) applyData(ctx context.Context, p *Plan, server string, changes []*Change, n *atomic.Int64, total int) *Result {
	res := &Result{}
	h, err := e.Hosts.Host(ctx, server)
	if err != nil {
		res.failServer(server, "connect: %v", err)
		res.Failed = len(changes)
		return res
	}
	forget := func(c *Change) error {
		err := e.Inventory.DeleteRecords(context.WithoutCancel(ctx), p.Env, []string{c.ID})
		failpoint.Hit("mid-delete")
		return err
	}
	errs, _ := e.runDAG(ctx, h, changes, n, total, nil, forget)
	for i, c := range changes {
		var kept *KeptError
		switch {
		case errs[i] == nil:
			res.Applied++
		case errors.As(errs[i], &kept):
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s: %v", server, kept))
		default:
			res.Failed++
			res.failChange(c, "%v", errs[i])
		}
	}
	return res
}

// superseded returns the records of server to forget: those whose
// superseding resource converged in this run or was converged already.
func (e *Engine) superseded(p *Plan, server string, changes []*Change, ok []bool) []string {
	var ids []string
	for _, f := range p.planned.forget[server] {
		converged := true
		for _, c := range p.Changes {
			if c.Server == server && c.ID == f.by {
				converged = false // planned: it must have stuck
				for i, a := range changes {
					if a.ID == f.by {
						converged = ok[i]
					}
				}
			}
		}
		if converged {
			ids = append(ids, f.id)
		}
	}
	return ids
}

func (e *Engine) runService(ctx context.Context, h host.Host, argv []string, dir string) error {
	if len(argv) == 0 {
		return nil
	}
	r, err := h.Run(ctx, argv, host.RunOptions{Dir: dir})
	if err != nil {
		var ee *host.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("%s: %s", strings.Join(argv, " "), strings.TrimSpace(string(r.Stderr)+string(r.Stdout)))
		}
		return fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	return nil
}

// runDAG applies changes in dependency order with up to Workers at once and
// returns each change's error, and the indexes of the changes that
// succeeded in the order they finished (Undo goes backwards through it).
// A change whose dependency failed is skipped. Creations wait for their
// Deps; deletions wait for deletions beneath them. after, when set, runs
// right after each successful change, before its dependents start; its
// error becomes the change's.
func (e *Engine) runDAG(ctx context.Context, h host.Host, changes []*Change, n *atomic.Int64, total int, cross *crossDeps, after func(*Change) error) ([]error, []int) {
	errs := make([]error, len(changes))
	var order []int
	if len(changes) == 0 {
		return errs, order
	}
	index := make(map[string]int, len(changes))
	for i, c := range changes {
		index[c.ID] = i
	}
	waits := make([]int, len(changes))
	dependents := make([][]int, len(changes))
	edge := func(before, after int) {
		waits[after]++
		dependents[before] = append(dependents[before], after)
	}
	type external struct {
		i   int
		dep string
		st  *crossDep
	}
	var deletes []int
	var externals []external
	for i, c := range changes {
		if c.Action == Delete {
			deletes = append(deletes, i)
			continue
		}
		for _, dep := range c.res.Deps() {
			if j, ok := index[dep]; ok {
				if changes[j].Action != Delete {
					edge(j, i)
				}
			} else if st := cross.lookup(dep); st != nil {
				waits[i]++
				externals = append(externals, external{i, dep, st})
			}
		}
	}
	// Deletions: children first. Sorting by path puts every child right
	// after its parent, so each deletion waits for the deeper ones.
	slices.SortFunc(deletes, func(a, b int) int { return strings.Compare(changes[a].Path, changes[b].Path) })
	for x, i := range deletes {
		parent := changes[i].Path
		if parent == "" {
			continue
		}
		for _, j := range deletes[x+1:] {
			if !strings.HasPrefix(changes[j].Path, parent+"/") {
				break
			}
			edge(j, i)
		}
	}

	workers := e.Workers
	if workers <= 0 {
		workers = 4
	}
	ready := make(chan int, len(changes))
	var mu sync.Mutex
	remaining := len(changes)
	var finish func(i int, err error)
	finish = func(i int, err error) { // with mu held
		errs[i] = err
		remaining--
		cross.complete(changes[i].ID, err)
		if remaining == 0 {
			close(ready)
		}
		for _, d := range dependents[i] {
			if err != nil && errs[d] == nil {
				var kept *KeptError
				if !errors.As(err, &kept) || changes[d].Action != Delete {
					errs[d] = fmt.Errorf("skipped: %s failed", changes[i].ID)
				}
			}
			waits[d]--
			if waits[d] == 0 {
				if errs[d] != nil {
					finish(d, errs[d])
				} else {
					ready <- d
				}
			}
		}
	}
	mu.Lock()
	for i := range changes {
		if waits[i] == 0 {
			ready <- i
		}
	}
	mu.Unlock()
	var wg sync.WaitGroup
	// A dependency on another server's change (of the same phase) is
	// waited for without holding a worker.
	for _, x := range externals {
		wg.Go(func() {
			<-x.st.done
			mu.Lock()
			defer mu.Unlock()
			if x.st.err != nil && errs[x.i] == nil {
				errs[x.i] = fmt.Errorf("skipped: %s failed", x.dep)
			}
			if waits[x.i]--; waits[x.i] == 0 {
				if errs[x.i] != nil {
					finish(x.i, errs[x.i])
				} else {
					ready <- x.i
				}
			}
		})
	}
	for range workers {
		wg.Go(func() {
			for i := range ready {
				c := changes[i]
				var err error
				if err = ctx.Err(); err == nil {
					e.hook().Applying(c, int(n.Add(1)), total)
					err = e.applyOne(ctx, h, c)
					if err == nil && after != nil {
						err = after(c)
					}
					e.hook().Applied(c, err)
					if err == nil && failpoint.Armed() {
						failpoint.Hit(writePoints(c)...)
					}
				}
				mu.Lock()
				if err == nil {
					order = append(order, i)
				}
				finish(i, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errs, order
}

// writePoints names the failpoints after a change: after-write: then its
// kind, its service and its role (the ID's last segment before the
// server, e.g. vhost in site/example.com/vhost@web1).
func writePoints(c *Change) []string {
	id, _, _ := strings.Cut(c.ID, "@")
	points := []string{"after-write:" + c.Kind, "after-write:" + id[strings.LastIndex(id, "/")+1:]}
	if c.Service != "" {
		points = append(points, "after-write:"+c.Service)
	}
	return points
}

// applyOne applies one change, turning a panic in a resource into an error
// so that one broken resource cannot take the engine down.
func (e *Engine) applyOne(ctx context.Context, h host.Host, c *Change) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in %s: %v", c.ID, r)
		}
	}()
	return c.res.Apply(ctx, h, c)
}
