package spec

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// zoneBase adds a zone on ns1 and public addresses to web1 to the base repo.
var zoneBase = map[string]string{
	"servers/web1.yaml": "kind: Server\nname: web1\naddress: local\npublic_addresses: [192.0.2.10, 2001:db8::10]\nservices:\n  http: { type: nginx }\n  db: { type: sqlite }\n  php: { type: php-fpm }\n",
	"zones/example.com.yaml": `kind: Zone
name: example.com
contact: hostmaster@example.com
ns: [ns1.example.net]
primary: ns1
records:
  - { name: "@", type: MX, priority: 10, value: mx.example.net }
  - { name: www, type: CNAME, value: a.example.com }
`,
}

func zoneFiles(extra map[string]string) map[string]string {
	files := map[string]string{}
	for k, v := range zoneBase {
		files[k] = v
	}
	for k, v := range extra {
		files[k] = v
	}
	return files
}

func TestZoneProblems(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{
			name: "CNAME next to a site's address",
			files: map[string]string{
				"sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: php-app\naliases: [www.example.com]\ndns: {}\n",
			},
			want: []string{`zones/example.com.yaml:8:5: zone "example.com": www.example.com has a CNAME record and also an A record (site "a.example.com", sites/a.yaml:5:6): a CNAME cannot be next to other data (environment "production")`},
		},
		{
			name: "CNAME next to other static data",
			files: map[string]string{
				"zones/example.com.yaml": "kind: Zone\nname: example.com\ncontact: hostmaster@example.com\nns: [ns1.example.net]\nprimary: ns1\nrecords:\n  - { name: www, type: CNAME, value: a.example.com }\n  - { name: www, type: TXT, value: hello }\n",
			},
			want: []string{`zones/example.com.yaml:7:5: zone "example.com": www.example.com has a CNAME record and also a TXT record (zone "example.com", zones/example.com.yaml:8:5): a CNAME cannot be next to other data (environment "production")`},
		},
		{
			name: "value of the wrong type",
			files: map[string]string{
				"zones/example.com.yaml": "kind: Zone\nname: example.com\ncontact: hostmaster@example.com\nns: [ns1.example.net]\nprimary: ns1\nrecords:\n  - { name: www, type: A, value: 2001:db8::1 }\n  - { name: \"@\", type: MX, value: mx.example.net }\n",
			},
			want: []string{
				`zones/example.com.yaml:7:34: zone "example.com": an A record's value is an IPv4 address: "2001:db8::1" is not`,
				`zones/example.com.yaml:8:24: zone "example.com": an MX record needs priority`,
			},
		},
		{
			name: "record inside a delegation",
			files: map[string]string{
				"zones/example.com.yaml": "kind: Zone\nname: example.com\ncontact: hostmaster@example.com\nns: [ns1.example.net]\nprimary: ns1\nrecords:\n  - { name: sub, type: NS, value: ns.other.net }\n  - { name: x.sub, type: TXT, value: hidden }\n",
			},
			want: []string{`zones/example.com.yaml:8:5: zone "example.com": x.sub.example.com TXT is inside sub.example.com, which zone example.com delegates (NS at zones/example.com.yaml:7:5): it would not be served; put it in the delegated zone`},
		},
		{
			name: "apex NS as a record, primary without dns",
			files: map[string]string{
				"zones/example.com.yaml": "kind: Zone\nname: example.com\ncontact: hostmaster@example.com\nns: [ns1.example.net]\nprimary: web1\nrecords:\n  - { name: \"@\", type: NS, value: ns.other.net }\n",
			},
			want: []string{
				`zones/example.com.yaml:5:10: zone "example.com": server "web1" has no dns service (servers/web1.yaml:6:3)`,
				`zones/example.com.yaml:7:24: zone "example.com": the apex NS set of a zone is its ns: list, not a record`,
			},
		},
		{
			name: "a site's name duplicating a static record",
			files: map[string]string{
				"zones/example.com.yaml": "kind: Zone\nname: example.com\ncontact: hostmaster@example.com\nns: [ns1.example.net]\nprimary: ns1\nrecords:\n  - { name: a, type: A, value: 192.0.2.99 }\n",
				"sites/a.yaml":           "kind: Site\nname: a.example.com\nplatform: php-app\ndns: {}\n",
			},
			want: []string{`sites/a.yaml:4:6: site "a.example.com": a.example.com is published for the site and also written as a static A record of zone example.com (zones/example.com.yaml:7:5): remove one of them (environment "production")`},
		},
		{
			name: "a secondary on a local server without a listen address",
			files: map[string]string{
				"servers/ns2.yaml":       "kind: Server\nname: ns2\naddress: local\nservices:\n  dns: { type: bind, listen: \"5353\" }\n",
				"zones/example.com.yaml": "kind: Zone\nname: example.com\ncontact: hostmaster@example.com\nns: [ns1.example.net]\nprimary: ns1\nsecondaries: [ns2, ns1]\n",
			},
			want: []string{
				`zones/example.com.yaml:6:15: zone "example.com": server "ns2" has address local: give it services.dns.listen with an IP address, where the zone's primary and secondaries reach its named for transfers and notifies`,
				`zones/example.com.yaml:6:20: zone "example.com": server "ns1" is already the primary or a secondary of this zone`,
			},
		},
		{
			name: "CNAME at the apex, wrong server",
			files: map[string]string{
				"sites/a.yaml": "kind: Site\nname: example.com\nplatform: php-app\ndns: { server: web1, cname: edge.example.net }\n",
			},
			want: []string{
				`sites/a.yaml:4:16: site "example.com": server "web1" has no dns service (servers/web1.yaml:6:3)`,
				`sites/a.yaml:4:16: site "example.com": zone example.com, which holds example.com, is served by "ns1" (its primary), not "web1": remove dns.server or make it the zone's primary`,
				`sites/a.yaml:4:29: site "example.com": example.com is the apex of zone example.com, where a CNAME cannot be (the zone's SOA and NS are there): publish addresses instead`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(repoFS(zoneFiles(tt.files)))
			var problems Problems
			if !errors.As(err, &problems) {
				t.Fatalf("Load: got %v, want problems", err)
			}
			var got []string
			for _, p := range problems {
				got = append(got, p.String())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems:\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(tt.want, "\n      "))
			}
		})
	}
}

// A site's names get records per environment, after the suffix; a name in
// no zone gets a note; a zone named like the suffix is not suffixed again.
func TestResolveZones(t *testing.T) {
	files := zoneFiles(map[string]string{
		"berth.yaml":   "environments:\n  production: { branch: main }\n  staging: { branch: staging, domain_suffix: .staging.example.net }\n",
		"sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: php-app\naliases: [b.example.com, a.example.org]\ndns: {}\n",
		"zones/example.com.yaml": "kind: Zone\nname: example.com\ncontact: hostmaster@example.com\nns: [ns1.example.net]\nttl: 300\nprimary: ns1\nenvironments: [production]\n" +
			"---\nkind: Zone\nname: staging.example.net\ncontact: hostmaster@example.net\nns: [ns1.example.net]\nprimary: ns1\nenvironments: [staging]\n",
	})
	r, err := Load(repoFS(files))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		env, zone string
		records   []string
		notes     []string
	}{
		{"production", "example.com", []string{
			"example.com. 300 IN NS ns1.example.net.",
			"a.example.com. 300 IN A 192.0.2.10",
			"a.example.com. 300 IN AAAA 2001:db8::10",
			"b.example.com. 300 IN A 192.0.2.10",
			"b.example.com. 300 IN AAAA 2001:db8::10",
		}, []string{"site a.example.com: a.example.org in no zone declared in environment production: no DNS record is published for it"}},
		{"staging", "staging.example.net", []string{
			"staging.example.net. 3600 IN NS ns1.example.net.",
			"a.example.com.staging.example.net. 3600 IN A 192.0.2.10",
			"a.example.com.staging.example.net. 3600 IN AAAA 2001:db8::10",
			"b.example.com.staging.example.net. 3600 IN A 192.0.2.10",
			"b.example.com.staging.example.net. 3600 IN AAAA 2001:db8::10",
			"a.example.org.staging.example.net. 3600 IN A 192.0.2.10",
			"a.example.org.staging.example.net. 3600 IN AAAA 2001:db8::10",
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			res, err := Resolve(r, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Zones) != 1 || res.Zones[0].Name != tt.zone {
				t.Fatalf("zones: %+v, want one named %s", res.Zones, tt.zone)
			}
			var got []string
			for _, rec := range res.Zones[0].Records {
				got = append(got, rec.String())
			}
			if !slices.Equal(got, tt.records) {
				t.Errorf("records:\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(tt.records, "\n      "))
			}
			if !slices.Equal(res.DNSNotes, tt.notes) {
				t.Errorf("notes: got %q, want %q", res.DNSNotes, tt.notes)
			}
			if d := res.Sites[0].DNS; d == nil || d.Zone != tt.zone || d.Server != "ns1" {
				t.Errorf("site DNS: %+v", d)
			}
		})
	}
}
