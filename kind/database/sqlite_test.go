package database

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthhq/berth/reconcile/reconciletest"
	_ "modernc.org/sqlite"
)

// TestSQLiteDBTimeline: the idempotency timeline of the SQLite kind on the
// local host; its data is never touched, and pruning is refused.
func TestSQLiteDBTimeline(t *testing.T) {
	d := newDBHarness(t)
	path := filepath.Join(t.TempDir(), "a.sqlite")
	a := NewSQLiteDB(SQLiteSpec{ID: "site/a.example.com/db:a@db", Server: "db", Site: "a.example.com", Path: path, Mode: 0o600})

	p := d.plan(a)
	if got := reconciletest.Actions(p); got != "+site/a.example.com/db:a@db" {
		t.Fatalf("first plan: %s", got)
	}
	d.apply(p)
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("database file: %v %v", st, err)
	}
	// It is a database: write a row.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE t (x text); INSERT INTO t VALUES ('kept')"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	before := d.h.count()
	p = d.plan(a)
	if len(p.Changes) != 0 || p.Unchanged != 1 {
		t.Fatalf("second plan not empty: %s", reconciletest.Actions(p))
	}
	d.apply(p)
	if d.h.count() != before {
		t.Errorf("converged apply ran commands: %v", d.h.runs[before:])
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if p = d.plan(a); reconciletest.Actions(p) != "~site/a.example.com/db:a@db" {
		t.Fatalf("plan after chmod: %s", reconciletest.Actions(p))
	}
	d.apply(p)
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode not repaired: %v", st.Mode())
	}

	p = d.plan()
	if got := reconciletest.Actions(p); got != "!site/a.example.com/db:a@db" || !strings.Contains(p.Changes[0].Reason, "needs a backup first") {
		t.Fatalf("prune plan: %s", got)
	}
	d.apply(p)
	db, _ = sql.Open("sqlite", path)
	var x string
	if err := db.QueryRow("SELECT x FROM t").Scan(&x); err != nil || x != "kept" {
		t.Fatalf("data lost: %q %v", x, err)
	}
	db.Close()
	os.Remove(path)
	if p = d.plan(); reconciletest.Actions(p) != "-site/a.example.com/db:a@db" {
		t.Fatalf("plan after removal by hand: %s", reconciletest.Actions(p))
	}
	d.apply(p)
	if p = d.plan(); len(p.Changes) != 0 {
		t.Fatalf("plan after forgetting: %s", reconciletest.Actions(p))
	}
}
