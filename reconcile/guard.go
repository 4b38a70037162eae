package reconcile

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/berthhq/berth/host"
)

// Deleting a site, safely. When a valid revision no longer declares a site
// at all (every resource of it is only in the inventory), the engine asks
// Desired.BeforeDelete for a step to run before any deletion of the site:
// the builder (desired.Prepare) gives it a backup of the site. Then:
//
//  1. Plan checks that step like any resource and shows its change among
//     the others (`+ site/x/backup@host (before deleting x ...)`); the
//     site's pruned resources are checked with CheckInput.Guarded, so the
//     kinds holding data (databases, the site's directory) plan their
//     deletion instead of a conflict;
//  2. Apply runs every such step first, before any server's changes;
//  3. a site whose step failed has none of its deletions run: each fails
//     with the step's error, and the run fails saying why.
//
// The engine knows nothing of backups: a step is a Resource whose Apply
// must succeed; its Record is never kept.

// GuardError is the error of a Desired.BeforeDelete that could not make
// the step of a site: the plan shows it as a conflict under the ID and
// server the step would have had, so that it is the same line whether or
// not the step could be planned. Another error is shown under
// guard:<site>.
type GuardError struct {
	ID, Server string
	Err        error
}

func (e *GuardError) Error() string { return e.ID + ": " + e.Err.Error() }
func (e *GuardError) Unwrap() error { return e.Err }

// guardChanges checks the step of every deleted site and returns the
// changes to show, and the sites whose deletions they guard.
func (e *Engine) guardChanges(ctx context.Context, d *Desired, sites []string, recs map[string][]Record) ([]Change, map[string]bool, error) {
	guarded := map[string]bool{}
	if d.BeforeDelete == nil {
		return nil, guarded, nil
	}
	var changes []Change
	// A step that cannot be planned is a conflict: nothing of its site is
	// deleted, and the other sites' changes still run.
	conflict := func(id, server, site string, err error) {
		changes = append(changes, Change{ID: id, Server: server, Kind: "guard", Site: site, Action: Conflict,
			Reason: fmt.Sprintf("site %s is removed from the repo, but berth cannot back it up first, so it deletes nothing of it: %v", site, err)})
	}
	for _, site := range sites {
		r, err := d.BeforeDelete(site, recs[site])
		if err != nil {
			var ge *GuardError
			if errors.As(err, &ge) {
				conflict(ge.ID, ge.Server, site, ge.Err)
			} else {
				conflict("guard:"+site, "", site, err)
			}
			continue
		}
		if r == nil {
			continue
		}
		c, err := r.Check(ctx, CheckInput{})
		if err != nil {
			conflict(r.ID(), r.Server(), site, err)
			continue
		}
		if c.Action == None {
			continue // nothing to back up
		}
		c.res = r
		changes = append(changes, c)
		guarded[site] = true
	}
	return changes, guarded, nil
}

// runGuards applies the plan's guard steps, one site at a time, and
// returns the error of each site whose step failed.
func (e *Engine) runGuards(ctx context.Context, p *Plan) (map[string]error, *Result) {
	failed := map[string]error{}
	res := &Result{}
	var steps []*Change
	for i := range p.Changes {
		c := &p.Changes[i]
		switch {
		case !p.planned.guards[c.ID]:
		case c.Action == Conflict:
			failed[c.Site] = errors.New(c.Reason)
			res.Errors = append(res.Errors, fmt.Sprintf("%s: %s", cmp.Or(c.Server, "-"), c.Reason))
			res.Failures = append(res.Failures, Failure{Server: c.Server, ID: c.ID, Site: c.Site, Error: c.Reason})
		default:
			steps = append(steps, c)
		}
	}
	for i, c := range steps {
		e.hook().Applying(c, i+1, len(steps))
		err := ctx.Err()
		if err == nil {
			var h host.Host
			if h, err = e.Hosts.Host(ctx, c.Server); err == nil {
				err = e.applyOne(ctx, h, c)
			}
		}
		e.hook().Applied(c, err)
		if err != nil {
			failed[c.Site] = fmt.Errorf("%s failed: %w", c.ID, err)
			res.Failed++
			res.failChange(c, "%v; nothing of site %s was deleted", err, c.Site)
			continue
		}
		res.Applied++
	}
	return failed, res
}
