package desired

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/berthhq/berth/cron"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

// An environment's data_from and its sites' own (spec.ResolvedDataFrom,
// one per site with its source environment and schedule) are run by berth
// serve's scheduled jobs, each site's copy through SyncData as berth
// sync-data runs it, recorded as a run with the trigger
// DataFromTrigger(site); the plan names it in a note (dataFromNote).

// DataFromTrigger is the trigger of the run that records one scheduled
// copy of site's data down (its environment's data_from); the copy is due
// from the newest such run (cron.Due), so a restart does not copy early.
func DataFromTrigger(site string) string { return "sync-data " + site }

// DataFromLast returns when the last scheduled copy of site's data into
// env started; the zero time when there was none (it is due).
func DataFromLast(ctx context.Context, store *state.Store, env, site string) (time.Time, error) {
	return store.LastStarted(ctx, env, DataFromTrigger(site))
}

// maxNoteSites is how many sites the plan's note on data_from names for
// each source and schedule.
const maxNoteSites = 5

// dataFromNote is the plan's note on res's data_from: which sites get
// their data from where, how often (the sites of one source and schedule
// together), and when next (from store's run history; unknown without a
// store); "" without data_from.
func dataFromNote(ctx context.Context, res *spec.Resolved, store *state.Store, now time.Time) string {
	if len(res.DataFrom) == 0 {
		if res.DataFromNone == "" {
			return ""
		}
		return fmt.Sprintf("data_from: no site of environment %s has a source in %s; nothing is copied", res.Environment, res.DataFromNone)
	}
	var next time.Time
	known := store != nil
	for _, d := range res.DataFrom {
		if !known {
			break
		}
		last, err := DataFromLast(ctx, store, res.Environment, d.Site)
		if err != nil {
			known = false
			break
		}
		n := cron.Next(d.Every, last)
		if next.IsZero() || n.Before(next) {
			next = n
		}
		if n.IsZero() {
			break // one due now is the earliest
		}
	}
	type group struct{ env, schedule string }
	var order []group
	sites := map[group][]string{}
	for _, d := range res.DataFrom {
		g := group{d.Env, d.Schedule}
		if sites[g] == nil {
			order = append(order, g)
		}
		sites[g] = append(sites[g], d.Site)
	}
	var parts []string
	for i, g := range order {
		names, more := sites[g], ""
		if len(names) > maxNoteSites {
			names, more = names[:maxNoteSites], fmt.Sprintf(" and %d more", len(names)-maxNoteSites)
		}
		into := ""
		if i == 0 {
			into = " into " + res.Environment
		}
		parts = append(parts, fmt.Sprintf("of %s%s down from %s%s, %s", strings.Join(names, ", "), more, g.env, into, g.schedule))
	}
	when := "next at berth serve's next scheduled pass"
	switch {
	case !known:
		when = "next: not known (the run history cannot be read)"
	case next.After(now):
		when = "next due " + next.UTC().Format("2006-01-02 15:04 MST")
	}
	return fmt.Sprintf("data_from: berth serve copies the data %s (each after its own backup, then its sanitize step); %s",
		strings.Join(parts, "; "), when)
}
