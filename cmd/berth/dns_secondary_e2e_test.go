package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/berthhq/berth/internal/testenv"
	"github.com/berthhq/berth/state"
)

// nsHost is a DNS server of the secondary test: a network-namespace host
// reached over SSH, running its own named.
type nsHost struct {
	name string
	host *testenv.NetHost
	bind *testenv.BINDServer
	dir  string // its zone directory and include file live here
}

// dnsPair is a sites repo whose sites run on a local nginx (server web)
// and whose zone example.com has its primary on ns1 and its secondary on
// ns2: two network-namespace hosts, each with its own sshd and address
// on the test bridge and a real named, which berth manages over SSH.
type dnsPair struct {
	*webFixture
	ns1, ns2 *nsHost
}

func newDNSPair(t *testing.T) *dnsPair {
	t.Helper()
	f := newWebFixture(t, webKind{name: "nginx", http: "nginx"})
	hosts := testenv.Hosts(t, 2)
	base := t.TempDir()
	p := &dnsPair{webFixture: f}
	var servers, known strings.Builder
	for i, h := range hosts {
		name := fmt.Sprintf("ns%d", i+1)
		dir := filepath.Join(base, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		ns := &nsHost{name: name, host: h, dir: dir,
			bind: testenv.BINDOn(t, h, nil, testenv.BINDOptions{Includes: []string{filepath.Join(dir, "berth-production.conf")}})}
		if i == 0 {
			p.ns1 = ns
		} else {
			p.ns2 = ns
		}
		// No listen: named answers on the server's address, port 53.
		fmt.Fprintf(&servers, `---
kind: Server
name: %s
address: %s
ssh: { user: %s, sudo: true }
services:
  dns:
    type: bind
    zone_dir: %[4]s/zones/{env}
    include_file: %[4]s/berth-{env}.conf
    rndc: [rndc, -c, %[5]s]
    check_conf: [named-checkconf, %[6]s]
`, name, h.IP, h.SSH.User, dir, ns.bind.RNDCConf, ns.bind.Conf)
		data, err := os.ReadFile(h.SSH.KnownHostsFile)
		if err != nil {
			t.Fatal(err)
		}
		known.Write(data)
		f.flags = append(f.flags, "--ssh-key", h.SSH.KeyFile)
	}
	kh := filepath.Join(base, "known_hosts")
	if err := os.WriteFile(kh, []byte(known.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	f.flags = append(f.flags, "--known-hosts", kh)
	f.write("servers/dns.yaml", strings.TrimPrefix(servers.String(), "---\n"))
	web, err := os.ReadFile(filepath.Join(f.repo, "servers/web.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	f.write("servers/web.yaml", strings.Replace(string(web), "address: local\n", "address: local\npublic_addresses: [203.0.113.10]\n", 1))
	p.aliases("www.a.example.com")
	f.write("sites/b.yaml", "kind: Site\nname: b.example.com\nplatform: static\ndns: {}\n")
	f.write("zones/example.com.yaml", `kind: Zone
name: example.com
contact: hostmaster@example.com
ns: [ns1.example.net, ns2.example.net]
ttl: 300
primary: ns1
secondaries: [ns2]
records:
  - { name: "@", type: MX, priority: 10, value: mx1.example.net }
  - { name: "@", type: TXT, value: "v=spf1 -all" }
`)
	return p
}

// aliases writes site a.example.com with these aliases, published in DNS.
func (p *dnsPair) aliases(list string) {
	p.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: static\naliases: ["+list+"]\ndns: {}\n")
}

// soa asks ns for the zone's SOA serial; 0 when it has none.
func (ns *nsHost) soa(zone string) uint32 {
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(zone), mdns.TypeSOA)
	c := &mdns.Client{Net: "tcp", Timeout: 3 * time.Second}
	r, _, err := c.Exchange(m, ns.bind.Addr)
	if err != nil || r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 1 {
		return 0
	}
	if soa, ok := r.Answer[0].(*mdns.SOA); ok {
		return soa.Serial
	}
	return 0
}

// tsig returns the name and secret of the TSIG key berth wrote beside
// ns's include file: what the servers' transfers are signed with.
func (ns *nsHost) tsig(t *testing.T) (string, string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(ns.dir, "berth-production.key"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`key "([^"]+)" \{ algorithm hmac-sha256; secret "([^"]+)"; \};`).FindStringSubmatch(string(data))
	if m == nil {
		t.Fatalf("no TSIG key in berth's key file:\n%s", data)
	}
	return mdns.Fqdn(m[1]), m[2]
}

// axfr transfers zone from ns (signed with the key when name is not
// empty) and returns its records, one per line, sorted.
func (ns *nsHost) axfr(zone, name, secret string) ([]string, error) {
	m := new(mdns.Msg)
	m.SetAxfr(mdns.Fqdn(zone))
	tr := &mdns.Transfer{}
	if name != "" {
		m.SetTsig(name, mdns.HmacSHA256, 300, time.Now().Unix())
		tr.TsigSecret = map[string]string{name: secret}
	}
	env, err := tr.In(m, ns.bind.Addr)
	if err != nil {
		return nil, err
	}
	var out []string
	for e := range env {
		if e.Error != nil {
			return nil, e.Error
		}
		for _, rr := range e.RR {
			out = append(out, rr.String())
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s transferred no records of %s", ns.name, zone)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// addresses returns the A records ns answers for name, sorted.
func (ns *nsHost) addresses(name string) string {
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), mdns.TypeA)
	c := &mdns.Client{Net: "tcp", Timeout: 3 * time.Second}
	r, _, err := c.Exchange(m, ns.bind.Addr)
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*mdns.A); ok {
			out = append(out, a.A.String())
		}
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// The Must show of issue 13's secondaries, through berth apply with both
// DNS servers on network-namespace hosts reached over SSH, each running
// its own named: the secondary serves the zone, transferred with the TSIG
// key berth generated, record for record the same as the primary from
// the first run on (it checks the secondary after every server's
// reloads); an alias added raises the serial on
// both in the same run; the secondary's named stopped, the next apply
// completes (exit 0) and reports it lagging, Degraded, with the serials
// seen, in its output and its run record, and berth status --observe
// shows the secondary's check out of sync.
func TestDNSSecondaryOnNamespaceHosts(t *testing.T) {
	p := newDNSPair(t)

	out := p.mustApply()
	if strings.Contains(out, "Warning:") {
		t.Errorf("the first run warns:\n%s", out)
	}
	var serial uint32
	testenv.EventuallyWith(t, "the primary's serial of example.com", 20*time.Second, func() (bool, string) {
		serial = p.ns1.soa("example.com")
		return serial != 0, "none"
	})
	// The first run checks the secondary after every server's reloads,
	// asking it to retransfer when its first refresh failed while the
	// primary was not configured yet, and waiting for the serial.
	if s := p.ns2.soa("example.com"); s != serial {
		t.Fatalf("the secondary serves serial %d of example.com, the primary %d", s, serial)
	}
	name, secret := p.ns1.tsig(t)
	if n2, s2 := p.ns2.tsig(t); n2 != name || s2 != secret {
		t.Errorf("the secondary's key file holds key %s, the primary's %s (or another secret)", n2, name)
	}
	same := func(what string) {
		t.Helper()
		primary, err := p.ns1.axfr("example.com", name, secret)
		if err != nil {
			t.Fatalf("%s: transfer from the primary: %v", what, err)
		}
		secondary, err := p.ns2.axfr("example.com", name, secret)
		if err != nil {
			t.Fatalf("%s: transfer from the secondary: %v", what, err)
		}
		if !slices.Equal(primary, secondary) {
			t.Errorf("%s: the secondary's zone differs from the primary's:\nprimary:\n  %s\nsecondary:\n  %s", what,
				strings.Join(primary, "\n  "), strings.Join(secondary, "\n  "))
		}
		for _, n := range []string{"a.example.com", "www.a.example.com", "b.example.com"} {
			if a1, a2 := p.ns1.addresses(n), p.ns2.addresses(n); a1 != "203.0.113.10" || a2 != a1 {
				t.Errorf("%s: %s: the primary answers %q, the secondary %q, want 203.0.113.10", what, n, a1, a2)
			}
		}
	}
	same("first apply")
	if _, err := p.ns1.axfr("example.com", "", ""); err == nil {
		t.Error("the primary transfers the zone without the TSIG key")
	}
	if strings.Contains(out, secret) {
		t.Error("the TSIG secret reached apply's output")
	}

	// An alias added: the run reloads the zone on the primary and waits
	// until the secondary serves the new serial.
	p.aliases("www.a.example.com, new.a.example.com")
	out = p.mustApply()
	if strings.Contains(out, "Warning:") {
		t.Errorf("apply of an alias warns:\n%s", out)
	}
	if s1, s2 := p.ns1.soa("example.com"), p.ns2.soa("example.com"); s1 != serial+1 || s2 != serial+1 {
		t.Errorf("after the alias's apply: the primary serves serial %d, the secondary %d, want %d on both", s1, s2, serial+1)
	}
	if got := p.ns2.addresses("new.a.example.com"); got != "203.0.113.10" {
		t.Errorf("the secondary answers new.a.example.com with %q", got)
	}
	same("the alias applied")

	// The secondary's named stopped (by PID): the run completes, exit 0,
	// and reports the secondary lagging with the serials seen.
	p.ns2.bind.Proc.Stop()
	p.aliases("www.a.example.com, new.a.example.com, third.a.example.com")
	code, out, errOut := p.berth("apply", "--auto-approve")
	if code != exitOK {
		t.Fatalf("apply with the secondary stopped: exit %d, want %d\n%s\n%s", code, exitOK, out, errOut)
	}
	lag := regexp.MustCompile(`zone example.com on secondary ns2 lags \(Degraded\): no answer .*, the primary ns1 serves ` + fmt.Sprint(serial+2))
	if !regexp.MustCompile(`Warning: .*` + lag.String()).MatchString(out) {
		t.Errorf("apply with the secondary stopped does not report it lagging (want %s):\n%s", lag, out)
	}
	if s := p.ns1.soa("example.com"); s != serial+2 {
		t.Errorf("the primary serves serial %d, want %d", s, serial+2)
	}
	st, err := state.Open(context.Background(), p.stateDir, state.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	runs, err := st.Runs(context.Background(), "production", 1)
	if err != nil || len(runs) != 1 || runs[0].Result != state.ResultSucceeded {
		t.Fatalf("the run record: %+v %v, want the run succeeded", runs, err)
	}
	last, err := st.Run(context.Background(), runs[0].ID)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !lag.Match(last.Log) {
		t.Errorf("run %d's log does not report the secondary lagging:\n%s", last.ID, last.Log)
	}
	// berth status --observe plans again: the secondary's check is what
	// is out of sync.
	var stdout, stderr bytes.Buffer
	code = run(append([]string{"status", "--observe", "--env", "production", "--repo", p.repo, "--state-dir", p.stateDir}, p.flags...), &stdout, &stderr)
	if code != exitOK || !strings.Contains(stdout.String(), "OutOfSync") || !strings.Contains(stdout.String(), "zonesync/example.com/ns2@ns1: secondary ns2 does not answer for zone example.com") {
		t.Errorf("berth status --observe with the secondary stopped: exit %d, want the secondary's check with its reason\n%s\n%s", code, stdout.String(), stderr.String())
	}
	// berth status without --observe: the last run left the environment
	// Degraded, and says why.
	stdout.Reset()
	stderr.Reset()
	code = run(append([]string{"status", "--env", "production", "--repo", p.repo, "--state-dir", p.stateDir}, p.flags...), &stdout, &stderr)
	if code != exitOK || !regexp.MustCompile(`production \(branch \w+\): \w+, Degraded,`).MatchString(stdout.String()) || !lag.MatchString(stdout.String()) {
		t.Errorf("berth status with the secondary lagging: exit %d, want the environment Degraded with the lag\n%s\n%s", code, stdout.String(), stderr.String())
	}
}
