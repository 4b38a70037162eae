package dns

import (
	"context"
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
	reconcile.RegisterPruner(KindSync, func(rec reconcile.Record) reconcile.Resource {
		return &Sync{id: rec.ID, server: rec.Server, gone: true}
	})
}

// Sync checks, after its zone was reloaded on the primary, that a
// secondary serves the zone's new serial: it asks the secondary's SOA over
// DNS until it matches, for at most its wait. A secondary that lags does
// not fail the run: Apply returns a *reconcile.KeptError (a warning of the
// run's result) that says the secondary is Degraded and the serials seen.
// It lives on the primary's server, after the zone and the include file
// in ID order, so that their Checks ran before its own. In a run that
// creates the zone or changes the primary's include file it checks
// nothing (named loads them only after the server's changes, this one
// included): the next run does.
type Sync struct {
	id, server, secondary string
	addr                  string // the secondary's DNS address:port
	zone                  *Zone
	include               *includeFile // the primary's, checked before (its ID sorts first)
	wait                  time.Duration
	gone                  bool // a pruned record: forget it
	seen                  uint32
	seenErr               error
}

func (s *Sync) ID() string        { return s.id }
func (s *Sync) Server() string    { return s.server }
func (s *Sync) Kind() string      { return KindSync }
func (s *Sync) Site() string      { return "" }
func (s *Sync) Path() string      { return "" }
func (s *Sync) Observe() []string { return nil }
func (s *Sync) Deps() []string {
	if s.zone == nil {
		return nil
	}
	return []string{s.zone.id}
}

func (s *Sync) change(a reconcile.Action, reason string) reconcile.Change {
	return reconcile.Change{ID: s.id, Server: s.server, Kind: KindSync, Action: a, Reason: reason}
}

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
	if s.gone {
		return s.change(reconcile.Delete, "the zone or its secondary is no longer declared; forgotten"), nil
	}
	name := s.zone.zone.Name
	if s.zone.action == reconcile.Create {
		return s.change(reconcile.None, "new zone: the secondary transfers it once named loads it; the next run checks its serial"), nil
	}
	if s.include != nil && s.include.action != reconcile.None {
		// named reconfigures the primary only after this server's
		// changes, this one included: waiting here would wait for it.
		return s.change(reconcile.None, "the primary's zone list changes in this run: the next run checks the secondary's serial"), nil
	}
	s.seen, s.seenErr = soaSerial(ctx, s.addr, name)
	if s.seenErr == nil && s.seen == s.zone.serial && s.zone.action == reconcile.None {
		return s.change(reconcile.None, ""), nil
	}
	if s.seenErr != nil {
		return s.change(reconcile.Update, fmt.Sprintf("secondary %s does not answer for zone %s (%v): wait for serial %d", s.secondary, name, s.seenErr, s.zone.serial)), nil
	}
	return s.change(reconcile.Update, fmt.Sprintf("secondary %s serves serial %d of zone %s: wait for serial %d", s.secondary, s.seen, name, s.zone.serial)), nil
}

// Apply waits until the secondary serves the zone's serial, or a later
// one (RFC 1982 arithmetic), for at most the wait.
func (s *Sync) Apply(ctx context.Context, h host.Host, c *reconcile.Change) error {
	if s.gone || c.Action != reconcile.Update {
		return nil
	}
	name, want := s.zone.zone.Name, s.zone.serial
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
			seen := fmt.Sprintf("serves serial %d", got)
			if err != nil {
				seen = fmt.Sprintf("does not answer (%v)", err)
			}
			return &reconcile.KeptError{Path: "zone " + name + " on secondary " + s.secondary,
				Reason: fmt.Sprintf("the secondary lags, Degraded: after %s it %s, the primary %s serves %d; check its transfers from the primary (allow-transfer, the TSIG key, named's log on %s)%s", wait, seen, s.server, want, s.secondary, notified)}
		case <-tick.C:
		}
	}
}

func (s *Sync) Undo(context.Context, host.Host, *reconcile.Change) error { return nil }

func (s *Sync) Record() reconcile.Record {
	return reconcile.Record{ID: s.id, Server: s.server, Kind: KindSync}
}
