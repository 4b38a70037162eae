package desired

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/hosttest"
	"github.com/berthhq/berth/kind/files"
	"github.com/berthhq/berth/kind/migrate"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/reconcile/reconciletest"
	"github.com/berthhq/berth/render"
	"github.com/berthhq/berth/source"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

// switchWorld is a site a.example.com moving from web1 (192.0.2.1) to
// web2 (192.0.2.2), its names in zone example.com (TTL 3600) on ns1;
// platforms holds the platforms' documents.
type switchWorld struct {
	t     *testing.T
	base  string
	res   *spec.Resolved
	fsys  *source.DirFS
	store *state.Store
	hosts fakeHosts
	held  []reconcile.Record
}

func newSwitchWorld(t *testing.T, platforms, site string) *switchWorld {
	t.Helper()
	base := t.TempDir()
	repo := filepath.Join(base, "repo")
	server := func(name, ip string) string {
		return "kind: Server\nname: " + name + "\naddress: " + ip + "\nservices:\n  http: { type: nginx, conf_dir: /etc/nginx/sites, web_root: /srv/www, user: www-data }\n"
	}
	res, fsys := resolveRepo(t, repo, map[string]string{
		"berth.yaml":        "environments:\n  production: { branch: main }\n",
		"servers/web1.yaml": server("web1", "192.0.2.1"),
		"servers/web2.yaml": server("web2", "192.0.2.2"),
		"servers/lb1.yaml":  "kind: Server\nname: lb1\naddress: 192.0.2.5\nservices:\n  lb: { type: nginx }\n",
		"servers/ns1.yaml":  "kind: Server\nname: ns1\naddress: 192.0.2.53\nservices:\n  dns: { type: bind }\n",
		"platforms/p.yaml":  platforms,
		"code/index.html":   "hi\n",
		"sites/a.yaml":      site,
		"zones/example.yaml": "kind: Zone\nname: example.com\ncontact: hostmaster@example.com\nns: [ns1.example.com]\nttl: 3600\nprimary: ns1\n" +
			"records:\n  - { name: ns1, type: A, value: 192.0.2.53 }\n",
	})
	store, err := state.Open(context.Background(), filepath.Join(base, "state"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	w := &switchWorld{t: t, base: base, res: res, fsys: fsys, store: store,
		hosts: fakeHosts{"web1": hosttest.New("web1"), "web2": hosttest.New("web2"), "lb1": hosttest.New("lb1"), "ns1": hosttest.New("ns1")},
		held:  []reconcile.Record{{ID: SiteID("a.example.com", "vhost", "web1"), Server: "web1", Kind: "file", Site: "a.example.com", Path: "/etc/nginx/sites/a.example.com.conf"}}}
	if err := StoreInventory(store).SaveRecords(context.Background(), "production", "rev0", w.held); err != nil {
		t.Fatal(err)
	}
	return w
}

// switched writes web1's marker that the move was switched at at.
func (w *switchWorld) switched(at time.Time) {
	w.t.Helper()
	data, _ := json.Marshal(migrate.Marker{To: "web2", At: at})
	ctx := context.Background()
	if err := w.hosts["web1"].MkdirAll(ctx, "/srv/www/sites/a.example.com", 0o750); err != nil {
		w.t.Fatal(err)
	}
	if err := w.hosts["web1"].WriteFile(ctx, "/srv/www/sites/a.example.com/"+migrate.MarkerName, data, host.WriteOptions{}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *switchWorld) prepare(now time.Time) *reconcile.Desired {
	w.t.Helper()
	_, d, err := Prepare(context.Background(), Input{Resolved: w.res, Revision: "rev1", Repo: w.fsys, StateDir: filepath.Join(w.base, "state"),
		Store: w.store, Hosts: w.hosts, Now: func() time.Time { return now }}, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	return d
}

// view is the zones and load balancers' view of the revision at now.
func (w *switchWorld) view(now time.Time) (*spec.Resolved, map[int]*siteSwitch) {
	w.t.Helper()
	moves, err := findMoves(context.Background(), w.res, w.held, filepath.Join(w.base, "state"), w.hosts)
	if err != nil || len(moves) != 1 {
		w.t.Fatalf("moves: %+v, %v", moves, err)
	}
	return switchView(w.res, moves, now)
}

// siteRecords are the records of a.example.com in zone example.com.
func siteRecords(res *spec.Resolved) string {
	var out []string
	for _, z := range res.Zones {
		for _, r := range z.Records {
			if r.Site == "a.example.com" {
				out = append(out, r.String())
			}
		}
	}
	return strings.Join(out, "; ")
}

func resource(d *reconcile.Desired, id string) reconcile.Resource {
	i := slices.IndexFunc(d.Resources, func(r reconcile.Resource) bool { return r.ID() == id })
	if i < 0 {
		return nil
	}
	return d.Resources[i]
}

// TestMoveSwitchesDNS: until its switch, a moving site's records in a
// zone berth serves carry the source's address at the lowered TTL (and
// the step waits the zone's TTL, after the mark of its start, which runs
// after the zone); switched, the target's, still lowered during the
// grace period; after it, the zone's TTL. The switch's zone is the one
// the next run builds: converged.
func TestMoveSwitchesDNS(t *testing.T) {
	w := newSwitchWorld(t, "kind: Platform\nname: app\ntype: static\nsource: { path: code }\nservers: [web1]\n---\n"+
		"kind: Platform\nname: app2\ntype: static\nsource: { path: code }\nservers: [web2]\n",
		"kind: Site\nname: a.example.com\nplatform: app2\ndns: {}\n")
	start := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	zoneID := ZoneID("example.com", "ns1")

	view, sws := w.view(start)
	if got, want := siteRecords(view), "a.example.com. 60 IN A 192.0.2.1"; got != want {
		t.Errorf("records before the switch %q, want %q", got, want)
	}
	if got := siteRecords(w.res); got != "a.example.com. 3600 IN A 192.0.2.2" {
		t.Errorf("switchView changed its input: %q", got)
	}
	if sw := sws[0]; sw == nil || sw.wait != time.Hour || sw.ttl != 60 || !slices.Equal(sw.zones, []string{zoneID}) {
		t.Errorf("switch %+v, want zone %s, wait 1h, TTL 60", sw, zoneID)
	}
	d := w.prepare(start)
	step, startMark := resource(d, MigrateID("a.example.com", "web2")), resource(d, MigrateStartID("a.example.com", "web1"))
	if step == nil || !slices.Contains(step.Deps(), zoneID) || startMark == nil || !slices.Contains(startMark.Deps(), zoneID) {
		t.Fatalf("the step and the mark of the start do not run after the zone: %v, %v", step, startMark)
	}
	steps := strings.Join(d.Migrations[0].Steps, "\n")
	for _, s := range []string{"TTL 60s since the move started, were so for 1h", "switch DNS: a.example.com in zone example.com: 192.0.2.1 → 192.0.2.2"} {
		if !strings.Contains(steps, s) {
			t.Errorf("steps lack %q:\n%s", s, steps)
		}
	}
	// Switched: the target's address, lowered TTL until the grace period
	// is over.
	w.switched(start)
	view, _ = w.view(start.Add(time.Hour))
	if got, want := siteRecords(view), "a.example.com. 60 IN A 192.0.2.2"; got != want {
		t.Errorf("records in the grace period %q, want %q", got, want)
	}
	done := w.prepare(start.Add(time.Hour))
	if s := strings.Join(done.Migrations[0].Steps, "\n"); strings.Contains(s, "were so for") {
		t.Errorf("a switched move waits:\n%s", s)
	}
	view, _ = w.view(start.Add(spec.DefaultMigrationGraceHours*time.Hour + time.Hour))
	if got, want := siteRecords(view), "a.example.com. 3600 IN A 192.0.2.2"; got != want {
		t.Errorf("records after the grace period %q, want %q", got, want)
	}
}

// TestMoveSwitchIsConverged: the zone and load balancer configuration
// the step's switch applies are the ones the run after the switch
// builds (same content): its plan finds them converged.
func TestMoveSwitchIsConverged(t *testing.T) {
	w := newSwitchWorld(t, "kind: Platform\nname: app\ntype: static\nsource: { path: code }\nservers: [web1]\nlb: lb1\n---\n"+
		"kind: Platform\nname: app2\ntype: static\nsource: { path: code }\nservers: [web2]\n",
		"kind: Site\nname: a.example.com\nplatform: app2\ndns: {}\n")
	start := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	ctx := context.Background()
	res := w.res
	moves, err := findMoves(ctx, res, w.held, filepath.Join(w.base, "state"), w.hosts)
	if err != nil {
		t.Fatal(err)
	}
	// Before: published at lb1 (the source's platform is behind it), lb1
	// routes the site to app (web1).
	view, sws := switchView(res, moves, start)
	if got, want := siteRecords(view), "a.example.com. 60 IN A 192.0.2.5"; got != want {
		t.Errorf("records before the switch %q, want %q", got, want)
	}
	d := w.prepare(start)
	if err := addSwitches(ctx, d, res, moves, sws, filepath.Join(w.base, "state"), w.store, w.hosts, StoreInventory(w.store), "rev1", nil, start); err != nil {
		t.Fatal(err)
	}
	sw := moves[0].sw
	var ids []string
	for _, r := range sw.after {
		ids = append(ids, r.ID())
	}
	// The names point at web2 first, then lb1 stops routing the site
	// (the target is not behind it).
	if want := []string{ZoneID("example.com", "ns1"), LBConfigID("app", "lb1")}; !slices.Equal(ids, want) {
		t.Fatalf("switch resources %v, want %v", ids, want)
	}
	// lb1's file of app routes the site before the switch.
	lbSrv, _ := serverOf(res, "lb1", filepath.Join(w.base, "state"))
	if files, err := render.LB(view, &lbSrv, render.LBOptions{}); err != nil || len(files) != 1 || !strings.Contains(string(files[0].Content), "# site a.example.com") {
		t.Errorf("lb1 does not route the site to its source before the switch (%v)", err)
	}

	// The next run, switched: the same zone and configuration.
	w.switched(start)
	next := w.prepare(start.Add(time.Minute))
	for _, r := range sw.after {
		got := resource(next, r.ID())
		if got == nil || got.Record().Hash != r.Record().Hash {
			t.Errorf("%s: the switch wrote what the next run does not build", r.ID())
		}
		if before := resource(d, r.ID()); before == nil || before.Record().Hash == r.Record().Hash {
			t.Errorf("%s: the switch changes nothing of the run's", r.ID())
		}
	}
	if step := resource(d, MigrateID("a.example.com", "web2")); step == nil || !slices.Contains(step.Deps(), LBConfigID("app", "lb1")) {
		t.Errorf("the step does not run after lb1's configuration of the run: %v", step)
	}
}

// TestMoveKeepsLoadBalancerOnSource: a site behind a load balancer
// moving to another platform on it stays on its source's upstream until
// the switch (and its records, the load balancer's address on both
// sides, do not change); one whose platform moves to other servers gets
// an upstream of its own listing its source.
func TestMoveKeepsLoadBalancerOnSource(t *testing.T) {
	start := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, platforms, site string
		want                  map[string][]string // LB file -> lines it holds before the switch
		wantNot               map[string][]string
	}{
		{name: "another platform",
			platforms: "kind: Platform\nname: app\ntype: static\nsource: { path: code }\nservers: [web1]\nlb: lb1\n---\n" +
				"kind: Platform\nname: app2\ntype: static\nsource: { path: code }\nservers: [web2]\nlb: lb1\n",
			site:    "kind: Site\nname: a.example.com\nplatform: app2\ndns: {}\n",
			want:    map[string][]string{"berth-production-app.conf": {"# site a.example.com"}},
			wantNot: map[string][]string{"berth-production-app2.conf": {"# site a.example.com"}}},
		{name: "the platform's servers change",
			platforms: "kind: Platform\nname: app\ntype: static\nsource: { path: code }\nservers: [web2]\nlb: lb1\n",
			site:      "kind: Site\nname: a.example.com\nplatform: app\ndns: {}\n",
			want: map[string][]string{"berth-production-app.conf": {"upstream berth-production-app-a.example.com {", "server 192.0.2.1:80",
				"proxy_pass http://berth-production-app-a.example.com;"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newSwitchWorld(t, tc.platforms, tc.site)
			view, sws := w.view(start)
			if got := siteRecords(view); got != "a.example.com. 3600 IN A 192.0.2.5" {
				t.Errorf("records %q: the load balancer's address on both sides keeps them", got)
			}
			if sw := sws[0]; sw == nil || len(sw.zones) != 0 || sw.wait != 0 {
				t.Errorf("switch %+v: no zone changes, no wait", sw)
			}
			lbSrv, _ := serverOf(w.res, "lb1", "")
			files, err := render.LB(view, &lbSrv, render.LBOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				for _, l := range tc.want[filepath.Base(f.Path)] {
					if !strings.Contains(string(f.Content), l) {
						t.Errorf("%s lacks %q:\n%s", f.Path, l, f.Content)
					}
				}
				for _, l := range tc.wantNot[filepath.Base(f.Path)] {
					if strings.Contains(string(f.Content), l) {
						t.Errorf("%s holds %q before the switch:\n%s", f.Path, l, f.Content)
					}
				}
			}
			// Switched: the revision as it is.
			w.switched(start)
			view, _ = w.view(start)
			after, err := render.LB(view, &lbSrv, render.LBOptions{})
			if err != nil {
				t.Fatal(err)
			}
			normal, _ := render.LB(w.res, &lbSrv, render.LBOptions{})
			if len(after) != len(normal) {
				t.Fatalf("after the switch %d files, want %d", len(after), len(normal))
			}
			for i := range after {
				if string(after[i].Content) != string(normal[i].Content) {
					t.Errorf("%s after the switch is not the revision's", after[i].Path)
				}
			}
		})
	}
}

// TestSwitchFailurePutsBack: a switch that fails part way (the load
// balancer's configuration refused after the zone was switched) puts
// back what the run converged them to: the names point at the source
// again, and the step reverts.
func TestSwitchFailurePutsBack(t *testing.T) {
	ctx := context.Background()
	ns, lbh := hosttest.New("ns1"), hosttest.New("lb1")
	if err := ns.MkdirAll(ctx, "/zones", 0o755); err != nil {
		t.Fatal(err)
	}
	file := func(server, p, content string) reconcile.Resource {
		return files.NewFile(files.FileSpec{ID: "f/" + p + "@" + server, Server: server, Path: p, Content: []byte(content), Mode: 0o644})
	}
	before := file("ns1", "/zones/example.com.zone", "a 60 IN A 192.0.2.1\n")
	if _, err := reconcile.ApplyNow(ctx, ns, before, nil); err != nil {
		t.Fatal(err)
	}
	if err := lbh.MkdirAll(ctx, "/certs", 0o700); err != nil {
		t.Fatal(err)
	}
	cert := file("lb1", "/certs/a.example.com.crt", "chain\n") // new on lb1 with the switch
	inv := reconciletest.NewMemInventory()
	sw := &siteSwitch{hosts: fakeHosts{"ns1": ns, "lb1": lbh}, inv: inv, env: "production", revision: "rev1",
		after: []reconcile.Resource{file("ns1", "/zones/example.com.zone", "a 60 IN A 192.0.2.2\n"), cert,
			file("lb1", "/missing/dir/lb.conf", "upstream\n")}, // its directory is missing: refused
		before: []reconcile.Resource{before}, added: []reconcile.Resource{cert}}
	err := sw.switchFunc()(ctx)
	if err == nil || !strings.Contains(err.Error(), "/missing/dir/lb.conf") {
		t.Fatalf("switch: %v, want the load balancer's failure", err)
	}
	if data, _ := ns.ReadFile(ctx, "/zones/example.com.zone"); string(data) != "a 60 IN A 192.0.2.1\n" {
		t.Errorf("zone after a failed switch %q, want the source's again", data)
	}
	if _, err := lbh.ReadFile(ctx, "/certs/a.example.com.crt"); err == nil {
		t.Error("the certificate the failed switch wrote is left")
	}
	if recs, _ := inv.Records(ctx, "production"); len(recs) != 0 {
		t.Errorf("a failed switch recorded %v", recs)
	}

	// Succeeded: what it wrote is recorded, as a run would.
	sw.after = sw.after[:2]
	if err := sw.switchFunc()(ctx); err != nil {
		t.Fatal(err)
	}
	if recs, _ := inv.Records(ctx, "production"); len(recs) != 2 || recs[0].Hash == "" {
		t.Errorf("records after the switch %+v, want the zone's and the certificate's", recs)
	}
	if (&siteSwitch{}).switchFunc() != nil || (*siteSwitch)(nil).switchFunc() != nil {
		t.Error("a switch with nothing to switch is not nil")
	}
}

// TestMoveOutsideZonesDoesNotWait: a moving site whose names are in no
// zone berth serves, and which no load balancer routes, has no switch:
// its step does not wait and the plan lists no switch.
func TestMoveOutsideZonesDoesNotWait(t *testing.T) {
	w := newSwitchWorld(t, "kind: Platform\nname: app\ntype: static\nsource: { path: code }\nservers: [web1]\n---\n"+
		"kind: Platform\nname: app2\ntype: static\nsource: { path: code }\nservers: [web2]\n",
		"kind: Site\nname: a.example.org\nplatform: app2\n")
	inv := StoreInventory(w.store)
	if err := inv.DeleteRecords(context.Background(), "production", []string{w.held[0].ID}); err != nil {
		t.Fatal(err)
	}
	w.held[0].ID, w.held[0].Site = SiteID("a.example.org", "vhost", "web1"), "a.example.org"
	if err := inv.SaveRecords(context.Background(), "production", "rev0", w.held); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	if _, sws := w.view(start); len(sws) != 0 {
		t.Errorf("switches %+v, want none", sws)
	}
	d := w.prepare(start)
	if len(d.Migrations) != 1 {
		t.Fatalf("migrations %+v", d.Migrations)
	}
	if steps := strings.Join(d.Migrations[0].Steps, "\n"); strings.Contains(steps, "switch") || strings.Contains(steps, "wait") {
		t.Errorf("steps of a move outside zones:\n%s", steps)
	}
}
