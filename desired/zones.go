package desired

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/berthhq/berth/kind/dns"
	"github.com/berthhq/berth/kind/files"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/render"
	"github.com/berthhq/berth/spec"
)

// ZoneOptions are what Zones needs besides the resolved revision.
type ZoneOptions struct {
	// StateDir is berth's state directory: a local server's relative
	// paths live under it and its commands run in it.
	StateDir string
	// Secrets keeps the TSIG key of the environment's zone transfers;
	// needed only when a zone has secondaries. A read-only store plans
	// the key as generated at apply.
	Secrets Secrets
	// Now is the clock of the serials' dates (default time.Now).
	Now func() time.Time
	// SyncWait bounds the wait for a secondary's serial (default
	// dns.DefaultSyncWait).
	SyncWait time.Duration
}

// pendingTSIG stands for a TSIG secret a read-only plan cannot generate:
// the key file is planned (its content hidden) and generated at apply.
const pendingTSIG = "cGVuZGluZw=="

// Zones returns the DNS resources of a resolved revision (kind/dns). On
// every server with a bind service that serves a zone of the environment,
// as primary or secondary: its zone directory, one Zone per zone it is
// the primary of (with a Sync per secondary; an Xfer per zone it is a
// secondary of), the include file listing
// the zones it serves (which depends on the zones, so that a zone refused
// by named-checkzone is not configured), and, when transfers need it, the
// TSIG key file. A server that serves none gets nothing: its include file
// of an earlier revision is pruned, written empty (dns.KindInclude).
//
// Each name of a site with tls.challenge dns-01 gets a challenge zone
// (spec.ChallengeName) served like the zone holding the name: on its
// primary a dns.ChallengeZone in the challenge directory, listed with an
// update-policy for the environment's ACME key (ACMEKeyName, its secret
// in the state store under ACMETSIGSecretKey), on each secondary a
// secondary zone and its Xfer; the zone delegates it with NS records of
// its own name servers. DNS01 hands the certificate kind the same zones.
func Zones(ctx context.Context, res *spec.Resolved, opts ZoneOptions) ([]reconcile.Resource, error) {
	binds := map[string]dns.BIND{}
	for _, s := range res.Servers {
		if s.BIND != nil {
			binds[s.Name] = dns.ServerBIND(s, opts.StateDir)
		}
	}
	listen := func(server, zone string) (string, error) {
		b, ok := binds[server]
		switch {
		case !ok:
			return "", fmt.Errorf("zone %s: server %s has no bind service in environment %s", zone, server, res.Environment)
		case b.Listen == "":
			return "", fmt.Errorf("zone %s: berth does not know where named answers on server %s (address local): set services.dns.listen to address:port", zone, server)
		}
		return b.Listen, nil
	}
	keyName := "berth-xfer-" + res.Environment
	var secret string
	for _, z := range res.Zones {
		if len(z.Secondaries) == 0 || secret != "" {
			continue
		}
		var err error
		if secret, err = tsigSecret(ctx, opts.Secrets, TSIGSecretKey(res.Environment), "zone "+z.Name+" has secondaries, whose transfers need"); err != nil {
			return nil, err
		}
	}
	challenges, err := challengeNames(res)
	if err != nil {
		return nil, err
	}
	zones := withDelegations(res.Zones, challenges)
	updateKey := ACMEKeyName(res.Environment)
	var updateSecret string
	if len(challenges) > 0 {
		if updateSecret, err = tsigSecret(ctx, opts.Secrets, ACMETSIGSecretKey(res.Environment), "sites with tls.challenge dns-01 need"); err != nil {
			return nil, err
		}
	}
	var out []reconcile.Resource
	for _, s := range res.Servers {
		b, ok := binds[s.Name]
		if !ok {
			continue
		}
		var inc []render.IncludeZone
		var primaries []*dns.Zone
		type syncOf struct {
			zone      *dns.Zone
			name      string
			secondary string
			addr      string
		}
		var syncs []syncOf
		var xfers []reconcile.Resource
		var dynamic []reconcile.Resource // the challenge directory and zones
		dir := files.NewDir(files.DirSpec{ID: ZoneDirID(s.Name), Server: s.Name, Path: b.ZoneDir})
		chDir := files.NewDir(files.DirSpec{ID: ChallengeZoneDirID(s.Name), Server: s.Name, Path: render.ChallengeZoneDir(b.ZoneDir),
			Mode: 0o770, Group: b.Group, Deps: []string{dir.ID()}})
		for i := range zones {
			z := &zones[i]
			switch {
			case z.Primary == s.Name:
				for _, ch := range challenges[z.Name] {
					cz, err := dns.NewChallengeZone(dns.ChallengeZoneSpec{ID: ChallengeZoneID(ch, s.Name), Server: s.Name, Zone: ch,
						NS: apexNS(z), Contact: z.Contact, BIND: b, Deps: []string{chDir.ID()}})
					if err != nil {
						return nil, err
					}
					if len(dynamic) == 0 {
						dynamic = append(dynamic, chDir)
					}
					dynamic = append(dynamic, cz)
					iz := render.IncludeZone{Name: ch, Challenge: true, UpdateKey: updateKey}
					for _, sec := range z.Secondaries {
						addr, err := listen(sec, z.Name)
						if err != nil {
							return nil, err
						}
						iz.Secondaries = append(iz.Secondaries, addr)
					}
					inc = append(inc, iz)
				}
				zr := dns.NewZone(dns.ZoneSpec{ID: ZoneID(z.Name, s.Name), Server: s.Name, Zone: z, BIND: b, Deps: []string{dir.ID()}, Now: opts.Now})
				primaries = append(primaries, zr)
				iz := render.IncludeZone{Name: z.Name}
				for _, sec := range z.Secondaries {
					addr, err := listen(sec, z.Name)
					if err != nil {
						return nil, err
					}
					iz.Secondaries = append(iz.Secondaries, addr)
					syncs = append(syncs, syncOf{zr, z.Name, sec, addr})
				}
				inc = append(inc, iz)
			case slices.Contains(z.Secondaries, s.Name):
				addr, err := listen(z.Primary, z.Name)
				if err != nil {
					return nil, err
				}
				inc = append(inc, render.IncludeZone{Name: z.Name, Secondary: true, Primary: addr})
				own, err := listen(s.Name, z.Name)
				if err != nil {
					return nil, err
				}
				xfers = append(xfers, dns.NewXfer(dns.XferSpec{ID: ZoneXferID(z.Name, s.Name), Server: s.Name, Zone: z.Name, Primary: addr, Addr: own, BIND: b,
					Deps: []string{ZoneIncludeID(s.Name)}}))
				for _, ch := range challenges[z.Name] {
					inc = append(inc, render.IncludeZone{Name: ch, Challenge: true, Secondary: true, Primary: addr})
					xfers = append(xfers, dns.NewXfer(dns.XferSpec{ID: ZoneXferID(ch, s.Name), Server: s.Name, Zone: ch, Primary: addr, Addr: own, BIND: b,
						Deps: []string{ZoneIncludeID(s.Name)}}))
				}
			}
		}
		if len(inc) == 0 {
			continue // it serves no zone of the environment
		}
		out = append(out, dir)
		var deps []string
		for _, zr := range primaries {
			out = append(out, zr)
			deps = append(deps, zr.ID())
		}
		for _, r := range dynamic {
			out = append(out, r)
			deps = append(deps, r.ID())
		}
		kf := dns.KeyFile(b.IncludeFile)
		var keys []render.TSIGKey
		if slices.ContainsFunc(inc, func(z render.IncludeZone) bool { return z.Secondary || len(z.Secondaries) > 0 }) {
			keys = append(keys, render.TSIGKey{Name: keyName, Secret: secret})
		}
		if slices.ContainsFunc(inc, func(z render.IncludeZone) bool { return z.UpdateKey != "" }) {
			keys = append(keys, render.TSIGKey{Name: updateKey, Secret: updateSecret})
		}
		if len(keys) > 0 {
			key, err := render.ZoneKey(keys...)
			if err != nil {
				return nil, err
			}
			out = append(out, dns.NewConf(dns.ConfSpec{Kind: dns.KindKey, ID: ZoneKeyID(s.Name), Server: s.Name, Path: kf, Content: key, Group: b.Group, Service: dns.ServiceBIND}))
			deps = append(deps, ZoneKeyID(s.Name))
		}
		content, err := render.ZoneInclude(b.ZoneDir, inc, kf, keyName)
		if err != nil {
			return nil, err
		}
		out = append(out, dns.NewConf(dns.ConfSpec{Kind: dns.KindInclude, ID: ZoneIncludeID(s.Name), Server: s.Name, Path: b.IncludeFile, Content: content, Service: dns.ServiceBIND, Deps: deps}))
		out = append(out, xfers...)
		for _, sy := range syncs {
			out = append(out, dns.NewSync(dns.SyncSpec{ID: ZoneSyncID(sy.name, sy.secondary, s.Name), Secondary: sy.secondary, Addr: sy.addr,
				Zone: sy.zone, Include: b.IncludeFile, Content: content, Wait: opts.SyncWait}))
		}
	}
	return out, nil
}

// addZones adds the DNS resources of res to d (Zones), its notes of the
// site names in no declared zone to d's warnings (once per site), the
// bind service to d.Service, and the pruning of berth's include files and
// key files on servers that no longer have a bind service.
func addZones(ctx context.Context, d *reconcile.Desired, res *spec.Resolved, base string, secrets Secrets) error {
	rs, err := Zones(ctx, res, ZoneOptions{StateDir: base, Secrets: secrets})
	if err != nil {
		return err
	}
	d.Resources = append(d.Resources, rs...)
	d.Warnings = append(d.Warnings, res.DNSNotes...)
	servers := map[string]spec.ResolvedServer{}
	for _, s := range res.Servers {
		servers[s.Name] = s
	}
	service := d.Service
	d.Service = func(server, name string) (reconcile.Service, error) {
		if name == dns.ServiceBIND {
			if svc, ok := dns.Service(servers[server], base); ok {
				return svc, nil
			}
			return reconcile.Service{}, fmt.Errorf("server %s has no bind service in environment %s: run rndc reconfig on it by hand", server, res.Environment)
		}
		if service == nil {
			return reconcile.Service{}, fmt.Errorf("server %s has no service %q", server, name)
		}
		return service(server, name)
	}
	prune := d.Prune
	d.Prune = func(rec reconcile.Record) (reconcile.Resource, bool) {
		if rec.Kind == dns.KindInclude || rec.Kind == dns.KindKey {
			svc := ""
			if servers[rec.Server].BIND != nil {
				svc = dns.ServiceBIND
			}
			return dns.PrunedConf(rec, svc), true
		}
		if prune == nil {
			return nil, false
		}
		return prune(rec)
	}
	return nil
}
