package backup

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/host/local"
)

// TestDumpTail: a SQLite dump is whole only when it ends in its COMMIT,
// however the writes split it.
func TestDumpTail(t *testing.T) {
	long := strings.Repeat("INSERT INTO t VALUES('x');\n", 100)
	for _, tc := range []struct {
		name   string
		writes []string
		err    string
	}{
		{"whole", []string{"BEGIN TRANSACTION;\n", long, "COMMIT;\n"}, ""},
		{"COMMIT split across writes", []string{"BEGIN TRANSACTION;\n" + long + "COM", "MIT;\n"}, ""},
		{"rolled back", []string{"BEGIN TRANSACTION;\n", long, "ROLLBACK; -- due to errors\n"}, `its last line is "ROLLBACK; -- due to errors"`},
		{"cut short", []string{"BEGIN TRANSACTION;\n", long[:50]}, `its last line is "INSERT INTO t VALUES('x"`},
		{"empty", nil, "it is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tail dumpTail
			for _, w := range tc.writes {
				tail.Write([]byte(w))
			}
			err := tail.check()
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("check: %v", err)
			case tc.err != "" && (!errors.Is(err, errSQLiteDump) || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("check: %v, want %q", err, tc.err)
			}
		})
	}
}

// TestSQLiteDamaged: sqlite3 .dump exits 0 on a damaged file, its dump
// ending in ROLLBACK (an empty database once loaded). A backup of such a
// file fails and keeps nothing; a copy of it into another site's file
// changes nothing; a restore or verify of a dump that ends so fails and
// leaves the live file as it was; emptying a database still works.
func TestSQLiteDamaged(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	sqlite := func(file, sql string) string {
		t.Helper()
		out, err := exec.Command("sqlite3", file, sql).CombinedOutput()
		if err != nil {
			t.Fatalf("sqlite3 %s: %v\n%s", file, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	site := func(name string) SiteData {
		siteDir := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Join(siteDir, "files"), 0o750); err != nil {
			t.Fatal(err)
		}
		db := filepath.Join(siteDir, "db.sqlite")
		sqlite(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 2000) INSERT INTO t (v) SELECT printf('%.500c', 'x') FROM n;")
		return SiteData{Env: "prod", Site: name, Web: "web", SiteDir: siteDir, DB: &SiteDB{Type: "sqlite", Server: "web", Path: db}}
	}
	good, damaged := site("good.example.com"), site("damaged.example.com")
	// Overwrite pages in the middle of the table: sqlite3 still opens the
	// file and dumps the rows before them.
	f, err := os.OpenFile(damaged.DB.Path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xff}, 3*4096), 50*4096); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if out, _ := exec.Command("sqlite3", "-bail", "-readonly", damaged.DB.Path, ".dump").Output(); !bytes.HasSuffix(out, []byte("ROLLBACK; -- due to errors\n")) {
		t.Fatalf("the damaged file dumps whole; the test does not damage it:\n...%s", out[max(0, len(out)-200):])
	}
	read := func(p string) []byte {
		t.Helper()
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	damagedBefore, goodBefore := read(damaged.DB.Path), read(good.DB.Path)

	now := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	b := &Backups{Hosts: oneHost{local.New()}, Version: "test", Now: func() time.Time { return now }}
	store := Store{Server: "web", Dir: filepath.Join(dir, "backups")}

	_, err = b.Take(ctx, damaged, store, Options{Reason: ReasonScheduled})
	if !errors.Is(err, errSQLiteDump) || !strings.Contains(err.Error(), "could not read all of "+damaged.DB.Path) {
		t.Errorf("backup of a damaged file: %v", err)
	}
	if list, err := b.List(ctx, damaged.Env, damaged.Site, store); err != nil || len(list) != 0 {
		t.Errorf("backups kept of the damaged file: %v, %v", list, err)
	}
	if es, _ := os.ReadDir(filepath.Join(store.Dir, "prod", damaged.Site)); len(es) != 0 {
		t.Errorf("left in the store: %v", es)
	}

	err = b.CopyDB(ctx, damaged.DB, good.DB)
	if !errors.Is(err, errSQLiteDump) {
		t.Errorf("copy of a damaged file: %v", err)
	}
	if !bytes.Equal(read(good.DB.Path), goodBefore) {
		t.Errorf("the copy of a damaged file changed the target")
	}

	// A backup of the good site whose dump is rewritten to end as a
	// damaged file's does (the manifest re-summed): verify and restore
	// refuse it, the live file stays.
	m, err := b.Take(ctx, good, store, Options{Reason: ReasonScheduled})
	if err != nil {
		t.Fatal(err)
	}
	rewritePiece(t, filepath.Join(store.Dir, "prod", good.Site, m.ID), "db.sql.gz", func(dump []byte) []byte {
		return append(bytes.TrimSuffix(dump, []byte(sqliteDumpEnd)), "ROLLBACK; -- due to errors\n"...)
	})
	if _, err := b.Verify(ctx, good, store, m.ID, &bytes.Buffer{}); !errors.Is(err, ErrVerifyFailed) || !errors.Is(err, errSQLiteDump) {
		t.Errorf("verify of a rolled back dump: %v", err)
	}
	now = now.Add(time.Hour)
	if _, err := b.Restore(ctx, good, store, m.ID, ""); !errors.Is(err, errSQLiteDump) || !strings.Contains(err.Error(), "was left as it was") {
		t.Errorf("restore of a rolled back dump: %v", err)
	}
	if !bytes.Equal(read(good.DB.Path), goodBefore) {
		t.Errorf("the restore of a rolled back dump changed the live file")
	}
	if _, err := os.Stat(good.DB.Path + ".berth-restore"); !os.IsNotExist(err) {
		t.Errorf("the restore left its temporary file: %v", err)
	}

	// Emptying works (a clone whose sanitize step failed), and a good
	// dump still copies.
	if err := b.CopyDB(ctx, good.DB, damaged.DB); err != nil {
		t.Fatalf("copy of a good file: %v", err)
	}
	if got := sqlite(damaged.DB.Path, "SELECT count(*) FROM t"); got != "2000" {
		t.Errorf("rows after the copy: %s", got)
	}
	if bytes.Equal(read(damaged.DB.Path), damagedBefore) {
		t.Errorf("the copy did not replace the damaged file")
	}
	if err := b.Empty(ctx, good.DB); err != nil {
		t.Fatalf("empty: %v", err)
	}
	if got := sqlite(good.DB.Path, "SELECT count(*) FROM sqlite_master"); got != "0" {
		t.Errorf("tables after emptying: %s", got)
	}
}
