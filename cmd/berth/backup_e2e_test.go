package main

import (
	"bytes"
	"compress/gzip"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/berthhq/berth/backup"
	"github.com/berthhq/berth/internal/testenv"
)

// dbSites is the php app of TestEndToEndDatabases (testdata/dbapp) with
// one site each on MariaDB, PostgreSQL and SQLite, applied.
type dbSites struct {
	*webFixture
	base string
	my   *testenv.MariaDBServer
	pg   *testenv.PostgresServer
	logs bytes.Buffer // everything berth printed
}

var dbSiteServers = map[string]string{"my.example.com": "mdb", "pg.example.com": "pdb", "lite.example.com": "web"}

func startDBSites(t *testing.T, berthYAML string, siteExtra map[string]string) *dbSites {
	w := newPHPWeb(t)
	base := w.base
	s := &dbSites{base: base, my: testenv.MariaDB(t), pg: testenv.Postgres(t), webFixture: w.webFixture}
	s.write("berth.yaml", "environments:\n  production: { branch: main }\n"+berthYAML)
	s.write("servers/web.yaml", w.webServer("  db: { type: sqlite }\n")+fmt.Sprintf(`---
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
`, s.my.Socket, s.pg.SocketDir, s.pg.Port, filepath.Join(testenv.PostgresBin, "psql")))
	s.write("platforms/app.yaml", "kind: Platform\nname: app\ntype: php\nsource: { path: code }\nservers: [web]\n")
	app, err := os.ReadFile("testdata/dbapp/index.php")
	if err != nil {
		t.Fatal(err)
	}
	s.write("code/index.php", string(app))
	for name, db := range dbSiteServers {
		s.write("sites/"+name+".yaml", fmt.Sprintf("kind: Site\nname: %s\nplatform: app\ndb: { server: %s }\n%s", name, db, siteExtra[name]))
	}
	s.must("apply", "--auto-approve")
	return s
}

// must runs berth and fails the test unless it exits 0.
func (s *dbSites) must(args ...string) string {
	s.t.Helper()
	code, out, errOut := s.berth(args...)
	s.logs.WriteString(out + errOut)
	if code != 0 {
		s.t.Fatalf("berth %s: exit %d\n%s\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// fails runs berth and fails the test unless it exits 1; it returns
// stdout and stderr.
func (s *dbSites) fails(args ...string) string {
	s.t.Helper()
	code, out, errOut := s.berth(args...)
	s.logs.WriteString(out + errOut)
	if code != 1 {
		s.t.Fatalf("berth %s: exit %d, want 1\n%s\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out + errOut
}

// rows asks the site for its rows (the app adds one per request).
func (s *dbSites) rows(site string, want int) {
	s.t.Helper()
	drv := map[string]string{"my.example.com": "mysql", "pg.example.com": "pgsql", "lite.example.com": "sqlite", "other.example.com": "sqlite"}[site]
	s.get(site, "/", func(r *http.Response, body string) bool {
		return r.StatusCode == 200 && strings.Contains(body, fmt.Sprintf("driver=%s rows=%d", drv, want))
	})
}

func (s *dbSites) listing(site string) []backup.Listed {
	s.t.Helper()
	var list []backup.Listed
	if err := json.Unmarshal([]byte(s.must("backups", site, "--json")), &list); err != nil {
		s.t.Fatal(err)
	}
	return list
}

// TestEndToEndBackupRestore: write data through the app, back every site
// up, damage the data, restore: the data is back, and so are the site's
// files. A backup with one byte changed is refused. --due takes a
// scheduled backup once. No generated password is in a manifest, a
// listing or a world-readable file.
func TestEndToEndBackupRestore(t *testing.T) {
	s := startDBSites(t, "backups: { server: web, dir: backups }\n",
		map[string]string{"lite.example.com": "backup: { schedule: daily, keep: 2 }\n"})
	sites := []string{"my.example.com", "pg.example.com", "lite.example.com"}
	for _, site := range sites {
		s.rows(site, 1)
		files := filepath.Join(s.webRoot, "sites", site, "files")
		if err := os.WriteFile(filepath.Join(files, "upload.txt"), []byte("uploaded to "+site), 0o640); err != nil {
			t.Fatal(err)
		}
		out := s.must("backup", site)
		if !strings.Contains(out, "Backup ") {
			t.Errorf("backup %s printed %q", site, out)
		}
	}
	backups := filepath.Join(s.stateDir, "backups", "production")
	var ids = map[string]string{}
	for _, site := range sites {
		list := s.listing(site)
		if len(list) != 1 || !list[0].Verified || list[0].Reason != backup.ReasonManual || len(list[0].Pieces) != 2 {
			t.Fatalf("%s: backups %+v", site, list)
		}
		ids[site] = list[0].ID
		st, err := os.Stat(filepath.Join(backups, site, list[0].ID))
		if err != nil || st.Mode().Perm() != 0o700 {
			t.Errorf("backup dir of %s: %v %v", site, st.Mode(), err)
		}
		for _, p := range list[0].Pieces {
			st, err := os.Stat(filepath.Join(backups, site, list[0].ID, p.Name))
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("%s of %s: %v %v", p.Name, site, st.Mode(), err)
			}
		}
	}
	if out := s.must("backups", "my.example.com"); !strings.Contains(out, ids["my.example.com"]) || !strings.Contains(out, "yes") {
		t.Errorf("berth backups:\n%s", out)
	}
	// The dump holds the row written through the app.
	dump, err := os.ReadFile(filepath.Join(backups, "my.example.com", ids["my.example.com"], "db.sql.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if zr, err := gzip.NewReader(bytes.NewReader(dump)); err != nil {
		t.Fatal(err)
	} else if sql, _ := io.ReadAll(zr); !bytes.Contains(sql, []byte("INSERT INTO `visits`")) {
		t.Errorf("the MariaDB dump holds no row:\n%s", sql)
	}

	// Damage: the table is gone, and so is the upload.
	s.my.SQL(t, "DROP TABLE my_example_com.visits")
	psql := exec.Command(filepath.Join(testenv.PostgresBin, "psql"), "-h", s.pg.SocketDir, "-p", strconv.Itoa(s.pg.Port),
		"-U", s.pg.User, "-d", "pg_example_com", "-v", "ON_ERROR_STOP=1", "-c", "DROP TABLE visits")
	if out, err := psql.CombinedOutput(); err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	lite := filepath.Join(s.webRoot, "sites", "lite.example.com", "db", "lite_example_com.sqlite")
	if err := os.Truncate(lite, 0); err != nil {
		t.Fatal(err)
	}
	for _, site := range sites {
		os.Remove(filepath.Join(s.webRoot, "sites", site, "files", "upload.txt"))
		s.rows(site, 1) // a new table with the one row of this request
	}

	// Restore: the row of the backup is back (plus the one this request
	// adds), and so is the upload; a backup of the damaged state was
	// taken first.
	for _, site := range sites {
		out := s.must("restore", site, "--backup", ids[site])
		if !strings.Contains(out, "Restored "+site) {
			t.Errorf("restore %s printed %q", site, out)
		}
		s.rows(site, 2)
		data, err := os.ReadFile(filepath.Join(s.webRoot, "sites", site, "files", "upload.txt"))
		if string(data) != "uploaded to "+site {
			t.Errorf("%s: upload after the restore: %q %v", site, data, err)
		}
		list := s.listing(site)
		if len(list) != 2 || list[1].Reason != backup.ReasonRestore {
			t.Errorf("%s: no backup was taken before the restore: %+v", site, list)
		}
	}
	st, err := os.Stat(lite)
	if err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("the restored SQLite file: %v %v", st, err)
	}

	// One byte changed: the listing says so and restore refuses.
	piece := filepath.Join(backups, "pg.example.com", ids["pg.example.com"], "db.pgdump.gz")
	data, err := os.ReadFile(piece)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x01
	if err := os.WriteFile(piece, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s.rows("pg.example.com", 3)
	out := s.fails("restore", "pg.example.com", "--backup", ids["pg.example.com"])
	if !strings.Contains(out, "does not match its manifest") || !strings.Contains(out, "db.pgdump.gz has SHA-256") {
		t.Errorf("restore of a corrupted backup says:\n%s", out)
	}
	s.rows("pg.example.com", 4) // nothing was restored
	if l := s.listing("pg.example.com"); len(l) != 2 || l[0].Verified || !strings.Contains(l[0].Problem, "SHA-256") {
		t.Errorf("the listing of a corrupted backup: %+v", l)
	}

	// Scheduled backups: --due takes one for the site that has a
	// schedule, and running it again takes none.
	out = s.must("backup", "--due")
	if !strings.Contains(out, "lite.example.com: backup ") {
		t.Errorf("backup --due:\n%s", out)
	}
	out = s.must("backup", "--due")
	if !strings.Contains(out, "lite.example.com: not due") {
		t.Errorf("second backup --due:\n%s", out)
	}
	n := 0
	for _, l := range s.listing("lite.example.com") {
		if l.Reason == backup.ReasonScheduled {
			n++
		}
	}
	if n != 1 {
		t.Errorf("two runs of --due took %d scheduled backups, want 1", n)
	}
	if l := s.listing("my.example.com"); len(l) != 2 {
		t.Errorf("--due backed up a site without a schedule: %+v", l)
	}

	// No generated password in output, listings, manifests or
	// world-readable files.
	secrets := storedSecrets(t, s.stateDir)
	if len(secrets) != 2 {
		t.Fatalf("the state store holds %d secrets, want 2", len(secrets))
	}
	var manifests bytes.Buffer
	var world []string
	filepath.WalkDir(s.base, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if d.Name() == "manifest.json" {
			data, _ := os.ReadFile(p)
			manifests.Write(data)
		}
		if info, err := d.Info(); err == nil && info.Mode().Perm()&0o004 != 0 && info.Size() < 1<<20 {
			world = append(world, p)
		}
		return nil
	})
	if manifests.Len() == 0 {
		t.Fatal("no manifest found")
	}
	for _, secret := range secrets {
		if strings.Contains(s.logs.String(), secret) || strings.Contains(manifests.String(), secret) {
			t.Errorf("a generated password is in berth's output, a listing or a manifest")
		}
		for _, p := range world {
			if data, _ := os.ReadFile(p); bytes.Contains(data, []byte(secret)) {
				t.Errorf("a generated password is in the world-readable file %s", p)
			}
		}
	}
}

// storedSecrets returns every secret of the state store.
func storedSecrets(t *testing.T, stateDir string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(stateDir, "berth.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rs, err := db.Query("SELECT value FROM secrets")
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var v string
		if err := rs.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

// TestEndToEndDeleteSite: sites removed from the repo are backed up before
// anything of them is deleted. While the backup cannot be written (a file
// stands where the backup directory should be), nothing is deleted and
// the run says why; once it can, the backup exists and the database, its
// user and the site's files are gone.
func TestEndToEndDeleteSite(t *testing.T) {
	s := startDBSites(t, "backups: { server: web, dir: backups }\n", nil)
	sites := []string{"my.example.com", "pg.example.com", "lite.example.com"}
	for _, site := range sites {
		s.rows(site, 1)
	}
	lite := filepath.Join(s.webRoot, "sites", "lite.example.com", "db", "lite_example_com.sqlite")
	for _, site := range sites {
		if err := os.Remove(filepath.Join(s.repo, "sites", site+".yaml")); err != nil {
			t.Fatal(err)
		}
	}
	s.write("sites/other.yaml", "kind: Site\nname: other.example.com\nplatform: app\ndb: { server: web }\n")

	code, out, errOut := s.berth("plan")
	s.logs.WriteString(out + errOut)
	if code != 2 { // changes to make
		t.Fatalf("plan: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, site := range sites {
		if !strings.Contains(out, "+ site/"+site+"/backup@web") || !strings.Contains(out, "before deleting "+site) {
			t.Errorf("the plan does not show the backup of %s:\n%s", site, out)
		}
	}
	if !strings.Contains(out, "- site/my.example.com/db:my_example_com@mdb") || !strings.Contains(out, "drop database my_example_com") {
		t.Errorf("the plan does not drop the MariaDB database:\n%s", out)
	}

	// The backup fails: nothing of the sites is deleted.
	backups := filepath.Join(s.stateDir, "backups")
	if err := os.WriteFile(backups, []byte("not a directory\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out = s.fails("apply", "--auto-approve")
	for _, site := range sites {
		if !strings.Contains(out, "nothing of site "+site+" was deleted") {
			t.Errorf("the failed apply does not say %s was kept:\n%s", site, out)
		}
	}
	if got := s.my.SQL(t, "SELECT COUNT(*) FROM my_example_com.visits"); strings.TrimSpace(got) != "1" {
		t.Errorf("MariaDB after the failed backup: %q", got)
	}
	if got := s.pg.SQL(t, "SELECT COUNT(*) FROM pg_database WHERE datname = 'pg_example_com'"); strings.TrimSpace(got) != "1" {
		t.Errorf("PostgreSQL after the failed backup: %q", got)
	}
	if _, err := os.Stat(lite); err != nil {
		t.Errorf("the SQLite database after the failed backup: %v", err)
	}
	for _, site := range sites {
		s.rows(site, 2) // still served: its vhost was not deleted either
	}

	// The backup works: then everything of the sites goes.
	if err := os.Remove(backups); err != nil {
		t.Fatal(err)
	}
	s.must("apply", "--auto-approve")
	for _, site := range sites {
		list := s.listing(site)
		if len(list) != 1 || !list[0].Verified || list[0].Reason != backup.ReasonDelete {
			t.Errorf("%s: backups after the deletion: %+v", site, list)
		}
		if _, err := os.Stat(filepath.Join(s.webRoot, "sites", site)); !os.IsNotExist(err) {
			t.Errorf("the site directory of %s is still there: %v", site, err)
		}
	}
	if got := s.my.SQL(t, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'my_example_com'"); strings.TrimSpace(got) != "0" {
		t.Errorf("the MariaDB database is still there")
	}
	if got := s.my.SQL(t, "SELECT COUNT(*) FROM mysql.user WHERE User = 'my_example_com'"); strings.TrimSpace(got) != "0" {
		t.Errorf("the MariaDB user is still there")
	}
	if got := s.pg.SQL(t, "SELECT (SELECT COUNT(*) FROM pg_database WHERE datname = 'pg_example_com') + (SELECT COUNT(*) FROM pg_roles WHERE rolname = 'u_pg_example_com')"); strings.TrimSpace(got) != "0" {
		t.Errorf("the PostgreSQL database or role is still there")
	}
	if _, err := os.Stat(lite); !os.IsNotExist(err) {
		t.Errorf("the SQLite database is still there: %v", err)
	}
	if out := s.must("apply", "--auto-approve"); !strings.Contains(out, "No changes") {
		t.Errorf("the apply after the deletion is not empty:\n%s", out)
	}
	s.rows("other.example.com", 1) // the site that stays was never blocked
}

// TestEndToEndBackupOverSSH: the backup server is reached over SSH (a
// non-root user with sudo): backups are written there 0600 and verified,
// and a restore reads them back.
func TestEndToEndBackupOverSSH(t *testing.T) {
	s := startDBSites(t, "", nil)
	sshd := testenv.SSHD(t)
	h, p, _ := net.SplitHostPort(sshd.Addr)
	s.flags = []string{"--ssh-key", sshd.KeyFile, "--known-hosts", sshd.KnownHostsFile}
	root := filepath.Join(s.base, "remote-backups")
	s.write("servers/bak.yaml", fmt.Sprintf("kind: Server\nname: bak\naddress: %s\nssh: { user: %s, port: %s, sudo: true }\n", h, sshd.User, p))
	s.write("berth.yaml", fmt.Sprintf("environments:\n  production: { branch: main }\nbackups: { server: bak, dir: %s }\n", root))
	for _, site := range []string{"my.example.com", "lite.example.com"} {
		s.rows(site, 1)
		s.must("backup", site)
		list := s.listing(site)
		if len(list) != 1 || !list[0].Verified {
			t.Fatalf("%s: backups over ssh: %+v", site, list)
		}
		for _, piece := range list[0].Pieces {
			st, err := os.Stat(filepath.Join(root, "production", site, list[0].ID, piece.Name))
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("%s: %v %v", piece.Name, st, err)
			}
		}
		s.rows(site, 2)
		s.must("restore", site, "--backup", list[0].ID)
		s.rows(site, 2) // the backup's row and this request's
	}
}
