package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// scheduleEvery is how often a schedule takes a backup. A backup is due
// a twentieth of the period early, so that a daemon ticking at the same
// time every day does not skip a day by a few seconds.
var scheduleEvery = map[string]time.Duration{"hourly": time.Hour, "daily": 24 * time.Hour, "weekly": 7 * 24 * time.Hour}

// Scheduled is a site whose backups are taken on a schedule (its
// backup.schedule and backup.keep in the repo).
type Scheduled struct {
	Name     string // the site's name in the repo
	Data     SiteData
	Store    Store
	Schedule string // hourly | daily | weekly
	Keep     int    // scheduled backups kept; older ones are pruned
	// Err is why the site's data or backup store could not be found; the
	// site is then reported, and the others still backed up.
	Err error
}

// Due takes, for every site of sites in turn, its scheduled backup when
// one is due at now (none of its scheduled backups is more recent than
// its period), and prunes its scheduled backups beyond Keep. It says what
// it did on out, and returns how many backups it took or pruned and the
// errors of every site that failed.
func (b *Backups) Due(ctx context.Context, sites []Scheduled, revision string, now time.Time, out io.Writer) (int, error) {
	var errs []error
	did := 0
	for _, s := range sites {
		n, err := b.dueSite(ctx, s, revision, now, out)
		did += n
		if err != nil {
			errs = append(errs, fmt.Errorf("site %s: %w", s.Name, err))
		}
	}
	return did, errors.Join(errs...)
}

func (b *Backups) dueSite(ctx context.Context, s Scheduled, revision string, now time.Time, out io.Writer) (int, error) {
	if s.Err != nil {
		return 0, s.Err
	}
	did := 0
	d, store := s.Data, s.Store
	list, err := b.Manifests(ctx, d.Env, d.Site, store)
	if err != nil {
		return 0, err
	}
	var last time.Time
	for _, l := range list {
		if l.Reason == ReasonScheduled && l.Time.After(last) {
			last = l.Time
		}
	}
	every := scheduleEvery[s.Schedule]
	if !last.IsZero() && now.Sub(last) < every-every/20 {
		fmt.Fprintf(out, "%s: not due (%s backup %s ago).\n", d.Site, s.Schedule, now.Sub(last).Round(time.Second))
	} else {
		m, err := b.Take(ctx, d, store, Options{Revision: revision, Reason: ReasonScheduled})
		if err != nil {
			return 0, err
		}
		did++
		fmt.Fprintf(out, "%s: backup %s, %s on %s.\n", d.Site, m.ID, HumanSize(m.Size()), store.Server)
		for _, w := range m.Warnings {
			fmt.Fprintf(out, "%s: warning: %s\n", d.Site, w)
		}
	}
	gone, err := b.Prune(ctx, d.Env, d.Site, store, s.Keep)
	for _, id := range gone {
		fmt.Fprintf(out, "%s: pruned backup %s (keep %d).\n", d.Site, id, s.Keep)
	}
	return did + len(gone), err
}

// HumanSize is n bytes for people: B, KiB, MiB or GiB.
func HumanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
