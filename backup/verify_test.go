package backup

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/host/local"
)

// TestDumpStats: the tables a dump creates and whether it has rows for
// them, read from the SQL of each engine's dump tool, lines of any
// length.
func TestDumpStats(t *testing.T) {
	long := "INSERT INTO `big` VALUES (" + strings.Repeat("'x',", 100000) + "'y');\n"
	for _, tc := range []struct {
		name, engine, dump string
		want               map[string]bool
	}{
		{"mariadb", "mariadb", "/*!40101 SET NAMES utf8mb4 */;\nDROP TABLE IF EXISTS `visits`;\nCREATE TABLE `visits` (\n  `id` int NOT NULL\n);\nCREATE TABLE `empty` (\n  `id` int\n);\n/*!50001 CREATE VIEW `v` AS SELECT 1 */;\nLOCK TABLES `visits` WRITE;\nINSERT INTO `visits` VALUES (1),(2);\n",
			map[string]bool{"visits": true, "empty": false}},
		{"a line longer than kept", "mariadb", "CREATE TABLE `big` (\n  `a` text\n);\n" + long + "CREATE TABLE `after` (`a` int);\n",
			map[string]bool{"big": true, "after": false}},
		{"postgresql", "postgresql", "SET statement_timeout = 0;\nCREATE TABLE public.visits (\n    id integer NOT NULL\n);\nCREATE TABLE public.\"Empty\" (\n    id integer\n);\nCOPY public.visits (id) FROM stdin;\n1\nCREATE TABLE fake (a int);\n\\.\nCOPY public.\"Empty\" (id) FROM stdin;\n\\.\n",
			map[string]bool{"public.visits": true, "public.Empty": false}},
		{"sqlite", "sqlite", "PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCREATE TABLE visits (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT);\nINSERT INTO visits VALUES(1,'now');\nDELETE FROM sqlite_sequence;\nINSERT INTO sqlite_sequence VALUES('visits',1);\nCREATE TABLE IF NOT EXISTS \"Other\"(a);\nCOMMIT;\n",
			map[string]bool{"visits": true, "Other": false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newDumpStats(tc.engine)
			// Written in small pieces, as a stream comes.
			for d := []byte(tc.dump); len(d) > 0; {
				n := min(len(d), 7)
				s.Write(d[:n])
				d = d[n:]
			}
			if !maps.Equal(s.tables, tc.want) {
				t.Errorf("tables %v, want %v", s.tables, tc.want)
			}
		})
	}
}

// TestDumpStatsCheck: a table of the dump missing once loaded, or empty
// where the dump has rows, is a failure naming it.
func TestDumpStatsCheck(t *testing.T) {
	s := &dumpStats{tables: map[string]bool{"a": true, "b": false, "c": true}}
	for _, tc := range []struct {
		name   string
		loaded map[string]int64
		want   string
	}{
		{"all there", map[string]int64{"a": 3, "b": 0, "c": 1, "extra": 0}, ""},
		{"missing", map[string]int64{"a": 3, "c": 1}, "table b of the dump is missing"},
		{"no rows", map[string]int64{"a": 3, "b": 0, "c": 0}, "table c has no rows, the dump has some"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.check(tc.loaded)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("check: %v, want %q", err, tc.want)
			}
		})
	}
}

func TestVerifySchedule(t *testing.T) {
	now := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		setting string
		ago     time.Duration // 0: never verified
		want    bool
	}{
		{"", 0, true},
		{"", 6 * 24 * time.Hour, false},
		{"", 7 * 24 * time.Hour, true},
		{"daily", 23 * time.Hour, true}, // a twentieth early
		{"daily", 22 * time.Hour, false},
		{"monthly", 20 * 24 * time.Hour, false},
		{"never", 0, false},
	} {
		last := time.Time{}
		if tc.ago > 0 {
			last = now.Add(-tc.ago)
		}
		if got := VerifyDue(tc.setting, last, now); got != tc.want {
			t.Errorf("VerifyDue(%q, %s ago) = %v, want %v", tc.setting, tc.ago, got, tc.want)
		}
	}
	if a, b := ScratchName("production", "a.example.com"), ScratchName("production", "b.example.com"); a == b || a != ScratchName("production", "a.example.com") || !strings.HasPrefix(a, "berth_verify_") || len(a) > 63 {
		t.Errorf("scratch names %q %q", a, b)
	}
}

// TestVerifySQLite: on this machine, with the real sqlite3, a good backup
// of a SQLite site verifies (its tables and rows, its files); a backup
// whose dump was cut short (re-summed, so that the checksums pass) fails
// with the missing rows named; a piece cut short fails its checksum. The
// private scratch directory is gone after each, and the site's own
// database is untouched.
func TestVerifySQLite(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	siteDir := filepath.Join(dir, "www", "sites", "a.example.com")
	if err := os.MkdirAll(filepath.Join(siteDir, "files", "sub"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(siteDir, "files", "sub", "x.txt"), []byte("upload"), 0o640); err != nil {
		t.Fatal(err)
	}
	dbFile := filepath.Join(siteDir, "db.sqlite")
	sql := "CREATE TABLE visits (id INTEGER PRIMARY KEY, at TEXT); INSERT INTO visits (at) VALUES ('a'), ('b'); CREATE TABLE empty (a);"
	if out, err := exec.Command("sqlite3", dbFile, sql).CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v\n%s", err, out)
	}
	before, err := os.ReadFile(dbFile)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	b := &Backups{Hosts: oneHost{local.New()}, Version: "test", Now: func() time.Time { return now }}
	data := SiteData{Env: "prod", Site: "a.example.com", Web: "web", SiteDir: siteDir, DB: &SiteDB{Type: "sqlite", Server: "web", Path: dbFile}}
	store := Store{Server: "web", Dir: filepath.Join(dir, "backups")}
	m, err := b.Take(ctx, data, store, Options{Reason: ReasonScheduled})
	if err != nil {
		t.Fatal(err)
	}
	backupDir := filepath.Join(store.Dir, "prod", "a.example.com", m.ID)
	scratchGone := func() {
		t.Helper()
		if es, _ := os.ReadDir(tmp); len(es) > 0 {
			t.Errorf("left in the temporary directory: %v", es)
		}
	}

	var out bytes.Buffer
	v, err := b.Verify(ctx, data, store, "", &out)
	if err != nil {
		t.Fatalf("verify a good backup: %v\n%s", err, out.String())
	}
	if v.Backup != m.ID || !maps.Equal(v.Tables, map[string]int64{"visits": 2, "empty": 0}) || v.Files != 1 || v.Bytes != 6 {
		t.Errorf("verification %+v", v)
	}
	if !strings.Contains(out.String(), "backup "+m.ID+" restores") {
		t.Errorf("verify printed:\n%s", out.String())
	}
	scratchGone()

	// The dump cut in its first row, the manifest re-summed.
	rewritePiece(t, backupDir, "db.sql.gz", func(dump []byte) []byte {
		i := bytes.Index(dump, []byte("INSERT INTO"))
		return dump[:i+20]
	})
	_, err = b.Verify(ctx, data, store, m.ID, io.Discard)
	if !errors.Is(err, ErrVerifyFailed) || !strings.Contains(err.Error(), "load the dump") {
		t.Errorf("verify a dump cut short: %v", err)
	}
	scratchGone()
	// The dump without the rows of a table it creates: it loads, but the
	// table the dump had rows for is empty.
	rewritePiece(t, backupDir, "db.sql.gz", func(dump []byte) []byte {
		return []byte("BEGIN TRANSACTION;\nCREATE TABLE visits (id INTEGER PRIMARY KEY, at TEXT);\nCREATE TABLE empty (a);\nINSERT INTO empty VALUES(1);\nDELETE FROM empty;\nCOMMIT;\n")
	})
	_, err = b.Verify(ctx, data, store, m.ID, io.Discard)
	if !errors.Is(err, ErrVerifyFailed) || !strings.Contains(err.Error(), "table empty has no rows, the dump has some") {
		t.Errorf("verify a dump whose rows are gone: %v", err)
	}
	scratchGone()

	// The piece cut short: its checksum.
	piece := filepath.Join(backupDir, "files.tar.gz")
	st, _ := os.Stat(piece)
	if err := os.Truncate(piece, st.Size()/2); err != nil {
		t.Fatal(err)
	}
	_, err = b.Verify(ctx, data, store, m.ID, io.Discard)
	if !errors.Is(err, ErrCorrupt) || !errors.Is(err, ErrVerifyFailed) || !strings.Contains(err.Error(), "files.tar.gz has") {
		t.Errorf("verify a piece cut short: %v", err)
	}
	scratchGone()
	if after, _ := os.ReadFile(dbFile); !bytes.Equal(before, after) {
		t.Errorf("the site's database changed")
	}

	// No backup at all.
	other := data
	other.Site = "b.example.com"
	if _, err := b.Verify(ctx, other, store, "", io.Discard); !errors.Is(err, ErrNoBackup) {
		t.Errorf("verify without a backup: %v", err)
	}
}

// rewritePiece replaces the uncompressed content of piece name of the
// backup in dir with what change makes of it, and its size and SHA-256 in
// the manifest, so that only a restore can tell.
func rewritePiece(t *testing.T, dir, name string, change func([]byte) []byte) {
	t.Helper()
	p := filepath.Join(dir, name)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	raw = change(raw)
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(raw)
	zw.Close()
	if err := os.WriteFile(p, z.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	mp := filepath.Join(dir, "manifest.json")
	mdata, err := os.ReadFile(mp)
	if err != nil {
		t.Fatal(err)
	}
	var m Manifest
	if err := json.Unmarshal(mdata, &m); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(m.Pieces, func(pc Piece) bool { return pc.Name == name })
	sum := sha256.Sum256(z.Bytes())
	m.Pieces[i].Size, m.Pieces[i].RawSize, m.Pieces[i].SHA256 = int64(z.Len()), int64(len(raw)), hex.EncodeToString(sum[:])
	mdata, _ = json.Marshal(&m)
	if err := os.WriteFile(mp, mdata, 0o600); err != nil {
		t.Fatal(err)
	}
}
