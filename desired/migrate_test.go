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
	"github.com/berthhq/berth/kind/migrate"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/source"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

// fakeHosts reaches fake servers by name.
type fakeHosts map[string]*hosttest.Fake

func (f fakeHosts) Host(_ context.Context, server string) (host.Host, error) { return f[server], nil }

// TestMigrationDetected: a site whose inventory holds its vhost on web1
// while the revision places it on web2 is a migration: planned (the step
// on web2, web1's records and what no site owns there held, the
// database user allowed from web1 too) until web1's marker says it is
// done; then kept during the grace period (the step only disables web1,
// the grant back to web2 alone); after it, retired (no step, nothing held).
func TestMigrationDetected(t *testing.T) {
	base := t.TempDir()
	repo := filepath.Join(base, "repo")
	server := func(name, ip string) string {
		return "kind: Server\nname: " + name + "\naddress: " + ip + "\nservices:\n  http: { type: nginx, conf_dir: /etc/nginx/sites, web_root: /srv/www, user: www-data }\n  php: { type: php-fpm }\n"
	}
	writeFiles(t, repo, map[string]string{
		"berth.yaml":               "environments:\n  production: { branch: main }\n",
		"servers/web1.yaml":        server("web1", "192.0.2.1"),
		"servers/web2.yaml":        server("web2", "192.0.2.2"),
		"servers/db1.yaml":         "kind: Server\nname: db1\naddress: 192.0.2.9\nservices:\n  db: { type: mariadb }\n",
		"platforms/app.yaml":       "kind: Platform\nname: app\ntype: php\nsource: { path: code }\nservers: [web1]\n",
		"platforms/app2.yaml":      "kind: Platform\nname: app2\ntype: php\nsource: { path: code }\nservers: [web2]\n",
		"code/index.php":           "<?php echo 1;\n",
		"sites/a.example.com.yaml": "kind: Site\nname: a.example.com\nplatform: app2\ndb: { server: db1 }\n",
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
	held := []reconcile.Record{
		{ID: SiteID("a.example.com", "vhost", "web1"), Server: "web1", Kind: "file", Site: "a.example.com", Path: "/etc/nginx/sites/a.example.com.conf"},
		{ID: ReleaseID("old", "web1"), Server: "web1", Kind: "release", Path: "/srv/www/platforms/old/production/current"},
	}
	if err := StoreInventory(store).SaveRecords(ctx, "production", "rev0", held); err != nil {
		t.Fatal(err)
	}
	hosts := fakeHosts{"web1": hosttest.New("web1"), "web2": hosttest.New("web2"), "db1": hosttest.New("db1")}
	done := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	prepareN := func(now time.Time, n int) *reconcile.Desired {
		t.Helper()
		_, d, err := Prepare(ctx, Input{Resolved: res, Revision: "rev1", Repo: fsys, StateDir: filepath.Join(base, "state"),
			Store: store, Hosts: hosts, Now: func() time.Time { return now }}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Migrations) != n {
			t.Fatalf("migrations: %+v, want %d", d.Migrations, n)
		}
		return d
	}
	prepare := func(now time.Time) *reconcile.Desired { t.Helper(); return prepareN(now, 1) }
	step := func(d *reconcile.Desired) reconcile.Resource {
		i := slices.IndexFunc(d.Resources, func(r reconcile.Resource) bool { return r.ID() == MigrateID("a.example.com", "web2") })
		if i < 0 {
			return nil
		}
		return d.Resources[i]
	}

	d := prepare(done.Add(-time.Hour))
	m := d.Migrations[0]
	if m.Site != "a.example.com" || m.From != "web1/app" || m.To != "web2/app2" || m.State != "planned" || m.Retire ||
		!slices.Equal(m.Hold, []string{"web1"}) || !slices.Equal(m.Keep, []string{ReleaseID("old", "web1")}) || len(m.Steps) != 7 {
		t.Errorf("planned migration: %+v", m)
	}
	if s := step(d); s == nil || s.Server() != "web2" {
		t.Fatalf("no step on web2: %v", s)
	} else if c, err := s.Check(ctx, reconcile.CheckInput{}); err != nil || c.Action != reconcile.Update {
		t.Errorf("step check: %+v, %v", c, err)
	}
	var start, vhost reconcile.Resource
	for _, r := range d.Resources {
		switch r.ID() {
		case MigrateStartID("a.example.com", "web1"):
			start = r
		case SiteID("a.example.com", "vhost", "web2"):
			vhost = r
		}
	}
	if start == nil || vhost == nil || !slices.Contains(vhost.Deps(), start.ID()) {
		t.Errorf("the target's vhost does not wait for the mark of the move's start on web1: %v, %v", start, vhost)
	}
	moves, err := findMoves(ctx, res, held, "", hosts)
	if err != nil {
		t.Fatal(err)
	}
	if got := widenGrants(res, moves).Sites[0].DB.From; !slices.Equal(got, []string{"192.0.2.2", "192.0.2.1"}) {
		t.Errorf("grant during the move: %v, want web2's and web1's addresses", got)
	}
	if got := res.Sites[0].DB.From; !slices.Equal(got, []string{"192.0.2.2"}) {
		t.Errorf("widenGrants changed its input: %v", got)
	}

	// The first run failed after web2's configuration was recorded: the
	// site is on both in the inventory. Without a sign of the move on
	// web1 that is a cluster losing a node, pruned as before; with the
	// marker of a started move, the move goes on.
	target := reconcile.Record{ID: SiteID("a.example.com", "vhost", "web2"), Server: "web2", Kind: "file", Site: "a.example.com", Path: "/etc/nginx/sites/a.example.com.conf"}
	if err := StoreInventory(store).SaveRecords(ctx, "production", "rev1", []reconcile.Record{target}); err != nil {
		t.Fatal(err)
	}
	held = append(held, target)
	prepareN(done.Add(-time.Hour), 0)
	if err := hosts["web1"].MkdirAll(ctx, "/srv/www/sites/a.example.com", 0o750); err != nil {
		t.Fatal(err)
	}
	marker := func(name string, m migrate.Marker) {
		t.Helper()
		data, _ := json.Marshal(m)
		if err := hosts["web1"].WriteFile(ctx, "/srv/www/sites/a.example.com/"+name, data, host.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	marker(migrate.MovingName, migrate.Marker{To: "web2", At: done.Add(-2 * time.Hour)})
	if m := prepare(done.Add(-time.Hour)).Migrations[0]; m.State != "planned" || len(m.Hold) != 1 {
		t.Errorf("migration after a failed run: %+v", m)
	}

	marker(migrate.MarkerName, migrate.Marker{To: "web2", At: done})
	d = prepare(done.Add(23 * time.Hour))
	if m := d.Migrations[0]; !strings.Contains(m.State, "kept disabled until 2026-12-02T12:00:00Z") || m.Retire || len(m.Hold) != 1 {
		t.Errorf("migration in its grace period: %+v", m)
	}
	// web1's vhost is not the disabled one (here: none): the step
	// disables it.
	if c, err := step(d).Check(ctx, reconcile.CheckInput{}); err != nil || c.Action != reconcile.Update || !strings.Contains(c.Reason, "disable it on web1") {
		t.Errorf("step check in the grace period: %+v, %v", c, err)
	}

	moves, _ = findMoves(ctx, res, held, "", hosts)
	if got := widenGrants(res, moves).Sites[0].DB.From; !slices.Equal(got, []string{"192.0.2.2"}) {
		t.Errorf("grant after the switch: %v, want web2's address only", got)
	}

	d = prepare(done.Add(25 * time.Hour))
	if m := d.Migrations[0]; !m.Retire || len(m.Hold) != 0 || len(m.Keep) != 0 || !strings.Contains(m.State, "removed after its backup") {
		t.Errorf("migration after its grace period: %+v", m)
	}
	if s := step(d); s != nil {
		t.Errorf("a step after the grace period: %s", s.ID())
	}
}
