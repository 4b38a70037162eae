package desired

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berthhq/berth/host/hosttest"
	"github.com/berthhq/berth/kind/dns"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/source"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

// TestPrepareBuildsZones: Prepare adds the DNS part of the revision —
// zones on their primary with their IDs from ids.go, the secondary's
// check, the include and key files of both servers, the TSIG key in the
// store —, warns once per site whose names are in no zone, knows the bind
// service, and prunes an include file by writing it empty, reloading bind
// only where the server still has it.
func TestPrepareBuildsZones(t *testing.T) {
	base := t.TempDir()
	repo := filepath.Join(base, "repo")
	dnsServer := func(name string) string {
		return "kind: Server\nname: " + name + "\naddress: local\nservices:\n  dns: { type: bind, listen: 127.0.0.1:53" + name[len(name)-1:] + " }\n"
	}
	writeFiles(t, repo, map[string]string{
		"berth.yaml":         "environments:\n  production: { branch: main }\n",
		"servers/web.yaml":   "kind: Server\nname: web\naddress: local\npublic_addresses: [192.0.2.1]\nservices:\n  http: { type: nginx, conf_dir: sites, web_root: www, user: root }\n---\n" + dnsServer("ns1") + "---\n" + dnsServer("ns2"),
		"platforms/app.yaml": "kind: Platform\nname: app\ntype: static\nsource: { path: code }\nservers: [web]\n",
		"code/index.html":    "hi\n",
		"sites/a.yaml":       "kind: Site\nname: a.example.com\nplatform: app\naliases: [www.example.com]\ndns: {}\n---\nkind: Site\nname: b.example.net\nplatform: app\naliases: [www.example.net]\ndns: {}\n",
		"zones/example.yaml": "kind: Zone\nname: example.com\ncontact: hostmaster@example.com\nns: [ns1.example.com]\nttl: 300\nprimary: ns1\nsecondaries: [ns2]\nrecords:\n  - { name: ns1, type: A, value: 192.0.2.53 }\n",
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
	_, d, err := Prepare(ctx, Input{Resolved: res, Revision: "rev1", Repo: fsys, StateDir: filepath.Join(base, "state"),
		Store: store, Hosts: oneHost{hosttest.New("web")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]string{}
	for _, r := range d.Resources {
		byID[r.ID()] = r.Kind()
	}
	for id, kind := range map[string]string{
		ZoneID("example.com", "ns1"):            dns.KindZone,
		ZoneSyncID("example.com", "ns2", "ns1"): dns.KindSync,
		ZoneIncludeID("ns1"):                    dns.KindInclude,
		ZoneIncludeID("ns2"):                    dns.KindInclude,
		ZoneKeyID("ns1"):                        dns.KindKey,
		ZoneKeyID("ns2"):                        dns.KindKey,
		ZoneDirID("ns1"):                        "dir",
	} {
		if byID[id] != kind {
			t.Errorf("%s: kind %q, want %q", id, byID[id], kind)
		}
	}
	if _, ok := byID[ZoneDirID("ns2")]; !ok {
		t.Errorf("the secondary has no zone directory: %v", byID)
	}
	if _, err := store.Secret(ctx, TSIGSecretKey("production"), func() (string, error) { return "", context.Canceled }); err != nil {
		t.Errorf("the TSIG key is not in the store: %v", err)
	}
	notes := slices.DeleteFunc(slices.Clone(d.Warnings), func(w string) bool { return !strings.Contains(w, "in no zone") })
	if len(notes) != 1 || !strings.Contains(notes[0], "site b.example.net") {
		t.Errorf("warnings %q: want one note, for b.example.net", d.Warnings)
	}
	if svc, err := d.Service("ns1", dns.ServiceBIND); err != nil || !slices.Equal(svc.Reload, []string{"rndc", "reconfig"}) {
		t.Errorf("bind of ns1: %+v %v", svc, err)
	}
	if _, err := d.Service("web", dns.ServiceBIND); err == nil {
		t.Error("web has a bind service")
	}
	if svc, err := d.Service("web", "http"); err != nil || svc.Name != "http" {
		t.Errorf("http of web: %+v %v", svc, err)
	}

	for _, tc := range []struct {
		server, service string
	}{{"ns1", dns.ServiceBIND}, {"gone", ""}} {
		r, ok := d.Prune(reconcile.Record{ID: ZoneIncludeID(tc.server), Server: tc.server, Kind: dns.KindInclude, Path: "/etc/bind/berth-production.conf", Service: dns.ServiceBIND})
		if !ok || r.Kind() != dns.KindInclude || r.(*dns.Conf).Record().Service != tc.service {
			t.Errorf("pruned include of %s: %v %v, want service %q", tc.server, r, ok, tc.service)
		}
	}
}
