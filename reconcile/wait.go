package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/berthhq/berth/host"
)

// WaitError is what a change returns when it did what it could and must
// wait before going on (a migration whose lowered DNS TTL is not yet
// published for long enough): not a failure and not converged. The run
// lists it in Result.Waiting, not in Failed nor Errors; the resource's
// record is kept as after a failure (its next Check plans it again),
// what depends on it is skipped, and the site's data deletions wait; the
// daemon runs the environment again at Until.
type WaitError struct {
	Until  time.Time
	Reason string
}

func (e *WaitError) Error() string {
	return fmt.Sprintf("waiting until %s: %s", e.Until.UTC().Format(time.RFC3339), e.Reason)
}

// Waiting is one change of a run that waits (WaitError).
type Waiting struct {
	Server string    `json:"server,omitempty"`
	ID     string    `json:"id,omitempty"`
	Site   string    `json:"site,omitempty"`
	Until  time.Time `json:"until"`
	Reason string    `json:"reason"`
}

// RetryAt is the earliest time a change of r waits for, zero when none
// waits: when the daemon runs the environment again.
func (r *Result) RetryAt() time.Time {
	var at time.Time
	for _, w := range r.Waiting {
		if at.IsZero() || w.Until.Before(at) {
			at = w.Until
		}
	}
	return at
}

// ApplyNow converges one resource outside a run, on h: it observes the
// resource's paths (and its batch, and the contents it reads), checks it
// as if berth had recorded it (rec; nil: its own Record), with the
// safety rules allow names overridden (CheckInput.Allow), and applies the
// change when there is one. A conflict is refused. What the resource's
// Apply does (a zone's rndc reload, a load balancer's check and reload)
// is all that happens: no service of the engine is checked or reloaded.
// A kind's step uses it to switch resources the builder made (a
// migration's DNS and load balancer at its switch); the next run's plan
// finds them converged.
func ApplyNow(ctx context.Context, h host.Host, r Resource, rec *Record, allow ...string) (Change, error) {
	in := CheckInput{Host: h, Obs: map[string]host.Observation{}, Allow: allow}
	if rec == nil {
		own := r.Record()
		rec = &own
	}
	in.Record = rec
	if paths := r.Observe(); len(paths) > 0 {
		obs, err := h.Observe(ctx, paths)
		if err != nil {
			return Change{}, fmt.Errorf("%s: observe: %w", r.ID(), err)
		}
		for i, p := range paths {
			in.Obs[p] = obs[i]
		}
	}
	if bc, ok := r.(BatchChecker); ok {
		v, err := bc.ObserveBatch(ctx, h, []Resource{r})
		if err != nil {
			return Change{}, fmt.Errorf("%s: observe: %w", r.ID(), err)
		}
		in.Batch = v
	}
	if cr, ok := r.(ContentReader); ok {
		if paths := cr.ReadPaths(in); len(paths) > 0 {
			files, err := h.ReadFiles(ctx, paths)
			if err != nil {
				return Change{}, fmt.Errorf("%s: read: %w", r.ID(), err)
			}
			in.Files = map[string]host.FileData{}
			for i, p := range paths {
				in.Files[p] = files[i]
			}
		}
	}
	c, err := r.Check(ctx, in)
	if err != nil {
		return c, fmt.Errorf("%s: %w", r.ID(), err)
	}
	c.res = r
	switch c.Action {
	case None:
		return c, nil
	case Conflict:
		return c, fmt.Errorf("%s: %s", r.ID(), c.Reason)
	}
	if err := r.Apply(ctx, h, &c); err != nil {
		return c, fmt.Errorf("%s: %w", r.ID(), err)
	}
	return c, nil
}

// isWait reports whether err is a WaitError.
func isWait(err error) (*WaitError, bool) {
	var w *WaitError
	return w, errors.As(err, &w)
}

func isWaitErr(err error) bool {
	_, ok := isWait(err)
	return ok
}
