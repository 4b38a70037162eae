package dns_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/berthhq/berth/acme"
	"github.com/berthhq/berth/desired"
	"github.com/berthhq/berth/internal/testenv"
	"github.com/berthhq/berth/kind/dns"
	"github.com/berthhq/berth/redact"
	"github.com/berthhq/berth/render"
	"github.com/berthhq/berth/spec"
)

// newChallengeEnv is a sites repo whose site example.test, with the
// wildcard alias *.example.test, gets its certificate over DNS-01 through
// zone example.test, which berth serves from the test named.
func newChallengeEnv(t *testing.T) *dnsEnv {
	base := t.TempDir()
	b := testenv.BINDWith(t, nil, testenv.BINDOptions{Includes: []string{filepath.Join(base, "berth-production.conf")}})
	e := &dnsEnv{t: t, bind: b, repo: t.TempDir(), base: base, now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	e.write("berth.yaml", "environments:\n  production:\n    branch: main\n    acme: { directory: \"https://127.0.0.1:14000/dir\", email: hostmaster@example.test }\n")
	e.write("servers/servers.yaml", fmt.Sprintf(`kind: Server
name: web1
address: local
public_addresses: [127.0.0.1]
services:
  http: { type: nginx, conf_dir: nginx, web_root: www }
---
kind: Server
name: ns1
address: local
services:
  dns:
    type: bind
    zone_dir: zones/{env}
    include_file: berth-{env}.conf
    rndc: [rndc, -c, %s]
    check_conf: [named-checkconf, %s]
    listen: %s
`, b.RNDCConf, b.Conf, b.Addr))
	e.write("platforms/static.yaml", "kind: Platform\nname: static\ntype: static\nsource: { path: code }\nservers: [web1]\n")
	e.write("code/index.html", "hello\n")
	e.write("sites/example.test.yaml", "kind: Site\nname: example.test\nplatform: static\naliases: [\"*.example.test\", www.example.test]\ndns: {}\ntls: { acme: true, challenge: dns-01 }\n")
	e.write("zones/example.test.yaml", "kind: Zone\nname: example.test\ncontact: hostmaster@example.test\nns: [ns1.example.test]\nttl: 300\nprimary: ns1\nrecords:\n  - { name: ns1, type: A, value: 127.0.0.1 }\n  - { name: \"@\", type: CAA, tag: issue, value: pebble.test }\n")
	e.open()
	return e
}

// update sends a dynamic update adding a record at name (a TXT, or an A
// when txt is ""), signed with key/secret unless key is "", and returns
// named's answer code.
func (e *dnsEnv) update(zone, name, txt, key, secret string) (int, error) {
	var rr mdns.RR
	if txt != "" {
		rr = &mdns.TXT{Hdr: mdns.RR_Header{Name: mdns.Fqdn(name), Rrtype: mdns.TypeTXT, Class: mdns.ClassINET, Ttl: 60}, Txt: []string{txt}}
	} else {
		rr = &mdns.A{Hdr: mdns.RR_Header{Name: mdns.Fqdn(name), Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60}, A: []byte{192, 0, 2, 1}}
	}
	m := new(mdns.Msg)
	m.SetUpdate(mdns.Fqdn(zone))
	m.Insert([]mdns.RR{rr})
	c := &mdns.Client{Net: "tcp", Timeout: 5 * time.Second}
	if key != "" {
		m.SetTsig(mdns.Fqdn(key), mdns.HmacSHA256, 300, time.Now().Unix())
		c.TsigSecret = map[string]string{mdns.Fqdn(key): secret}
	}
	r, _, err := c.Exchange(m, e.bind.Addr)
	if err != nil && r == nil {
		return -1, err
	}
	return r.Rcode, nil
}

// txts returns the TXT values named serves at name.
func (e *dnsEnv) txts(name string) []string {
	ans, err := e.query(name, mdns.TypeTXT)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, rr := range ans {
		if t, ok := rr.(*mdns.TXT); ok {
			out = append(out, strings.Join(t.Txt, ""))
		}
	}
	slices.Sort(out)
	return out
}

func TestChallengeZonesOnNamed(t *testing.T) {
	e := newChallengeEnv(t)
	ctx := context.Background()
	const ch = "_acme-challenge.example.test"

	// First apply: the challenge zones of example.test (its main name and
	// its wildcard share one) and www.example.test, delegated from the
	// zone, loaded by the include file's reconfig.
	p, _ := e.apply("production")
	var planned []string
	for _, c := range p.Changes {
		planned = append(planned, c.ID)
	}
	for _, id := range []string{desired.ChallengeZoneID(ch, "ns1"), desired.ChallengeZoneID("_acme-challenge.www.example.test", "ns1"), desired.ChallengeZoneDirID("ns1"), desired.ZoneKeyID("ns1")} {
		if !slices.Contains(planned, id) {
			t.Errorf("first apply: %s not planned (%v)", id, planned)
		}
	}
	for _, c := range p.Changes {
		if c.ID == desired.ZoneID("example.test", "ns1") && !strings.Contains(c.Diff, "+ "+ch+". 300 IN NS ns1.example.test.\n") {
			t.Errorf("the zone does not delegate %s:\n%s", ch, c.Diff)
		}
		if strings.Contains(c.Diff, "secret") {
			t.Errorf("%s shows a secret in the plan:\n%s", c.ID, c.Diff)
		}
	}
	inc, err := os.ReadFile(filepath.Join(e.base, "berth-production.conf"))
	if err != nil {
		t.Fatal(err)
	}
	keyName := desired.ACMEKeyName("production")
	if want := fmt.Sprintf("update-policy { grant %q name %q TXT; };", keyName, ch+"."); !strings.Contains(string(inc), want) {
		t.Errorf("include file without %s:\n%s", want, inc)
	}
	testenv.EventuallyWith(t, "named serves "+ch, 20*time.Second, func() (bool, string) {
		ans, err := e.query(ch, mdns.TypeSOA)
		return err == nil && len(ans) == 1, fmt.Sprint(ans, err)
	})
	fi, err := os.Stat(filepath.Join(e.base, "zones/production/acme"))
	if err != nil || fi.Mode().Perm() != 0o770 {
		t.Errorf("challenge directory: %v, mode %v; want 0770, writable by named's group", err, fi.Mode().Perm())
	}

	// Converged: nothing to do.
	if p, res := e.apply("production"); len(p.Changes) != 0 || len(res.Reloads) != 0 {
		t.Errorf("second apply: %+v, reloads %v; want nothing", p.Changes, res.Reloads)
	}

	// Dynamic updates: with berth's key accepted (TXT at the apex only);
	// without a key, with another key, or of another type, refused.
	secret, err := e.store.Secret(ctx, desired.ACMETSIGSecretKey("production"), nil)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := dns.NewTSIGSecret()
	for _, tc := range []struct {
		name, txt, key, secret string
		want                   int
	}{
		{ch, "with the key", keyName, secret, mdns.RcodeSuccess},
		{ch, "without a key", "", "", mdns.RcodeRefused},
		{ch, "with another key", "intruder", other, mdns.RcodeNotAuth},
		{ch, "", keyName, secret, mdns.RcodeRefused},                      // an A record
		{"x." + ch, "below the apex", keyName, secret, mdns.RcodeRefused}, // not the granted name
	} {
		got, err := e.update(ch, tc.name, tc.txt, tc.key, tc.secret)
		if got != tc.want {
			t.Errorf("update %s %q with key %q: %s (%v), want %s", tc.name, tc.txt, tc.key, mdns.RcodeToString[got], err, mdns.RcodeToString[tc.want])
		}
	}
	if got := e.txts(ch); !slices.Equal(got, []string{"with the key"}) {
		t.Errorf("TXT at %s: %q, want only the signed update's", ch, got)
	}

	// The journal and a dump of it into the zone file do not make berth
	// rewrite the zone.
	if _, err := e.bind.RNDC("sync", ch); err != nil {
		t.Fatal(err)
	}
	testenv.EventuallyWith(t, "named dumps "+ch+" into its file", 20*time.Second, func() (bool, string) {
		data, _ := os.ReadFile(render.ChallengeZoneFile(filepath.Join(e.base, "zones/production"), ch))
		return strings.Contains(string(data), "with the key"), string(data)
	})
	if p, res := e.apply("production"); len(p.Changes) != 0 || len(res.Reloads) != 0 {
		t.Errorf("apply after a dynamic update: %+v, reloads %v; want nothing", p.Changes, res.Reloads)
	}
	if got := e.txts(ch); !slices.Equal(got, []string{"with the key"}) {
		t.Errorf("TXT at %s after the apply: %q", ch, got)
	}

	// The site no longer uses DNS-01: its challenge zones are dropped from
	// the include file, deleted with their journals, and undelegated.
	e.write("sites/example.test.yaml", "kind: Site\nname: example.test\nplatform: static\naliases: [www.example.test]\ndns: {}\ntls: { acme: true }\n")
	e.apply("production")
	f := render.ChallengeZoneFile(filepath.Join(e.base, "zones/production"), ch)
	for _, p := range []string{f, f + ".jnl"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind: %v", p, err)
		}
	}
	testenv.EventuallyWith(t, "named stops serving "+ch, 20*time.Second, func() (bool, string) {
		ans, err := e.query(ch, mdns.TypeNS)
		return err != nil || len(ans) == 0, fmt.Sprint(ans, err)
	})
	if p, _ := e.apply("production"); len(p.Changes) != 0 {
		t.Errorf("apply after the removal: %+v", p.Changes)
	}
}

// countingTransport counts the requests that reach the CA.
type countingTransport struct {
	n    atomic.Int64
	next http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// TestWildcardCertificateOverDNS01: a certificate for example.test and
// *.example.test from a real Pebble, validated over DNS-01 through the
// challenge zone berth rendered and converged on the test named; the
// challenge records are gone afterwards, and Ensure again sends nothing.
func TestWildcardCertificateOverDNS01(t *testing.T) {
	e := newChallengeEnv(t)
	e.write("sites/example.test.yaml", "kind: Site\nname: example.test\nplatform: static\naliases: [\"*.example.test\"]\ndns: {}\ntls: { acme: true, challenge: dns-01 }\n")
	ctx := context.Background()
	e.apply("production")
	const ch = "_acme-challenge.example.test"
	testenv.EventuallyWith(t, "named serves "+ch, 20*time.Second, func() (bool, string) {
		ans, err := e.query(ch, mdns.TypeSOA)
		return err == nil && len(ans) == 1, fmt.Sprint(ans, err)
	})

	pebble := testenv.Pebble(t, testenv.PebbleOptions{DNSServer: e.bind.Addr})
	roots := x509.NewCertPool()
	pem, err := os.ReadFile(pebble.CACertFile)
	if err != nil {
		t.Fatal(err)
	}
	roots.AppendCertsFromPEM(pem)
	requests := &countingTransport{next: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	client := &http.Client{Transport: requests, Timeout: time.Minute}
	newClient := func() *acme.Client {
		c, err := acme.New(acme.Config{DirectoryURL: pebble.DirectoryURL, Email: "hostmaster@example.test", Store: e.store, HTTPClient: client,
			IssuerDomain: "pebble.test", Resolver: e.bind.Addr})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	// What the certificate kind gets from the desired state.
	repo, err := spec.Load(os.DirFS(e.repo))
	if err != nil {
		t.Fatal(err)
	}
	res, err := spec.Resolve(repo, "production")
	if err != nil {
		t.Fatal(err)
	}
	site := &res.Sites[slices.IndexFunc(res.Sites, func(s spec.ResolvedSite) bool { return s.Name == "example.test" })]
	up, err := desired.DNS01(ctx, res, site, desired.ZoneOptions{StateDir: e.base, Secrets: e.store})
	if err != nil {
		t.Fatal(err)
	}
	if len(up.Zones) != 1 || up.Zones[0].Name != ch || up.Zones[0].Primary != e.bind.Addr || up.KeyName != desired.ACMEKeyName("production") {
		t.Fatalf("DNS01 facts: %+v", up.Zones)
	}
	// The key is a secret: not in the provider's text, registered with
	// redact for every log and error.
	if strings.Contains(fmt.Sprintf("%v %+v", up, up), up.Secret) || redact.String(up.Secret) == up.Secret {
		t.Errorf("the TSIG secret shows: %+v", up)
	}
	up.Poll = 100 * time.Millisecond
	names := append([]string{site.Domain}, site.Aliases...)
	req := acme.Request{ID: "production/example.test", Names: names, DNS01: up,
		Precheck: func(ctx context.Context) error { return up.Check(ctx, names) }}

	c := newClient()
	r, err := c.Ensure(ctx, req)
	if err != nil {
		t.Fatalf("Ensure over DNS-01: %v", err)
	}
	if !r.Issued {
		t.Fatal("no certificate issued")
	}
	leaf, err := x509.ParseCertificate(firstDER(t, r.Certificate.CertPEM))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(slices.Sorted(slices.Values(leaf.DNSNames)), " "); got != "*.example.test example.test" {
		t.Errorf("certificate names %q", got)
	}
	if got := e.txts(ch); len(got) != 0 {
		t.Errorf("challenge records left at %s: %q", ch, got)
	}

	// Again, from the same client and from a new one: no request to the CA.
	before := requests.n.Load()
	for i, cl := range []*acme.Client{c, newClient()} {
		r, err := cl.Ensure(ctx, req)
		if err != nil || r.Issued {
			t.Fatalf("client %d again: issued %v, err %v", i, r.Issued, err)
		}
	}
	if n := requests.n.Load() - before; n != 0 {
		t.Errorf("%d requests reached the CA for a valid certificate", n)
	}
	orders, _ := e.store.ACMEOrders(ctx, pebble.DirectoryURL, time.Time{})
	if len(orders) != 1 {
		t.Errorf("%d orders recorded, want 1", len(orders))
	}

	// Converged zones stay converged after the challenge.
	if p, _ := e.apply("production"); len(p.Changes) != 0 {
		t.Errorf("apply after the challenge: %+v", p.Changes)
	}

	// A name whose challenge zone berth does not serve, and a CAA record
	// that names another CA: pre-check failures, no order.
	before = requests.n.Load()
	for _, tc := range []struct {
		req  acme.Request
		want string
	}{
		{acme.Request{ID: "production/other", Names: []string{"other.example.test"}, DNS01: up,
			Precheck: func(ctx context.Context) error { return up.Check(ctx, []string{"other.example.test"}) }},
			"_acme-challenge.other.example.test is not a challenge zone berth serves"},
	} {
		_, err := c.Ensure(ctx, tc.req)
		var pe *acme.PrecheckError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want a pre-check failure with %q", tc.req.ID, err, tc.want)
		}
	}
	strict, err := acme.New(acme.Config{DirectoryURL: pebble.DirectoryURL, Email: "hostmaster@example.test", Store: e.store, HTTPClient: client,
		IssuerDomain: "letsencrypt.org", Resolver: e.bind.Addr})
	if err != nil {
		t.Fatal(err)
	}
	_, err = strict.Ensure(ctx, acme.Request{ID: "production/caa", Names: []string{"caa.example.test"}, DNS01: up})
	var pe *acme.PrecheckError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), `the CAA records at example.test let only pebble.test issue (issue), not letsencrypt.org`) {
		t.Errorf("CAA: got %v", err)
	}
	if n := requests.n.Load() - before; n != 0 {
		t.Errorf("%d requests reached the CA after failed pre-checks", n)
	}
}

// firstDER is the first certificate of a PEM chain.
func firstDER(t *testing.T, chain []byte) []byte {
	t.Helper()
	b, _ := pem.Decode(chain)
	if b == nil {
		t.Fatalf("no certificate in %q", chain)
	}
	return b.Bytes
}

// TestChallengeZoneOnSecondary: a challenge zone is transferred to the
// zone's secondary; a signed update reaches it by NOTIFY, DNSUpdate waits
// for both servers, and the cleanup leaves neither with the record.
func TestChallengeZoneOnSecondary(t *testing.T) {
	base := t.TempDir()
	b1 := testenv.BINDWith(t, nil, testenv.BINDOptions{Includes: []string{filepath.Join(base, "ns1-production.conf")}})
	b2 := testenv.BINDWith(t, nil, testenv.BINDOptions{Includes: []string{filepath.Join(base, "ns2-production.conf")}})
	e := &dnsEnv{t: t, bind: b1, repo: t.TempDir(), base: base, now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	e.write("berth.yaml", "environments:\n  production:\n    branch: main\n    acme: { directory: letsencrypt, email: hostmaster@example.test }\n")
	server := func(name string, b *testenv.BINDServer) string {
		return fmt.Sprintf("kind: Server\nname: %[1]s\naddress: local\nservices:\n  dns:\n    type: bind\n    zone_dir: %[1]s-zones/{env}\n    include_file: %[1]s-{env}.conf\n    rndc: [rndc, -c, %[2]s]\n    check_conf: [named-checkconf, %[3]s]\n    listen: %[4]s\n",
			name, b.RNDCConf, b.Conf, b.Addr)
	}
	e.write("servers/servers.yaml", "kind: Server\nname: web1\naddress: local\npublic_addresses: [127.0.0.1]\nservices:\n  http: { type: nginx, conf_dir: nginx, web_root: www }\n---\n"+
		server("ns1", b1)+"---\n"+server("ns2", b2))
	e.write("platforms/static.yaml", "kind: Platform\nname: static\ntype: static\nsource: { path: code }\nservers: [web1]\n")
	e.write("code/index.html", "hello\n")
	e.write("sites/example.test.yaml", "kind: Site\nname: example.test\nplatform: static\naliases: [\"*.example.test\"]\ndns: {}\ntls: { acme: true, challenge: dns-01 }\n")
	e.write("zones/example.test.yaml", "kind: Zone\nname: example.test\ncontact: hostmaster@example.test\nns: [ns1.example.test, ns2.example.test]\nttl: 300\nprimary: ns1\nsecondaries: [ns2]\n")
	e.open()
	ctx := context.Background()
	const ch = "_acme-challenge.example.test"
	e.apply("production")
	secondary := &dnsEnv{t: t, bind: b2}
	testenv.EventuallyWith(t, "the secondary serves "+ch, 30*time.Second, func() (bool, string) {
		ans, err := secondary.query(ch, mdns.TypeSOA)
		return err == nil && len(ans) == 1, fmt.Sprint(ans, err)
	})
	if p, _ := e.apply("production"); len(p.Changes) != 0 {
		t.Errorf("applied again: %+v", p.Changes)
	}

	repo, err := spec.Load(os.DirFS(e.repo))
	if err != nil {
		t.Fatal(err)
	}
	res, err := spec.Resolve(repo, "production")
	if err != nil {
		t.Fatal(err)
	}
	up, err := desired.DNS01(ctx, res, &res.Sites[0], desired.ZoneOptions{StateDir: base, Secrets: e.store})
	if err != nil {
		t.Fatal(err)
	}
	if len(up.Zones) != 1 || !slices.Equal(up.Zones[0].Servers, []string{b1.Addr, b2.Addr}) {
		t.Fatalf("DNS01 facts: %+v", up.Zones)
	}
	if err := up.Check(ctx, []string{"example.test", "*.example.test"}); err != nil {
		t.Fatalf("pre-check: %v", err)
	}
	const keyAuth = "token.thumbprint"
	if err := up.Present(ctx, "*.example.test", "token", keyAuth); err != nil {
		t.Fatal(err)
	}
	value := acme.ChallengeValue(keyAuth)
	testenv.EventuallyWith(t, "both servers serve the challenge record", 30*time.Second, func() (bool, string) {
		ok, err := up.Served(ctx, ch+".", value)
		return ok && err == nil, fmt.Sprint(e.txts(ch), secondary.txts(ch), err)
	})
	if err := up.CleanUp(ctx, "*.example.test", "token", keyAuth); err != nil {
		t.Fatal(err)
	}
	testenv.EventuallyWith(t, "the record is gone from both servers", 30*time.Second, func() (bool, string) {
		a, b := e.txts(ch), secondary.txts(ch)
		return len(a) == 0 && len(b) == 0, fmt.Sprint(a, b)
	})
}
