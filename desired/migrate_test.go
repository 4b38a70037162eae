package desired

import (
	"cmp"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/hosttest"
	"github.com/berthhq/berth/kind/migrate"
	"github.com/berthhq/berth/reconcile"
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
	res, fsys := resolveRepo(t, repo, map[string]string{
		"berth.yaml":               "environments:\n  production: { branch: main }\n",
		"servers/web1.yaml":        server("web1", "192.0.2.1"),
		"servers/web2.yaml":        server("web2", "192.0.2.2"),
		"servers/db1.yaml":         "kind: Server\nname: db1\naddress: 192.0.2.9\nservices:\n  db: { type: mariadb }\n",
		"platforms/app.yaml":       "kind: Platform\nname: app\ntype: php\nsource: { path: code }\nservers: [web1]\n",
		"platforms/app2.yaml":      "kind: Platform\nname: app2\ntype: php\nsource: { path: code }\nservers: [web2]\n",
		"code/index.php":           "<?php echo 1;\n",
		"sites/a.example.com.yaml": "kind: Site\nname: a.example.com\nplatform: app2\ndb: { server: db1 }\n",
	})
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

	// The site's migration.grace_hours: 48 hours keep the copy at 25.
	res.Sites[0].MigrationGraceHours = 48
	if m := prepare(done.Add(25 * time.Hour)).Migrations[0]; m.Retire || !strings.Contains(m.State, "kept disabled until 2026-12-03T12:00:00Z") {
		t.Errorf("migration of a site with a grace of 48 h, at 25 h: %+v", m)
	}
	if m := prepare(done.Add(48 * time.Hour)).Migrations[0]; !m.Retire {
		t.Errorf("migration of a site with a grace of 48 h, at 48 h: %+v", m)
	}
}

// TestMigrationMovesItsDatabase: a site moving from web1 + db1 to web2 +
// db2 is one migration that copies its database in the window (db1's
// records held, the grant not widened); a SQLite site's file moves with
// it; a change of engine is refused; a drupal site's update step runs
// inside the migration, not as a resource of its own.
func TestMigrationMovesItsDatabase(t *testing.T) {
	server := func(name, ip, extra string) string {
		return "kind: Server\nname: " + name + "\naddress: " + ip + "\nservices:\n  http: { type: nginx, conf_dir: /etc/nginx/sites, web_root: /srv/www, user: www-data }\n  php: { type: php-fpm }\n" + extra
	}
	for _, tc := range []struct {
		name, db, dbType, platform string
		renamed                    string // the site's former name, with its records
		rec                        reconcile.Record
		wantErr, from, to, dbStep  string
		hold                       []string
		update                     bool
	}{
		{name: "mariadb to another server", db: "{ server: db2 }", platform: "php",
			rec:  reconcile.Record{ID: DatabaseID("a.example.com", "a_example_com", "db1"), Server: "db1", Kind: "mysql-db", Site: "a.example.com"},
			from: "web1/app, db1", to: "web2/app2, db2", dbStep: "a_example_com on db1 → a_example_com on db2", hold: []string{"web1", "db1"}},
		{name: "sqlite with the web server", db: "{ server: web2 }", platform: "php",
			rec:  reconcile.Record{ID: DatabaseID("a.example.com", "a_example_com", "web1"), Server: "web1", Kind: "sqlite-db", Site: "a.example.com", Path: "/srv/www/sites/a.example.com/db/a_example_com.sqlite"},
			from: "web1/app", to: "web2/app2", dbStep: "SQLite /srv/www/sites/a.example.com/db/a_example_com.sqlite on web1 → web2", hold: []string{"web1"}},
		{name: "engine change refused", db: "{ server: pg }", platform: "php",
			rec:     reconcile.Record{ID: DatabaseID("a.example.com", "a_example_com", "db1"), Server: "db1", Kind: "mysql-db", Site: "a.example.com"},
			wantErr: "berth cannot convert a database between engines"},
		{name: "renamed", db: "{ server: db2 }", platform: "php", renamed: "old.example.com",
			rec:  reconcile.Record{ID: DatabaseID("old.example.com", "old_example_com", "db1"), Server: "db1", Kind: "mysql-db", Site: "old.example.com"},
			from: "web1/app, db1", to: "web2/app2, db2", dbStep: "old_example_com on db1 → a_example_com on db2", hold: []string{"web1", "db1"}},
		{name: "drupal with its update step", db: "{ server: db1 }", platform: "drupal",
			rec:  reconcile.Record{ID: DatabaseID("a.example.com", "a_example_com", "db1"), Server: "db1", Kind: "mysql-db", Site: "a.example.com"},
			from: "web1/app", to: "web2/app2", hold: []string{"web1"}, update: true},
		{name: "drupal declaring no update step", db: "{ server: db1 }", platform: "drupal\nupdate: []",
			rec:  reconcile.Record{ID: DatabaseID("a.example.com", "a_example_com", "db1"), Server: "db1", Kind: "mysql-db", Site: "a.example.com"},
			from: "web1/app", to: "web2/app2", hold: []string{"web1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			repo := filepath.Join(base, "repo")
			res, fsys := resolveRepo(t, repo, map[string]string{
				"berth.yaml":               "environments:\n  production: { branch: main }\n",
				"servers/web1.yaml":        server("web1", "192.0.2.1", "  db: { type: sqlite }\n"),
				"servers/web2.yaml":        server("web2", "192.0.2.2", "  db: { type: sqlite }\n"),
				"servers/db1.yaml":         "kind: Server\nname: db1\naddress: 192.0.2.9\nservices:\n  db: { type: mariadb }\n",
				"servers/db2.yaml":         "kind: Server\nname: db2\naddress: 192.0.2.10\nservices:\n  db: { type: mariadb }\n",
				"servers/pg.yaml":          "kind: Server\nname: pg\naddress: 192.0.2.11\nservices:\n  db: { type: postgresql }\n",
				"platforms/app.yaml":       "kind: Platform\nname: app\ntype: " + tc.platform + "\nsource: { path: code }\nservers: [web1]\n",
				"platforms/app2.yaml":      "kind: Platform\nname: app2\ntype: " + tc.platform + "\nsource: { path: code2 }\nservers: [web2]\n",
				"code/index.php":           "<?php echo 1;\n",
				"code2/index.php":          "<?php echo 2;\n",
				"sites/a.example.com.yaml": "kind: Site\nname: a.example.com\nplatform: app2\ndb: " + tc.db + "\n" + renamedFrom(tc.renamed),
			})
			ctx := context.Background()
			store, err := state.Open(ctx, filepath.Join(base, "state"), state.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			was := cmp.Or(tc.renamed, "a.example.com")
			recs := []reconcile.Record{tc.rec,
				{ID: SiteID(was, "vhost", "web1"), Server: "web1", Kind: "file", Site: was, Path: "/etc/nginx/sites/" + was + ".conf"}}
			if err := StoreInventory(store).SaveRecords(ctx, "production", "rev0", recs); err != nil {
				t.Fatal(err)
			}
			hosts := fakeHosts{}
			for _, n := range []string{"web1", "web2", "db1", "db2", "pg"} {
				hosts[n] = hosttest.New(n)
			}
			_, d, err := Prepare(ctx, Input{Resolved: res, Revision: "rev1", Repo: fsys, StateDir: filepath.Join(base, "state"),
				Store: store, Hosts: hosts}, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("prepare: %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Migrations) != 1 {
				t.Fatalf("migrations: %+v", d.Migrations)
			}
			m := d.Migrations[0]
			steps := strings.Join(m.Steps, "\n")
			if m.SourceSite != tc.renamed {
				t.Errorf("migration renames %q, want %q", m.SourceSite, tc.renamed)
			}
			if tc.renamed != "" {
				if !strings.Contains(strings.Join(m.Steps, "\n"), "rename old.example.com → a.example.com") {
					t.Errorf("steps do not say the rename:\n%s", strings.Join(m.Steps, "\n"))
				}
			}
			if m.From != tc.from || m.To != tc.to || !slices.Equal(m.Hold, tc.hold) {
				t.Errorf("migration %s → %s holding %v, want %s → %s holding %v", m.From, m.To, m.Hold, tc.from, tc.to, tc.hold)
			}
			if tc.dbStep != "" && !strings.Contains(steps, "fresh dump of the database, loaded on the target: "+tc.dbStep) ||
				tc.dbStep == "" && strings.Contains(steps, "fresh dump") {
				t.Errorf("steps:\n%s\nwant the database step %q", steps, tc.dbStep)
			}
			if got := strings.Contains(steps, "update step on web2: drush updatedb -y"); got != tc.update {
				t.Errorf("steps:\n%s\nupdate step listed %v, want %v", steps, got, tc.update)
			}
			for _, r := range d.Resources {
				if r.ID() == UpdateID("a.example.com", "web2") {
					t.Errorf("the moving site has an update step of its own: its migration runs it")
				}
			}
			moves, err := findMoves(ctx, res, recs, "", hosts)
			if err != nil {
				t.Fatal(err)
			}
			if got := widenGrants(res, moves).Sites[0].DB.From; tc.dbStep != "" && len(got) > 1 {
				t.Errorf("a moving database's grant widened: %v", got)
			}
			if tc.renamed != "" {
				if got := res.Sites[0].RedirectNames; !slices.Equal(got, []string{tc.renamed}) {
					t.Errorf("the renamed site redirects %v, want its old name", got)
				}
				if got := keepOldNames(res, moves, time.Now()).Sites[0].RedirectNames; len(got) != 0 {
					t.Errorf("the new vhost redirects %v while the rename runs, want nothing (the old vhost answers)", got)
				}
				moves[0].done, moves[0].marker.At = true, time.Now().Add(-25*time.Hour)
				if got := keepOldNames(res, moves, time.Now()).Sites[0].RedirectNames; !slices.Equal(got, []string{tc.renamed}) {
					t.Errorf("after the grace period the new vhost redirects %v, want the old name", got)
				}
			}
		})
	}
}

func renamedFrom(name string) string {
	if name == "" {
		return ""
	}
	return "renamed_from: " + name + "\n"
}

// TestClusterMigration: a site on web1 + web3 (files synced from web3)
// moving to web2 + web4 is one migration: its step on web2 copies from
// web3, the primary (web1 holds a copy of its files), to both targets,
// puts both sources in maintenance and checks both targets; the mark of
// its start is on web3, and the new configuration of both targets waits
// for it; both sources are held, and the database user is allowed from
// both during the move.
func TestClusterMigration(t *testing.T) {
	base := t.TempDir()
	repo := filepath.Join(base, "repo")
	server := func(name, ip string) string {
		return "kind: Server\nname: " + name + "\naddress: " + ip + "\nservices:\n  http: { type: nginx, conf_dir: /etc/nginx/sites, web_root: /srv/www, user: www-data }\n  php: { type: php-fpm }\n"
	}
	res, _ := resolveRepo(t, repo, map[string]string{
		"berth.yaml":               "environments:\n  production: { branch: main }\n",
		"servers/web1.yaml":        server("web1", "192.0.2.1"),
		"servers/web2.yaml":        server("web2", "192.0.2.2"),
		"servers/web3.yaml":        server("web3", "192.0.2.3"),
		"servers/web4.yaml":        server("web4", "192.0.2.4"),
		"servers/db1.yaml":         "kind: Server\nname: db1\naddress: 192.0.2.9\nservices:\n  db: { type: mariadb }\n",
		"platforms/app.yaml":       "kind: Platform\nname: app\ntype: php\nsource: { path: code }\nservers: [web2, web4]\nfiles: { mode: sync, primary: web2 }\n",
		"code/index.php":           "<?php echo 1;\n",
		"sites/a.example.com.yaml": "kind: Site\nname: a.example.com\nplatform: app\ndb: { server: db1 }\n",
	})
	var recs []reconcile.Record
	for _, sn := range []string{"web1", "web3"} {
		recs = append(recs, reconcile.Record{ID: SiteID("a.example.com", "vhost", sn), Server: sn, Kind: "file", Site: "a.example.com", Path: "/etc/nginx/sites/a.example.com.conf"})
	}
	recs = append(recs, reconcile.Record{ID: FilesSyncID("a.example.com", "web1"), Server: "web1", Kind: "files-sync", Site: "a.example.com"})
	hosts := fakeHosts{}
	for _, sn := range []string{"web1", "web2", "web3", "web4", "db1"} {
		hosts[sn] = hosttest.New(sn)
	}
	ctx := context.Background()
	moves, err := findMoves(ctx, res, recs, "", hosts)
	if err != nil || len(moves) != 1 {
		t.Fatalf("findMoves: %+v, %v", moves, err)
	}
	mv := moves[0]
	if mv.source != "web3" || !slices.Equal(mv.others, []string{"web1"}) {
		t.Errorf("sources %s + %v, want web3 (the files' primary) + web1", mv.source, mv.others)
	}
	if got := widenGrants(res, moves).Sites[0].DB.From; !slices.Equal(got, []string{"192.0.2.2", "192.0.2.4", "192.0.2.3", "192.0.2.1"}) {
		t.Errorf("grant during the move: %v, want the targets' and both sources' addresses", got)
	}
	store, err := state.Open(ctx, filepath.Join(base, "state"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := StoreInventory(store).SaveRecords(ctx, "production", "rev0", recs); err != nil {
		t.Fatal(err)
	}
	_, d, err := Prepare(ctx, Input{Resolved: res, Revision: "rev1", Repo: os.DirFS(repo), StateDir: filepath.Join(base, "state"), Store: store, Hosts: hosts}, nil)
	if err != nil || len(d.Migrations) != 1 {
		t.Fatalf("prepare: %v, %+v", err, d)
	}
	m := d.Migrations[0]
	if m.From != "web3+web1" || m.To != "web2+web4/app" || !slices.Equal(m.Hold, []string{"web3", "web1"}) {
		t.Errorf("migration from %q to %q, hold %v", m.From, m.To, m.Hold)
	}
	steps := strings.Join(m.Steps, "\n")
	for _, want := range []string{"copy its files from web3 to web2, web4 while web3, web1 serve", "maintenance page on web3, web1", "health check on web2, web4", "disable the site on web3, web1"} {
		if !strings.Contains(steps, want) {
			t.Errorf("steps lack %q:\n%s", want, steps)
		}
	}
	byID := map[string]reconcile.Resource{}
	for _, r := range d.Resources {
		byID[r.ID()] = r
	}
	start := byID[MigrateStartID("a.example.com", "web3")]
	if start == nil || start.Server() != "web3" {
		t.Fatalf("no mark of the start on web3: %v", start)
	}
	for _, sn := range []string{"web2", "web4"} {
		if r := byID[SiteID("a.example.com", "vhost", sn)]; !slices.Contains(r.Deps(), start.ID()) {
			t.Errorf("the vhost on %s does not wait for the mark of the move's start", sn)
		}
	}
	if step := byID[MigrateID("a.example.com", "web2")]; step == nil {
		t.Fatal("no step on web2")
	}
	// web4's copy of the files comes from the step, not from web2's
	// (empty until the step ran): its copy waits for the mark too.
	if r := byID[FilesSyncID("a.example.com", "web4")]; r == nil || !slices.Contains(r.Deps(), start.ID()) {
		t.Errorf("web4's files copy: %v", r)
	}
}
