package certificate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/reconcile"
)

// Kind is the certificate kind's name.
const Kind = "certificate"

func init() {
	reconcile.RegisterKind(reconcile.Kind{Name: Kind, Prune: func(rec reconcile.Record) reconcile.Resource {
		return &Certificate{Base: reconcile.PrunedBase(Kind, rec)}
	}})
}

// Request is one site's certificate.
type Request struct {
	// Key names the certificate in the issuer's store, e.g.
	// "production/example.com".
	Key string
	// Site is the site's domain.
	Site string
	// Names are the certificate's names: the site's domain, then its
	// aliases.
	Names []string
}

// Decision is what the issuer would do for a request now.
type Decision struct {
	// Order: an order is due now.
	Order bool
	// Renewal: the order replaces a certificate still valid.
	Renewal bool
	// Reason says why an order is due, or why the certificate waits.
	Reason string
	// Until, when set, is the earliest time of the next order: the
	// certificate waits.
	Until time.Time
}

// Issuer obtains certificates. Implementations must be safe for
// concurrent use and honour ctx.
type Issuer interface {
	// Decide returns, for reqs (the certificates of one server, in the
	// order of their resources' IDs), what an order of each would do now:
	// due, waiting, or nothing to do. Orders it decides count against the
	// CA's limits for the later requests of the same plan. It sends
	// nothing to the CA but renewal-information requests.
	Decide(ctx context.Context, server string, reqs []Request) ([]Decision, error)
	// Ensure obtains req's certificate if it is still due: the pre-checks,
	// then an order answered through the site's web servers. It returns a
	// *WaitError when it sends no order now (a backoff, the CA's limits, a
	// failed pre-check), and whether a certificate was issued.
	Ensure(ctx context.Context, req Request) (issued bool, err error)
}

// WaitError is an Issuer's error when a certificate gets no order now.
type WaitError struct {
	// Until is the earliest time of the next order; zero when the next
	// run tries again (a failed pre-check).
	Until  time.Time
	Reason string
}

func (e *WaitError) Error() string {
	if e.Until.IsZero() {
		return e.Reason + "; the next run checks again"
	}
	return e.Reason + "; next order not before " + e.Until.UTC().Format(time.RFC3339)
}

// Certificate is the resource of one site's certificate.
type Certificate struct {
	reconcile.Base
	req    Request
	issuer Issuer
}

// Spec describes a certificate resource.
type Spec struct {
	ID, Server string
	// Deps are the site's vhosts: the challenge path must be served.
	Deps    []string
	Request Request
	Issuer  Issuer
}

// New returns the resource of one site's certificate.
func New(s Spec) *Certificate {
	return &Certificate{
		Base:   reconcile.NewBase(reconcile.BaseSpec{Kind: Kind, ID: s.ID, Server: s.Server, Site: s.Request.Site, Deps: s.Deps}),
		req:    s.Request,
		issuer: s.Issuer,
	}
}

// Observe lists nothing: what is installed on the hosts is kind/files'.
func (c *Certificate) Observe() []string { return nil }

// AfterReload: an order runs once every web server serves the vhost
// with the site's challenge path.
func (c *Certificate) AfterReload() bool { return true }

// BatchKey groups a server's certificates: their decisions are made
// together, in ID order, against one budget.
func (c *Certificate) BatchKey() string { return Kind }

// decisions are ObserveBatch's result: by resource ID.
type decisions map[string]Decision

// ObserveBatch asks the issuer what each certificate of the server needs.
func (c *Certificate) ObserveBatch(ctx context.Context, _ host.Host, batch []reconcile.Resource) (any, error) {
	var reqs []Request
	var ids []string
	var issuer Issuer
	for _, r := range batch {
		if cr, ok := r.(*Certificate); ok && !cr.Absent() && cr.issuer != nil {
			issuer = cr.issuer
			reqs = append(reqs, cr.req)
			ids = append(ids, cr.ID())
		}
	}
	out := decisions{}
	if len(reqs) == 0 {
		return out, nil
	}
	ds, err := issuer.Decide(ctx, c.Server(), reqs)
	if err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}
	if len(ds) != len(reqs) {
		return nil, fmt.Errorf("certificates: %d decisions for %d certificates", len(ds), len(reqs))
	}
	for i, id := range ids {
		out[id] = ds[i]
	}
	return out, nil
}

// Check plans an order when one is due, shows a certificate that waits,
// and a pruned certificate's forgetting.
func (c *Certificate) Check(_ context.Context, in reconcile.CheckInput) (reconcile.Change, error) {
	if c.Absent() {
		return c.NewChange(reconcile.Delete, "no longer declared: never renewed again (it stays in the state store; its files go with the vhost)"), nil
	}
	ds, _ := in.Batch.(decisions)
	d, ok := ds[c.ID()]
	if !ok {
		return reconcile.Change{}, fmt.Errorf("certificate %s: no decision observed", c.req.Key)
	}
	names := strings.Join(c.req.Names, ", ")
	var ch reconcile.Change
	switch {
	case d.Order && d.Renewal:
		ch = c.NewChange(reconcile.Update, "renew for "+names+": "+d.Reason)
	case d.Order && in.Record == nil:
		ch = c.NewChange(reconcile.Create, "order for "+names+": "+d.Reason)
	case d.Order:
		ch = c.NewChange(reconcile.Update, "order for "+names+": "+d.Reason)
	case !d.Until.IsZero():
		ch = c.NewChange(reconcile.Update, "waiting until "+d.Until.UTC().Format(time.RFC3339)+": "+d.Reason)
	default:
		return c.NewChange(reconcile.None, ""), nil
	}
	ch.Found = d
	return ch, nil
}

// Apply orders the certificate when the plan said so; a certificate that
// waits, or whose pre-checks fail, leaves the site as it is served and
// the run Degraded, not failed.
func (c *Certificate) Apply(ctx context.Context, _ host.Host, ch *reconcile.Change) error {
	if ch.Action == reconcile.Delete {
		return nil // nothing on the host: the files are kind/files'
	}
	d, _ := ch.Found.(Decision)
	if !d.Order {
		return c.waiting(&WaitError{Until: d.Until, Reason: d.Reason})
	}
	_, err := c.issuer.Ensure(ctx, c.req)
	var w *WaitError
	if errors.As(err, &w) {
		return c.waiting(w)
	}
	if err != nil {
		return fmt.Errorf("certificate for %s: %w", strings.Join(c.req.Names, ", "), err)
	}
	return nil
}

func (c *Certificate) waiting(w *WaitError) error {
	return &reconcile.KeptError{Degraded: true,
		Message: fmt.Sprintf("site %s: certificate waiting: %v", c.req.Site, w)}
}

// Undo has nothing to put back: an issued certificate is the store's.
func (c *Certificate) Undo(context.Context, host.Host, *reconcile.Change) error { return nil }

// Record is the resource's inventory entry.
func (c *Certificate) Record() reconcile.Record { return c.NewRecord() }
