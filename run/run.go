package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/berthhq/berth/desired"
	"github.com/berthhq/berth/kind/certificate"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/state"
)

// Results a run records besides state's: a plan the caller did not
// approve, and drift found and reported but not repaired.
const (
	ResultCancelled = "cancelled"
	ResultDrift     = "drift-detected"
)

// Input is what a run prepares: the revision's inputs of the desired
// state (desired.Input: the environment resolved, the repo's files, the
// store, the hosts...) and where progress goes.
type Input struct {
	desired.Input
	// Removed says Resolved is an environment berth.yaml no longer
	// declares (spec.ResolveRemoved): Prepare then needs the inventory to
	// hold resources of it (else ErrNothingRecorded) and the plan warns
	// that it deletes them.
	Removed bool
	// Hook receives the engine's progress; nil: none.
	Hook reconcile.Hook
	// TLS is the controller's configuration of certificate ordering (its
	// CA roots, the pre-checks' resolver); Prepare builds the
	// environment's ACME client from it and berth.yaml's acme.
	TLS TLS
}

// Prepared is one environment at one revision, ready to plan and apply.
type Prepared struct {
	Engine  *reconcile.Engine
	Desired *reconcile.Desired
	Env     string
	// Revision names the revision planned.
	Revision string
	// Removed: berth.yaml no longer declares Env; Desired is empty.
	Removed bool
	store   *state.Store
	// input is what Prepared was built from: a run that issued
	// certificates builds it again to serve them (Converge).
	input Input
	// certs is the stamp of the issued certificates Desired was built
	// with (desired.CertStamp).
	certs string
}

// Prepare builds the desired state of in's revision and the engine for it
// through desired.Prepare.
func Prepare(ctx context.Context, in Input) (*Prepared, error) {
	env := in.Resolved.Environment
	var removed state.EnvInventory
	if in.Removed {
		inv, ok, err := Recorded(ctx, in.Store, env)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("environment %q: %w", env, ErrNothingRecorded)
		}
		removed = inv
	}
	stamp, err := desired.CertStamp(ctx, in.Store, in.Resolved)
	if err != nil {
		return nil, err
	}
	di := in.Input
	if di.ACME == nil {
		if di.ACME, err = in.TLS.acmeFor(in.Resolved, in.Store); err != nil {
			return nil, err
		}
	}
	e, d, err := desired.Prepare(ctx, di, in.Hook)
	if err != nil {
		return nil, err
	}
	if in.Removed {
		d.Warnings = append(d.Warnings, removedWarning(removed, in.Revision))
	}
	in.Input = di // the second pass of Converge orders with the same client
	return &Prepared{Engine: e, Desired: d, Env: env, Revision: in.Revision, Removed: in.Removed, store: in.Store, input: in, certs: stamp}, nil
}

// Current reports whether the certificates the prepared desired state
// serves are still those the state store holds: a run (or another
// process) that issued one since makes it stale, and the daemon builds
// anew.
func (p *Prepared) Current(ctx context.Context) (bool, error) {
	stamp, err := desired.CertStamp(ctx, p.store, p.input.Resolved)
	return err == nil && stamp == p.certs, err
}

// Plan plans the prepared revision; it changes nothing (but may keep new
// databases' generated secrets, as any plan does).
func (p *Prepared) Plan(ctx context.Context, opts reconcile.PlanOptions) (*reconcile.Plan, error) {
	return p.Engine.Plan(ctx, p.Desired, opts)
}

// Options are what a caller of Converge decides.
type Options struct {
	// Trigger is recorded with the run: "cli", "poll,webhook"...
	Trigger string
	// Plan holds the plan's options (--adopt, --allow-deletions, the
	// sites of berth verify...).
	Plan reconcile.PlanOptions
	// ReportOnly plans and records what differs without applying it (the
	// daemon's drift check with self-heal off).
	ReportOnly bool
	// Approve is called with every plan before it is applied (the CLI
	// prints it and asks); an error cancels the run, recorded as
	// ResultCancelled. nil approves.
	Approve func(*reconcile.Plan) error
	// Started, when set, is called with the run's ID once its start is
	// recorded, before the plan (the daemon logs with it).
	Started func(id int64)
	// Serialize, when set, is held while the plan is applied (the daemon
	// applies one environment at a time).
	Serialize sync.Locker
	// Log, when set, returns the run's log for its record.
	Log func() []byte
}

// Outcome is how a run ended.
type Outcome struct {
	// Run is the run's ID in the store.
	Run int64
	// Plan is nil when planning failed. When the run issued certificates,
	// it holds the changes of the second pass too (Served).
	Plan *reconcile.Plan
	// Served is the second pass's plan of a run that issued certificates:
	// their chains and keys and the sites' TLS listeners; nil otherwise.
	Served *reconcile.Plan
	// Result is nil when nothing was applied (a failed plan, a cancelled
	// run, ReportOnly).
	Result *reconcile.Result
	// Record is what was recorded as the run's end.
	Record state.RunResult
	// Err is why the run failed: its plan, approval or apply.
	Err error
	// RecordErr is set when the run's end could not be recorded.
	RecordErr error
	// Status is the environment's sync and health after the run.
	Status Env
}

// Converge is one run: it records the run's start, plans, asks
// o.Approve, applies (an empty plan too: that records what berth found in
// place, and writes nothing on hosts), records how the run ended (also
// when ctx was cancelled) and derives the status. The error is the
// outcome's Err joined with its RecordErr; the outcome is nil only when
// the run's start could not be recorded, and then nothing was done.
func (p *Prepared) Converge(ctx context.Context, o Options) (*Outcome, error) {
	id, err := p.store.StartRun(ctx, state.Run{Env: p.Env, Revision: p.Revision, Trigger: o.Trigger})
	if err != nil {
		return nil, fmt.Errorf("record the start of a run of %s: %w; nothing was done", p.Env, err)
	}
	if o.Started != nil {
		o.Started(id)
	}
	out := &Outcome{Run: id}
	cancelled := false
	out.Plan, out.Err = p.Engine.Plan(ctx, p.Desired, o.Plan)
	if out.Err == nil && !o.ReportOnly && o.Approve != nil {
		out.Err = o.Approve(out.Plan)
		cancelled = out.Err != nil
	}
	if out.Err == nil && !o.ReportOnly {
		if o.Serialize != nil {
			o.Serialize.Lock()
		}
		out.Result, out.Err = p.Engine.Apply(ctx, out.Plan)
		if out.Result == nil {
			out.Result = &reconcile.Result{}
		}
		if n := issued(out.Plan, out.Result); n > 0 && ctx.Err() == nil {
			p.serveIssued(ctx, o, out)
		}
		if o.Serialize != nil {
			o.Serialize.Unlock()
		}
		if out.Err == nil && p.Removed {
			out.Err = p.forgetAdopted(ctx, out.Result)
		}
		if out.Err == nil {
			out.Err = p.forgetEndedHolds(ctx, out.Result)
		}
	}
	out.Record = record(out, o.ReportOnly, cancelled, o.Log)
	if err := p.store.FinishRun(context.WithoutCancel(ctx), id, out.Record); err != nil {
		out.RecordErr = fmt.Errorf("record run %d: %w", id, err)
	}
	out.Status = afterRun(out)
	return out, errors.Join(out.Err, out.RecordErr)
}

// issued counts the certificates the applied plan p ordered and got.
func issued(p *reconcile.Plan, res *reconcile.Result) int {
	bad := map[string]bool{}
	for _, f := range res.Failures {
		bad[f.ID] = true
	}
	for _, f := range res.Degraded {
		bad[f.ID] = true
	}
	n := 0
	for _, c := range p.Changes {
		if c.Kind == certificate.Kind && (c.Action == reconcile.Create || c.Action == reconcile.Update) && !bad[c.ID] {
			n++
		}
	}
	return n
}

// serveIssued is a run's second pass after certificates were issued: the
// desired state is built again through the same pipeline (desired.Prepare,
// plan, apply) and now holds each new certificate's chain and key and its
// site's TLS listener, so the run ends with the sites served over HTTPS.
// The second plan is not asked for approval again: it carries out what
// the approved one ordered. Its changes are added to out.Plan and its
// result to out.Result.
func (p *Prepared) serveIssued(ctx context.Context, o Options, out *Outcome) {
	in := p.input
	in.Hook = p.Engine.Hook
	if in.ACME != nil {
		hold := *in.ACME
		hold.Hold = true
		in.ACME = &hold
	}
	next, err := Prepare(ctx, in)
	var plan *reconcile.Plan
	if err == nil {
		plan, err = next.Engine.Plan(ctx, next.Desired, o.Plan)
	}
	if err != nil {
		out.Err = errors.Join(out.Err, fmt.Errorf("serve the certificates this run issued: %w; the next run serves them", err))
		return
	}
	res, err := next.Engine.Apply(ctx, plan)
	out.Err = errors.Join(out.Err, err)
	all := *out.Plan
	all.Changes = append(slices.Clip(all.Changes), plan.Changes...)
	all.Pending = append(slices.Clip(all.Pending), plan.Pending...)
	out.Plan = &all
	out.Served = plan
	if res != nil {
		r := out.Result
		r.Applied += res.Applied
		r.Failed += res.Failed
		r.Restored += res.Restored
		r.Reloads = append(r.Reloads, res.Reloads...)
		r.Warnings = append(r.Warnings, res.Warnings...)
		r.Errors = append(r.Errors, res.Errors...)
		r.Failures = append(r.Failures, res.Failures...)
		r.Degraded = append(r.Degraded, res.Degraded...)
		r.Waiting = append(r.Waiting, res.Waiting...)
	}
}

// Failed records a run of env at revision that failed before it could be
// prepared or planned (a revision that does not load, say): nothing was
// done. It returns the run's ID.
func Failed(ctx context.Context, store *state.Store, env, revision, trigger string, cause error) (int64, error) {
	id, err := store.StartRun(ctx, state.Run{Env: env, Revision: revision, Trigger: trigger})
	if err != nil {
		return 0, err
	}
	return id, store.FinishRun(context.WithoutCancel(ctx), id, state.RunResult{Result: state.ResultFailed, Error: cause.Error()})
}

// forgetAdopted ends the removal of an environment: once everything it
// created is deleted, the records left are those berth found in place
// (adopted: directories another environment had created, say), which it
// never deletes; keeping them would keep the environment in the inventory
// for ever.
func (p *Prepared) forgetAdopted(ctx context.Context, res *reconcile.Result) error {
	recs, err := p.Engine.Inventory.Records(ctx, p.Env)
	if err != nil {
		return err
	}
	var ids []string
	for _, r := range recs {
		if r.Adopted {
			ids = append(ids, r.ID)
		}
	}
	if len(ids) == 0 || len(ids) < len(recs) {
		return nil // something it created is still there: the next apply retries
	}
	if err := p.Engine.Inventory.DeleteRecords(ctx, p.Env, ids); err != nil {
		return fmt.Errorf("forget the records of %s: %w", p.Env, err)
	}
	res.Warnings = append(res.Warnings, fmt.Sprintf("environment %s is removed; berth forgot %d paths it had found in place and never deletes (shared directories of other environments)", p.Env, len(ids)))
	return nil
}

// forgetEndedHolds forgets the holds of berth rollback-migration that
// the revision just applied ended (desired.EndedHolds): it places their
// sites elsewhere than when they were made.
func (p *Prepared) forgetEndedHolds(ctx context.Context, res *reconcile.Result) error {
	if p.input.Resolved == nil {
		return nil // built by hand, not from a revision
	}
	ended, err := desired.EndedHolds(ctx, p.store, p.input.Resolved)
	if err != nil {
		return err
	}
	for _, h := range ended {
		if _, err := p.store.DeleteHold(ctx, h.Env, h.Site); err != nil {
			return err
		}
		res.Warnings = append(res.Warnings, fmt.Sprintf("site %s is no longer held on platform %s by berth rollback-migration: revision %s places it elsewhere than when it was held",
			h.Site, h.Platform, reconcile.ShortRevision(p.Revision)))
	}
	return nil
}

// record is the run's end as the store keeps it.
func record(out *Outcome, reportOnly, cancelled bool, log func() []byte) state.RunResult {
	rr := state.RunResult{Result: state.ResultSucceeded}
	if log != nil {
		rr.Log = log()
	}
	if out.Plan != nil {
		rr.Changes, _ = json.Marshal(out.Plan)
	}
	switch {
	case cancelled:
		rr.Result, rr.Error = ResultCancelled, out.Err.Error()
	case out.Err != nil:
		rr.Result, rr.Error = state.ResultFailed, out.Err.Error()
	case out.Plan.Empty():
		rr.Result = state.ResultNoOp
	case reportOnly:
		rr.Result = ResultDrift
	}
	if out.Err == nil && out.Result != nil && len(out.Result.Degraded) > 0 {
		// Applied, but short of it: the record says so, for berth status
		// (LastHealth) and the API; the run still succeeded.
		rr.Error = "Degraded: " + failureMessage(out.Result.Degraded[0])
		if n := len(out.Result.Degraded) - 1; n > 0 {
			rr.Error += fmt.Sprintf(" (and %d more)", n)
		}
	}
	return rr
}

// afterRun is the status after the run: from its plan and, when applied,
// its result; a run that failed is Degraded.
func afterRun(out *Outcome) Env {
	if out.Plan == nil {
		return Env{Sync: OutOfSync, Health: HealthDegraded, Why: out.Err.Error()}
	}
	st := FromPlan(out.Plan, out.Result)
	if out.Result != nil && out.Err != nil {
		st.Sync, st.Health = OutOfSync, HealthDegraded
		if st.Why == "" {
			st.Why = out.Err.Error()
		}
	}
	return st
}
