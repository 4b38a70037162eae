package desired

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/berthhq/berth/acme"
	"github.com/berthhq/berth/kind/dns"
	"github.com/berthhq/berth/source"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

// TestZonesChallenges: a DNS-01 site's names get one challenge zone each
// (a wildcard and its base name share one) on the zone's primary, in the
// challenge directory, a secondary zone and its retransfer on the
// secondary, the delegation in the zone, and the key in the store;
// DNS01 gives the certificate kind the same zones, addresses and key; an
// HTTP-01 site gets none of it.
func TestZonesChallenges(t *testing.T) {
	base := t.TempDir()
	repo := filepath.Join(base, "repo")
	dnsServer := func(name string) string {
		return "kind: Server\nname: " + name + "\naddress: local\nservices:\n  dns: { type: bind, listen: 127.0.0.1:53" + name[len(name)-1:] + " }\n"
	}
	writeFiles(t, repo, map[string]string{
		"berth.yaml":         "environments:\n  production:\n    branch: main\n    acme: { directory: letsencrypt, email: hostmaster@example.com }\n",
		"servers/web.yaml":   "kind: Server\nname: web\naddress: local\npublic_addresses: [192.0.2.1]\nservices:\n  http: { type: nginx, conf_dir: sites, web_root: www, user: root }\n---\n" + dnsServer("ns1") + "---\n" + dnsServer("ns2"),
		"platforms/app.yaml": "kind: Platform\nname: app\ntype: static\nsource: { path: code }\nservers: [web]\n",
		"code/index.html":    "hi\n",
		"sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: app\naliases: [\"*.a.example.com\", www.example.com]\ndns: {}\ntls: { acme: true, challenge: dns-01 }\n---\n" +
			"kind: Site\nname: b.example.com\nplatform: app\ndns: {}\ntls: { acme: true }\n",
		"zones/example.yaml": "kind: Zone\nname: example.com\ncontact: hostmaster@example.com\nns: [ns1.example.com, ns2.example.com]\nttl: 300\nprimary: ns1\nsecondaries: [ns2]\n",
	})
	fsys, err := source.OpenDirFS(repo)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	loaded, err := spec.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	res, err := spec.Resolve(loaded, "production")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	store, err := state.Open(ctx, filepath.Join(base, "state"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	opts := ZoneOptions{StateDir: base, Secrets: store}
	rs, err := Zones(ctx, res, opts)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]string{}
	for _, r := range rs {
		byID[r.ID()] = r.Kind()
	}
	chA, chW := "_acme-challenge.a.example.com", "_acme-challenge.www.example.com"
	for id, kind := range map[string]string{
		ChallengeZoneID(chA, "ns1"): dns.KindChallengeZone,
		ChallengeZoneID(chW, "ns1"): dns.KindChallengeZone,
		ChallengeZoneDirID("ns1"):   "dir",
		ZoneXferID(chA, "ns2"):      dns.KindXfer,
		ZoneXferID(chW, "ns2"):      dns.KindXfer,
		ZoneKeyID("ns1"):            dns.KindKey,
	} {
		if byID[id] != kind {
			t.Errorf("%s: kind %q, want %q", id, byID[id], kind)
		}
	}
	for _, id := range []string{ChallengeZoneID("_acme-challenge.b.example.com", "ns1"), ChallengeZoneDirID("ns2")} {
		if _, ok := byID[id]; ok {
			t.Errorf("%s planned", id)
		}
	}
	secret, err := store.Secret(ctx, ACMETSIGSecretKey("production"), nil)
	if err != nil {
		t.Fatalf("the ACME TSIG key is not in the store: %v", err)
	}

	up, err := DNS01(ctx, res, &res.Sites[0], opts)
	if err != nil {
		t.Fatal(err)
	}
	want := []acme.ChallengeZone{
		{Name: chA, Primary: "127.0.0.1:531", Servers: []string{"127.0.0.1:531", "127.0.0.1:532"}},
		{Name: chW, Primary: "127.0.0.1:531", Servers: []string{"127.0.0.1:531", "127.0.0.1:532"}},
	}
	if !slices.EqualFunc(up.Zones, want, func(a, b acme.ChallengeZone) bool {
		return a.Name == b.Name && a.Primary == b.Primary && slices.Equal(a.Servers, b.Servers)
	}) || up.KeyName != "berth-acme-production" || up.Secret != secret {
		t.Errorf("DNS01: %+v, key %s", up.Zones, up.KeyName)
	}
	if up, err := DNS01(ctx, res, &res.Sites[1], opts); up != nil || err != nil {
		t.Errorf("DNS01 of an HTTP-01 site: %+v, %v", up, err)
	}
	deps := DNS01Deps(res, &res.Sites[0])
	if want := []string{ChallengeZoneID(chA, "ns1"), ZoneIncludeID("ns1"), ChallengeZoneID(chW, "ns1")}; !slices.Equal(deps, want) {
		t.Errorf("DNS01Deps: %v, want %v", deps, want)
	}
	for _, id := range deps {
		if _, ok := byID[id]; !ok {
			t.Errorf("DNS01Deps names %s, which Zones does not make", id)
		}
	}
	if deps := DNS01Deps(res, &res.Sites[1]); deps != nil {
		t.Errorf("DNS01Deps of an HTTP-01 site: %v", deps)
	}

	// The delegation, in the zone as rendered.
	challenges, err := challengeNames(res)
	if err != nil {
		t.Fatal(err)
	}
	z := withDelegations(res.Zones, challenges)[0]
	for _, ch := range []string{chA, chW} {
		for _, ns := range []string{"ns1.example.com.", "ns2.example.com."} {
			if !slices.Contains(z.Records, spec.ResolvedRecord{Name: ch, Type: "NS", TTL: 300, Data: ns}) {
				t.Errorf("zone example.com does not delegate %s to %s: %v", ch, ns, z.Records)
			}
		}
	}
	if len(res.Zones[0].Records) == len(z.Records) {
		t.Error("withDelegations changed the resolved zone instead of a copy")
	}
}
