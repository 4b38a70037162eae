package database

import (
	"context"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/local"
	"github.com/berthhq/berth/internal/testenv"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/reconcile/reconciletest"
	"github.com/berthhq/berth/spec"
)

// countingHost is a real host that counts the commands it runs.
type countingHost struct {
	host.Host
	mu   sync.Mutex
	runs []string
}

func (c *countingHost) Run(ctx context.Context, argv []string, opts host.RunOptions) (host.RunResult, error) {
	c.mu.Lock()
	c.runs = append(c.runs, strings.Join(argv, " "))
	c.mu.Unlock()
	return c.Host.Run(ctx, argv, opts)
}

func (c *countingHost) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.runs)
}

// dbHarness is an engine over one real local host named "db".
type dbHarness struct {
	t      *testing.T
	h      *countingHost
	engine *reconcile.Engine
	inv    *reconciletest.MemInventory
}

func newDBHarness(t *testing.T) *dbHarness {
	h := &countingHost{Host: local.New()}
	inv := reconciletest.NewMemInventory()
	return &dbHarness{t: t, h: h, inv: inv, engine: &reconcile.Engine{Hosts: reconciletest.Hosts{"db": h}, Inventory: inv}}
}

func (d *dbHarness) plan(rs ...reconcile.Resource) *reconcile.Plan {
	d.t.Helper()
	p, err := d.engine.Plan(context.Background(), &reconcile.Desired{Env: "test", Revision: "r", MaxDeletions: 5, Resources: rs,
		Service: func(string, string) (reconcile.Service, error) { return reconcile.Service{}, nil }}, reconcile.PlanOptions{})
	if err != nil {
		d.t.Fatalf("plan: %v", err)
	}
	if len(p.Unreachable) > 0 {
		d.t.Fatalf("plan: unreachable: %+v", p.Unreachable)
	}
	return p
}

func (d *dbHarness) apply(p *reconcile.Plan) *reconcile.Result {
	d.t.Helper()
	r, err := d.engine.Apply(context.Background(), p)
	if err != nil {
		d.t.Fatalf("apply: %v", err)
	}
	return r
}

func mariadbSite(m *testenv.MariaDBServer, site, name, pw string) *MySQLDB {
	return NewMySQLDB(MySQLSpec{ID: ID(site, name, "db"), Server: "db", Site: site, Name: name, User: name, From: []string{"localhost"}, Password: pw,
		Service: spec.ResolvedDBService{Type: "mariadb", Socket: m.Socket, AdminUser: "root", Client: "mariadb"}})
}

// TestMySQLDBTimeline: create two sites' databases with one catalogue
// query per plan, converge, apply again with nothing run, repair a
// changed password, refuse to drop a database, forget one dropped by hand.
func TestMySQLDBTimeline(t *testing.T) {
	m := testenv.MariaDB(t)
	d := newDBHarness(t)
	a := mariadbSite(m, "a.example.com", "a_example_com", "pw-a-0123456789")
	b := mariadbSite(m, "b.example.com", "b_example_com", "pw-b-0123456789")

	before := d.h.count()
	p := d.plan(a, b)
	if got, want := reconciletest.Actions(p), "+site/a.example.com/db:a_example_com@db +site/b.example.com/db:b_example_com@db"; got != want {
		t.Fatalf("first plan: %s, want %s", got, want)
	}
	if n := d.h.count() - before; n != 1 {
		t.Errorf("the plan ran %d commands on the db server, want 1 catalogue query for both sites", n)
	}
	if r := p.Changes[0].Reason; r != "database a_example_com (mariadb on db), user a_example_com@localhost" {
		t.Errorf("reason %q", r)
	}
	if r := d.apply(p); r.Applied != 2 {
		t.Fatalf("first apply: %+v", r)
	}

	// The user reaches its own database with its password, not the other's.
	asUser := func(user, pw, db string) error {
		c := exec.Command("mariadb", "--no-defaults", "--socket="+m.Socket, "-u"+user, db, "-e", "CREATE TABLE IF NOT EXISTS t (x int); SELECT 1")
		c.Env = append(c.Environ(), "MYSQL_PWD="+pw)
		out, err := c.CombinedOutput()
		if err != nil {
			return &exec.ExitError{ProcessState: c.ProcessState, Stderr: out}
		}
		return nil
	}
	if err := asUser("a_example_com", "pw-a-0123456789", "a_example_com"); err != nil {
		t.Fatalf("user a cannot use its database: %v %s", err, err.(*exec.ExitError).Stderr)
	}
	if err := asUser("a_example_com", "pw-a-0123456789", "b_example_com"); err == nil {
		t.Error("user a can use b's database")
	}

	before = d.h.count()
	p = d.plan(a, b)
	if len(p.Changes) != 0 || p.Unchanged != 2 {
		t.Fatalf("second plan not empty: %s", reconciletest.Actions(p))
	}
	d.apply(p)
	if n := d.h.count() - before; n != 1 {
		t.Errorf("converged plan+apply ran %d commands, want only the catalogue query", n)
	}

	// Drift: the password changed by hand is set back.
	m.SQL(t, "ALTER USER 'a_example_com'@'localhost' IDENTIFIED BY 'changed'")
	p = d.plan(a, b)
	if got := reconciletest.Actions(p); got != "~site/a.example.com/db:a_example_com@db" || !strings.Contains(p.Changes[0].Reason, "password of a_example_com@localhost differs") {
		t.Fatalf("plan after drift: %s %q", got, p.Changes[0].Reason)
	}
	d.apply(p)
	if err := asUser("a_example_com", "pw-a-0123456789", "a_example_com"); err != nil {
		t.Fatalf("password not repaired: %v", err)
	}

	// Prune: blocked, nothing dropped.
	p = d.plan(a)
	if got := reconciletest.Actions(p); got != "!site/b.example.com/db:b_example_com@db" || !strings.Contains(p.Changes[0].Reason, "needs a backup first") {
		t.Fatalf("prune plan: %s %+v", got, p.Changes)
	}
	d.apply(p)
	if got := m.SQL(t, "SHOW DATABASES LIKE 'b_example_com'"); strings.TrimSpace(got) != "b_example_com" {
		t.Fatalf("b's database was dropped: %q", got)
	}
	// Dropped by hand: the next run forgets it.
	m.SQL(t, "DROP DATABASE b_example_com; DROP USER 'b_example_com'@'localhost'")
	p = d.plan(a)
	if got := reconciletest.Actions(p); got != "-site/b.example.com/db:b_example_com@db" {
		t.Fatalf("plan after a drop by hand: %s", got)
	}
	d.apply(p)
	if p = d.plan(a); len(p.Changes) != 0 {
		t.Fatalf("plan after forgetting: %s", reconciletest.Actions(p))
	}

	// A database berth did not create is a conflict, not taken over.
	m.SQL(t, "CREATE DATABASE c_example_com")
	p = d.plan(a, mariadbSite(m, "c.example.com", "c_example_com", "pw-c-0123456789"))
	if got := reconciletest.Actions(p); got != "!site/c.example.com/db:c_example_com@db" {
		t.Fatalf("plan with a foreign database: %s", got)
	}
}
