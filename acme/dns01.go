package acme

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-acme/lego/v5/challenge/dns01"
	"github.com/go-acme/lego/v5/lego"
	"github.com/miekg/dns"
)

// Defaults of DNSUpdate's wait for the challenge record.
const (
	DefaultPropagationTimeout = 2 * time.Minute
	DefaultPropagationPoll    = time.Second
)

// ChallengeZone is one dynamic zone berth renders for DNS-01 challenges:
// _acme-challenge.<name> (the wildcard's "*." removed), on the primary of
// the zone that holds the name and transferred to its secondaries.
type ChallengeZone struct {
	// Name is the zone's name, without the final dot:
	// _acme-challenge.example.com.
	Name string
	// Primary is where the primary's named answers (address:port): the
	// dynamic updates go there.
	Primary string
	// Servers are every server that serves the zone (address:port), the
	// primary first: the CA is asked to validate only once each serves
	// the challenge record.
	Servers []string
}

// DNSUpdate answers DNS-01 challenges (a lego challenge.Provider) with RFC
// 2136 dynamic updates of berth's challenge zones, signed with the TSIG
// key that the zones' update-policy grants: Present adds the TXT record
// _acme-challenge.<name> to the zone of that name on its primary, the
// client waits until every server of the zone serves it (Served) before
// the CA is asked to validate, and CleanUp deletes that one record. Other
// records of the zone (another authorization's for the same name: a
// wildcard and its base name share one) are left alone.
//
// Secret is a secret: it never reaches an error or a log.
type DNSUpdate struct {
	Zones   []ChallengeZone
	KeyName string // the TSIG key's name, e.g. berth-acme-production
	Secret  string // its hmac-sha256 secret, base64
	// Wait bounds the wait until every server serves the record
	// (default DefaultPropagationTimeout); Poll is the time between two
	// looks (default DefaultPropagationPoll).
	Wait, Poll time.Duration
}

// challengeFQDN is where the CA looks for the DNS-01 answer of domain,
// with the final dot.
func challengeFQDN(domain string) string {
	return dns.Fqdn("_acme-challenge." + strings.TrimPrefix(strings.ToLower(domain), "*."))
}

// ChallengeValue is the TXT value DNS-01 publishes for a key
// authorization (RFC 8555 §8.4): base64url(SHA-256(keyAuth)).
func ChallengeValue(keyAuth string) string {
	sum := sha256.Sum256([]byte(keyAuth))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// zone returns the challenge zone whose apex is fqdn.
func (d *DNSUpdate) zone(fqdn string) (*ChallengeZone, error) {
	for i := range d.Zones {
		if dns.Fqdn(strings.ToLower(d.Zones[i].Name)) == strings.ToLower(fqdn) {
			return &d.Zones[i], nil
		}
	}
	return nil, fmt.Errorf("%s is not a challenge zone berth serves: set tls: { challenge: dns-01 } only for names in zones berth renders, and apply the zones first", strings.TrimSuffix(fqdn, "."))
}

// Present adds the challenge record of domain on the zone's primary.
func (d *DNSUpdate) Present(ctx context.Context, domain, _, keyAuth string) error {
	return d.update(ctx, challengeFQDN(domain), ChallengeValue(keyAuth), true)
}

// CleanUp deletes the challenge record Present added.
func (d *DNSUpdate) CleanUp(ctx context.Context, domain, _, keyAuth string) error {
	return d.update(ctx, challengeFQDN(domain), ChallengeValue(keyAuth), false)
}

// Timeout is lego's bound of the wait for the record (Served is asked
// every Poll until then).
func (d *DNSUpdate) Timeout() (timeout, interval time.Duration) {
	timeout, interval = d.Wait, d.Poll
	if timeout <= 0 {
		timeout = DefaultPropagationTimeout
	}
	if interval <= 0 {
		interval = DefaultPropagationPoll
	}
	return timeout, interval
}

func (d *DNSUpdate) update(ctx context.Context, fqdn, value string, add bool) error {
	z, err := d.zone(fqdn)
	if err != nil {
		return err
	}
	rr := &dns.TXT{Hdr: dns.RR_Header{Name: fqdn, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{value}}
	m := new(dns.Msg)
	m.SetUpdate(fqdn)
	what := "add"
	if add {
		m.Insert([]dns.RR{rr})
	} else {
		what = "delete"
		m.Remove([]dns.RR{rr})
	}
	key := dns.Fqdn(d.KeyName)
	m.SetTsig(key, dns.HmacSHA256, 300, time.Now().Unix())
	c := &dns.Client{Net: "tcp", Timeout: 15 * time.Second, TsigSecret: map[string]string{key: d.Secret}}
	r, _, err := c.ExchangeContext(ctx, m, z.Primary)
	if err != nil {
		return fmt.Errorf("%s the challenge record of %s on %s: %w", what, z.Name, z.Primary, redactSecret(err, d.Secret))
	}
	if r.Rcode != dns.RcodeSuccess {
		return fmt.Errorf("%s the challenge record of %s on %s: named answers %s: check that berth's include file is loaded there (the zone's update-policy grants key %s)",
			what, z.Name, z.Primary, dns.RcodeToString[r.Rcode], d.KeyName)
	}
	return nil
}

// redactSecret keeps the key's secret out of an error's text.
func redactSecret(err error, secret string) error {
	if secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "[secret]"))
}

// Served reports whether every server of fqdn's challenge zone serves the
// TXT record value at fqdn, asking each directly (not a resolver, whose
// cache could hold an older answer).
func (d *DNSUpdate) Served(ctx context.Context, fqdn, value string) (bool, error) {
	z, err := d.zone(fqdn)
	if err != nil {
		return false, err
	}
	for _, s := range z.Servers {
		r, err := ask(ctx, s, fqdn, dns.TypeTXT)
		if err != nil {
			return false, nil // not yet: lego asks again until its timeout
		}
		if !slices.ContainsFunc(r.Answer, func(rr dns.RR) bool {
			t, ok := rr.(*dns.TXT)
			return ok && strings.Join(t.Txt, "") == value
		}) {
			return false, nil
		}
	}
	return true, nil
}

// Check is the DNS-01 pre-check of names: each name's challenge zone is
// one of berth's, and every server of it answers for it with authority.
func (d *DNSUpdate) Check(ctx context.Context, names []string) error {
	var errs []error
	for _, n := range names {
		fqdn := challengeFQDN(n)
		z, err := d.zone(fqdn)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n, err))
			continue
		}
		for _, s := range z.Servers {
			r, err := ask(ctx, s, fqdn, dns.TypeSOA)
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("%s: challenge zone %s on %s: %w", n, z.Name, s, err))
			case r.Rcode != dns.RcodeSuccess || !r.Authoritative || !slices.ContainsFunc(r.Answer, func(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeSOA }):
				errs = append(errs, fmt.Errorf("%s: %s does not serve challenge zone %s yet (%s): apply the zones first", n, s, z.Name, dns.RcodeToString[r.Rcode]))
			}
		}
	}
	return errors.Join(errs...)
}

// ask asks server (address:port) one question over TCP, without
// recursion.
func ask(ctx context.Context, server, fqdn string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(fqdn, qtype)
	m.RecursionDesired = false
	c := &dns.Client{Net: "tcp", Timeout: 10 * time.Second}
	r, _, err := c.ExchangeContext(ctx, m, server)
	return r, err
}

// servedChecker is a DNS-01 provider that knows the servers of its
// records: the CA is asked to validate once Served reports true, instead
// of lego's own propagation check through the system's resolvers.
type servedChecker interface {
	Served(ctx context.Context, fqdn, value string) (bool, error)
}

// setProviders gives the lego client exactly the challenge providers of
// req: the client is shared by every request, so one request's provider
// never answers another's challenges.
func setProviders(lc *lego.Client, req Request) error {
	lc.Challenge.ResetSolvers()
	if req.HTTP01 != nil {
		if err := lc.Challenge.SetHTTP01Provider(req.HTTP01); err != nil {
			return fmt.Errorf("set the HTTP-01 provider: %w", err)
		}
	}
	if req.DNS01 != nil {
		var opts []dns01.ChallengeOption
		if sc, ok := req.DNS01.(servedChecker); ok {
			// The record's name is worked out from the domain, as Present
			// does: lego's fqdn follows CNAMEs through the system's
			// resolvers, which berth's zones need not be known to.
			opts = append(opts, dns01.WrapPreCheck(func(ctx context.Context, domain, _, value string, _ dns01.PreCheckFunc) (bool, error) {
				return sc.Served(ctx, challengeFQDN(domain), value)
			}))
		}
		if err := lc.Challenge.SetDNS01Provider(req.DNS01, opts...); err != nil {
			return fmt.Errorf("set the DNS-01 provider: %w", err)
		}
	}
	return nil
}

// String describes the provider without its secret, for %v and %+v.
func (d *DNSUpdate) String() string {
	names := make([]string, len(d.Zones))
	for i, z := range d.Zones {
		names[i] = z.Name + "@" + z.Primary
	}
	return fmt.Sprintf("DNS-01 updates of %s with TSIG key %s", strings.Join(names, ", "), d.KeyName)
}
