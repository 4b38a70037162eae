package run

import (
	"time"

	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/state"
)

// Sync states of a site or an environment.
const (
	Synced    = "Synced"
	OutOfSync = "OutOfSync"
)

// Health of a site or an environment, from the last run that applied it.
const (
	HealthHealthy  = "Healthy"
	HealthDegraded = "Degraded"
	HealthUnknown  = "Unknown"
)

// StateDeleted is the State of a site the revision no longer declares but
// whose resources are still on the servers.
const StateDeleted = "deleted"

// SiteStatus is one site's sync state and health.
type SiteStatus struct {
	Site string `json:"site"`
	Sync string `json:"sync"` // Synced | OutOfSync
	// Health is set when it is known: after an apply.
	Health string `json:"health,omitempty"`
	// State is StateDeleted for a site the revision no longer declares;
	// callers may set a declared site's (enabled, disabled).
	State string `json:"state,omitempty"`
	// Message is why the site is out of sync or degraded: its first
	// difference ("~ site/x/vhost@web1") or its failure.
	Message string `json:"message,omitempty"`
	// Nodes are the answers of the site's web servers to the last health
	// check, and CheckedAt when it ran (berth serve checks every
	// --health-interval; berth status --observe checks once).
	Nodes     []NodeHealth `json:"nodes,omitempty"`
	CheckedAt *time.Time   `json:"checked_at,omitempty"`
	// Waiting is set while a change of the site waits for its time
	// (reconcile.WaitError: a move waiting for the DNS caches): until
	// when, and why. The run goes on at Until.
	Waiting *Wait `json:"waiting,omitempty"`
}

// Wait is which change of a site waits, until when and why.
type Wait struct {
	ID     string    `json:"id"`
	Until  time.Time `json:"until"`
	Reason string    `json:"reason"`
}

// Message is the site's Message while it waits (unless a health check
// said more since).
func (w *Wait) Message() string {
	return fmt.Sprintf("%s waits until %s: %s", w.ID, w.Until.UTC().Format(time.RFC3339), w.Reason)
}

// Env is an environment's sync state and health and its sites'.
type Env struct {
	Sync string
	// Health is set when it is known: after an apply.
	Health string
	// Why is the first reason the environment as a whole is out of sync
	// or degraded (a shared resource, a check and reload pending from an
	// interrupted run, a failed run); its sites carry their own.
	Why   string
	Sites []SiteStatus
}

// FromPlan derives the status from a plan and, when it was applied, from
// its result: a site is OutOfSync while the plan changes it and was not
// applied, when the apply failed for it (a change of its own, or its
// server as a whole: a failed configuration check), or when it is in
// conflict (a path berth did not create); Degraded when the apply failed
// for it. It is what the daemon shows after each run and `berth status
// --observe` from a plan.
func FromPlan(p *reconcile.Plan, res *reconcile.Result) Env {
	return derive(p.Sites, Differences(p), p.Changes, res)
}

// FromDifferences derives the status of the declared sites from their
// first differences (Differences, Prepared.Unsynced), nothing applied: it
// is what `berth status` shows.
func FromDifferences(sites []string, why map[string]string) Env {
	return derive(sites, why, nil, nil)
}

// Differences returns, per site ("" for the environment: shared resources
// and services pending check and reload), the plan's first change.
func Differences(p *reconcile.Plan) map[string]string {
	why := map[string]string{}
	for _, c := range p.Changes {
		if _, seen := why[c.Site]; !seen {
			why[c.Site] = difference(c)
		}
	}
	if _, seen := why[""]; !seen && len(p.Pending) > 0 {
		why[""] = p.Pending[0].String()
	}
	return why
}

func difference(c reconcile.Change) string { return fmt.Sprintf("%c %s", rune(c.Action), c.ID) }

// WithReasons adds to the differences of p (Differences) each first
// change's reason, when it has one: `berth status --observe` shows why a
// change that writes no file is planned ("~ zonesync/…: secondary ns2
// serves serial …").
func WithReasons(p *reconcile.Plan, why map[string]string) {
	for _, c := range p.Changes {
		if w, ok := why[c.Site]; ok && w == difference(c) && c.Reason != "" {
			why[c.Site] = w + ": " + c.Reason
		}
	}
}

// Unsynced returns the first differences between the prepared revision and
// the inventory, per site ("" for the environment), without reaching any
// server.
func (p *Prepared) Unsynced(ctx context.Context) (map[string]string, error) {
	recs, err := p.Engine.Inventory.Records(ctx, p.Env)
	if err != nil {
		return nil, err
	}
	pending, err := p.Engine.Inventory.PendingReloads(ctx, p.Env)
	if err != nil {
		return nil, err
	}
	return reconcile.Unsynced(p.Desired, recs, pending), nil
}

// derive is the one derivation of sync and health. declared are the
// sites the revision declares; why the first differences (before the
// apply, when res is set); changes the plan's (to match a server's
// failure to the sites it changed); res the apply's result, nil when
// nothing was applied.
func derive(declared []string, why map[string]string, changes []reconcile.Change, res *reconcile.Result) Env {
	applied := res != nil
	failed := failures(changes, res)
	degraded := map[string]string{}
	if res != nil {
		for _, d := range res.Degraded {
			if _, seen := degraded[d.Site]; !seen && d.Site != "" {
				degraded[d.Site] = failureMessage(d)
			}
		}
	}
	waiting := map[string]string{}
	waits := map[string]*Wait{}
	if res != nil {
		for _, w := range res.Waiting {
			if _, seen := waiting[w.Site]; !seen {
				waiting[w.Site] = waitMessage(w)
				waits[w.Site] = &Wait{ID: w.ID, Until: w.Until, Reason: w.Reason}
			}
		}
	}
	st := Env{Sync: Synced}
	if applied {
		st.Health = HealthHealthy
	}
	site := func(name, state string) (SiteStatus, bool) {
		s := SiteStatus{Site: name, Sync: Synced, State: state}
		if applied {
			s.Health = HealthHealthy
		}
		w, differs := why[name]
		switch {
		case failed[name] != "":
			s.Sync, s.Health, s.Message = OutOfSync, HealthDegraded, failed[name]
		case degraded[name] != "":
			// Applied, but short of it: a certificate that waits (its
			// backoff, the CA's limits, a failed pre-check).
			s.Health, s.Message = HealthDegraded, degraded[name]
		case waiting[name] != "":
			// Not failed, not converged: a move waiting for the DNS
			// caches goes on in a later run.
			s.Sync, s.Message, s.Waiting = OutOfSync, waiting[name], waits[name]
		case differs && (!applied || conflict(w)):
			s.Sync, s.Message = OutOfSync, w
		}
		return s, s.Sync == OutOfSync
	}
	for _, name := range declared {
		s, out := site(name, "")
		st.Sites = append(st.Sites, s)
		if out {
			st.Sync = OutOfSync
		}
	}
	// A site no longer declared is listed while something of it is left.
	extra := map[string]bool{}
	for name := range why {
		extra[name] = true
	}
	for name := range failed {
		extra[name] = true
	}
	for _, name := range slices.Sorted(maps.Keys(extra)) {
		if name == "" || slices.Contains(declared, name) {
			continue
		}
		if s, out := site(name, StateDeleted); out {
			st.Sites = append(st.Sites, s)
			st.Sync = OutOfSync
		}
	}
	slices.SortFunc(st.Sites, func(a, b SiteStatus) int { return strings.Compare(a.Site, b.Site) })
	if w, ok := why[""]; ok && (!applied || conflict(w)) {
		st.Sync, st.Why = OutOfSync, w
	}
	if applied && len(res.Failures) > 0 {
		f := res.Failures[0]
		st.Sync, st.Health = OutOfSync, HealthDegraded
		if st.Why == "" {
			st.Why = failureMessage(f)
		}
	}
	if applied && len(res.Failures) == 0 && len(res.Waiting) > 0 {
		st.Sync = OutOfSync
		if st.Why == "" {
			st.Why = waitMessage(res.Waiting[0])
		}
	}
	if applied && len(res.Failures) == 0 && len(res.Degraded) > 0 {
		// Applied, but something runs short of it (a DNS secondary that
		// lags): the next run checks it again.
		st.Health = HealthDegraded
		if st.Why == "" {
			st.Why = failureMessage(res.Degraded[0])
		}
	}
	return st
}

// failures returns per site the first failure of the apply: one of its
// own changes, or a server it had changes on failing as a whole (its
// configuration check refused them, say). A site is never matched by its
// name appearing in a message.
func failures(changes []reconcile.Change, res *reconcile.Result) map[string]string {
	failed := map[string]string{}
	if res == nil {
		return failed
	}
	on := map[string]map[string]bool{} // site -> servers it had changes on
	for _, c := range changes {
		if c.Site == "" {
			continue
		}
		if on[c.Site] == nil {
			on[c.Site] = map[string]bool{}
		}
		on[c.Site][c.Server] = true
	}
	for _, f := range res.Failures {
		msg := failureMessage(f)
		switch {
		case f.Site != "":
			if _, seen := failed[f.Site]; !seen {
				failed[f.Site] = msg
			}
		case f.ID == "":
			for _, site := range slices.Sorted(maps.Keys(on)) {
				if _, seen := failed[site]; !seen && on[site][f.Server] {
					failed[site] = msg
				}
			}
		}
	}
	return failed
}

func failureMessage(f reconcile.Failure) string {
	if f.ID != "" {
		return f.Server + ": " + f.ID + ": " + f.Error
	}
	return f.Server + ": " + f.Error
}

func conflict(why string) bool { return strings.HasPrefix(why, "!") }

// LastHealth is an environment's health from its runs, newest first (as
// state.Store.Runs lists them), for `berth status`: that of the newest
// run that ended applying or failing (a running, interrupted, cancelled
// or report-only run says nothing of it). Degraded when it failed, or
// when it succeeded but recorded an error (Degraded: a DNS secondary that
// lags, see record); why is that error. Unknown when no run ended so.
func LastHealth(runs []state.Run) (health, why string) {
	for _, r := range runs {
		switch r.Result {
		case state.ResultFailed:
			return HealthDegraded, r.Error
		case state.ResultSucceeded, state.ResultNoOp:
			if r.Error != "" {
				return HealthDegraded, r.Error
			}
			return HealthHealthy, ""
		}
	}
	return HealthUnknown, ""
}

// waitMessage says what waits (reconcile.WaitError) and until when.
func waitMessage(w reconcile.Waiting) string {
	return (&Wait{ID: w.ID, Until: w.Until, Reason: w.Reason}).Message()
}
