package desired

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/berthhq/berth/acme"
	"github.com/berthhq/berth/kind/dns"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

// tsigSecret returns the TSIG secret stored under key, generating it the
// first time; pendingTSIG when the store is read-only (a plan). need says
// who needs it, for the error without a store.
func tsigSecret(ctx context.Context, secrets Secrets, key, need string) (string, error) {
	if secrets == nil {
		return "", fmt.Errorf("%s a TSIG key from berth's state store; none was given", need)
	}
	secret, err := secrets.Secret(ctx, key, dns.NewTSIGSecret)
	if errors.Is(err, state.ErrReadOnly) {
		return pendingTSIG, nil
	}
	if err != nil {
		return "", fmt.Errorf("the TSIG key %s: %w; berth keeps it in its state store: check --state-dir", key, err)
	}
	return secret, nil
}

// dns01Sites are the sites of res whose certificate is validated by
// DNS-01.
func dns01Site(s *spec.ResolvedSite) bool {
	return s.TLS.ACME && s.TLS.Challenge == spec.ChallengeDNS01
}

// siteNames are a site's names in its environment: main name first.
func siteNames(s *spec.ResolvedSite) []string {
	return append([]string{s.Domain}, s.Aliases...)
}

// holdingZone is the zone of zones with the longest name holding name.
func holdingZone(zones []spec.ResolvedZone, name string) *spec.ResolvedZone {
	var out *spec.ResolvedZone
	for i := range zones {
		if spec.InZone(name, zones[i].Name) && (out == nil || len(zones[i].Name) > len(out.Name)) {
			out = &zones[i]
		}
	}
	return out
}

// challengeNames returns, per zone of res, the challenge zones it
// delegates (spec.ChallengeName of each name of each DNS-01 site in it),
// sorted: one dynamic zone per name the CA validates, so that the zone is
// exactly where the CA looks, without CNAMEs (see kind/dns).
func challengeNames(res *spec.Resolved) (map[string][]string, error) {
	out := map[string][]string{}
	for i := range res.Sites {
		s := &res.Sites[i]
		if !dns01Site(s) {
			continue
		}
		for _, n := range siteNames(s) {
			z := holdingZone(res.Zones, n)
			if z == nil {
				return nil, fmt.Errorf("site %s: %s is in no zone of environment %s, where its DNS-01 challenges would be published: declare a Zone holding it, or set tls.challenge to http-01", s.Name, n, res.Environment)
			}
			ch := spec.ChallengeName(n)
			if !slices.Contains(out[z.Name], ch) {
				out[z.Name] = append(out[z.Name], ch)
			}
		}
	}
	for _, chs := range out {
		slices.Sort(chs)
	}
	return out, nil
}

// withDelegations returns a copy of zones where each zone delegates its
// challenge zones to its own name servers (NS records at the challenge
// zone's name), which serve them too.
func withDelegations(zones []spec.ResolvedZone, challenges map[string][]string) []spec.ResolvedZone {
	out := slices.Clone(zones)
	for i := range out {
		z := &out[i]
		chs := challenges[z.Name]
		if len(chs) == 0 {
			continue
		}
		z.Records = slices.Clone(z.Records)
		for _, ch := range chs {
			for _, ns := range apexNS(z) {
				z.Records = append(z.Records, spec.ResolvedRecord{Name: ch, Type: "NS", TTL: z.TTL, Data: ns + "."})
			}
		}
		spec.SortRecords(z.Records)
	}
	return out
}

// apexNS is a zone's NS set, without the final dots.
func apexNS(z *spec.ResolvedZone) []string {
	if len(z.NS) > 0 {
		return z.NS
	}
	var out []string
	for _, r := range z.Records {
		if r.Type == "NS" && r.Name == z.Name {
			out = append(out, strings.TrimSuffix(r.Data, "."))
		}
	}
	return out
}

// DNS01 returns what the certificate kind needs to answer the DNS-01
// challenges of site, a site of res: the challenge zone of each of its
// names with the address of its primary (where the updates go) and of
// every server that serves it, and the TSIG key of the environment's
// challenge zones (generated into the state store on first use, like the
// key Zones writes into named's key file). It returns nil for a site
// whose certificate is not validated by DNS-01. The secret is a secret:
// the certificate kind keeps it out of its Change and its errors.
//
// A read-only store (a plan) gives a placeholder secret: a plan never
// orders a certificate.
func DNS01(ctx context.Context, res *spec.Resolved, site *spec.ResolvedSite, opts ZoneOptions) (*acme.DNSUpdate, error) {
	if !dns01Site(site) {
		return nil, nil
	}
	listen := map[string]string{}
	for _, s := range res.Servers {
		if s.BIND != nil {
			listen[s.Name] = dns.ServerBIND(s, opts.StateDir).Listen
		}
	}
	addr := func(server, zone string) (string, error) {
		if a := listen[server]; a != "" {
			return a, nil
		}
		return "", fmt.Errorf("site %s: challenge zone %s: berth does not know where named answers on server %s, where it sends the DNS-01 updates: set services.dns.listen to address:port", site.Name, zone, server)
	}
	secret, err := tsigSecret(ctx, opts.Secrets, ACMETSIGSecretKey(res.Environment), "site "+site.Name+"'s DNS-01 challenges need")
	if err != nil {
		return nil, err
	}
	u := &acme.DNSUpdate{KeyName: ACMEKeyName(res.Environment), Secret: secret}
	for _, n := range siteNames(site) {
		z := holdingZone(res.Zones, n)
		if z == nil {
			return nil, fmt.Errorf("site %s: %s is in no zone of environment %s, where its DNS-01 challenges would be published: declare a Zone holding it, or set tls.challenge to http-01", site.Name, n, res.Environment)
		}
		ch := spec.ChallengeName(n)
		if slices.ContainsFunc(u.Zones, func(c acme.ChallengeZone) bool { return c.Name == ch }) {
			continue
		}
		primary, err := addr(z.Primary, ch)
		if err != nil {
			return nil, err
		}
		cz := acme.ChallengeZone{Name: ch, Primary: primary, Servers: []string{primary}}
		for _, sec := range z.Secondaries {
			a, err := addr(sec, ch)
			if err != nil {
				return nil, err
			}
			cz.Servers = append(cz.Servers, a)
		}
		u.Zones = append(u.Zones, cz)
	}
	return u, nil
}

// DNS01Deps are the IDs of the resources a DNS-01 site's certificate
// waits for: the challenge zone of each of its names and the include file
// that loads them, on each zone's primary. Nil for a site whose
// certificate is not validated by DNS-01. The include file is loaded by
// the rndc reconfig at the end of its server's changes: a certificate
// change that runs after the run's reloads (reconcile's AfterReload) sees
// the zones served; otherwise DNSUpdate.Check, its pre-check, fails
// without an order until they are.
func DNS01Deps(res *spec.Resolved, site *spec.ResolvedSite) []string {
	if !dns01Site(site) {
		return nil
	}
	var out []string
	for _, n := range siteNames(site) {
		z := holdingZone(res.Zones, n)
		if z == nil {
			continue
		}
		for _, id := range []string{ChallengeZoneID(spec.ChallengeName(n), z.Primary), ZoneIncludeID(z.Primary)} {
			if !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	return out
}
