package acme

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// CheckCAA checks that the CAA records of every name (RFC 8659), asked of
// the resolver at resolver (address:port, berth's configured resolver),
// let the CA whose identity is issuer (e.g. letsencrypt.org) issue for
// it, as the CA itself will check before issuing: the relevant record set
// is the one of the closest name, climbing from the name towards the root;
// for a wildcard name its issuewild properties, else its issue ones, must
// name issuer; a set without either allows every CA, and so does no set.
// A critical property berth does not know forbids issuance, as it does at
// the CA.
//
// A resolver that refuses a name (an authoritative-only server asked
// about a parent zone it does not serve) ends the climb there; berth's
// resolvers are recursive in production. Any other failure to look up is
// an error: the CA refuses to issue when it cannot read CAA either.
func CheckCAA(ctx context.Context, resolver, issuer string, names []string) error {
	issuer = strings.ToLower(strings.TrimSuffix(issuer, "."))
	var errs []error
	for _, n := range names {
		if err := checkCAA(ctx, resolver, issuer, strings.ToLower(n)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func checkCAA(ctx context.Context, resolver, issuer, name string) error {
	base, wildcard := strings.CutPrefix(name, "*.")
	// Climb to the top-level domain, never to the root ("" after "com.").
	for at := dns.Fqdn(base); at != "." && at != ""; {
		set, refused, err := lookupCAA(ctx, resolver, at)
		if err != nil {
			return fmt.Errorf("%s: CAA lookup of %s at %s: %w; the CA does not issue while it cannot read CAA either", name, strings.TrimSuffix(at, "."), resolver, err)
		}
		if refused {
			return nil
		}
		if len(set) > 0 {
			return allowedBy(set, issuer, name, strings.TrimSuffix(at, "."), wildcard)
		}
		i := strings.IndexByte(at, '.')
		at = at[i+1:]
	}
	return nil
}

// allowedBy applies the CAA record set found at owner to name.
func allowedBy(set []*dns.CAA, issuer, name, owner string, wildcard bool) error {
	tag := "issue"
	if wildcard && hasTag(set, "issuewild") {
		tag = "issuewild"
	}
	var named []string
	for _, c := range set {
		t := strings.ToLower(c.Tag)
		switch {
		case t == tag:
			domain := strings.ToLower(strings.TrimSpace(strings.SplitN(c.Value, ";", 2)[0]))
			if domain == issuer {
				return nil
			}
			if domain == "" {
				domain = `"" (no CA)`
			}
			named = append(named, domain)
		case c.Flag&128 != 0 && t != "issue" && t != "issuewild" && t != "iodef":
			return fmt.Errorf("%s: the CAA records at %s hold the critical property %q, which forbids every CA that does not know it", name, owner, c.Tag)
		}
	}
	if named == nil {
		return nil // no issue (or issuewild) property: any CA may issue
	}
	return fmt.Errorf("%s: the CAA records at %s let only %s issue (%s), not %s: add a CAA record `%s \"%s\"` at %s, or use another CA",
		name, owner, strings.Join(named, ", "), tag, issuer, tag, issuer, owner)
}

func hasTag(set []*dns.CAA, tag string) bool {
	for _, c := range set {
		if strings.EqualFold(c.Tag, tag) {
			return true
		}
	}
	return false
}

// lookupCAA asks resolver for the CAA records of fqdn (following a CNAME
// as the resolver answers it). refused is set when the resolver refuses
// the question.
func lookupCAA(ctx context.Context, resolver, fqdn string) (set []*dns.CAA, refused bool, err error) {
	m := new(dns.Msg)
	m.SetQuestion(fqdn, dns.TypeCAA)
	c := &dns.Client{Timeout: 10 * time.Second}
	r, _, err := c.ExchangeContext(ctx, m, resolver)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(ctx, m, resolver)
	}
	if err != nil {
		return nil, false, err
	}
	switch r.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	case dns.RcodeRefused:
		return nil, true, nil
	default:
		return nil, false, fmt.Errorf("the resolver answers %s", dns.RcodeToString[r.Rcode])
	}
	for _, rr := range r.Answer {
		if caa, ok := rr.(*dns.CAA); ok {
			set = append(set, caa)
		}
	}
	return set, false, nil
}

// SystemResolver is the first name server of /etc/resolv.conf, as
// address:port: the resolver of CheckCAA when Config.Resolver is empty.
func SystemResolver() (string, error) {
	cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil {
		return "", fmt.Errorf("no resolver for the CAA pre-check: %w; set the resolver in berth's configuration", err)
	}
	if len(cc.Servers) == 0 {
		return "", errors.New("no resolver for the CAA pre-check: /etc/resolv.conf names none; set the resolver in berth's configuration")
	}
	return net.JoinHostPort(cc.Servers[0], cc.Port), nil
}

// checkCAA is CheckCAA with the client's issuer and resolver.
func (c *Client) checkCAA(ctx context.Context, names []string) error {
	resolver := c.cfg.Resolver
	if resolver == "" {
		var err error
		if resolver, err = SystemResolver(); err != nil {
			return err
		}
	}
	return CheckCAA(ctx, resolver, c.cfg.IssuerDomain, names)
}
