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

// TestRollbackHold: a site that moved from web1 (app, db1) to web2 (app2,
// db2) is held back on app and db1 by a hold (Rollback finds it from
// web1's marker and the inventory, within the grace period only); every
// Prepare then plans the move back with the held placement and warns;
// the hold ends once the revision places the site elsewhere.
func TestRollbackHold(t *testing.T) {
	base := t.TempDir()
	server := func(name, ip string) string {
		return "kind: Server\nname: " + name + "\naddress: " + ip + "\nservices:\n  http: { type: nginx, conf_dir: /etc/nginx/sites, web_root: /srv/www, user: www-data }\n  php: { type: php-fpm }\n"
	}
	files := map[string]string{
		"berth.yaml":          "environments:\n  production: { branch: main }\n",
		"servers/web1.yaml":   server("web1", "192.0.2.1"),
		"servers/web2.yaml":   server("web2", "192.0.2.2"),
		"servers/db1.yaml":    "kind: Server\nname: db1\naddress: 192.0.2.9\nservices:\n  db: { type: mariadb }\n",
		"servers/db2.yaml":    "kind: Server\nname: db2\naddress: 192.0.2.10\nservices:\n  db: { type: mariadb }\n",
		"platforms/app.yaml":  "kind: Platform\nname: app\ntype: php\nsource: { path: code }\nservers: [web1]\n",
		"platforms/app2.yaml": "kind: Platform\nname: app2\ntype: php\nsource: { path: code }\nservers: [web2]\n",
		"code/index.php":      "<?php echo 1;\n",
	}
	ctx := context.Background()
	resolve := func(platform, db string) (*spec.Resolved, *source.DirFS) {
		t.Helper()
		files["sites/a.example.com.yaml"] = "kind: Site\nname: a.example.com\nplatform: " + platform + "\ndb: { server: " + db + " }\n"
		return resolveRepo(t, filepath.Join(t.TempDir(), "repo"), files)
	}
	res, fsys := resolve("app2", "db2")
	store, err := state.Open(ctx, filepath.Join(base, "state"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	recs := []reconcile.Record{
		{ID: SiteID("a.example.com", "vhost", "web1"), Server: "web1", Kind: "file", Site: "a.example.com", Path: "/etc/nginx/sites/a.example.com.conf"},
		{ID: SiteID("a.example.com", "vhost", "web2"), Server: "web2", Kind: "file", Site: "a.example.com", Path: "/etc/nginx/sites/a.example.com.conf"},
		{ID: DatabaseID("a.example.com", "a_example_com", "db1"), Server: "db1", Kind: "mysql-db", Site: "a.example.com"},
		{ID: DatabaseID("a.example.com", "a_example_com", "db2"), Server: "db2", Kind: "mysql-db", Site: "a.example.com"},
	}
	if err := StoreInventory(store).SaveRecords(ctx, "production", "rev1", recs); err != nil {
		t.Fatal(err)
	}
	hosts := fakeHosts{"web1": hosttest.New("web1"), "web2": hosttest.New("web2"), "db1": hosttest.New("db1"), "db2": hosttest.New("db2")}
	done := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

	if _, err := Rollback(ctx, res, store, hosts, "", "a.example.com", "", done.Add(time.Hour)); err == nil || !strings.Contains(err.Error(), "no finished migration") {
		t.Errorf("rollback without web1's marker: %v", err)
	}
	data, _ := json.Marshal(migrate.Marker{To: "web2", At: done})
	if err := hosts["web1"].MkdirAll(ctx, "/srv/www/sites/a.example.com", 0o750); err != nil {
		t.Fatal(err)
	}
	if err := hosts["web1"].WriteFile(ctx, "/srv/www/sites/a.example.com/"+migrate.MarkerName, data, host.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Rollback(ctx, res, store, hosts, "", "a.example.com", "", done.Add(25*time.Hour)); err == nil || !strings.Contains(err.Error(), "grace period ended at 2026-12-02T12:00:00Z") {
		t.Errorf("rollback after the grace period: %v", err)
	}
	if _, err := Rollback(ctx, res, store, hosts, "", "a.example.com", "app2", done.Add(time.Hour)); err == nil || !strings.Contains(err.Error(), "not a php platform on web1") {
		t.Errorf("rollback to a platform not on web1: %v", err)
	}
	hold, err := Rollback(ctx, res, store, hosts, "", "a.example.com", "", done.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if want := (state.Hold{Env: "production", Site: "a.example.com", Platform: "app", DBServer: "db1", RevPlatform: "app2", RevDBServer: "db2", At: done.Add(time.Hour)}); hold != want {
		t.Fatalf("hold %+v, want %+v", hold, want)
	}
	if err := store.PutHold(ctx, hold); err != nil {
		t.Fatal(err)
	}

	_, d, err := Prepare(ctx, Input{Resolved: res, Revision: "rev2", Repo: fsys, StateDir: filepath.Join(base, "state"),
		Store: store, Hosts: hosts, Now: func() time.Time { return done.Add(2 * time.Hour) }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Migrations) != 1 || d.Migrations[0].From != "web2/app2, db2" || d.Migrations[0].To != "web1/app, db1" || d.Migrations[0].State != "planned" {
		t.Errorf("migrations under the hold: %+v, want the move back web2/app2, db2 → web1/app, db1", d.Migrations)
	}
	if !slices.ContainsFunc(d.Warnings, func(w string) bool {
		return strings.Contains(w, "site a.example.com is held on platform app, database on db1 by berth rollback-migration") &&
			strings.Contains(w, "while the revision places it on platform app2, database on db2")
	}) {
		t.Errorf("no warning of the hold: %q", d.Warnings)
	}
	if res.Sites[0].Platform != "app2" {
		t.Errorf("Prepare changed its input: %s", res.Sites[0].Platform)
	}

	for _, tt := range []struct {
		platform, db string
		ended        bool
	}{
		{"app2", "db2", false}, // the revision still places it there
		{"app", "db1", true},   // the commit reverted
		{"app2", "db1", true},  // moved elsewhere
	} {
		r, _ := resolve(tt.platform, tt.db)
		ended, err := EndedHolds(ctx, store, r)
		if err != nil || len(ended) == 1 != tt.ended {
			t.Errorf("revision on %s, %s: ended %v, %v; want ended=%v", tt.platform, tt.db, ended, err, tt.ended)
		}
	}
}

// resolveRepo writes files as a sites repo under dir and returns its
// production environment, resolved, and the repo's files (closed with
// the test).
func resolveRepo(t *testing.T, dir string, files map[string]string) (*spec.Resolved, *source.DirFS) {
	t.Helper()
	writeFiles(t, dir, files)
	fsys, err := source.OpenDirFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsys.Close() })
	loaded, err := spec.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	res, err := spec.Resolve(loaded, "production")
	if err != nil {
		t.Fatal(err)
	}
	return res, fsys
}
