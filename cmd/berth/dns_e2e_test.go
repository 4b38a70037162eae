package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/berthhq/berth/internal/testenv"
)

// dnsRepo is the example sites repo (examples/sites-repo) served by a real
// nginx and PHP-FPM (server local, with SQLite) and with its DNS server
// db1's bind service pointed at a real named, all started for the test on
// loopback. What the test machine cannot serve is left out: the Drupal
// platform (its code is fetched from Git) with the site on it, and the
// remote web1 that only they use.
// The example's zone is staging's; production gets one for example.com.
type dnsRepo struct {
	*phpWeb
	bind *testenv.BINDServer
}

func newDNSRepo(t *testing.T) *dnsRepo {
	t.Helper()
	w := newPHPWeb(t)
	base := w.base
	b := testenv.BINDWith(t, nil, testenv.BINDOptions{Includes: []string{filepath.Join(base, "berth-staging.conf"), filepath.Join(base, "berth-production.conf")}})
	r := &dnsRepo{phpWeb: w, bind: b}
	testenv.CopyTree(t, "../../examples/sites-repo", r.repo)
	for _, f := range []string{"sites/news.example.net.yaml", "platforms/drupal-10.yaml"} {
		if err := os.Remove(filepath.Join(r.repo, f)); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := os.ReadFile(filepath.Join(r.repo, "berth.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	trimmed := strings.Replace(string(cfg), "    platforms:\n      drupal-10: { ref: 10.4.x }\n", "", 1)
	if trimmed == string(cfg) {
		t.Fatal("berth.yaml of the example no longer overrides drupal-10 in dev: adapt the test")
	}
	// Certificates are TestTLSEndToEnd's: here the names resolve through
	// this BIND only, and no CA is reachable.
	noTLS := strings.Replace(trimmed, "defaults:\n  php: \"8.2\"\n  tls: { acme: true }\n", "defaults:\n  php: \"8.2\"\n  tls: { acme: false }\n", 1)
	if noTLS == trimmed {
		t.Fatal("berth.yaml of the example no longer sets tls.acme in its defaults: adapt the test")
	}
	r.write("berth.yaml", noTLS)
	r.write("servers/local.yaml", strings.Replace(w.webServer("  db: { type: sqlite }\n"), "name: web\naddress: local\n", "name: local\naddress: local\npublic_addresses: [127.0.0.1]\n", 1))
	r.write("servers/remote.yaml", fmt.Sprintf(`kind: Server
name: db1
address: local
services:
  dns:
    type: bind
    zone_dir: %[1]s/zones/{env}
    include_file: %[1]s/berth-{env}.conf
    rndc: [rndc, -c, %[2]s]
    check_conf: [named-checkconf, %[3]s]
`, base, b.RNDCConf, b.Conf))
	r.write("zones/example.com.yaml", "kind: Zone\nname: example.com\ncontact: hostmaster@example.com\nns: [ns1.example.net, ns2.example.net]\nttl: 300\nprimary: db1\nenvironments: [production]\nrecords:\n  - { name: \"@\", type: MX, priority: 10, value: mx1.example.net }\n")
	return r
}

// in runs berth for env.
func (r *dnsRepo) in(env string, args ...string) (int, string, string) {
	r.t.Helper()
	args = append(args, "--env", env, "--repo", r.repo, "--state-dir", r.stateDir, "--no-color")
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func (r *dnsRepo) apply(env string) string {
	r.t.Helper()
	code, out, errOut := r.in(env, "apply", "--auto-approve")
	if code != 0 {
		r.t.Fatalf("apply --env %s: exit %d\n%s\n%s", env, code, out, errOut)
	}
	return out
}

func (r *dnsRepo) query(name string, qtype uint16) ([]mdns.RR, error) {
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), qtype)
	c := &mdns.Client{Net: "tcp", Timeout: 5 * time.Second}
	resp, _, err := c.Exchange(m, r.bind.Addr)
	if err != nil {
		return nil, err
	}
	if resp.Rcode != mdns.RcodeSuccess {
		return nil, fmt.Errorf("%s: %s", name, mdns.RcodeToString[resp.Rcode])
	}
	return resp.Answer, nil
}

// addresses returns the A records named answers for name, sorted.
func (r *dnsRepo) addresses(name string) string {
	ans, err := r.query(name, mdns.TypeA)
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, rr := range ans {
		if a, ok := rr.(*mdns.A); ok {
			out = append(out, a.A.String())
		}
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

func (r *dnsRepo) serial(zone string) uint32 {
	ans, err := r.query(zone, mdns.TypeSOA)
	if err != nil || len(ans) != 1 {
		return 0
	}
	return ans[0].(*mdns.SOA).Serial
}

// waitServed waits until named serves zone with a serial other than
// not (named loads a reloaded zone in the background) and returns it.
func (r *dnsRepo) waitServed(zone string, not uint32) uint32 {
	r.t.Helper()
	var s uint32
	testenv.EventuallyWith(r.t, "serial of "+zone, 20*time.Second, func() (bool, string) {
		s = r.serial(zone)
		return s != 0 && s != not, fmt.Sprint(s)
	})
	return s
}

// The example repo through the CLI with its DNS server on a real named:
// every site name and alias with dns: answers in staging and production
// with the web server's address; applying again changes nothing; an alias
// added shows as one record in the plan (text and Markdown) and raises the
// serial by one; a change over the DNS safety threshold is refused by
// berth plan, naming the threshold and the zone, and planned with
// --allow-dns-changes.
func TestDNSExampleRepo(t *testing.T) {
	r := newDNSRepo(t)

	serials := map[string]uint32{}
	for _, env := range []string{"staging", "production"} {
		r.apply(env)
	}
	for _, z := range []string{"staging.example.net", "example.com"} {
		serials[z] = r.waitServed(z, 0)
	}
	for _, name := range []string{"example.com.staging.example.net", "www.example.com.staging.example.net", "example.com", "www.example.com"} {
		if got := r.addresses(name); got != "127.0.0.1" {
			t.Errorf("%s: A %q, want 127.0.0.1", name, got)
		}
	}
	if ans, err := r.query("preview.staging.example.net", mdns.TypeCNAME); err != nil || len(ans) != 1 {
		t.Errorf("the example's static CNAME: %v %v", ans, err)
	}

	// Apply again: no change, no reload, serials unchanged.
	loads := strings.Count(r.namedLog(), "loaded serial")
	for _, env := range []string{"staging", "production"} {
		if out := r.apply(env); !strings.Contains(out, "No changes") {
			t.Errorf("%s applied again:\n%s", env, out)
		}
	}
	for z, s := range serials {
		if got := r.serial(z); got != s {
			t.Errorf("%s: serial %d after a no-op apply, want %d", z, got, s)
		}
	}
	if got := strings.Count(r.namedLog(), "loaded serial"); got != loads {
		t.Errorf("named loaded %d zones during no-op applies", got-loads)
	}

	// An alias added: one record in the plan, as text and as Markdown.
	site, err := os.ReadFile(filepath.Join(r.repo, "sites/example.com.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r.write("sites/example.com.yaml", strings.Replace(string(site), "aliases: [www.example.com]", "aliases: [www.example.com, new.example.com]", 1))
	const line = "+ new.example.com. 300 IN A 127.0.0.1"
	code, out, errOut := r.in("production", "plan")
	if code != exitChanges || !strings.Contains(out, line) || !strings.Contains(out, "zone/example.com@db1") {
		t.Errorf("plan of an alias: exit %d, want %q\n%s\n%s", code, line, out, errOut)
	}
	code, out, _ = r.in("production", "plan", "--markdown")
	if code != exitChanges || !strings.Contains(out, "```diff\n"+line+"\n```") {
		t.Errorf("markdown plan of an alias: exit %d, want %q\n%s", code, line, out)
	}
	r.apply("production")
	if got := r.waitServed("example.com", serials["example.com"]); got != serials["example.com"]+1 {
		t.Errorf("example.com serial %d after an alias, want %d", got, serials["example.com"]+1)
	}
	if got := r.addresses("new.example.com"); got != "127.0.0.1" {
		t.Errorf("new.example.com: A %q", got)
	}
	if got := r.serial("staging.example.net"); got != serials["staging.example.net"] {
		t.Errorf("staging's zone serial %d, want %d unchanged", got, serials["staging.example.net"])
	}

	// The apex NS set changed: berth plan refuses it, naming the
	// threshold and the zone; the one-run override plans it.
	zone, err := os.ReadFile(filepath.Join(r.repo, "zones/example.com.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r.write("zones/example.com.yaml", strings.Replace(string(zone), "ns: [ns1.example.net, ns2.example.net]", "ns: [ns1.example.net, ns3.example.net]", 1))
	code, out, errOut = r.in("production", "plan")
	if code != exitError || !strings.Contains(errOut, "zone example.com: the plan changes the apex NS set") || !strings.Contains(errOut, "DNS safety threshold") || !strings.Contains(errOut, "--allow-dns-changes") {
		t.Errorf("plan changing the apex NS set: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = r.in("production", "plan", "--allow-dns-changes")
	if code != exitChanges || !strings.Contains(out, "~ example.com. 300 IN NS ns2.example.net. → ns3.example.net.") {
		t.Errorf("plan with --allow-dns-changes: exit %d\n%s\n%s", code, out, errOut)
	}
}

func (r *dnsRepo) namedLog() string {
	data, _ := os.ReadFile(filepath.Join(r.bind.Dir, "named.log"))
	return string(data)
}
