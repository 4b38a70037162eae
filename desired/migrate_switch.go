package desired

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/berthhq/berth/kind/dns"
	"github.com/berthhq/berth/kind/lb"
	"github.com/berthhq/berth/kind/migrate"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/spec"
)

// SwitchTTL is the TTL, in seconds, of a moving site's records in the
// zones berth serves from the start of its move until the end of its
// grace period (the zone's own TTL when that is lower): the switch, and
// a move back, reach the resolvers within it.
var SwitchTTL = 60

// siteSwitch is what a move points at its target when it switches, as
// the builder renders it: the zones holding the site's records and the
// load balancers routing it, before and after the switch.
type siteSwitch struct {
	// zones are the IDs of the zones whose records of the site change
	// (their primaries' dns.Zone), lbs those of the load balancers'
	// configurations that route it (lb.Config).
	zones, lbs []string
	// wait is the zones' normal TTL (the longest), ttl the lowered one.
	wait time.Duration
	ttl  int
	// dns and lb describe the switch for the plan.
	dns, lb []string
	// after are the resources as they are once switched, applied by the
	// step's switch; before what this run converges them to, put back
	// when the switch fails.
	after, before []reconcile.Resource
	// added are the resources of after that this run does not have (a
	// site's certificate on the load balancer it moves to): removed when
	// the switch fails, recorded in the inventory when it succeeds.
	added []reconcile.Resource
	hosts reconcile.Hosts
	// inv records what the switch wrote, as a run would (env, revision).
	inv           reconcile.Inventory
	env, revision string
}

// switchView returns res as the zones and load balancers see it while
// moves run (res itself is not changed), and the switch of each move
// (by index in moves; none for a move whose names point nowhere else):
//
//   - a move not switched yet (!done) publishes the site's A and AAAA
//     records in the zones berth serves with its source's addresses
//     (the source's load balancer's, when its platform has one), at
//     SwitchTTL; its load balancers keep routing it to the source: the
//     site stays on its source's platform, or, when that platform is
//     gone (its servers changed), goes to an upstream of its own
//     listing the source (spec.ResolvedSite.LBFrom);
//   - a switched move within its grace period publishes the target's
//     addresses, still at SwitchTTL (a move back is as quick);
//   - a retired move is the revision as it is.
//
// Records whose addresses are the same on both sides (a load balancer in
// front of both) keep their TTL: nothing of DNS switches.
func switchView(res *spec.Resolved, moves []move, now time.Time) (*spec.Resolved, map[int]*siteSwitch) {
	if len(moves) == 0 {
		return res, nil
	}
	out := *res
	out.Sites = slices.Clone(res.Sites)
	out.Zones = slices.Clone(res.Zones)
	for i := range out.Zones {
		out.Zones[i].Records = slices.Clone(res.Zones[i].Records)
	}
	sws := map[int]*siteSwitch{}
	for i, mv := range moves {
		if mv.retired(now) {
			continue
		}
		if sw := viewMove(&out, res, mv); sw != nil {
			sws[i] = sw
		}
	}
	return &out, sws
}

// viewMove changes out (see switchView) for one move, and returns its
// switch, nil when neither DNS nor a load balancer is involved.
func viewMove(out, res *spec.Resolved, mv move) *siteSwitch {
	site := &out.Sites[mv.site]
	sources := append([]string{mv.source}, mv.others...)
	var srcPl *spec.ResolvedPlatform
	for i := range res.Platforms {
		pl := &res.Platforms[i]
		if slices.Contains(pl.Servers, mv.source) && (srcPl == nil || srcPl.Name == site.Platform) {
			srcPl = pl
		}
	}
	sw := &siteSwitch{}
	lbOf := map[string]bool{}
	if srcPl != nil && srcPl.LB != "" {
		lbOf[srcPl.LB] = true
	}
	if site.LB != nil {
		lbOf[site.LB.Server] = true
	}
	for _, name := range slices.Sorted(maps.Keys(lbOf)) {
		sw.lb = append(sw.lb, fmt.Sprintf("%s routes %s to %s", name, site.Domain, strings.Join(site.Servers, ", ")))
	}

	// The source's addresses, as its names were published before the move.
	srcLB := ""
	switch {
	case srcPl != nil:
		srcLB = srcPl.LB
	case site.LB != nil:
		srcLB = site.LB.Server
	}
	var addrs []netip.Addr
	if srcLB != "" {
		addrs = serverAddresses(res, srcLB)
	} else {
		for _, sn := range sources {
			for _, a := range serverAddresses(res, sn) {
				if !slices.Contains(addrs, a) {
					addrs = append(addrs, a)
				}
			}
		}
	}
	slices.SortFunc(addrs, func(a, b netip.Addr) int { return a.Compare(b) })

	if !mv.done {
		switch {
		case srcPl != nil && srcPl.Name != site.Platform && (srcPl.LB != "" || site.LB != nil):
			site.Platform = srcPl.Name
			site.LB = siteLBOf(res, srcPl.LB)
		case site.LB != nil:
			site.LBFrom = sources
		}
	}

	if len(addrs) > 0 {
		for zi := range out.Zones {
			z := &out.Zones[zi]
			have := map[string][]string{} // owner -> the target's addresses
			for _, r := range z.Records {
				if r.Site == site.Name && (r.Type == "A" || r.Type == "AAAA") {
					have[r.Name] = append(have[r.Name], r.Data)
				}
			}
			var src []string
			for _, a := range addrs {
				src = append(src, a.String())
			}
			changed := false
			for owner, data := range have {
				if slices.Equal(slices.Sorted(slices.Values(data)), slices.Sorted(slices.Values(src))) {
					delete(have, owner)
					continue
				}
				changed = true
				sw.dns = append(sw.dns, fmt.Sprintf("%s in zone %s: %s → %s", owner, z.Name, strings.Join(src, " "), strings.Join(data, " ")))
			}
			if !changed {
				continue
			}
			ttl := min(SwitchTTL, z.TTL)
			recs := slices.DeleteFunc(z.Records, func(r spec.ResolvedRecord) bool {
				return !mv.done && have[r.Name] != nil && r.Site == site.Name && (r.Type == "A" || r.Type == "AAAA")
			})
			for i := range recs {
				if have[recs[i].Name] != nil && recs[i].Site == site.Name {
					recs[i].TTL = ttl // the target's, switched
				}
			}
			if !mv.done {
				for _, owner := range slices.Sorted(maps.Keys(have)) {
					for _, a := range addrs {
						t := "A"
						if a.Is6() {
							t = "AAAA"
						}
						recs = append(recs, spec.ResolvedRecord{Name: owner, Type: t, TTL: ttl, Data: a.String(), Site: site.Name})
					}
				}
			}
			spec.SortRecords(recs)
			z.Records = recs
			sw.zones = append(sw.zones, ZoneID(z.Name, z.Primary))
			sw.wait = max(sw.wait, time.Duration(z.TTL)*time.Second)
			if sw.ttl == 0 || ttl < sw.ttl {
				sw.ttl = ttl
			}
		}
	}
	slices.Sort(sw.dns)
	if len(sw.zones) == 0 && len(lbOf) == 0 {
		return nil
	}
	return sw
}

// serverAddresses are the addresses a server's sites are published at
// (spec.PublicAddresses of the resolved server).
func serverAddresses(res *spec.Resolved, name string) []netip.Addr {
	var out []netip.Addr
	for _, s := range res.Servers {
		if s.Name != name {
			continue
		}
		for _, p := range s.PublicAddresses {
			if a, err := netip.ParseAddr(p); err == nil {
				out = append(out, a)
			}
		}
		if len(s.PublicAddresses) == 0 {
			if a, err := netip.ParseAddr(s.Address); err == nil && a.Zone() == "" {
				out = append(out, a)
			}
		}
	}
	return out
}

// siteLBOf is how a site is served through load balancer name, as the
// resolver sets it (nil for none).
func siteLBOf(res *spec.Resolved, name string) *spec.ResolvedSiteLB {
	if name == "" {
		return nil
	}
	for _, s := range res.Sites {
		if s.LB != nil && s.LB.Server == name {
			l := *s.LB
			return &l
		}
	}
	for _, s := range res.Servers {
		if s.Name == name && s.LB != nil {
			return &spec.ResolvedSiteLB{Server: name, From: s.LB.Source, Listen: s.LB.Listen, TLSListen: s.LB.TLSListen}
		}
	}
	return nil
}

// addSwitches builds, for every move with a switch (sws, from
// switchView), the zones and load balancer configurations as they are
// once the move is switched — the same builders as the run's (Zones,
// addLoadBalancers) over the view with that move done — keeping those
// that differ from d's (the run's, before the switch), and sets each
// move's switch. d holds the run's zones and load balancers.
func addSwitches(ctx context.Context, d *reconcile.Desired, res *spec.Resolved, moves []move, sws map[int]*siteSwitch, base string, secrets Secrets, hosts reconcile.Hosts, inv reconcile.Inventory, revision string, certs map[string]issuedCert, now time.Time) error {
	byID := map[string]reconcile.Resource{}
	for _, r := range d.Resources {
		byID[r.ID()] = r
	}
	for i, sw := range sws {
		if moves[i].done {
			moves[i].sw = sw
			continue
		}
		switched := slices.Clone(moves)
		switched[i].done = true
		switched[i].marker.At = now // switched now: its grace period begins
		view, _ := switchView(res, switched, now)
		zones, err := Zones(ctx, view, ZoneOptions{StateDir: base, Secrets: secrets})
		if err != nil {
			return err
		}
		// In the order that keeps the site answering: the load balancer
		// it moves to routes it first, then the names point there, then
		// the others stop routing it.
		var zs, toTarget, others []reconcile.Resource
		for _, r := range zones {
			if z, ok := r.(*dns.Zone); ok && slices.Contains(sw.zones, z.ID()) && byID[z.ID()] != nil {
				zs = append(zs, z)
				sw.before = append(sw.before, byID[z.ID()])
			}
		}
		target := ""
		if site := &res.Sites[moves[i].site]; site.LB != nil {
			target = LBConfigID(site.Platform, site.LB.Server)
		}
		scratch := &reconcile.Desired{}
		if err := addLoadBalancers(scratch, view, base, nil, certs); err != nil {
			return err
		}
		lbServers := map[string]bool{}
		for _, r := range scratch.Resources {
			if c, ok := r.(*lb.Config); ok && (byID[c.ID()] == nil || byID[c.ID()].Record().Hash != c.Record().Hash) {
				lbServers[c.Server()] = true
			}
		}
		for _, r := range scratch.Resources {
			if _, ok := r.(*lb.Config); !ok && lbServers[r.Server()] && byID[r.ID()] == nil {
				// What the switched configuration needs that the run does
				// not write: the site's certificate on the load balancer
				// it moves to (and its directory).
				sw.after = append(sw.after, r)
				sw.added = append(sw.added, r)
			}
		}
		for _, r := range scratch.Resources {
			c, ok := r.(*lb.Config)
			if !ok {
				continue
			}
			old := byID[c.ID()]
			if old != nil && old.Record().Hash == c.Record().Hash {
				continue
			}
			if c.ID() == target {
				toTarget = append(toTarget, c)
			} else {
				others = append(others, c)
			}
			if old != nil {
				sw.before = append(sw.before, old)
				sw.lbs = append(sw.lbs, c.ID())
			}
		}
		if len(toTarget)+len(others) == 0 {
			sw.lb = nil
		}
		sw.after = slices.Concat(sw.after, toTarget, zs, others)
		sw.hosts, sw.inv, sw.env, sw.revision = hosts, inv, res.Environment, revision
		moves[i].sw = sw
	}
	return nil
}

// describe adds the switch to a migration's plan.
func (sw *siteSwitch) describe(p *migrate.Plan, done bool) {
	if sw == nil {
		return
	}
	p.DNS = strings.Join(sw.dns, "; ")
	p.LB = strings.Join(sw.lb, "; ")
	p.TTL = sw.ttl
	if !done {
		p.Wait = sw.wait
	}
}

// waitFor is how long the step waits for the resolvers' caches (0 once
// switched).
func (sw *siteSwitch) waitFor(done bool) time.Duration {
	if sw == nil || done {
		return 0
	}
	return sw.wait
}

// deps are what the step runs after: the run's zones and load balancer
// configurations it switches (their change of this run first).
func (sw *siteSwitch) deps() []string {
	if sw == nil {
		return nil
	}
	return append(slices.Clone(sw.zones), sw.lbs...)
}

// startDeps are what the mark of the move's start runs after: the zones
// that publish the site's records at the lowered TTL.
func (sw *siteSwitch) startDeps() []string {
	if sw == nil {
		return nil
	}
	return slices.Clone(sw.zones)
}

// switchFunc is the step's switch (migrate.Spec.Switch): the resources
// as they are once switched (what the target's load balancer needs, its
// configuration routing the site, the zones, the other load balancers'
// configurations), each by its own Apply (checked and reloaded), then
// recorded in the inventory; a failure puts back what the run converged
// them to and removes what it added, so the names point at the source
// again. nil when nothing switches.
func (sw *siteSwitch) switchFunc() func(ctx context.Context) error {
	if sw == nil || len(sw.after) == 0 {
		return nil
	}
	apply := func(ctx context.Context, r reconcile.Resource) error {
		h, err := sw.hosts.Host(ctx, r.Server())
		if err != nil {
			return fmt.Errorf("connect to %s: %w", r.Server(), err)
		}
		_, err = reconcile.ApplyNow(ctx, h, r, nil, dns.AllowChanges)
		return err
	}
	return func(ctx context.Context) error {
		var err error
		for _, r := range sw.after {
			if err = apply(ctx, r); err != nil {
				err = fmt.Errorf("%s on %s: %w", r.ID(), r.Server(), err)
				break
			}
		}
		if err == nil && sw.inv != nil {
			var recs []reconcile.Record
			for _, r := range sw.after {
				recs = append(recs, r.Record())
			}
			if serr := sw.inv.SaveRecords(ctx, sw.env, sw.revision, recs); serr != nil {
				err = fmt.Errorf("record the switched resources in the inventory: %w", serr)
			}
		}
		if err == nil {
			return nil
		}
		ctx = context.WithoutCancel(ctx)
		for _, b := range sw.before {
			if berr := apply(ctx, b); berr != nil {
				err = errors.Join(err, fmt.Errorf("put %s back on %s: %w", b.ID(), b.Server(), berr))
			}
		}
		for _, r := range slices.Backward(sw.added) {
			if r.Path() == "" {
				continue
			}
			h, herr := sw.hosts.Host(ctx, r.Server())
			if herr == nil {
				herr = h.Remove(ctx, r.Path())
			}
			if herr != nil {
				err = errors.Join(err, fmt.Errorf("remove %s on %s: %w", r.Path(), r.Server(), herr))
			}
		}
		return err
	}
}
