package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/berthhq/berth/internal/testenv"
)

// TestMigrateSiteDNS: a site whose name is in a zone berth serves on a
// real named moves from web1 to web2. The first apply publishes its
// record with web1's address at the lowered TTL (60 s instead of the
// zone's 300), copies its files and waits, not failed, web1 serving: the
// resolvers' caches of the old record must expire first. Once the zone's
// TTL passed (the migrations' clock), the next apply moves it and
// switches the record to web2's address in the same step; the plan after
// finds everything converged and another apply runs nothing, the zone's
// serial unchanged. After the grace period the record gets the zone's
// TTL back.
func TestMigrateSiteDNS(t *testing.T) {
	m := newMoveFixture(t)
	b := testenv.BINDWith(t, nil, testenv.BINDOptions{Includes: []string{filepath.Join(m.base, "berth-production.conf")}})
	m.write("servers/ns.yaml", fmt.Sprintf(`kind: Server
name: ns
address: local
services:
  dns:
    type: bind
    zone_dir: %[1]s/zones/{env}
    include_file: %[1]s/berth-{env}.conf
    rndc: [rndc, -c, %[2]s]
    check_conf: [named-checkconf, %[3]s]
`, m.base, b.RNDCConf, b.Conf))
	m.write("zones/example.com.yaml", "kind: Zone\nname: example.com\ncontact: hostmaster@example.com\nns: [ns1.example.net]\nttl: 300\nprimary: ns\n")
	m.write("code2/index.php", "<?php\necho 'app2 says: ', @file_get_contents(dirname(getenv('BERTH_SETTINGS')) . '/files/upload.txt');\n")
	site := func(platform string) {
		m.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: "+platform+"\ndns: {}\n")
	}
	ip := func(i int) string { return strings.Split(m.nodes[i-1].Addr, ":")[0] }
	query := func() (string, uint32, uint32) {
		t.Helper()
		c := &mdns.Client{Net: "tcp", Timeout: 5 * time.Second}
		msg := new(mdns.Msg)
		msg.SetQuestion("a.example.com.", mdns.TypeA)
		resp, _, err := c.Exchange(msg, b.Addr)
		if err != nil || resp.Rcode != mdns.RcodeSuccess || len(resp.Answer) != 1 {
			return fmt.Sprint(err, resp), 0, 0
		}
		a := resp.Answer[0].(*mdns.A)
		soa := new(mdns.Msg)
		soa.SetQuestion("example.com.", mdns.TypeSOA)
		var serial uint32
		if r, _, err := c.Exchange(soa, b.Addr); err == nil && len(r.Answer) == 1 {
			serial = r.Answer[0].(*mdns.SOA).Serial
		}
		return a.A.String(), a.Hdr.Ttl, serial
	}
	// answers waits (bounded: named loads a reloaded zone in the
	// background) until named answers addr with ttl, and returns the
	// zone's serial.
	answers := func(addr string, ttl uint32) uint32 {
		t.Helper()
		var serial uint32
		testenv.EventuallyWith(t, fmt.Sprintf("a.example.com A %s TTL %d", addr, ttl), 20*time.Second, func() (bool, string) {
			got, gotTTL, s := query()
			serial = s
			return got == addr && gotTTL == ttl, fmt.Sprintf("%s TTL %d", got, gotTTL)
		})
		return serial
	}

	site("app")
	m.mustApply()
	if err := os.WriteFile(filepath.Join(m.roots[0], "sites", "a.example.com", "files", "upload.txt"), []byte("uploaded on web1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m.answers(1, 200, "app1 says: uploaded on web1")
	answers(ip(1), 300)

	// The move: planned with its wait and its switch of DNS.
	site("app2")
	code, out, errOut := m.berth("plan")
	if code != 2 || !strings.Contains(out, "published at TTL 60s since the move started, were so for 5m") ||
		!strings.Contains(out, "switch DNS: a.example.com in zone example.com: "+ip(1)+" → "+ip(2)) {
		t.Fatalf("plan: exit %d, want the wait and the switch of DNS in the steps\n%s\n%s", code, out, errOut)
	}
	// First apply: the record lowered, still web1's; the files copied;
	// the step waits, the run does not fail.
	out = m.mustApply()
	if !strings.Contains(out, "Waiting: a.example.com") || !strings.Contains(out, "0 failed") {
		t.Errorf("first apply does not say the move waits:\n%s", out)
	}
	answers(ip(1), 60)
	m.answers(1, 200, "app1 says: uploaded on web1")
	if code, _, body := m.get(2); code == 200 && strings.Contains(body, "app2 says") {
		// web2 may serve it by Host header (checked by the health check
		// later); the names do not point there.
		t.Logf("web2 before the switch: %d %q", code, body)
	}
	if data, err := os.ReadFile(filepath.Join(m.roots[1], "sites", "a.example.com", "files", "upload.txt")); err != nil || string(data) != "uploaded on web1\n" {
		t.Errorf("the first copy: %q, %v", data, err)
	}
	// Applied again before the zone's TTL passed: it waits again.
	if out := m.mustApply(); !strings.Contains(out, "Waiting: a.example.com") {
		t.Errorf("second apply within the wait:\n%s", out)
	}
	answers(ip(1), 60)

	// The zone's TTL passed, but the target fails its health check:
	// reverted before the switch, the record still web1's.
	migrationClock = func() time.Time { return time.Now().Add(6 * time.Minute) }
	t.Cleanup(func() { migrationClock = nil })
	m.write("code2/index.php", "<?php\nhttp_response_code(500);\necho 'broken';\n")
	code, out, errOut = m.berth("apply", "--auto-approve")
	if code == 0 || !strings.Contains(out+errOut, "reverted") {
		t.Fatalf("apply with a failing target: exit %d, want it reverted\n%s\n%s", code, out, errOut)
	}
	answers(ip(1), 60)
	m.answers(1, 200, "app1 says: uploaded on web1")

	// Fixed: berth killed (SIGKILL) right after the switch of DNS, before
	// the switch is recorded: the record is web2's already; the next
	// apply finishes the move, the record switched in its step again.
	m.write("code2/index.php", "<?php\necho 'app2 says: ', @file_get_contents(dirname(getenv('BERTH_SETTINGS')) . '/files/upload.txt');\n")
	t.Setenv(migrationAheadEnv, "6m")
	stop := m.loop(1)
	killed, kout := killedAt("mid-migrate:dns", append([]string{"apply", "--auto-approve", "--env", "production", "--repo", m.repo,
		"--state-dir", m.stateDir, "--no-color"}, m.flags...)...)
	if !killed {
		t.Fatalf("apply was not killed at mid-migrate:dns:\n%s", kout)
	}
	answers(ip(2), 60)
	out = m.mustApply()
	for _, a := range stop() {
		t.Errorf("during the move web1 answered %s", a)
	}
	if strings.Contains(out, "Waiting:") {
		t.Errorf("apply after the wait still waits:\n%s", out)
	}
	serial := answers(ip(2), 60)
	m.answers(2, 200, "app2 says: uploaded on web1")
	m.answers(1, 503, "is disabled")

	// Converged: the plan finds the zone as the switch left it, and
	// another apply runs nothing.
	code, out, errOut = m.berth("plan")
	if code != 0 || strings.Contains(out, "zone/example.com") {
		t.Errorf("plan after the move: exit %d, want no change\n%s\n%s", code, out, errOut)
	}
	if out := m.mustApply(); !strings.Contains(out, "Apply: 0 applied, 0 failed") {
		t.Errorf("apply after the move ran something:\n%s", out)
	}
	if got := answers(ip(2), 60); got != serial {
		t.Errorf("serial %d after an apply with nothing to do, want %d", got, serial)
	}

	// The grace period is over: the zone's TTL again.
	migrationClock = func() time.Time { return time.Now().Add(25 * time.Hour) }
	m.mustApply()
	answers(ip(2), 300)
}

// migrationAheadEnv sets, for berth run as a subprocess of the tests
// (killedAt), the migrations' clock that far ahead of the real one.
const migrationAheadEnv = "BERTH_TEST_MIGRATION_AHEAD"
