package spec

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ChallengeLabel is the label under which an ACME CA looks for a name's
// DNS-01 answer (RFC 8555 §8.4).
const ChallengeLabel = "_acme-challenge"

// ChallengeName is where the CA looks for the DNS-01 answer of name:
// _acme-challenge.<name>, a wildcard's "*." removed (the CA validates
// *.example.com at _acme-challenge.example.com). It never holds a "*".
func ChallengeName(name string) string {
	return ChallengeLabel + "." + strings.TrimPrefix(name, "*.")
}

// tlsLayer is one layer of a site's settings in an environment, for
// problems about the tls field it sets.
type tlsLayer struct {
	m       *Meta
	path    string // of the settings; "" for a site file's own
	subject string
	set     *SiteSettings
}

// at is the position of field (e.g. "tls.challenge") in the layer.
func (l *tlsLayer) at(field string) string { return strings.TrimPrefix(l.path+"."+field, ".") }

// tlsLayers are the layers of site s's settings in env, the weakest
// first: berth.yaml's defaults, the environment's defaults, the site file,
// the environment's override of the site.
func tlsLayers(cfg *Config, env string, s *Site) []tlsLayer {
	e := cfg.Environments[env]
	envSubject := subjectOf("environment", env)
	return []tlsLayer{
		{&cfg.Meta, "defaults", envSubject, &cfg.Defaults},
		{&cfg.Meta, "environments." + env + ".defaults", envSubject, &e.Defaults},
		{&s.Meta, "", subjectOf("site", s.Name), &s.SiteSettings},
		{&cfg.Meta, "environments." + env + ".sites." + s.Name, envSubject, e.Sites[s.Name].settings()},
	}
}

// winning returns the strongest layer whose tls sets a field (has), or nil.
func winning(layers []tlsLayer, has func(*TLS) bool) *tlsLayer {
	var win *tlsLayer
	for i := range layers {
		if l := &layers[i]; l.set != nil && l.set.TLS != nil && has(l.set.TLS) {
			win = l
		}
	}
	return win
}

// acmeChallenges checks the challenge of every site with tls.acme in
// every environment:
//
//   - a wildcard name (an alias *.example.com) is validated by DNS-01
//     only: with http-01 it is refused at the alias;
//   - with dns-01, every name of the site must fall in a zone of the
//     environment that berth serves from a bind primary (the challenge
//     zones live there), and the zone must hold no record at or below the
//     name's _acme-challenge name, which berth delegates to its challenge
//     zone.
//
// A problem shared by several environments is reported once.
func (c *checker) acmeChallenges(cfg *Config) {
	seen := map[string]bool{}
	report := func(m *Meta, path, subject, format string, args ...any) {
		p := Problem{Pos: m.At(path), Subject: subject, Message: fmt.Sprintf(format, args...)}
		if key := p.Pos.String() + "\x00" + p.Message; !seen[key] {
			seen[key] = true
			c.problems = append(c.problems, p)
		}
	}
	for _, env := range slices.Sorted(maps.Keys(cfg.Environments)) {
		e := cfg.Environments[env]
		if e == nil {
			continue
		}
		suffix := e.DomainSuffix
		if RuleDomainSuffix.Check(suffix) != nil {
			suffix = ""
		}
		var zones []ResolvedZone
		zonesDone := false
		for _, s := range sortedBy(c.r.Sites, func(s *Site) string { return s.Name }) {
			if !inEnv(s.Environments, env) || s.Domain == "" {
				continue
			}
			layers := tlsLayers(cfg, env, s)
			acme := winning(layers, func(t *TLS) bool { return t.ACME != nil })
			if acme == nil || !*acme.set.TLS.ACME {
				continue
			}
			where, field := acme, "tls.acme"
			challenge := ChallengeHTTP01
			if w := winning(layers, func(t *TLS) bool { return t.Challenge != "" }); w != nil {
				where, field, challenge = w, "tls.challenge", w.set.TLS.Challenge
			}
			subject := subjectOf("site", s.Name)
			if challenge != ChallengeDNS01 {
				for i, a := range s.ASCIIAliases {
					if strings.HasPrefix(a, "*.") {
						report(&s.Meta, fmt.Sprintf("aliases[%d]", i), subject,
							"%s is a wildcard name, which an ACME CA validates only by DNS-01, and the site's certificate uses %s (%s): set tls: { challenge: dns-01 } for the site (its zone must be one berth serves), or remove the wildcard alias",
							a, challenge, where.m.At(where.at(field)))
					}
				}
				continue
			}
			if !zonesDone {
				zones, _ = c.r.zoneSet(env, func(*Meta, string, string, string, ...any) {})
				zonesDone = true
			}
			names := []string{s.Domain + suffix}
			for _, a := range s.ASCIIAliases {
				names = append(names, a+suffix)
			}
			for _, n := range names {
				z := holdingZone(zones, n)
				if z == nil {
					report(where.m, where.at(field), where.subject,
						"tls.challenge is dns-01 for site %q in environment %q, but %s is in no zone berth serves there: DNS-01 answers are published in berth's own zones; declare a Zone holding %s, or use http-01",
						s.Name, env, n, n)
					continue
				}
				if srv := c.r.servers[z.Primary]; srv == nil || srv.Services.DNS == nil || srv.Services.DNS.Type != "bind" {
					continue // the zone's primary is reported by the zone's own checks
				}
				ch := ChallengeName(n)
				for _, rec := range z.Records {
					if InZone(rec.Name, ch) {
						report(where.m, where.at(field), where.subject,
							"tls.challenge is dns-01 for site %q in environment %q, but zone %s holds %s %s, where berth delegates %s to its challenge zone: remove that record",
							s.Name, env, z.Name, rec.Name, rec.Type, ch)
						break
					}
				}
			}
		}
	}
}

// holdingZone is the zone with the longest name that holds name, or nil.
func holdingZone(zones []ResolvedZone, name string) *ResolvedZone {
	var out *ResolvedZone
	for i := range zones {
		if InZone(name, zones[i].Name) && (out == nil || len(zones[i].Name) > len(out.Name)) {
			out = &zones[i]
		}
	}
	return out
}
