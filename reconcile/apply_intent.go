package reconcile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/internal/failpoint"
)

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

// Crash consistency. Before its first write on a server, a run removes
// the temporary files an interrupted write left (Host.SweepTemp), records
// the services it changes as pending check and reload, and saves the
// records of what it will write marked Pending (intents). After the run,
// what stuck is recorded, and the intent of what did not is taken back.

// recordIntent does what a run does on server before its first write
// (see above) and returns the services the run must check and reload
// there (services: those whose files change, and those an interrupted run
// left pending, wasPending) and those it recorded as pending
// (newPending). An error means nothing was written: the server's run
// stops.
func (e *Engine) recordIntent(ctx context.Context, p *Plan, server string, h host.Host, changes []*Change, res *Result) (wasPending, services map[string]bool, newPending []string, err error) {
	// Which services the run must check and reload here: those whose files
	// change, and those an interrupted run left pending.
	wasPending = map[string]bool{}
	for _, s := range p.planned.pending[server] {
		wasPending[s] = true
	}
	services = maps.Clone(wasPending)
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
	// the services as pending and what will be written as berth's. Only a
	// run that was cut off can have left a temporary file, and every such
	// run left a mark: each write of berth's is preceded by its record
	// saved Pending or its service recorded pending reload, kept until the
	// write is known done (a batch cut off as a whole keeps them). A
	// server without either needs no sweep: one round trip less.
	if len(changes) > 0 || p.planned.interrupted[server] {
		if dirs := p.planned.dirs[server]; len(dirs) > 0 && p.planned.interrupted[server] {
			// A leftover is never read by a service: failing to remove it
			// is worth a warning, not the run.
			if _, err := h.SweepTemp(ctx, dirs); err != nil {
				res.Warnings = append(res.Warnings, fmt.Sprintf("%s: temporary files (%s*) left by an interrupted run could not be removed: %v", server, host.TempPrefix, err))
			}
		}
		failpoint.Hit("after-sweep")
	}
	if len(newPending) > 0 {
		if err := e.Inventory.AddPendingReloads(ctx, p.Env, server, newPending); err != nil {
			return nil, nil, nil, fmt.Errorf("record %s as pending check and reload (nothing was written): %v", strings.Join(newPending, ", "), err)
		}
		failpoint.Hit("after-record-pending")
	}
	if len(intents) > 0 {
		if err := e.Inventory.SaveRecords(ctx, p.Env, p.Revision, intents); err != nil {
			return nil, nil, nil, fmt.Errorf("record %d resources in the inventory before writing them (nothing was written): %v", len(intents), err)
		}
		failpoint.Hit("after-record-intent")
	}

	return wasPending, services, newPending, nil
}

// recordOutcome saves the records of the changes of server that stuck
// (ok) and of the unchanged resources whose record was missing or stale,
// puts back the record from before the run of a change that failed (or
// forgets its intent), and forgets what was deleted or superseded.
//
// A change whose batch was cut off as a whole (errs[i] an *unsureError),
// or whose host became unreachable during it, may have been written: its
// Pending intent stays, so that the next run takes what it finds there
// for berth's, and sweeps the temporary file it may have left.
func (e *Engine) recordOutcome(ctx context.Context, p *Plan, server string, changes []*Change, ok []bool, errs []error, fail func(format string, args ...any)) {
	// Record what stuck; take back the intent of what did not.
	failpoint.Hit("before-inventory")
	save := slices.Clone(p.planned.records[server])
	var gone []string
	for i, c := range changes {
		var unsure *unsureError
		switch {
		case !ok[i] && (errors.As(errs[i], &unsure) || errors.Is(errs[i], host.ErrUnreachable)):
			// kept Pending (a deletion keeps its record)
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
}
