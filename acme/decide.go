package acme

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/berthhq/berth/state"
)

// Decision is what Ensure would do for a request now, found without
// sending an order: a plan shows it, and an apply acts on it.
type Decision struct {
	// Order is true when Ensure would send an order now.
	Order bool
	// Renewal is set when the order replaces a certificate still valid.
	Renewal bool
	// Reason says why an order is due ("no certificate yet", "its names
	// changed", "the CA's renewal window has begun", ...) or, when
	// Until is set, why none is sent before Until.
	Reason string
	// Until is set when the certificate waits: a backoff after failed
	// orders or the CA's limits. No order is sent before it.
	Until time.Time
}

// Decide says what Ensure would do for id and names now, counting the
// orders planned (the name sets a plan already orders before this one,
// at now) against the CA's limits as if they were sent: a plan of many
// new certificates orders those that fit in the limits and shows the
// others waiting with their time. It sends nothing to the CA but the
// renewal-information request Ensure's due logic makes (at most every
// ARIPoll per certificate), and on a read-only store it records no poll.
func (c *Client) Decide(ctx context.Context, id string, names []string, planned [][]string) (Decision, error) {
	names, err := checkNames(names)
	if err != nil {
		return Decision{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	cur, err := c.cfg.Store.Certificate(ctx, id)
	found := err == nil
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		return Decision{}, err
	}
	d := Decision{Order: true, Reason: "no certificate yet"}
	switch {
	case !found || len(cur.CertPEM) == 0:
	case cur.Directory != c.cfg.DirectoryURL:
		d.Reason = "the environment's CA changed"
	case !slices.Equal(cur.Names, names):
		d.Reason = "its names changed"
	case !now.Before(cur.NotAfter):
		d.Reason = "it expired on " + cur.NotAfter.UTC().Format(time.RFC3339)
	default:
		due, _, err := c.due(ctx, &cur, now)
		if !due || err != nil {
			// Not due; or the CA could not be asked for its renewal
			// information, which is advice: the certificate stays until
			// RenewAt (due says so without asking), and the next plan asks
			// again. A CA that cannot be reached never stops a plan.
			return Decision{}, nil
		}
		d.Renewal = true
		d.Reason = "due for renewal"
		if !now.Before(cur.RenewAt) {
			d.Reason = "one third of its lifetime is left"
		} else {
			d.Reason = "the CA's renewal window has begun"
		}
	}
	if found && now.Before(cur.NextAttempt) {
		return Decision{Until: cur.NextAttempt, Reason: backoffReason(cur)}, nil
	}
	orders, err := c.cfg.Store.ACMEOrders(ctx, c.cfg.DirectoryURL, now.Add(-week))
	if err != nil {
		return Decision{}, err
	}
	for _, p := range planned {
		if pn, err := checkNames(p); err == nil {
			orders = append(orders, state.ACMEOrder{Directory: c.cfg.DirectoryURL, Email: c.cfg.Email, Names: pn, At: now, Issued: true})
		}
	}
	if why, until := c.cfg.Limits.budget(orders, c.cfg.Email, names, now); why != "" {
		return Decision{Until: until, Reason: why}, nil
	}
	return d, nil
}
