package dns

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/reconcile"
)

// KindSync is the check that a secondary serves a zone's serial.
const KindSync = "zone-sync"

// DefaultSyncWait bounds how long Sync waits for a secondary.
const DefaultSyncWait = 30 * time.Second

func init() {
	reconcile.RegisterKind(reconcile.Kind{Name: KindSync, Prune: func(rec reconcile.Record) reconcile.Resource {
		return &Sync{Base: reconcile.PrunedBase(KindSync, rec)}
	}})
}

// Sync checks, after its zone was reloaded on the primary, that a
// secondary serves the zone's new serial: it asks the secondary's SOA over
// DNS until it matches, for at most its wait. A secondary that lags does
// not fail the run: Apply returns a *reconcile.KeptError (a warning of the
// run's result) that says the secondary is Degraded and the serials seen.
// It lives on the primary's server and depends on its zone. Its Check
// works out the zone's serial as the zone's own Check does (the same
// batch, dated at the same instant), and observes the primary's include
// file: in a run that creates the zone or changes the primary's include
// file it checks nothing (named loads them only after the server's
// changes, this one included); the next run does.
type Sync struct {
	reconcile.Base
	secondary string
	addr      string // the secondary's DNS address:port
	zone      *Zone
	include   string // the primary's include file
	incHash   string // the SHA-256 of its content as berth renders it
	wait      time.Duration
}

// SyncSpec describes the serial check of a zone's secondary.
type SyncSpec struct {
	ID        string
	Secondary string
	// Addr is where the secondary answers DNS, address:port.
	Addr string
	Zone *Zone
	// Include is the primary's include file and Content its content as
	// berth renders it.
	Include string
	Content []byte
	// Wait bounds the wait for the secondary (default DefaultSyncWait).
	Wait time.Duration
}

// NewSync returns the serial check of a zone's secondary, a resource of
// the zone's primary that depends on the zone.
func NewSync(s SyncSpec) *Sync {
	return &Sync{Base: reconcile.NewBase(reconcile.BaseSpec{Kind: KindSync, ID: s.ID, Server: s.Zone.Server(), Deps: []string{s.Zone.ID()}}),
		secondary: s.Secondary, addr: s.Addr, zone: s.Zone, include: s.Include, incHash: hashOf(s.Content), wait: s.Wait}
}

// AfterReload: the check runs once every server of the run reloaded, so
// it sees what the primary and the secondary serve now.
func (s *Sync) AfterReload() bool { return true }

func (s *Sync) Observe() []string {
	if s.include == "" {
		return nil
	}
	return []string{s.include}
}

// BatchKey puts the check in its zone's batch: it reads the zone files
// ObserveBatch read for the zones.
func (s *Sync) BatchKey() string { return KindZone }

// ObserveBatch reads the zone files of the batch, as Zone's does.
func (s *Sync) ObserveBatch(ctx context.Context, h host.Host, batch []reconcile.Resource) (any, error) {
	return readZones(ctx, h, batch)
}

// syncFound is what Sync's Check learned for Apply: the serial to wait for.
type syncFound struct{ want uint32 }

// soaSerial asks addr for zone's SOA serial.
func soaSerial(ctx context.Context, addr, zone string) (uint32, error) {
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(zone), mdns.TypeSOA)
	m.RecursionDesired = false
	c := &mdns.Client{Net: "tcp", Timeout: 3 * time.Second}
	r, _, err := c.ExchangeContext(ctx, m, addr)
	if err != nil {
		return 0, err
	}
	for _, rr := range r.Answer {
		if soa, ok := rr.(*mdns.SOA); ok {
			return soa.Serial, nil
		}
	}
	return 0, fmt.Errorf("no SOA for %s (%s)", zone, mdns.RcodeToString[r.Rcode])
}

func (s *Sync) Check(ctx context.Context, in reconcile.CheckInput) (reconcile.Change, error) {
	if s.Absent() {
		return s.NewChange(reconcile.Delete, "the zone or its secondary is no longer declared; forgotten"), nil
	}
	name := s.zone.zone.Name
	// The zone's own record is not in reach: a check berth recorded
	// before means the zone file is berth's too.
	zin := in
	zin.Adopt = in.Adopt || in.Record != nil
	zc, zf, err := s.zone.plan(zin)
	switch {
	case err != nil && !errors.Is(err, reconcile.ErrPolicy):
		return reconcile.Change{}, err
	case zc.Action == reconcile.Conflict:
		return s.NewChange(reconcile.None, "the zone file is not berth's yet"), nil
	}
	want := zf.serial
	if obs := in.Obs[s.include]; zc.Action == reconcile.Create || s.include != "" && (!obs.Exists || obs.SHA256 != s.incHash) {
		// named loads the zone or its new configuration only with the
		// reloads of this run; the check runs after them (AfterReload).
		c := s.NewChange(reconcile.Update, fmt.Sprintf("the primary loads zone %s with this run: after the reloads, wait for serial %d on secondary %s", name, want, s.secondary))
		c.Found = &syncFound{want: want}
		return c, nil
	}
	seen, seenErr := soaSerial(ctx, s.addr, name)
	if seenErr == nil && seen == want && zc.Action == reconcile.None {
		return s.NewChange(reconcile.None, ""), nil
	}
	var c reconcile.Change
	if seenErr != nil {
		c = s.NewChange(reconcile.Update, fmt.Sprintf("secondary %s does not answer for zone %s (%v): wait for serial %d", s.secondary, name, seenErr, want))
	} else {
		c = s.NewChange(reconcile.Update, fmt.Sprintf("secondary %s serves serial %d of zone %s: wait for serial %d", s.secondary, seen, name, want))
	}
	c.Found = &syncFound{want: want}
	return c, nil
}

// Apply waits until the secondary serves the zone's serial, or a later
// one (RFC 1982 arithmetic), for at most the wait.
func (s *Sync) Apply(ctx context.Context, h host.Host, c *reconcile.Change) error {
	f, _ := c.Found.(*syncFound)
	if s.Absent() || c.Action != reconcile.Update || f == nil {
		return nil
	}
	name, want := s.zone.zone.Name, f.want
	wait := s.wait
	if wait <= 0 {
		wait = DefaultSyncWait
	}
	// Notify the secondaries again: one whose last refresh failed (the
	// primary had not loaded the key or the zone yet) refreshes now
	// instead of at its retry time.
	notified := ""
	if err := s.zone.run(ctx, h, append(slices.Clone(s.zone.bind.RNDC), "notify", name)); err != nil {
		notified = fmt.Sprintf(" (berth's rndc notify failed: %v)", err)
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	got, err := uint32(0), error(nil)
	for {
		if got, err = soaSerial(ctx, s.addr, name); err == nil && int32(got-want) >= 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			seen := fmt.Sprintf("serial %d", got)
			if err != nil {
				seen = fmt.Sprintf("no answer (%v)", err)
			}
			return &reconcile.KeptError{Path: "zone " + name + " on secondary " + s.secondary, Degraded: true,
				Message: fmt.Sprintf("zone %s on secondary %s lags (Degraded): %s after %s, the primary %s serves %d; check its transfers from the primary (allow-transfer, the TSIG key, named's log on %s)%s", name, s.secondary, seen, wait, s.Server(), want, s.secondary, notified)}
		case <-tick.C:
		}
	}
}

func (s *Sync) Undo(context.Context, host.Host, *reconcile.Change) error { return nil }

func (s *Sync) Record() reconcile.Record { return s.NewRecord() }
