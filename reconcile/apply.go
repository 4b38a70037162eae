package reconcile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/berthhq/berth/internal/failpoint"
)

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
	// Degraded are the warnings of changes that ran but left their
	// resource short of the desired state (KeptError.Degraded), as
	// Failures are structured.
	Degraded []Failure `json:"degraded,omitempty"`
	// Waiting are the changes that did what they could and wait until a
	// time to go on (WaitError): neither failed nor converged.
	Waiting []Waiting `json:"waiting,omitempty"`

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
//     each service; once every server finished its reloads, the
//     after-reload changes (afterReloader) of each server whose reloads
//     succeeded run. A failed check restores every
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
		res.Degraded = append(res.Degraded, r.Degraded...)
		res.Waiting = append(res.Waiting, r.Waiting...)
	}

	// Phase 1: configuration.
	var stops []string
	if len(p.Unreachable) > 0 {
		stops = append(stops, "a server could not be observed")
	}
	failedSites := map[string]bool{}
	cross := newCrossDeps(config)
	reloads := newReloadBarrier(len(config))
	var wg sync.WaitGroup
	for server, changes := range config {
		wg.Go(func() {
			r := e.applyServer(ctx, p, server, changes, &n, total, cross, reloads)
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
