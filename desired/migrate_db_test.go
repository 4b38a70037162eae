package desired

import (
	"context"
	"encoding/json"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/hosttest"
	"github.com/berthhq/berth/kind/database"
	"github.com/berthhq/berth/kind/migrate"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/state"
)

// dbMoveWorld is a site on web1 whose inventory holds its database on
// db1 while the revision places it on db2 (or, with servers, on several
// web servers).
func dbMoveWorld(t *testing.T, webs string) (prepare func(now time.Time) (*reconcile.Desired, error), hosts fakeHosts) {
	t.Helper()
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
		"servers/db2.yaml":         "kind: Server\nname: db2\naddress: 192.0.2.10\nservices:\n  db: { type: mariadb }\n",
		"platforms/app.yaml":       "kind: Platform\nname: app\ntype: php\nisolation: false\nsource: { path: code }\nservers: [" + webs + "]\n",
		"code/index.php":           "<?php echo 1;\n",
		"sites/a.example.com.yaml": "kind: Site\nname: a.example.com\nplatform: app\ndb: { server: db2 }\n",
	})
	ctx := context.Background()
	store, err := state.Open(ctx, filepath.Join(base, "state"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var recs []reconcile.Record
	for _, sn := range strings.Split(webs, ", ") {
		recs = append(recs, reconcile.Record{ID: SiteID("a.example.com", "vhost", sn), Server: sn, Kind: "file", Site: "a.example.com", Path: "/etc/nginx/sites/a.example.com.conf"})
	}
	recs = append(recs, reconcile.Record{ID: DatabaseID("a.example.com", "a_example_com", "db1"), Server: "db1", Kind: database.KindMySQL, Site: "a.example.com"})
	if err := StoreInventory(store).SaveRecords(ctx, "production", "rev0", recs); err != nil {
		t.Fatal(err)
	}
	hosts = fakeHosts{}
	for _, n := range []string{"web1", "web2", "db1", "db2"} {
		hosts[n] = hosttest.New(n)
	}
	return func(now time.Time) (*reconcile.Desired, error) {
		_, d, err := Prepare(ctx, Input{Resolved: res, Revision: "rev1", Repo: fsys, StateDir: filepath.Join(base, "state"),
			Store: store, Hosts: hosts, Now: func() time.Time { return now }}, nil)
		return d, err
	}, hosts
}

// TestDBMoveDetected: a site that stays on web1 while its database moves
// from db1 to db2 is a migration, not a conflict: planned (the step on
// web1, db1's records held, the target's database declared, the settings
// on web1 pointing at db1) until web1's marker says it is done; then the
// settings point at db2 and db1's database is kept during the grace
// period; after it, retired (no step, nothing held: removed after its
// backup). A site on two web servers (web1, web2) is the same move: one
// step, on web1 (whose marker says where the move is), waiting for the
// vhost and settings of both, the settings of both pointing at db1 until
// the switch.
func TestDBMoveDetected(t *testing.T) {
	for _, webs := range []string{"web1", "web1, web2"} {
		t.Run(webs, func(t *testing.T) { testDBMoveDetected(t, webs) })
	}
}

func testDBMoveDetected(t *testing.T, webs string) {
	ctx := context.Background()
	prepare, hosts := dbMoveWorld(t, webs)
	servers := strings.Split(webs, ", ")
	done := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	get := func(d *reconcile.Desired, id string) reconcile.Resource {
		i := slices.IndexFunc(d.Resources, func(r reconcile.Resource) bool { return r.ID() == id })
		if i < 0 {
			return nil
		}
		return d.Resources[i]
	}
	// settings returns the settings file web gets.
	settings := func(t *testing.T, d *reconcile.Desired, web string) string {
		t.Helper()
		r := get(d, SettingsID("a.example.com", web))
		if r == nil {
			t.Fatalf("no settings on %s", web)
		}
		h := hosttest.New("scratch")
		h.AddUser(hosttest.User{Name: "www-data", UID: 33, Group: "www-data", GID: 33})
		if err := h.MkdirAll(ctx, path.Dir(r.Path()), 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := reconcile.ApplyNow(ctx, h, r, nil); err != nil {
			t.Fatal(err)
		}
		data, err := h.ReadFile(ctx, r.Path())
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	for _, tc := range []struct {
		name       string
		marker     *migrate.Marker // on web1, as DBMarkerName when Done
		now        time.Time
		state      string
		step, hold bool
		dbHost     string // in the settings
	}{
		{name: "planned", now: done, state: "planned", step: true, hold: true, dbHost: "192.0.2.9"},
		{name: "started", marker: &migrate.Marker{To: "db2", At: done}, now: done, state: "planned", step: true, hold: true, dbHost: "192.0.2.9"},
		{name: "done, in its grace period", marker: &migrate.Marker{To: "db2", At: done, Done: true}, now: done.Add(time.Hour),
			state: "done 2026-12-01T12:00:00Z; the database on db1 is kept until 2026-12-02T12:00:00Z", step: true, hold: true, dbHost: "192.0.2.10"},
		{name: "grace period over", marker: &migrate.Marker{To: "db2", At: done, Done: true}, now: done.Add(25 * time.Hour),
			state: "grace period is over", dbHost: "192.0.2.10"},
		{name: "an earlier move to another server does not count", marker: &migrate.Marker{To: "db3", At: done, Done: true}, now: done,
			state: "planned", step: true, hold: true, dbHost: "192.0.2.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := "/srv/www/sites/a.example.com"
			for _, name := range []string{migrate.DBMarkerName, migrate.DBMovingName} {
				if err := hosts["web1"].Remove(ctx, dir+"/"+name); err != nil {
					t.Fatal(err)
				}
			}
			if m := tc.marker; m != nil {
				name := migrate.DBMovingName
				if m.Done {
					name = migrate.DBMarkerName
				}
				data, _ := json.Marshal(m)
				if err := hosts["web1"].MkdirAll(ctx, dir, 0o750); err != nil {
					t.Fatal(err)
				}
				if err := hosts["web1"].WriteFile(ctx, dir+"/"+name, data, host.WriteOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			d, err := prepare(tc.now)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Migrations) != 1 {
				t.Fatalf("migrations: %+v, want the database's move", d.Migrations)
			}
			m := d.Migrations[0]
			if m.String() != "» a.example.com: db1 → db2" || !strings.Contains(m.State, tc.state) || m.Retire == tc.hold ||
				tc.hold && !slices.Equal(m.Hold, []string{"db1"}) || len(m.Steps) != 7 {
				t.Errorf("migration: %s %+v", m, m)
			}
			step := get(d, MigrateDBID("a.example.com", "web1"))
			if (step != nil) != tc.step {
				t.Errorf("step on web1: %v, want %v", step, tc.step)
			}
			if get(d, MigrateDBID("a.example.com", "web2")) != nil {
				t.Error("a step on web2: the move has one, on the site's first web server")
			}
			if len(servers) > 1 && !strings.Contains(strings.Join(m.Steps, "\n"), "maintenance page on each of web1, web2") {
				t.Errorf("the steps do not say every web server gets the maintenance page:\n%s", strings.Join(m.Steps, "\n"))
			}
			if get(d, DatabaseID("a.example.com", "a_example_com", "db2")) == nil {
				t.Error("no database on db2")
			}
			if get(d, DatabaseID("a.example.com", "a_example_com", "db1")) != nil {
				t.Error("db1's database is declared")
			}
			if m.Retire {
				// db1's database is removed after a backup into the
				// site's own store (its web server's), not db1's.
				r, err := d.BeforeDelete("a.example.com", []reconcile.Record{{ID: DatabaseID("a.example.com", "a_example_com", "db1"), Server: "db1", Kind: database.KindMySQL, Site: "a.example.com"}})
				if err != nil || r == nil || r.ID() != BackupID("a.example.com", "web1") {
					t.Errorf("the backup before db1's database is dropped: %v %v, want %s", r, err, BackupID("a.example.com", "web1"))
				}
			}
			for _, web := range servers {
				if step != nil {
					for _, dep := range []string{SiteID("a.example.com", "vhost", web), SettingsID("a.example.com", web)} {
						if !slices.Contains(step.Deps(), dep) {
							t.Errorf("the step does not wait for %s: %v", dep, step.Deps())
						}
					}
				}
				if got := settings(t, d, web); !strings.Contains(got, "'"+tc.dbHost+"'") {
					t.Errorf("settings on %s do not point at %s:\n%s", web, tc.dbHost, got)
				}
			}
		})
	}
}
