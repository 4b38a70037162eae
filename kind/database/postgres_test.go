package database

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/berthhq/berth/internal/testenv"
	"github.com/berthhq/berth/reconcile/reconciletest"
	"github.com/berthhq/berth/spec"
)

func postgresSite(pg *testenv.PostgresServer, site, name, pw string) *PostgresDB {
	return NewPostgresDB(PostgresSpec{ID: ID(site, name, "db"), Server: "db", Site: site, Name: name, Role: name, From: []string{"localhost"}, Password: pw,
		Service: spec.ResolvedDBService{Type: "postgresql", Socket: pg.SocketDir, Port: pg.Port, AdminUser: "postgres",
			RunAs: "postgres", Client: filepath.Join(testenv.PostgresBin, "psql")}})
}

// TestPostgresDBTimeline: the idempotency timeline of the PostgreSQL kind
// on a real server, with its password checked against the SCRAM verifier.
func TestPostgresDBTimeline(t *testing.T) {
	pg := testenv.Postgres(t)
	d := newDBHarness(t)
	a := postgresSite(pg, "a.example.com", "a_example_com", "pw-a-0123456789")
	b := postgresSite(pg, "b.example.com", "b_example_com", "pw-b-0123456789")

	before := d.h.count()
	p := d.plan(a, b)
	if got, want := reconciletest.Actions(p), "+site/a.example.com/db:a_example_com@db +site/b.example.com/db:b_example_com@db"; got != want {
		t.Fatalf("first plan: %s, want %s", got, want)
	}
	if n := d.h.count() - before; n != 1 {
		t.Errorf("the plan ran %d commands, want 1 catalogue query", n)
	}
	if r := d.apply(p); r.Applied != 2 {
		t.Fatalf("first apply: %+v", r)
	}

	// Over TCP with its password (scram-sha-256): its own database only.
	asRole := func(role, pw, db string) (string, error) {
		c := exec.Command(filepath.Join(testenv.PostgresBin, "psql"), "-X", "-At", "-h", "127.0.0.1", "-p", strconv.Itoa(pg.Port), "-U", role, "-d", db,
			"-c", "CREATE TABLE IF NOT EXISTS t (x int); SELECT current_user")
		c.Env = append(c.Environ(), "PGPASSWORD="+pw)
		out, err := c.CombinedOutput()
		return string(out), err
	}
	if out, err := asRole("a_example_com", "pw-a-0123456789", "a_example_com"); err != nil {
		t.Fatalf("role a cannot use its database: %v %s", err, out)
	}
	if out, err := asRole("a_example_com", "pw-a-0123456789", "b_example_com"); err == nil {
		t.Errorf("role a can connect to b's database: %s", out)
	}

	before = d.h.count()
	p = d.plan(a, b)
	if len(p.Changes) != 0 || p.Unchanged != 2 {
		t.Fatalf("second plan not empty: %s %+v", reconciletest.Actions(p), p.Changes)
	}
	d.apply(p)
	if n := d.h.count() - before; n != 1 {
		t.Errorf("converged plan+apply ran %d commands, want only the catalogue query", n)
	}

	pg.SQL(t, "ALTER ROLE a_example_com PASSWORD 'changed'")
	p = d.plan(a, b)
	if got := reconciletest.Actions(p); got != "~site/a.example.com/db:a_example_com@db" || !strings.Contains(p.Changes[0].Reason, "password differs") {
		t.Fatalf("plan after drift: %s %+v", got, p.Changes)
	}
	d.apply(p)
	if out, err := asRole("a_example_com", "pw-a-0123456789", "a_example_com"); err != nil {
		t.Fatalf("password not repaired: %v %s", err, out)
	}

	p = d.plan(a)
	if got := reconciletest.Actions(p); got != "!site/b.example.com/db:b_example_com@db" || !strings.Contains(p.Changes[0].Reason, "needs a backup first") {
		t.Fatalf("prune plan: %s %+v", got, p.Changes)
	}
	d.apply(p)
	if got := pg.SQL(t, "SELECT datname FROM pg_database WHERE datname = 'b_example_com'"); strings.TrimSpace(got) != "b_example_com" {
		t.Fatalf("b's database was dropped: %q", got)
	}
	pg.SQL(t, "DROP DATABASE b_example_com")
	pg.SQL(t, "DROP ROLE b_example_com")
	if p = d.plan(a); reconciletest.Actions(p) != "-site/b.example.com/db:b_example_com@db" {
		t.Fatalf("plan after a drop by hand: %s", reconciletest.Actions(p))
	}
	d.apply(p)
	if p = d.plan(a); len(p.Changes) != 0 {
		t.Fatalf("plan after forgetting: %s", reconciletest.Actions(p))
	}
}
