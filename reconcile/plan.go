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

	"github.com/berthhq/berth/host"
)

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
	sitesNow := make(map[string]bool, len(resources)/2)
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
	forget, deletedSites, siteRecs, err := prune(d, resources, recs, desired, sitesNow, servers)
	if err != nil {
		return nil, err
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

	p.Migrations = d.Migrations
	guardSites := slices.Clone(p.DeletedSites)
	for site := range retired(d) {
		if len(siteRecs[site]) > 0 && !slices.Contains(guardSites, site) {
			guardSites = append(guardSites, site) // its old copy, after the grace period
		}
	}
	slices.Sort(guardSites)
	guards, guarded, err := e.guardChanges(ctx, d, guardSites, siteRecs)
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
	var refused []error // a kind's safety rule refused a change
	var followers []Change
	for server, rs := range servers {
		wg.Go(func() {
			changes, follow, save, unchanged, omitted, dirs, err := e.checkServer(ctx, server, rs, byID, opts, guarded)
			mu.Lock()
			defer mu.Unlock()
			if errors.Is(err, ErrPolicy) {
				refused = append(refused, err)
				return
			}
			if err != nil {
				pl.observed[server] = err
				p.Unreachable = append(p.Unreachable, ServerError{Server: server, Error: err.Error()})
				return
			}
			p.Changes = append(p.Changes, changes...)
			followers = append(followers, follow...)
			p.Unchanged += unchanged
			p.OmittedDiffs += omitted
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
	if len(refused) > 0 {
		slices.SortFunc(refused, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return nil, errors.Join(refused...)
	}
	followed, err := follow(ctx, p, pl, followers, opts.Adopt)
	if err != nil {
		return nil, err
	}
	p.Changes = append(p.Changes, followed...)
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

// ServerError is a server the plan could not observe.
type ServerError struct {
	Server string `json:"server"`
	Error  string `json:"error"`
}

// checkServer observes one server in one round trip and checks its
// resources. dirs are the directories holding the resources' paths: where
// berth writes, and where an interrupted write may have left a temporary
// file.
func (e *Engine) checkServer(ctx context.Context, server string, rs []Resource, recs map[string]*Record, opts PlanOptions, guarded map[string]bool) (changes, follow []Change, save []Record, unchanged, omitted int, dirs []string, err error) {
	h, err := e.Hosts.Host(ctx, server)
	if err != nil {
		e.hook().Observed(server, 0, err)
		return nil, nil, nil, 0, 0, nil, fmt.Errorf("connect to server %s: %w", server, err)
	}
	// Sized for the common case, one path per resource: growing maps of
	// tens of thousands of paths was a tenth of a warm no-op's time.
	seen := make(map[string]bool, len(rs))
	seenDir := map[string]bool{}
	paths := make([]string, 0, len(rs))
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
		return nil, nil, nil, 0, 0, nil, fmt.Errorf("observe server %s: %w", server, err)
	}
	byPath := make(map[string]host.Observation, len(obs))
	for _, o := range obs {
		byPath[o.Path] = o
	}
	slices.SortFunc(rs, func(a, b Resource) int { return strings.Compare(a.ID(), b.ID()) })
	batches, err := observeBatches(ctx, h, rs)
	if err != nil {
		return nil, nil, nil, 0, 0, nil, fmt.Errorf("observe server %s: %w", server, err)
	}
	input := func(r Resource) CheckInput {
		return CheckInput{Host: h, Obs: byPath, Record: recs[r.ID()], Adopt: opts.Adopt, Guarded: guarded[r.Site()], Allow: opts.Allow}
	}
	contents, err := readContents(ctx, h, rs, input)
	if err != nil {
		return nil, nil, nil, 0, 0, nil, fmt.Errorf("observe server %s: %w", server, err)
	}
	creates := 0
	for _, r := range rs {
		rec := recs[r.ID()]
		in := input(r)
		in.Files = contents
		if bc, ok := r.(BatchChecker); ok {
			in.Batch = batches[bc.BatchKey()]
		}
		c, err := r.Check(ctx, in)
		if err != nil {
			return nil, nil, nil, 0, 0, nil, fmt.Errorf("check %s: %w", r.ID(), err)
		}
		// Of the new files' diffs, Plan keeps the first MaxCreateDiffs in
		// (server, ID) order: those are among this server's first ones, in
		// rs's ID order. The others go now, not once every server is
		// checked: at 50,000 sites they were ~60 MB held to the end.
		if n := opts.MaxCreateDiffs; n > 0 && c.Action == Create && c.Diff != "" {
			if creates++; creates > n {
				c.Diff = ""
				omitted++
			}
		}
		c.res = r
		if rec != nil {
			before := *rec
			c.before = &before
		}
		if _, ok := r.(Follower); ok {
			follow = append(follow, c) // completed once every server is checked
			continue
		}
		if nr := c.keep(opts.Adopt); nr != nil {
			save = append(save, *nr)
		}
		if c.Action == None {
			unchanged++
			continue
		}
		changes = append(changes, c)
	}
	return changes, follow, save, unchanged, omitted, dirs, nil
}

// keep sets the inventory entry to save when c succeeds (c.record), and
// returns it when it is to be saved now: c is unchanged and the record is
// missing or stale. c.before is the record before the run.
func (c *Change) keep(adopt bool) *Record {
	if c.Action == Delete || c.Action == Conflict {
		return nil
	}
	nr := c.res.Record()
	switch {
	case c.before != nil:
		// What berth import adopted stays adopted (never deleted) once
		// berth changed it too; only "kept as found" ends.
		nr.Adopted = c.before.Adopted && (c.Action == None || c.before.Imported)
		nr.Imported = c.before.Imported
		nr.AsFound = c.before.AsFound && c.Action == None
	case c.Action == None:
		nr.Adopted = !adopt // it was there before berth: never delete it
	}
	c.record = &nr
	if c.Action == None && (c.before == nil || *c.before != nr) {
		return &nr
	}
	return nil
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
