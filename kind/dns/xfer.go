package dns

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/reconcile"
)

// KindXfer is the transfer a secondary is asked for when it lags.
const KindXfer = "zone-xfer"

func init() {
	reconcile.RegisterKind(reconcile.Kind{Name: KindXfer, Prune: func(rec reconcile.Record) reconcile.Resource {
		return &Xfer{Base: reconcile.PrunedBase(KindXfer, rec)}
	}})
}

// Xfer asks a secondary, on its own server, to transfer a zone now
// (`rndc retransfer ZONE`) when it does not serve the primary's serial.
// It runs after every server's reloads (reconcile's AfterReload), so the
// primary serves the zone this run made: a secondary whose first refresh
// failed while the primary was not yet reconfigured would otherwise wait
// for its retry timer (BIND's default for a zone never loaded: about a
// minute). The Sync resource on the primary waits for the serial and
// reports a secondary that still lags; Xfer only asks. Its Check compares
// the two SOA serials over DNS; equal, it does nothing.
type Xfer struct {
	reconcile.Base
	zone    string
	primary string // the primary's DNS address:port
	addr    string // the secondary's DNS address:port
	bind    BIND   // the secondary's
}

// XferSpec describes the retransfer of a zone by one secondary.
type XferSpec struct {
	ID     string
	Server string // the secondary
	Zone   string
	// Primary and Addr are where the primary and the secondary answer
	// DNS, address:port.
	Primary, Addr string
	BIND          BIND
	Deps          []string
}

// NewXfer returns the retransfer of a zone by a secondary, a resource of
// the secondary.
func NewXfer(s XferSpec) *Xfer {
	return &Xfer{Base: reconcile.NewBase(reconcile.BaseSpec{Kind: KindXfer, ID: s.ID, Server: s.Server, Deps: s.Deps}),
		zone: s.Zone, primary: s.Primary, addr: s.Addr, bind: s.BIND}
}

// AfterReload: the transfer is asked once every server reloaded.
func (x *Xfer) AfterReload() bool { return true }

// lags reports why the secondary does not serve the primary's serial, ""
// when it does.
func (x *Xfer) lags(ctx context.Context) string {
	want, err := soaSerial(ctx, x.primary, x.zone)
	if err != nil {
		return fmt.Sprintf("the primary does not serve zone %s yet (%v)", x.zone, err)
	}
	got, err := soaSerial(ctx, x.addr, x.zone)
	switch {
	case err != nil:
		return fmt.Sprintf("the secondary does not answer for zone %s (%v)", x.zone, err)
	case int32(got-want) < 0:
		return fmt.Sprintf("the secondary serves serial %d of zone %s, the primary %d", got, x.zone, want)
	}
	return ""
}

func (x *Xfer) Check(ctx context.Context, in reconcile.CheckInput) (reconcile.Change, error) {
	if x.Absent() {
		return x.NewChange(reconcile.Delete, "the zone or its secondary is no longer declared; forgotten"), nil
	}
	if why := x.lags(ctx); why != "" {
		return x.NewChange(reconcile.Update, why+": after the reloads, rndc retransfer if it still lags"), nil
	}
	return x.NewChange(reconcile.None, ""), nil
}

// Apply asks the secondary to transfer the zone now, unless it serves the
// primary's serial by then. A secondary that cannot be asked does not fail
// the run: the change is kept (a warning), and Sync reports the lag.
func (x *Xfer) Apply(ctx context.Context, h host.Host, c *reconcile.Change) error {
	if x.Absent() || c.Action != reconcile.Update || x.lags(ctx) == "" {
		return nil
	}
	argv := append(slices.Clone(x.bind.RNDC), "retransfer", x.zone)
	if res, err := h.Run(ctx, argv, host.RunOptions{Dir: x.bind.Dir}); err != nil {
		msg := strings.TrimSpace(string(res.Stdout) + "\n" + string(res.Stderr))
		return &reconcile.KeptError{Path: "zone " + x.zone + " on secondary " + x.Server(),
			Reason: fmt.Sprintf("%s: %v: %s; the secondary transfers it at its next refresh", strings.Join(argv, " "), err, msg)}
	}
	return nil
}

func (x *Xfer) Observe() []string { return nil }

func (x *Xfer) Undo(context.Context, host.Host, *reconcile.Change) error { return nil }

func (x *Xfer) Record() reconcile.Record { return x.NewRecord() }
