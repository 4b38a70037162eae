package render

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/berthhq/berth/spec"
)

// zoneRepo is a sites repo with one zone of every record type and a site
// published in it; each case resolves one environment.
var zoneRepo = map[string]string{
	"berth.yaml": "environments:\n  production: { branch: main }\n  staging: { branch: staging, domain_suffix: .staging.example.net }\n",
	"servers/web1.yaml": "kind: Server\nname: web1\naddress: 192.0.2.10\npublic_addresses: [192.0.2.10, 2001:db8::10]\nservices:\n  http: { type: nginx }\n" +
		"---\nkind: Server\nname: ns1\naddress: 192.0.2.53\nservices:\n  dns: { type: bind }\n",
	"platforms/static.yaml": "kind: Platform\nname: static\ntype: static\nsource: { path: code }\nservers: [web1]\n",
	"code/index.html":       "hi\n",
	"sites/a.yaml":          "kind: Site\nname: example.com\nplatform: static\naliases: [www.example.com, '*.apps.example.com']\ndns: {}\n---\nkind: Site\nname: cdn.example.com\nplatform: static\ndns: { cname: edge.cdn.example.net }\n",
	"zones/example.com.yaml": `kind: Zone
name: example.com
contact: hostmaster@example.com
ns: [ns1.example.net, ns2.example.net]
ttl: 3600
primary: ns1
records:
  - { name: "@", type: MX, priority: 10, value: mx1.example.net }
  - { name: "@", type: MX, priority: 20, value: mx2.example.net }
  - { name: "@", type: TXT, value: "v=spf1 mx -all" }
  - { name: "@", type: CAA, tag: issue, value: letsencrypt.org }
  - { name: _sip._tcp, type: SRV, priority: 10, weight: 5, port: 5060, value: sip.example.net, ttl: 600 }
  - { name: old, type: A, value: 192.0.2.99, ttl: 60 }
  - { name: sub, type: NS, value: ns.sub.example.org }
`,
}

func TestZoneGolden(t *testing.T) {
	fsys := fstest.MapFS{}
	for name, data := range zoneRepo {
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	r, err := spec.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		env    string
		serial uint32
	}{
		{"production", 2026120100},
		{"staging", 2026120205},
	} {
		t.Run(tt.env, func(t *testing.T) {
			res, err := spec.Resolve(r, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Zones) != 1 {
				t.Fatalf("%d zones, want 1", len(res.Zones))
			}
			z := &res.Zones[0]
			got, err := Zone(z, tt.serial)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := Zone(z, tt.serial)
			if !bytes.Equal(got, again) {
				t.Fatal("two renders of one zone differ")
			}
			file := filepath.Join("testdata", "zones", tt.env+".zone")
			if *update {
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test ./render -run TestZoneGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs (run -update if intended):\n%s", file, got)
			}
			// named itself accepts what berth renders.
			tmp := filepath.Join(t.TempDir(), "z")
			if err := os.WriteFile(tmp, got, 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("named-checkzone", "-q", z.Name, tmp).CombinedOutput(); err != nil {
				t.Errorf("named-checkzone refuses the rendered zone: %v\n%s", err, out)
			}
		})
	}
}

// Render refuses what would break out of a record line, whatever spec let
// through.
func TestZoneRefusesHostileData(t *testing.T) {
	base := spec.ResolvedZone{Name: "example.com", Contact: "hostmaster.example.com", NS: []string{"ns1.example.net"}, TTL: 300}
	for _, rec := range []spec.ResolvedRecord{
		{Name: "www.example.com", Type: "A", TTL: 300, Data: "192.0.2.1\nevil.example.com. 300 IN A 192.0.2.66"},
		{Name: "www.example.com", Type: "TXT", TTL: 300, Data: `"a" ; comment`},
		{Name: "www.example.com", Type: "CNAME", TTL: 300, Data: "x.example.net. ; comment"},
		{Name: "www.other.com", Type: "A", TTL: 300, Data: "192.0.2.1"},
		{Name: "$INCLUDE.example.com", Type: "A", TTL: 300, Data: "192.0.2.1"},
		{Name: "www.example.com", Type: "HINFO", TTL: 300, Data: `"x" "y"`},
		{Name: "www.example.com", Type: "A", TTL: 0, Data: "192.0.2.1"},
	} {
		z := base
		z.Records = []spec.ResolvedRecord{rec}
		if _, err := Zone(&z, 1); err == nil {
			t.Errorf("%q rendered", rec.String())
		}
	}
}

func TestZoneInclude(t *testing.T) {
	got, err := ZoneInclude("/var/lib/bind/berth", []IncludeZone{{Name: "b.example"}, {Name: "a.example"}}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	want := "// Written by berth: the zones it serves. Edits here are overwritten.\n" +
		"zone \"a.example\" { type primary; file \"/var/lib/bind/berth/a.example.zone\"; };\n" +
		"zone \"b.example\" { type primary; file \"/var/lib/bind/berth/b.example.zone\"; };\n"
	if string(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	for _, dir := range []string{"relative/dir", "/a\"b", "/a/../b"} {
		if _, err := ZoneInclude(dir, nil, "", ""); err == nil || !strings.Contains(err.Error(), "absolute server path") {
			t.Errorf("zone dir %q: got %v", dir, err)
		}
	}
}

func TestZoneIncludeSecondaries(t *testing.T) {
	got, err := ZoneInclude("/z", []IncludeZone{
		{Name: "a.example", Secondaries: []string{"192.0.2.2:53", "[2001:db8::2]:5353"}},
		{Name: "b.example", Secondary: true, Primary: "192.0.2.1:53"},
	}, "/etc/bind/berth-production.key", "berth-production")
	if err != nil {
		t.Fatal(err)
	}
	want := "// Written by berth: the zones it serves. Edits here are overwritten.\n" +
		"include \"/etc/bind/berth-production.key\";\n" +
		"zone \"a.example\" { type primary; file \"/z/a.example.zone\"; allow-transfer { key \"berth-production\"; }; notify explicit; also-notify { 192.0.2.2 port 53; 2001:db8::2 port 5353; }; };\n" +
		"zone \"b.example\" { type secondary; file \"/z/b.example.zone\"; primaries { 192.0.2.1 port 53 key \"berth-production\"; }; };\n"
	if string(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if _, err := ZoneInclude("/z", []IncludeZone{{Name: "b.example", Secondary: true, Primary: "ns1.example.net:53"}}, "/k", "k"); err == nil {
		t.Error("a primary named by host name was rendered")
	}
	if _, err := ZoneKey(TSIGKey{Name: "berth-production", Secret: "c2VjcmV0\"; evil"}); err == nil {
		t.Error("a secret that is not base64 was rendered")
	}
}

func TestZoneIncludeChallenge(t *testing.T) {
	got, err := ZoneInclude("/z", []IncludeZone{
		{Name: "_acme-challenge.example.com", Challenge: true, UpdateKey: "berth-acme-production"},
		{Name: "_acme-challenge.www.example.com", Challenge: true, UpdateKey: "berth-acme-production", Secondaries: []string{"192.0.2.2:53"}},
		{Name: "_acme-challenge.example.org", Challenge: true, Secondary: true, Primary: "192.0.2.1:53"},
	}, "/etc/bind/berth-production.key", "berth-xfer-production")
	if err != nil {
		t.Fatal(err)
	}
	want := "// Written by berth: the zones it serves. Edits here are overwritten.\n" +
		"include \"/etc/bind/berth-production.key\";\n" +
		"zone \"_acme-challenge.example.com\" { type primary; file \"/z/acme/_acme-challenge.example.com.zone\"; update-policy { grant \"berth-acme-production\" name \"_acme-challenge.example.com.\" TXT; }; };\n" +
		"zone \"_acme-challenge.example.org\" { type secondary; file \"/z/_acme-challenge.example.org.zone\"; primaries { 192.0.2.1 port 53 key \"berth-xfer-production\"; }; };\n" +
		"zone \"_acme-challenge.www.example.com\" { type primary; file \"/z/acme/_acme-challenge.www.example.com.zone\"; update-policy { grant \"berth-acme-production\" name \"_acme-challenge.www.example.com.\" TXT; }; allow-transfer { key \"berth-xfer-production\"; }; notify explicit; also-notify { 192.0.2.2 port 53; }; };\n"
	if string(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	for _, bad := range []IncludeZone{
		{Name: "_acme-challenge.*.example.com", Challenge: true, UpdateKey: "k"},
		{Name: "_acme-challenge.a/../b", Challenge: true, UpdateKey: "k"},
		{Name: "www.example.com", Challenge: true, UpdateKey: "k"},
		{Name: "_acme-challenge.example.com", UpdateKey: "k"}, // not marked: a host name is expected
		{Name: "_acme-challenge.example.com", Challenge: true, UpdateKey: "k\"; }; allow-update { any"},
	} {
		if out, err := ZoneInclude("/z", []IncludeZone{bad}, "/k", "k"); err == nil {
			t.Errorf("%+v rendered:\n%s", bad, out)
		}
	}
}

func TestChallengeZone(t *testing.T) {
	got, err := ChallengeZone("_acme-challenge.example.com", []string{"ns1.example.net", "ns2.example.net"}, "hostmaster.example.com")
	if err != nil {
		t.Fatal(err)
	}
	want := "; Written once by berth: named keeps this zone up to date by dynamic update (ACME DNS-01).\n" +
		"_acme-challenge.example.com. 60 IN SOA ns1.example.net. hostmaster.example.com. 1 3600 900 1209600 60\n" +
		"_acme-challenge.example.com. 60 IN NS ns1.example.net.\n" +
		"_acme-challenge.example.com. 60 IN NS ns2.example.net.\n"
	if string(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if _, err := ChallengeZone("_acme-challenge.example.com", nil, "hostmaster.example.com"); err == nil {
		t.Error("a challenge zone without name servers was rendered")
	}
	if p := ChallengeZoneFile("/var/lib/bind/berth/production", "_acme-challenge.example.com"); p != "/var/lib/bind/berth/production/acme/_acme-challenge.example.com.zone" {
		t.Errorf("ChallengeZoneFile: %s", p)
	}
}
