package dns_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/berthhq/berth/desired"
	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/local"
	"github.com/berthhq/berth/internal/testenv"
	"github.com/berthhq/berth/kind/dns"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

// The end-to-end tests converge a sites repo's zones onto a real named
// started by internal/testenv on loopback, through the engine, and ask
// named over DNS what it serves.

type oneHost struct{ h host.Host }

func (o oneHost) Host(context.Context, string) (host.Host, error) { return o.h, nil }

// downHost is oneHost with one server unreachable.
type downHost struct {
	h    host.Host
	down string
}

func (o downHost) Host(_ context.Context, server string) (host.Host, error) {
	if server == o.down {
		return nil, fmt.Errorf("server %s: %w", server, host.ErrUnreachable)
	}
	return o.h, nil
}

type dnsEnv struct {
	t     *testing.T
	bind  *testenv.BINDServer
	repo  string // the sites repo, a directory the test edits
	base  string // berth's state directory: local paths live here
	store *state.Store
	eng   *reconcile.Engine
	now   time.Time
	// syncWait bounds the wait for a secondary (0: the default).
	syncWait time.Duration
}

const e2eRepoConfig = "environments:\n  production: { branch: main }\n  staging: { branch: staging, domain_suffix: .staging.example.net }\n"

// e2eZoneOrg has twelve records: its NS, ten TXT and the A of shop.
func e2eZoneOrg(txt int) string {
	var b strings.Builder
	b.WriteString("kind: Zone\nname: example.org\ncontact: hostmaster@example.org\nns: [ns1.example.net]\nttl: 300\nprimary: ns1\nrecords:\n")
	for i := range txt {
		fmt.Fprintf(&b, "  - { name: t%d, type: TXT, value: \"record %d\" }\n", i, i)
	}
	return b.String()
}

func newDNSEnv(t *testing.T) *dnsEnv {
	base := t.TempDir()
	incs := []string{filepath.Join(base, "berth-production.conf"), filepath.Join(base, "berth-staging.conf")}
	b := testenv.BINDWith(t, nil, testenv.BINDOptions{Includes: incs})
	e := &dnsEnv{t: t, bind: b, repo: t.TempDir(), base: base, now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	e.write("berth.yaml", e2eRepoConfig)
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
`, b.RNDCConf, b.Conf))
	e.write("platforms/static.yaml", "kind: Platform\nname: static\ntype: static\nsource: { path: code }\nservers: [web1]\n")
	e.write("code/index.html", "hello\n")
	e.write("sites/example.com.yaml", "kind: Site\nname: example.com\nplatform: static\naliases: [www.example.com]\ndns: {}\n")
	e.write("sites/shop.yaml", "kind: Site\nname: shop.example.org\nplatform: static\ndns: {}\n---\nkind: Site\nname: blog.example.net\nplatform: static\ndns: {}\n")
	e.write("zones/example.com.yaml", "kind: Zone\nname: example.com\ncontact: hostmaster@example.com\nns: [ns1.example.net]\nttl: 300\nprimary: ns1\nrecords:\n  - { name: \"@\", type: MX, priority: 10, value: mx.example.net }\n")
	e.write("zones/example.org.yaml", e2eZoneOrg(10))
	e.open()
	return e
}

// open opens berth's state store and makes an engine: what a start of
// berth does. The serials live on the server, not here.
func (e *dnsEnv) open() {
	if e.store != nil {
		e.store.Close()
	}
	st, err := state.Open(context.Background(), filepath.Join(e.base, "state"), state.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { st.Close() })
	e.store = st
	e.eng = &reconcile.Engine{Hosts: oneHost{local.New()}, Inventory: desired.StoreInventory(st)}
}

func (e *dnsEnv) write(name, data string) {
	e.t.Helper()
	p := filepath.Join(e.repo, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *dnsEnv) plan(env string, allow bool) (*reconcile.Plan, error) {
	e.t.Helper()
	repo, err := spec.Load(os.DirFS(e.repo))
	if err != nil {
		return nil, err
	}
	res, err := spec.Resolve(repo, env)
	if err != nil {
		return nil, err
	}
	rs, err := desired.Zones(context.Background(), res, desired.ZoneOptions{StateDir: e.base, Now: func() time.Time { return e.now }, Secrets: e.store, SyncWait: e.syncWait})
	if err != nil {
		return nil, err
	}
	d := &reconcile.Desired{Env: env, Revision: repo.Digest, MaxDeletions: 5, Resources: rs, Warnings: res.DNSNotes,
		Service: func(server, name string) (reconcile.Service, error) {
			for _, s := range res.Servers {
				if svc, ok := dns.Service(s, e.base); ok && s.Name == server && name == dns.ServiceBIND {
					return svc, nil
				}
			}
			return reconcile.Service{}, fmt.Errorf("server %s has no service %s", server, name)
		}}
	var opts reconcile.PlanOptions
	if allow {
		opts.Allow = []string{dns.AllowChanges}
	}
	return e.eng.Plan(context.Background(), d, opts)
}

// apply plans and applies env, failing the test on any error.
func (e *dnsEnv) apply(env string) (*reconcile.Plan, *reconcile.Result) {
	e.t.Helper()
	p, err := e.plan(env, false)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(p.Unreachable) > 0 {
		e.t.Fatalf("plan: %v", p.Unreachable)
	}
	res, err := e.eng.Apply(context.Background(), p)
	if err != nil {
		e.t.Fatalf("apply %s: %v", env, err)
	}
	return p, res
}

func (e *dnsEnv) query(name string, qtype uint16) ([]mdns.RR, error) {
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), qtype)
	c := &mdns.Client{Net: "tcp", Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, e.bind.Addr)
	if err != nil {
		return nil, err
	}
	if r.Rcode != mdns.RcodeSuccess {
		return nil, fmt.Errorf("%s: %s", name, mdns.RcodeToString[r.Rcode])
	}
	return r.Answer, nil
}

func (e *dnsEnv) serial(zone string) uint32 {
	e.t.Helper()
	ans, err := e.query(zone, mdns.TypeSOA)
	if err != nil || len(ans) != 1 {
		return 0
	}
	return ans[0].(*mdns.SOA).Serial
}

// waitSerial waits until named serves zone with serial want (a reload is
// queued by rndc and done by named in the background).
func (e *dnsEnv) waitSerial(zone string, want uint32) {
	e.t.Helper()
	testenv.EventuallyWith(e.t, "serial of "+zone, 20*time.Second, func() (bool, string) {
		got := e.serial(zone)
		return got == want, fmt.Sprint(got)
	})
}

// addresses returns the A records named answers for name, sorted.
func (e *dnsEnv) addresses(name string) string {
	ans, err := e.query(name, mdns.TypeA)
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

func (e *dnsEnv) namedLog() string {
	data, _ := os.ReadFile(filepath.Join(e.bind.Dir, "named.log"))
	return string(data)
}

var loadedRE = regexp.MustCompile(`zone ([a-z0-9.-]+)/IN: loaded serial`)

// loads counts named's zone loads per zone in its log.
func (e *dnsEnv) loads() map[string]int {
	out := map[string]int{}
	for _, m := range loadedRE.FindAllStringSubmatch(e.namedLog(), -1) {
		out[m[1]]++
	}
	return out
}

func TestZonesOnNamed(t *testing.T) {
	e := newDNSEnv(t)
	day := dns.DateSerial(e.now)

	// First apply: every site name and alias in every environment answers.
	p, _ := e.apply("production")
	if !strings.Contains(strings.Join(p.Warnings, "\n"), "site blog.example.net: blog.example.net in no zone declared in environment production") {
		t.Errorf("the plan does not say blog.example.net is in no zone: %q", p.Warnings)
	}
	e.apply("staging")
	for _, env := range []struct{ suffix string }{{""}, {".staging.example.net"}} {
		e.waitSerial("example.com"+env.suffix, day)
		e.waitSerial("example.org"+env.suffix, day)
		for _, name := range []string{"example.com", "www.example.com", "shop.example.org"} {
			if got := e.addresses(name + env.suffix); got != "127.0.0.1" {
				t.Errorf("%s%s: A %q, want 127.0.0.1", name, env.suffix, got)
			}
		}
	}

	// Apply again: nothing to do, no reload, serials unchanged.
	loads := e.loads()
	p, res := e.apply("production")
	if !p.Empty() || len(res.Reloads) > 0 {
		t.Errorf("second apply: %d changes, reloads %v; want none", len(p.Changes), res.Reloads)
	}
	if s := e.serial("example.com"); s != day {
		t.Errorf("example.com serial %d after a no-op apply, want %d", s, day)
	}

	// Add an alias: one record added, serial +1, that zone reloaded only.
	e.write("sites/example.com.yaml", "kind: Site\nname: example.com\nplatform: static\naliases: [www.example.com, new.example.com]\ndns: {}\n")
	p, res = e.apply("production")
	if len(p.Changes) != 1 || p.Changes[0].ID != desired.ZoneID("example.com", "ns1") || p.Changes[0].Diff != "+ new.example.com. 300 IN A 127.0.0.1\n" {
		t.Fatalf("adding an alias planned %+v", p.Changes)
	}
	if len(res.Reloads) != 1 || res.Reloads[0] != "ns1/bind zone example.com" {
		t.Errorf("adding an alias reloaded %v: want no reconfig, only the zone's rndc reload (ns1/bind zone example.com)", res.Reloads)
	}
	e.waitSerial("example.com", day+1)
	if got := e.addresses("new.example.com"); got != "127.0.0.1" {
		t.Errorf("new.example.com: A %q", got)
	}
	if s := e.serial("example.org"); s != day {
		t.Errorf("example.org serial %d, want %d unchanged", s, day)
	}
	after := e.loads()
	if after["example.com"] != loads["example.com"]+1 || after["example.org"] != loads["example.org"] || after["example.com.staging.example.net"] != loads["example.com.staging.example.net"] {
		t.Errorf("zone loads before %v, after %v: want one more of example.com only", loads, after)
	}
	var md bytes.Buffer
	p.WriteMarkdown(&md)
	if !strings.Contains(md.String(), "+ new.example.com. 300 IN A 127.0.0.1") {
		t.Errorf("the markdown plan has no record line:\n%s", md.String())
	}

	// A change named-checkzone refuses (an in-zone name server without
	// an address, which the repo's rules cannot see): the old zone still
	// answers and the run fails with named's message. It touches the apex
	// NS set, so the safety threshold refuses it first.
	e.write("zones/example.com.yaml", "kind: Zone\nname: example.com\ncontact: hostmaster@example.com\nns: [ns1.example.net, ns9.example.com]\nttl: 300\nprimary: ns1\nrecords:\n  - { name: \"@\", type: MX, priority: 10, value: mx.example.net }\n")
	p, err := e.plan("production", false)
	if !errors.Is(err, reconcile.ErrPolicy) || !errors.Is(err, dns.ErrThreshold) || !strings.Contains(err.Error(), "zone example.com: the plan changes the apex NS set") {
		t.Fatalf("an apex NS change was not refused: %v %+v", err, p)
	}
	p, err = e.plan("production", true)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.eng.Apply(context.Background(), p)
	if err == nil || !strings.Contains(err.Error(), "NS 'ns9.example.com' has no address records") {
		t.Fatalf("apply of a zone named refuses: %v", err)
	}
	if s := e.serial("example.com"); s != day+1 {
		t.Errorf("after a refused zone, example.com serial %d, want %d still served", s, day+1)
	}
	if got := e.addresses("new.example.com"); got != "127.0.0.1" {
		t.Errorf("after a refused zone, new.example.com: A %q", got)
	}
	e.write("zones/example.com.yaml", "kind: Zone\nname: example.com\ncontact: hostmaster@example.com\nns: [ns1.example.net]\nttl: 300\nprimary: ns1\nrecords:\n  - { name: \"@\", type: MX, priority: 10, value: mx.example.net }\n")

	// 120 changes in one day: 120 strictly increasing serials, berth
	// restarted half way, a serial hand-edited higher respected.
	last := day + 1
	for i := range 120 {
		if i == 60 {
			e.open()
		}
		if i == 90 {
			zf := filepath.Join(e.base, "zones/production/example.com.zone")
			data, err := os.ReadFile(zf)
			if err != nil {
				t.Fatal(err)
			}
			edited := strings.Replace(string(data), fmt.Sprint(last), "2030010100", 1)
			if err := os.WriteFile(zf, []byte(edited), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := e.bind.RNDC("reload", "example.com"); err != nil {
				t.Fatal(err)
			}
			e.waitSerial("example.com", 2030010100)
			last = 2030010100
		}
		e.write("zones/example.com.yaml", fmt.Sprintf("kind: Zone\nname: example.com\ncontact: hostmaster@example.com\nns: [ns1.example.net]\nttl: 300\nprimary: ns1\nrecords:\n  - { name: \"@\", type: TXT, value: \"change %d\" }\n", i))
		e.apply("production")
		want := last + 1
		e.waitSerial("example.com", want)
		last = want
	}
	if last != 2030010100+30 {
		t.Errorf("last serial %d", last)
	}

	// A revision deleting 40 % of a zone's records is refused with the
	// threshold named; the same with the override applies.
	e.write("zones/example.org.yaml", e2eZoneOrg(5))
	p, err = e.plan("production", false)
	if !errors.Is(err, reconcile.ErrPolicy) || !strings.Contains(err.Error(), "zone example.org: the plan deletes or changes 5 of its 12 records (42 %), more than the 30 %") {
		t.Fatalf("deleting 5 of 12 records was not refused: %v %+v", err, p)
	}
	p, err = e.plan("production", true)
	if err != nil || len(p.Unreachable) > 0 {
		t.Fatalf("with the override: %v %+v", err, p.Unreachable)
	}
	if _, err := e.eng.Apply(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	e.waitSerial("example.org", day+1)
	if _, err := e.query("t7.example.org", mdns.TypeTXT); err == nil || !strings.Contains(err.Error(), "NXDOMAIN") {
		t.Errorf("t7.example.org after its deletion: %v", err)
	}

	// A zone removed from the repo: dropped from the include file, named
	// reconfigured, its file deleted.
	if err := os.Remove(filepath.Join(e.repo, "zones/example.org.yaml")); err != nil {
		t.Fatal(err)
	}
	_, res = e.apply("production")
	if len(res.Reloads) != 1 || res.Reloads[0] != "ns1/"+dns.ServiceBIND {
		t.Errorf("removing a zone reloaded %v, want ns1/bind (rndc reconfig)", res.Reloads)
	}
	testenv.EventuallyWith(t, "example.org no longer served", 20*time.Second, func() (bool, string) {
		_, err := e.query("example.org", mdns.TypeSOA)
		return err != nil, fmt.Sprint(err)
	})
	if _, err := os.Stat(filepath.Join(e.base, "zones/production/example.org.zone")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the removed zone's file: %v", err)
	}
	if s := e.serial("example.org.staging.example.net"); s != day {
		t.Errorf("staging's example.org serial %d: another environment's zone was touched", s)
	}

	// Staging no longer serves any zone (its last zones removed from the
	// repo): its include file, which named.conf includes, is written
	// empty rather than deleted, named is reconfigured and still starts
	// from its configuration, and the zones are no longer served.
	if err := os.Remove(filepath.Join(e.repo, "zones/example.com.yaml")); err != nil {
		t.Fatal(err)
	}
	p, res = e.apply("staging")
	var emptied bool
	for _, c := range p.Changes {
		if c.ID == desired.ZoneIncludeID("ns1") {
			emptied = c.Action == reconcile.Delete && strings.Contains(c.Reason, "written empty")
		}
	}
	if !emptied || len(res.Reloads) != 1 || res.Reloads[0] != "ns1/"+dns.ServiceBIND {
		t.Errorf("removing staging's zones: changes %+v, reloads %v; want its include file emptied and named reconfigured", p.Changes, res.Reloads)
	}
	inc := filepath.Join(e.base, "berth-staging.conf")
	if st, err := os.Stat(inc); err != nil || st.Size() != 0 {
		t.Errorf("staging's include file after its zones went: %v %v; want it there and empty", st, err)
	}
	if out, err := exec.Command("named-checkconf", e.bind.Conf).CombinedOutput(); err != nil {
		t.Errorf("named.conf no longer checks: %v %s", err, out)
	}
	testenv.EventuallyWith(t, "staging's zones no longer served", 20*time.Second, func() (bool, string) {
		_, err := e.query("example.com.staging.example.net", mdns.TypeSOA)
		return err != nil, fmt.Sprint(err)
	})
	if p, res := e.apply("staging"); !p.Empty() || len(res.Reloads) > 0 {
		t.Errorf("staging again: %+v, reloads %v", p.Changes, res.Reloads)
	}
	if s := e.serial("example.com"); s == 0 {
		t.Error("production's example.com is no longer served")
	}
}

// A zone's secondary, a second named, transfers the zone with the TSIG
// key from the state store and answers the same; after a change berth
// waits for its serial; with the secondary stopped the run completes and
// reports it lagging.
func TestSecondaryOnNamed(t *testing.T) {
	base := t.TempDir()
	b1 := testenv.BINDWith(t, nil, testenv.BINDOptions{Includes: []string{filepath.Join(base, "ns1-production.conf")}})
	b2 := testenv.BINDWith(t, nil, testenv.BINDOptions{Includes: []string{filepath.Join(base, "ns2-production.conf")}})
	e := &dnsEnv{t: t, bind: b1, repo: t.TempDir(), base: base, now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	e.write("berth.yaml", "environments:\n  production: { branch: main }\n")
	server := func(name string, b *testenv.BINDServer) string {
		return fmt.Sprintf(`kind: Server
name: %[1]s
address: local
services:
  dns:
    type: bind
    zone_dir: %[1]s-zones/{env}
    include_file: %[1]s-{env}.conf
    rndc: [rndc, -c, %[2]s]
    check_conf: [named-checkconf, %[3]s]
    listen: %[4]s
    group: root
`, name, b.RNDCConf, b.Conf, b.Addr)
	}
	e.write("servers/servers.yaml", "kind: Server\nname: web1\naddress: local\npublic_addresses: [127.0.0.1]\nservices:\n  http: { type: nginx, conf_dir: nginx, web_root: www }\n---\n"+
		server("ns1", b1)+"---\n"+server("ns2", b2))
	e.write("platforms/static.yaml", "kind: Platform\nname: static\ntype: static\nsource: { path: code }\nservers: [web1]\n")
	e.write("code/index.html", "hello\n")
	site := func(aliases string) {
		e.write("sites/example.com.yaml", "kind: Site\nname: example.com\nplatform: static\naliases: ["+aliases+"]\ndns: {}\n")
	}
	site("www.example.com")
	e.write("zones/example.com.yaml", "kind: Zone\nname: example.com\ncontact: hostmaster@example.com\nns: [ns1.example.net, ns2.example.net]\nttl: 300\nprimary: ns1\nsecondaries: [ns2]\n")
	e.open()
	day := dns.DateSerial(e.now)
	secondary := &dnsEnv{t: t, bind: b2}

	// The first run cannot reach the primary: the secondary is configured
	// (its zone list and key reconfigured) before the primary has the zone
	// or the key, so its first transfer fails, as it may in any first
	// converge, where the servers converge in parallel.
	e.eng.Hosts = downHost{h: local.New(), down: "ns1"}
	p, err := e.plan("production", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Unreachable) != 1 || p.Unreachable[0].Server != "ns1" {
		t.Fatalf("unreachable %+v, want ns1", p.Unreachable)
	}
	if _, err := e.eng.Apply(context.Background(), p); err == nil {
		t.Fatal("the apply with the primary unreachable succeeded")
	}
	if _, err := b2.RNDC("showzone", "example.com"); err != nil {
		t.Fatalf("the secondary does not have the zone configured after the first run: %v", err)
	}
	if s := secondary.serial("example.com"); s != 0 {
		t.Fatalf("the secondary serves serial %d of a zone the primary does not have", s)
	}
	// The first run that reaches the primary configures it; named sends
	// the secondary a NOTIFY when it loads the zone, which a secondary
	// whose refresh just failed only queues behind its retry (about a
	// minute). After every server's reloads the same run asks the
	// secondary to retransfer and waits until it serves the zone.
	e.eng.Hosts = oneHost{local.New()}
	p, res := e.apply("production")
	for _, c := range p.Changes {
		if c.ID == "dns/key@ns1" && (!c.Sensitive || c.Diff != "") {
			t.Errorf("the TSIG key file reached the plan: %+v", c)
		}
	}
	secret, err := e.store.Secret(context.Background(), desired.TSIGSecretKey("production"), func() (string, error) { return "", errors.New("no key was generated") })
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ns1-production.key", "ns2-production.key"} {
		data, err := os.ReadFile(filepath.Join(base, f))
		if err != nil || !strings.Contains(string(data), secret) {
			t.Errorf("%s does not hold the state store's key: %v", f, err)
		}
		if st, err := os.Stat(filepath.Join(base, f)); err != nil || st.Mode().Perm()&0o004 != 0 {
			t.Errorf("%s is readable by others: %v", f, err)
		}
	}
	if len(res.Warnings) > 0 || len(res.Degraded) > 0 {
		t.Errorf("the run that configures the primary: warnings %v, degraded %+v", res.Warnings, res.Degraded)
	}
	if s := secondary.serial("example.com"); s != day {
		t.Fatalf("after the run that configures the primary the secondary serves serial %d, want %d", s, day)
	}
	if got := secondary.addresses("www.example.com"); got != "127.0.0.1" {
		t.Errorf("the secondary answers www.example.com with %q", got)
	}
	// Applied again: the secondary's check passes, nothing changes.
	if p, _ = e.apply("production"); len(p.Changes) != 0 {
		t.Errorf("applied again: %+v", p.Changes)
	}
	// Transfers need the key: without it the primary refuses.
	m := new(mdns.Msg)
	m.SetAxfr("example.com.")
	if env, err := new(mdns.Transfer).In(m, b1.Addr); err == nil {
		for r := range env {
			if r.Error == nil {
				t.Error("the primary transfers the zone without the TSIG key")
			}
		}
	}

	// A change: berth waits until the secondary serves the new serial.
	site("www.example.com, new.example.com")
	p, res = e.apply("production")
	if !slices.ContainsFunc(p.Changes, func(c reconcile.Change) bool { return c.ID == desired.ZoneSyncID("example.com", "ns2", "ns1") }) {
		t.Errorf("no serial check of the secondary planned: %+v", p.Changes)
	}
	if len(res.Warnings) > 0 {
		t.Errorf("warnings: %v", res.Warnings)
	}
	if s := secondary.serial("example.com"); s != day+1 {
		t.Errorf("after the apply the secondary serves serial %d, want %d", s, day+1)
	}

	// The secondary stopped: the run completes and reports it lagging.
	b2.Proc.Stop()
	e.syncWait = 2 * time.Second
	site("www.example.com, new.example.com, third.example.com")
	_, res = e.apply("production")
	if !slices.ContainsFunc(res.Warnings, func(w string) bool {
		return strings.Contains(w, "zone example.com on secondary ns2 lags (Degraded)") && strings.Contains(w, fmt.Sprint(day+2))
	}) {
		t.Errorf("warnings %q: want the secondary ns2 reported lagging", res.Warnings)
	}
	if len(res.Degraded) != 1 || res.Degraded[0].ID != desired.ZoneSyncID("example.com", "ns2", "ns1") {
		t.Errorf("degraded %+v: want the secondary's check, which makes the status Degraded", res.Degraded)
	}
	e.waitSerial("example.com", day+2)
}

// The example repo, with its DNS server db1 reached as this machine (the
// engine's host for it is the local one) and its bind service pointed at
// the test named: every name and alias of its sites with dns: answers in the
// environment that has a zone, and a second apply changes nothing.
func TestExampleRepoOnNamed(t *testing.T) {
	base := t.TempDir()
	b := testenv.BINDWith(t, nil, testenv.BINDOptions{Includes: []string{
		filepath.Join(base, "berth-production.conf"), filepath.Join(base, "berth-staging.conf"), filepath.Join(base, "berth-dev.conf")}})
	e := &dnsEnv{t: t, bind: b, repo: t.TempDir(), base: base, now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	testenv.CopyTree(t, "../../examples/sites-repo", e.repo)
	remote, err := os.ReadFile(filepath.Join(e.repo, "servers/remote.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	patched := strings.Replace(string(remote), "  dns: { type: bind }\n", fmt.Sprintf("  dns:\n    type: bind\n    zone_dir: %s/zones/{env}\n    include_file: %s/berth-{env}.conf\n    rndc: [rndc, -c, %s]\n    check_conf: [named-checkconf, %s]\n", base, base, b.RNDCConf, b.Conf), 1)
	if patched == string(remote) {
		t.Fatalf("the example's db1 was not patched:\n%s", patched)
	}
	e.write("servers/remote.yaml", patched)
	e.open()

	repo, err := spec.Load(os.DirFS(e.repo))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, env := range []string{"production", "staging", "dev"} {
		p, _ := e.apply(env)
		res, err := spec.Resolve(repo, env)
		if err != nil {
			t.Fatal(err)
		}
		for _, z := range res.Zones {
			for _, rec := range z.Records {
				if rec.Site != "" && rec.Type == "A" {
					want[rec.Name] = strings.Trim(want[rec.Name]+","+rec.Data, ",")
				}
			}
			e.waitSerial(z.Name, dns.DateSerial(e.now))
		}
		if env == "production" && !slices.ContainsFunc(p.Warnings, func(w string) bool {
			return strings.Contains(w, "site example.com: example.com, www.example.com in no zone")
		}) {
			t.Errorf("production's plan does not say example.com is in no zone: %q", p.Warnings)
		}
	}
	for _, name := range []string{"example.com.staging.example.net", "www.example.com.staging.example.net", "news.example.net.staging.example.net"} {
		if want[name] == "" {
			t.Errorf("no record planned for %s", name)
		}
	}
	for name, addrs := range want {
		if got := e.addresses(name); got != addrs {
			t.Errorf("%s: A %q, want %q", name, got, addrs)
		}
	}
	for _, env := range []string{"production", "staging", "dev"} {
		if p, res := e.apply(env); !p.Empty() || len(res.Reloads) > 0 {
			t.Errorf("%s again: %d changes, reloads %v", env, len(p.Changes), res.Reloads)
		}
	}
}
