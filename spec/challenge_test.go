package spec

import "testing"

func TestChallengeResolved(t *testing.T) {
	repo, err := Load(repoFS(map[string]string{"berth.yaml": acmeConfig, "zones/a.yaml": acmeZone,
		"sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: php-app\naliases: [\"*.a.example.com\"]\ntls: { acme: true, challenge: dns-01 }\n---\nkind: Site\nname: b.example.com\nplatform: php-app\ntls: { challenge: dns-01 }\nenvironments: [staging]\n"}))
	if err != nil {
		t.Fatalf("a wildcard alias over dns-01 in a zone berth serves: %v", err)
	}
	for _, tc := range []struct {
		env, site, want string
	}{
		{"production", "a.example.com", ChallengeDNS01},
		{"staging", "a.example.com", ChallengeDNS01},
		{"staging", "b.example.com", ""}, // no ACME: no challenge
	} {
		res, err := Resolve(repo, tc.env)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range res.Sites {
			if s.Name == tc.site && s.TLS.Challenge != tc.want {
				t.Errorf("%s in %s: challenge %q, want %q", tc.site, tc.env, s.TLS.Challenge, tc.want)
			}
		}
	}
	for name, want := range map[string]string{"*.a.example.com": "_acme-challenge.a.example.com", "a.example.com": "_acme-challenge.a.example.com"} {
		if got := ChallengeName(name); got != want {
			t.Errorf("ChallengeName(%q) = %q, want %q", name, got, want)
		}
	}
}
