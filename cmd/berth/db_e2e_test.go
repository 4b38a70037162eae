package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/berthhq/berth/internal/testenv"
)

// TestEndToEndDatabases: a php platform (testdata/dbapp, a small app that
// reads its settings file and writes and reads a row) with three sites on
// nginx + php-fpm, one on MariaDB, one on PostgreSQL, one on SQLite. Each
// answers over HTTP with data from its own database; a second apply runs
// nothing; no generated password is found in plans, run records, logs or
// any world-readable file.
func TestEndToEndDatabases(t *testing.T) {
	w := newPHPWeb(t)
	base, n, php, f := w.base, w.nginx, w.php, w.webFixture
	my := testenv.MariaDB(t)
	pg := testenv.Postgres(t)

	f.write("berth.yaml", "environments:\n  production: { branch: main }\n")
	f.write("servers/web.yaml", w.webServer("  db: { type: sqlite }\n")+fmt.Sprintf(`---
kind: Server
name: mdb
address: local
services:
  db: { type: mariadb, socket: %s }
---
kind: Server
name: pdb
address: local
services:
  db: { type: postgresql, socket_dir: %s, port: %d, client: %s }
`, my.Socket, pg.SocketDir, pg.Port, filepath.Join(testenv.PostgresBin, "psql")))
	f.write("platforms/app.yaml", "kind: Platform\nname: app\ntype: php\nsource: { path: code }\nservers: [web]\n")
	app, err := os.ReadFile("testdata/dbapp/index.php")
	if err != nil {
		t.Fatal(err)
	}
	f.write("code/index.php", string(app))
	sites := map[string]string{"my.example.com": "mdb", "pg.example.com": "pdb", "lite.example.com": "web"}
	for name, db := range sites {
		f.write("sites/"+name+".yaml", fmt.Sprintf("kind: Site\nname: %s\nplatform: app\ndb: { server: %s }\n", name, db))
	}

	var logs bytes.Buffer // everything berth printed
	berth := func(args ...string) string {
		t.Helper()
		code, out, errOut := f.berth(args...)
		logs.WriteString(out + errOut)
		if code != 0 && !(code == 2 && args[0] == "plan") {
			t.Fatalf("berth %s: exit %d\n%s\n%s", strings.Join(args, " "), code, out, errOut)
		}
		return out
	}
	berth("plan")
	out := berth("apply", "--auto-approve")
	for _, want := range []string{"site/my.example.com/db:my_example_com@mdb", "site/pg.example.com/db:pg_example_com@pdb",
		"site/lite.example.com/db:lite_example_com@web", "site/my.example.com/settings@web"} {
		if !strings.Contains(out, want) {
			t.Errorf("the first apply does not show %s:\n%s", want, out)
		}
	}

	answers := func(driver string, rows int) func(*http.Response, string) bool {
		return func(r *http.Response, body string) bool {
			return r.StatusCode == 200 && strings.Contains(body, fmt.Sprintf("driver=%s rows=%d", driver, rows))
		}
	}
	drivers := map[string]string{"my.example.com": "mysql", "pg.example.com": "pgsql", "lite.example.com": "sqlite"}
	for name, driver := range drivers {
		_, body := f.get(name, "/", answers(driver, 1))
		if !strings.Contains(body, "domain="+name) {
			t.Errorf("%s answered %q", name, body)
		}
	}
	if got := my.SQL(t, "SELECT domain FROM my_example_com.visits"); strings.TrimSpace(got) != "my.example.com" {
		t.Errorf("MariaDB holds %q", got)
	}
	if got := pg.SQL(t, "SELECT datname FROM pg_database WHERE datname = 'pg_example_com'"); strings.TrimSpace(got) != "pg_example_com" {
		t.Errorf("PostgreSQL holds %q", got)
	}

	// Apply again: nothing runs, and the data is still there.
	out = berth("apply", "--auto-approve")
	if !strings.Contains(out, "No changes") {
		t.Errorf("second apply is not empty:\n%s", out)
	}
	for name, driver := range drivers {
		f.get(name, "/", answers(driver, 2))
	}

	// Plans, text and JSON, after the fact too.
	berth("plan")
	berth("plan", "--json")

	// Every generated secret, from the state store.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(f.stateDir, "berth.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var secrets []string
	rs, err := db.QueryContext(context.Background(), "SELECT key, value FROM secrets")
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var k, v string
		if err := rs.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, v)
	}
	rs.Close()
	if len(secrets) != 2 { // the MariaDB and PostgreSQL passwords
		t.Fatalf("the state store holds %d secrets, want 2", len(secrets))
	}
	// The passwords are in the sites' settings files, which only their
	// user may read.
	for _, name := range []string{"my.example.com", "pg.example.com"} {
		p := filepath.Join(f.webRoot, "sites", name, ".env")
		data, err := os.ReadFile(p)
		st, _ := os.Stat(p)
		if err != nil || st.Mode().Perm() != 0o640 || !strings.Contains(string(data), "DB_PASSWORD='") {
			t.Errorf("%s: %v %v", p, st.Mode(), err)
		}
	}

	// Run records and the inventory: every table but the secrets.
	records := stateRecords(t, db, "site/my.example.com/db:my_example_com@mdb")

	// World-readable files under every root of the test.
	world := worldReadable(base, n.Prefix, php.Dir, my.Dir, pg.Dir)
	for _, s := range secrets {
		if strings.Contains(logs.String(), s) {
			t.Errorf("a generated password is in berth's output (plans, logs)")
		}
		if strings.Contains(records, s) {
			t.Errorf("a generated password is in the run records or the inventory")
		}
		for _, p := range world {
			if data, _ := os.ReadFile(p); bytes.Contains(data, []byte(s)) {
				t.Errorf("a generated password is in the world-readable file %s", p)
			}
		}
	}
	if len(world) < 5 {
		t.Errorf("only %d world-readable files were searched", len(world))
	}
}
