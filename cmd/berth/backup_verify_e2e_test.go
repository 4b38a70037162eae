package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berthhq/berth/backup"
)

// TestEndToEndBackupVerify: on real MariaDB, PostgreSQL and SQLite, berth
// backup verify restore-tests each site's newest backup: the dump loads
// into the scratch database berth_verify_<hash> (SQLite: a file in a
// private temporary directory), its table and row are found, and the
// scratch database is gone afterwards. A backup whose dump was cut short
// inside the archive (the manifest re-summed, so that only a restore can
// tell) fails with the reason, and so does one whose piece was truncated
// (its checksum); the scratch database is dropped all the same and the
// site's own database is untouched. No generated password is printed.
func TestEndToEndBackupVerify(t *testing.T) {
	s := startDBSites(t, "backups: { server: web, dir: backups }\n", nil)
	sites := []string{"my.example.com", "pg.example.com", "lite.example.com"}
	ids := map[string]string{}
	for _, site := range sites {
		s.rows(site, 1)
		if err := os.WriteFile(filepath.Join(s.webRoot, "sites", site, "files", "upload.txt"), []byte("uploaded"), 0o640); err != nil {
			t.Fatal(err)
		}
		s.must("backup", site)
		list := s.listing(site)
		if len(list) != 1 {
			t.Fatalf("%s: backups %+v", site, list)
		}
		ids[site] = list[0].ID
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where the SQLite scratch directory goes
	scratchGone := func(site string) {
		t.Helper()
		name := backup.ScratchName("production", site)
		var got string
		switch site {
		case "my.example.com":
			got = s.my.SQL(t, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '"+name+"'")
		case "pg.example.com":
			got = s.pg.SQL(t, "SELECT COUNT(*) FROM pg_database WHERE datname = '"+name+"'")
		default:
			es, _ := os.ReadDir(tmp)
			got = string(rune('0' + len(es)))
		}
		if strings.TrimSpace(got) != "0" {
			t.Errorf("%s: the scratch database %s is still there", site, name)
		}
	}

	// (1) Good backups restore.
	for _, site := range sites {
		out := s.must("backup", "verify", site)
		for _, want := range []string{
			site + ": backup " + ids[site] + ": every piece matches its manifest.",
			"scratch database " + backup.ScratchName("production", site),
			"1 tables, 1 rows; dropped.",
			"the files read back: 1 files, 8 B.",
			site + ": backup " + ids[site] + " restores.",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("berth backup verify %s does not say %q:\n%s", site, want, out)
			}
		}
		scratchGone(site)
		// Naming the backup verifies that one.
		if out := s.must("backup", "verify", site, ids[site]); !strings.Contains(out, ids[site]+" restores") {
			t.Errorf("berth backup verify %s %s:\n%s", site, ids[site], out)
		}
	}

	// (2) The dump cut short inside the archive, the manifest re-summed.
	backups := filepath.Join(s.stateDir, "backups", "production")
	cut := map[string]string{"my.example.com": "db.sql.gz", "pg.example.com": "db.pgdump.gz", "lite.example.com": "db.sql.gz"}
	for _, site := range sites {
		rewriteBackupPiece(t, filepath.Join(backups, site, ids[site]), cut[site], func(dump []byte) []byte {
			if i := bytes.Index(dump, []byte("INSERT INTO")); i >= 0 {
				return dump[:i+20] // in the middle of the row
			}
			return dump[:len(dump)/2]
		})
		out := s.fails("backup", "verify", site)
		if !strings.Contains(out, "backup "+ids[site]+" of "+site+": backup verification failed") || !strings.Contains(out, "dump") {
			t.Errorf("berth backup verify %s of a dump cut short says:\n%s", site, out)
		}
		if strings.Contains(out, "restores.") {
			t.Errorf("berth backup verify %s of a dump cut short says it restores:\n%s", site, out)
		}
		scratchGone(site)
	}
	// The sites' own databases are untouched: the row of before, and the
	// one this request adds.
	for _, site := range sites {
		s.rows(site, 2)
	}
	if got := s.my.SQL(t, "SELECT COUNT(*) FROM my_example_com.visits"); strings.TrimSpace(got) != "2" {
		t.Errorf("my_example_com.visits holds %q rows, want 2", got)
	}

	// A piece truncated on disk: its checksum.
	piece := filepath.Join(backups, "my.example.com", ids["my.example.com"], "files.tar.gz")
	st, err := os.Stat(piece)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(piece, st.Size()/2); err != nil {
		t.Fatal(err)
	}
	out := s.fails("backup", "verify", "my.example.com")
	if !strings.Contains(out, "does not match its manifest: files.tar.gz has") {
		t.Errorf("berth backup verify of a truncated piece says:\n%s", out)
	}
	scratchGone("my.example.com")
	if out := s.fails("backup", "verify", "my.example.com", "20990101T000000Z"); !strings.Contains(out, "has no backup 20990101T000000Z") {
		t.Errorf("berth backup verify of a missing backup says:\n%s", out)
	}

	for _, secret := range storedSecrets(t, s.stateDir) {
		if strings.Contains(s.logs.String(), secret) {
			t.Errorf("a generated password is in berth's output")
		}
	}
}

// rewriteBackupPiece replaces the uncompressed content of piece name of
// the backup in dir with what change makes of it, and its sizes and
// SHA-256 in the manifest, so that only a restore can tell.
func rewriteBackupPiece(t *testing.T, dir, name string, change func([]byte) []byte) {
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
	var m backup.Manifest
	if err := json.Unmarshal(mdata, &m); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(m.Pieces, func(pc backup.Piece) bool { return pc.Name == name })
	if i < 0 {
		t.Fatalf("backup %s has no piece %s", dir, name)
	}
	sum := sha256.Sum256(z.Bytes())
	m.Pieces[i].Size, m.Pieces[i].RawSize, m.Pieces[i].SHA256 = int64(z.Len()), int64(len(raw)), hex.EncodeToString(sum[:])
	if mdata, err = json.Marshal(&m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mp, mdata, 0o600); err != nil {
		t.Fatal(err)
	}
}
