package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/testenv"
)

// dbMoveFixture is a site on web1 + db1 served by build 1 of the test
// app (a row written per request), with a few rows written.
func dbMoveFixture(t *testing.T) *moveFixture {
	t.Helper()
	return dbMoveFixtureWith(t, false)
}

// dbMoveFixtureWith is dbMoveFixture; unhealthyOnDB2: the app answers 500
// once it wrote its row when its settings point at db2.
func dbMoveFixtureWith(t *testing.T, unhealthyOnDB2 bool) *moveFixture {
	t.Helper()
	m := newMoveFixtureDB(t, 2)
	data, err := os.ReadFile("testdata/moveapp/v1/index.php")
	if err != nil {
		t.Fatal(err)
	}
	app := string(data)
	if unhealthyOnDB2 {
		ip, _, err := net.SplitHostPort(m.dbs[1].Addr)
		if err != nil {
			t.Fatal(err)
		}
		guard := "if ($env['DB_HOST'] === '" + ip + "') { http_response_code(500); echo \"unhealthy on db2\\n\"; exit; }\n    echo \"v1 rows=$n\\n\";"
		if app = strings.Replace(app, `echo "v1 rows=$n\n";`, guard, 1); app == string(data) {
			t.Fatal("the test app changed: no place for the guard")
		}
	}
	m.write("code1/index.php", app)
	m.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: app\ndb: { server: db1 }\n")
	m.mustApply()
	m.siteSays = "v1 rows="
	for range 3 {
		m.answers(1, 200, "v1 rows=")
	}
	return m
}

// dbSQL runs query on db and returns its output, trimmed.
func dbSQL(t *testing.T, db *testenv.MariaDBServer, query string) string {
	t.Helper()
	return strings.TrimSpace(db.SQL(t, query))
}

// movedToDB2 checks that every row written on db1 is on db2 (count and
// checksum) and that web1 now writes to db2, db1 left as it was.
func (m *moveFixture) movedToDB2(t *testing.T) {
	t.Helper()
	db1, db2 := m.dbs[0], m.dbs[1]
	n1 := dbSQL(t, db1, "SELECT COUNT(*) FROM a_example_com.visits")
	sum := "SELECT COUNT(*), SUM(CRC32(CONCAT(id, build))) FROM a_example_com.visits WHERE id <= " + n1
	if got, want := dbSQL(t, db2, sum), dbSQL(t, db1, sum); got != want || n1 == "0" {
		t.Errorf("db2 holds %q of db1's %s rows, want %q", got, n1, want)
	}
	before, _ := strconv.Atoi(dbSQL(t, db2, "SELECT COUNT(*) FROM a_example_com.visits"))
	m.answers(1, 200, "v1 rows=")
	after, _ := strconv.Atoi(dbSQL(t, db2, "SELECT COUNT(*) FROM a_example_com.visits"))
	if after <= before {
		t.Errorf("a request to web1 wrote no row on db2 (%d, then %d): the site is not served from db2", before, after)
	}
	if got := dbSQL(t, db1, "SELECT COUNT(*) FROM a_example_com.visits"); got != n1 {
		t.Errorf("db1 got rows after the move: %s, then %s", n1, got)
	}
}

// TestMoveDatabase: a site on web1 + db1 whose database the repo moves to
// db2 (the site staying on web1) is one migration, not a conflict; while
// it runs web1 answers only with the site or its maintenance page; after
// it db2 holds every row of db1 (count and checksum), web1 is served from
// db2, and db1 keeps its database until the grace period is over, when it
// is removed after its backup.
func TestMoveDatabase(t *testing.T) {
	m := dbMoveFixture(t)
	db1 := m.dbs[0]
	m.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: app\ndb: { server: db2 }\n")
	code, out, errOut := m.berth("plan")
	if code != 2 || !strings.Contains(out, "» a.example.com: db1 → db2  (planned)") ||
		!strings.Contains(out, "fresh dump of the database, loaded on the target: a_example_com on db1 → a_example_com on db2") {
		t.Fatalf("plan: exit %d, want the database's migration\n%s\n%s", code, out, errOut)
	}
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "- site/a.example.com/") || strings.HasPrefix(l, "! ") {
			t.Errorf("the plan deletes or refuses: %s", l)
		}
	}

	stop := m.loop(1)
	t.Logf("apply:\n%s", m.mustApply())
	for _, a := range stop() {
		t.Errorf("during the move web1 answered %s", a)
	}
	m.movedToDB2(t)
	if got := dbSQL(t, db1, "SHOW DATABASES LIKE 'a_example_com'"); got != "a_example_com" {
		t.Errorf("db1 no longer holds the database during the grace period")
	}
	if code, out, errOut := m.berth("plan"); code != 0 || !strings.Contains(out, "» a.example.com: db1 → db2  (done ") {
		t.Errorf("plan after the move: exit %d\n%s\n%s", code, out, errOut)
	}

	// The grace period is over: db1's database is backed up, then dropped.
	migrationClock = func() time.Time { return time.Now().Add(25 * time.Hour) }
	t.Cleanup(func() { migrationClock = nil })
	code, out, errOut = m.berth("plan")
	if code != 2 || !strings.Contains(out, "- site/a.example.com/db:a_example_com@db1") {
		t.Errorf("plan after the grace period: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Logf("apply after the grace period:\n%s", m.mustApply())
	if got := dbSQL(t, db1, "SHOW DATABASES LIKE 'a_example_com'"); got != "" {
		t.Errorf("db1 still holds the database after the grace period")
	}
	dumps, _ := filepath.Glob(filepath.Join(m.base, "backups", "production", "a.example.com", "*", "db.sql*"))
	if len(dumps) == 0 {
		t.Errorf("no backup of the database in %s", filepath.Join(m.base, "backups"))
	}
	m.answers(1, 200, "v1 rows=")
	if code, out, errOut := m.berth("plan"); code != 0 || strings.Contains(out, "»") {
		t.Errorf("plan once db1's copy is removed: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestMoveDatabaseCrash: berth apply killed (SIGKILL) while the site's
// database moves to db2 — after the copy (the settings still at db1, the
// maintenance page up), after the settings were pointed at db2 (not yet
// recorded: the rerun points them back at db1 first, which took no
// writes since), after the switch was recorded (the maintenance page
// still up) — leaves web1 serving the site or its maintenance page;
// the rerun finishes the move with every row of db1 on db2.
func TestMoveDatabaseCrash(t *testing.T) {
	for _, point := range []string{"mid-migrate-db:copied", "mid-migrate-db:settings", "mid-migrate-db:switched"} {
		t.Run(point, func(t *testing.T) {
			m := dbMoveFixture(t)
			m.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: app\ndb: { server: db2 }\n")
			killed, out := killedAt(point, append([]string{"apply", "--auto-approve", "--env", "production", "--repo", m.repo,
				"--state-dir", m.stateDir, "--no-color"}, m.flags...)...)
			if !killed {
				t.Fatalf("apply was not killed at %s:\n%s", point, out)
			}
			if code, h, body := m.get(1); !(code == 200 && strings.Contains(body, "v1 rows=") || code == 503 && h.Get("Retry-After") != "") {
				t.Errorf("web1 after the kill: %d %q, want the site or its maintenance page", code, body)
			}
			m.mustApply()
			m.movedToDB2(t)
			if code, out, errOut := m.berth("plan"); code != 0 {
				t.Errorf("plan after the rerun: exit %d\n%s\n%s", code, out, errOut)
			}
		})
	}
}

// TestMoveDatabaseBack: within the grace period of a move of the site's
// database to db2, reverting its commit — or berth rollback-migration,
// without a commit — moves the database back to db1 as a migration of its
// own, with the rows written on db2 since (count and checksum); web1 is
// then served from db1.
func TestMoveDatabaseBack(t *testing.T) {
	for _, how := range []string{"revert", "rollback-migration"} {
		t.Run(how, func(t *testing.T) {
			m := dbMoveFixture(t)
			db1, db2 := m.dbs[0], m.dbs[1]
			m.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: app\ndb: { server: db2 }\n")
			m.mustApply()
			for range 3 { // written on db2 after the move
				m.answers(1, 200, "v1 rows=")
			}
			var code int
			var out, errOut string
			if how == "revert" {
				m.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: app\ndb: { server: db1 }\n")
				if code, out, errOut = m.berth("plan"); code != 2 || !strings.Contains(out, "» a.example.com: db2 → db1  (planned)") {
					t.Fatalf("plan of the revert: exit %d, want the move back\n%s\n%s", code, out, errOut)
				}
				out = m.mustApply()
			} else if code, out, errOut = m.berth("rollback-migration", "a.example.com", "--auto-approve"); code != 0 || !strings.Contains(out, "» a.example.com: db2 → db1  (planned)") {
				t.Fatalf("rollback-migration: exit %d, want the move back applied\n%s\n%s", code, out, errOut)
			}
			t.Logf("apply:\n%s", out)
			for _, l := range strings.Split(out, "\n") {
				if l = strings.TrimSpace(l); strings.HasPrefix(l, "- site/a.example.com/db:") || strings.HasPrefix(l, "! ") {
					t.Errorf("the move back deletes or refuses: %s", l)
				}
			}
			n2 := dbSQL(t, db2, "SELECT COUNT(*) FROM a_example_com.visits")
			sum := "SELECT COUNT(*), SUM(CRC32(CONCAT(id, build))) FROM a_example_com.visits WHERE id <= " + n2
			if got, want := dbSQL(t, db1, sum), dbSQL(t, db2, sum); got != want {
				t.Errorf("db1 holds %q of db2's %s rows, want %q", got, n2, want)
			}
			before, _ := strconv.Atoi(dbSQL(t, db1, "SELECT COUNT(*) FROM a_example_com.visits"))
			m.answers(1, 200, "v1 rows=")
			if after, _ := strconv.Atoi(dbSQL(t, db1, "SELECT COUNT(*) FROM a_example_com.visits")); after <= before {
				t.Errorf("a request to web1 wrote no row on db1 (%d, then %d)", before, after)
			}
			if code, out, errOut := m.berth("plan"); code != 0 || !strings.Contains(out, "» a.example.com: db2 → db1  (done ") {
				t.Errorf("plan after the move back: exit %d\n%s\n%s", code, out, errOut)
			}
		})
	}
}

// TestMoveDatabaseUnhealthy: a move of the site's database to db2 whose
// health check fails there (the app answers 500 on db2, after writing its
// row) is reverted: the run fails with the reason, web1 is served from
// db1 again, and db1 holds every row written on db2 in the meantime
// (copied back in the maintenance window); db1's database is kept.
func TestMoveDatabaseUnhealthy(t *testing.T) {
	m := dbMoveFixtureWith(t, true)
	db1, db2 := m.dbs[0], m.dbs[1]
	m.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: app\ndb: { server: db2 }\n")
	code, out, errOut := m.berth("apply", "--auto-approve")
	if code == 0 || !strings.Contains(out+errOut, "health check of a.example.com on web1 with its database on db2") ||
		!strings.Contains(out+errOut, "reverted (the site is served from its database on db1 as before)") {
		t.Fatalf("apply: exit %d, want the move reverted with the reason\n%s\n%s", code, out, errOut)
	}
	n2 := dbSQL(t, db2, "SELECT COUNT(*) FROM a_example_com.visits")
	sum := "SELECT COUNT(*), SUM(CRC32(CONCAT(id, build))) FROM a_example_com.visits WHERE id <= " + n2
	if got, want := dbSQL(t, db1, sum), dbSQL(t, db2, sum); got != want {
		t.Errorf("db1 holds %q of db2's %s rows, want %q", got, n2, want)
	}
	before, _ := strconv.Atoi(dbSQL(t, db1, "SELECT COUNT(*) FROM a_example_com.visits"))
	m.answers(1, 200, "v1 rows=")
	if after, _ := strconv.Atoi(dbSQL(t, db1, "SELECT COUNT(*) FROM a_example_com.visits")); after <= before {
		t.Errorf("a request to web1 wrote no row on db1 (%d, then %d): not served from db1", before, after)
	}
	if code, out, errOut := m.berth("plan"); code != 2 || !strings.Contains(out, "» a.example.com: db1 → db2  (planned)") {
		t.Errorf("plan after the revert: exit %d, want the move planned again\n%s\n%s", code, out, errOut)
	}
}

// TestMoveDatabaseCluster: a site served by two web servers (platform app
// on web1 and web2) whose database the repo moves from db1 to db2, the
// site staying on both, is one migration with one step (on web1): while
// it runs both web servers answer only with the site or its maintenance
// page; after it db2 holds every row of db1 (count and checksum), the
// settings on both point at db2 and a request to either writes there;
// once the grace period is over db1's database is dropped after a backup
// into the site's own store (web1's), not db1's.
func TestMoveDatabaseCluster(t *testing.T) {
	m := dbClusterFixture(t)
	db1 := m.dbs[0]
	m.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: app\ndb: { server: db2 }\n")
	code, out, errOut := m.berth("plan")
	if code != 2 || !strings.Contains(out, "» a.example.com: db1 → db2  (planned)") ||
		!strings.Contains(out, "maintenance page on each of web1, web2 (503, Retry-After)") ||
		!strings.Contains(out, "~ site/a.example.com/migrate-db@web1") || strings.Contains(out, "migrate-db@web2") {
		t.Fatalf("plan: exit %d, want one migration of the database, its step on web1\n%s\n%s", code, out, errOut)
	}
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "- site/a.example.com/") || strings.HasPrefix(l, "! ") {
			t.Errorf("the plan deletes or refuses: %s", l)
		}
	}

	stop1, stop2 := m.loop(1), m.loop(2)
	t.Logf("apply:\n%s", m.mustApply())
	for i, stop := range []func() []string{stop1, stop2} {
		for _, a := range stop() {
			t.Errorf("during the move web%d answered %s", i+1, a)
		}
	}
	m.clusterMovedToDB2(t)
	if code, out, errOut := m.berth("plan"); code != 0 || !strings.Contains(out, "» a.example.com: db1 → db2  (done ") {
		t.Errorf("plan after the move: exit %d\n%s\n%s", code, out, errOut)
	}

	// The grace period is over: db1's database is backed up into the
	// site's own store (web1's: the guard's backup@web1), then dropped.
	migrationClock = func() time.Time { return time.Now().Add(25 * time.Hour) }
	t.Cleanup(func() { migrationClock = nil })
	code, out, errOut = m.berth("plan")
	if code != 2 || !strings.Contains(out, "- site/a.example.com/db:a_example_com@db1") ||
		!strings.Contains(out, "+ site/a.example.com/backup@web1") || strings.Contains(out, "backup@db1") {
		t.Errorf("plan after the grace period: exit %d, want db1's database dropped after a backup on web1\n%s\n%s", code, out, errOut)
	}
	t.Logf("apply after the grace period:\n%s", m.mustApply())
	if got := dbSQL(t, db1, "SHOW DATABASES LIKE 'a_example_com'"); got != "" {
		t.Errorf("db1 still holds the database after the grace period")
	}
	// berth backups lists the site's own store: the backup is there.
	if code, out, errOut := m.berth("backups", "a.example.com"); code != 0 || !strings.Contains(out, "before deleting") {
		t.Errorf("berth backups a.example.com: exit %d, want the backup taken before db1's database was dropped\n%s\n%s", code, out, errOut)
	}
	dumps, _ := filepath.Glob(filepath.Join(m.base, "backups", "production", "a.example.com", "*", "db.sql*"))
	if len(dumps) == 0 {
		t.Errorf("no backup of the database in %s", filepath.Join(m.base, "backups"))
	}
	m.answers(1, 200, "v1 rows=")
	m.answers(2, 200, "v1 rows=")
	if code, out, errOut := m.berth("plan"); code != 0 || strings.Contains(out, "»") {
		t.Errorf("plan once db1's copy is removed: exit %d\n%s\n%s", code, out, errOut)
	}
}

// dbClusterFixture is a site on web1 + web2 (platform app on both) and
// db1, served by build 1 of the test app (a row written per request),
// with a few rows written through each web server.
func dbClusterFixture(t *testing.T) *moveFixture {
	t.Helper()
	return dbClusterFixtureWith(t, false)
}

// dbClusterFixtureWith is dbClusterFixture; unhealthyOnDB2: the app
// answers 500 on web2 (only) once it wrote its row when its settings
// point at db2.
func dbClusterFixtureWith(t *testing.T, unhealthyOnDB2 bool) *moveFixture {
	t.Helper()
	m := newMoveFixtureDB(t, 2)
	data, err := os.ReadFile("testdata/moveapp/v1/index.php")
	if err != nil {
		t.Fatal(err)
	}
	app := string(data)
	if unhealthyOnDB2 {
		db2, _, err := net.SplitHostPort(m.dbs[1].Addr)
		if err != nil {
			t.Fatal(err)
		}
		web2, _, err := net.SplitHostPort(m.nodes[1].Addr)
		if err != nil {
			t.Fatal(err)
		}
		guard := "if ($env['DB_HOST'] === '" + db2 + "' && $_SERVER['SERVER_ADDR'] === '" + web2 + "') { http_response_code(500); echo \"unhealthy on db2\\n\"; exit; }\n    echo \"v1 rows=$n\\n\";"
		if app = strings.Replace(app, `echo "v1 rows=$n\n";`, guard, 1); app == string(data) {
			t.Fatal("the test app changed: no place for the guard")
		}
	}
	m.write("code1/index.php", app)
	m.write("platforms/app.yaml", "kind: Platform\nname: app\ntype: php\nisolation: false\nsource: { path: code1 }\nservers: [web1, web2]\n")
	m.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: app\ndb: { server: db1 }\n")
	m.mustApply()
	m.siteSays = "v1 rows="
	for range 2 {
		m.answers(1, 200, "v1 rows=")
		m.answers(2, 200, "v1 rows=")
	}
	return m
}

// clusterMovedToDB2 checks that every row written on db1 is on db2 (count
// and checksum), that the settings on web1 and web2 point at db2 and a
// request to either writes there, db1 left as it was.
func (m *moveFixture) clusterMovedToDB2(t *testing.T) {
	t.Helper()
	db1, db2 := m.dbs[0], m.dbs[1]
	n1 := dbSQL(t, db1, "SELECT COUNT(*) FROM a_example_com.visits")
	sum := "SELECT COUNT(*), SUM(CRC32(CONCAT(id, build))) FROM a_example_com.visits WHERE id <= " + n1
	if got, want := dbSQL(t, db2, sum), dbSQL(t, db1, sum); got != want || n1 == "0" {
		t.Errorf("db2 holds %q of db1's %s rows, want %q", got, n1, want)
	}
	ip2, _, err := net.SplitHostPort(db2.Addr)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		settings, err := os.ReadFile(filepath.Join(m.roots[i], "sites", "a.example.com", ".env"))
		if err != nil || !strings.Contains(string(settings), "DB_HOST='"+ip2+"'") {
			t.Errorf("the settings on web%d do not point at db2 (%s): %v\n%s", i+1, ip2, err, settings)
		}
		before, _ := strconv.Atoi(dbSQL(t, db2, "SELECT COUNT(*) FROM a_example_com.visits"))
		m.answers(i+1, 200, "v1 rows=")
		if after, _ := strconv.Atoi(dbSQL(t, db2, "SELECT COUNT(*) FROM a_example_com.visits")); after <= before {
			t.Errorf("a request to web%d wrote no row on db2 (%d, then %d): not served from db2", i+1, before, after)
		}
	}
	if got := dbSQL(t, db1, "SELECT COUNT(*) FROM a_example_com.visits"); got != n1 {
		t.Errorf("db1 got rows after the move: %s, then %s", n1, got)
	}
}

// TestMoveDatabaseClusterCrash: berth apply killed (SIGKILL) while the
// database of the site on web1 + web2 moves to db2 — after the settings
// were pointed at db2 on both (not yet recorded), after the switch was
// recorded (the maintenance page still up on both) — leaves each web
// server serving the site or its maintenance page; the rerun finishes
// the move on both, with every row of db1 on db2.
func TestMoveDatabaseClusterCrash(t *testing.T) {
	for _, point := range []string{"mid-migrate-db:settings", "mid-migrate-db:switched"} {
		t.Run(point, func(t *testing.T) {
			m := dbClusterFixture(t)
			m.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: app\ndb: { server: db2 }\n")
			killed, out := killedAt(point, append([]string{"apply", "--auto-approve", "--env", "production", "--repo", m.repo,
				"--state-dir", m.stateDir, "--no-color"}, m.flags...)...)
			if !killed {
				t.Fatalf("apply was not killed at %s:\n%s", point, out)
			}
			for i := 1; i <= 2; i++ {
				if code, h, body := m.get(i); !(code == 200 && strings.Contains(body, "v1 rows=") || code == 503 && h.Get("Retry-After") != "") {
					t.Errorf("web%d after the kill: %d %q, want the site or its maintenance page", i, code, body)
				}
			}
			t.Logf("rerun:\n%s", m.mustApply())
			m.clusterMovedToDB2(t)
			for i := 1; i <= 2; i++ {
				if _, err := os.Stat(filepath.Join(m.roots[i-1], "sites", "a.example.com", ".berth-migrate-db-vhost")); !os.IsNotExist(err) {
					t.Errorf("the kept vhost is left on web%d: %v", i, err)
				}
			}
			if code, out, errOut := m.berth("plan"); code != 0 {
				t.Errorf("plan after the rerun: exit %d\n%s\n%s", code, out, errOut)
			}
		})
	}
}

// TestMoveDatabaseClusterUnhealthy: a move of the database of the site on
// web1 + web2 to db2 whose health check fails on web2 only (the app
// answers 500 there on db2, after writing its row) is reverted on both:
// the run fails with the reason, web1 and web2 are served from db1
// again, and db1 holds every row written on db2 in the meantime (copied
// back with the maintenance page up on both).
func TestMoveDatabaseClusterUnhealthy(t *testing.T) {
	m := dbClusterFixtureWith(t, true)
	db1, db2 := m.dbs[0], m.dbs[1]
	m.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: app\ndb: { server: db2 }\n")
	stop1, stop2 := m.loop(1), m.loop(2)
	code, out, errOut := m.berth("apply", "--auto-approve")
	for i, stop := range []func() []string{stop1, stop2} {
		for _, a := range stop() {
			// web2 answers 500 on db2 between the switch and the revert:
			// that is the failure the health check finds.
			if !(i == 1 && strings.Contains(a, "unhealthy on db2")) {
				t.Errorf("during the move web%d answered %s", i+1, a)
			}
		}
	}
	if code == 0 || !strings.Contains(out+errOut, "health check of a.example.com on web2 with its database on db2") ||
		!strings.Contains(out+errOut, "reverted (the site is served from its database on db1 as before)") {
		t.Fatalf("apply: exit %d, want the move reverted with the reason\n%s\n%s", code, out, errOut)
	}
	n2 := dbSQL(t, db2, "SELECT COUNT(*) FROM a_example_com.visits")
	sum := "SELECT COUNT(*), SUM(CRC32(CONCAT(id, build))) FROM a_example_com.visits WHERE id <= " + n2
	if got, want := dbSQL(t, db1, sum), dbSQL(t, db2, sum); got != want {
		t.Errorf("db1 holds %q of db2's %s rows, want %q", got, n2, want)
	}
	ip1, _, err := net.SplitHostPort(db1.Addr)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		settings, err := os.ReadFile(filepath.Join(m.roots[i], "sites", "a.example.com", ".env"))
		if err != nil || !strings.Contains(string(settings), "DB_HOST='"+ip1+"'") {
			t.Errorf("the settings on web%d do not point back at db1 (%s): %v\n%s", i+1, ip1, err, settings)
		}
		before, _ := strconv.Atoi(dbSQL(t, db1, "SELECT COUNT(*) FROM a_example_com.visits"))
		m.answers(i+1, 200, "v1 rows=")
		if after, _ := strconv.Atoi(dbSQL(t, db1, "SELECT COUNT(*) FROM a_example_com.visits")); after <= before {
			t.Errorf("a request to web%d wrote no row on db1 (%d, then %d): not served from db1", i+1, before, after)
		}
	}
	if code, out, errOut := m.berth("plan"); code != 2 || !strings.Contains(out, "» a.example.com: db1 → db2  (planned)") {
		t.Errorf("plan after the revert: exit %d, want the move planned again\n%s\n%s", code, out, errOut)
	}
}
