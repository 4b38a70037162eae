package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/daemon"
	"github.com/berthhq/berth/internal/testenv"
)

// moveFixture is a sites repo with two web servers, web1 and web2: two
// network-namespace hosts with their own sshd and nginx, each with its
// own PHP-FPM (started in the test's namespace: it listens on unix
// sockets under its own directory), which berth manages over SSH.
// Platform app runs on web1, app2 on web2; site a.example.com starts on
// app.
type moveFixture struct {
	*webFixture
	nodes []*testenv.NetNginx
	roots []string // web roots of web1, web2
	base  string   // the repo, state and backups directories' parent
	// dbs are the MariaDBs of db1, db2... (newMoveFixtureDB).
	dbs []*testenv.MariaDBServer
	// siteSays is what the site answers on web1 before the move (loop).
	siteSays string
}

func newMoveFixture(t *testing.T) *moveFixture {
	t.Helper()
	return newMoveFixtureDB(t, 0)
}

// newMoveFixtureDB is newMoveFixture with dbs database servers besides:
// db1, db2... are namespace hosts of their own, each with sshd and a
// MariaDB on its address, and PHP-FPM runs in each web server's
// namespace, so that PHP reaches them from the web server's address.
func newMoveFixtureDB(t *testing.T, dbs int) *moveFixture {
	t.Helper()
	return newMoveFixtureN(t, 2, dbs)
}

// newMoveFixtureN is newMoveFixtureDB with webs web servers: web1,
// web2, web3...
func newMoveFixtureN(t *testing.T, webs, dbs int) *moveFixture {
	t.Helper()
	hosts := testenv.Hosts(t, webs+dbs)
	base := t.TempDir()
	f := &webFixture{t: t, repo: filepath.Join(base, "repo"), stateDir: filepath.Join(base, "state")}
	m := &moveFixture{webFixture: f, base: base, siteSays: "app1 says: uploaded on web1"}
	var known bytes.Buffer
	for _, h := range hosts {
		data, err := os.ReadFile(h.SSH.KnownHostsFile)
		if err != nil {
			t.Fatal(err)
		}
		known.Write(data)
		f.flags = append(f.flags, "--ssh-key", h.SSH.KeyFile)
	}
	kh := filepath.Join(base, "known_hosts")
	if err := os.WriteFile(kh, known.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	f.flags = append(f.flags, "--known-hosts", kh)
	for i, h := range hosts[webs:] {
		my := testenv.MariaDBOn(t, h)
		m.dbs = append(m.dbs, my)
		f.write(fmt.Sprintf("servers/db%d.yaml", i+1), fmt.Sprintf(`kind: Server
name: db%d
address: %s
ssh: { user: %s, sudo: true }
services:
  db: { type: mariadb, socket: %s, port: %d }
`, i+1, h.IP, h.SSH.User, my.Socket, my.Port))
	}
	for i, h := range hosts[:webs] {
		n := testenv.NginxOn(t, h)
		var php *testenv.PHPFPMServer
		if dbs > 0 {
			php = testenv.PHPFPMOn(t, h)
		} else {
			php = testenv.PHPFPM(t)
		}
		root := filepath.Join(n.Prefix, "www")
		m.nodes = append(m.nodes, n)
		m.roots = append(m.roots, root)
		f.write(fmt.Sprintf("servers/web%d.yaml", i+1), fmt.Sprintf(`kind: Server
name: web%d
address: %s
ssh: { user: %s, sudo: true }
services:
  http:
    type: nginx
    conf_dir: %s
    web_root: %s
    user: nobody
    group: nogroup
    test: %s
    pid_file: %s
%s`, i+1, h.IP, h.SSH.User, n.SitesDir, root, flow(n.TestArgv), n.PIDFile, phpService(t, php)))
	}
	f.write("berth.yaml", "environments:\n  production: { branch: main }\nbackups: { dir: "+filepath.Join(base, "backups")+" }\n")
	// The app shows the file the site uploaded, from its files directory
	// (beside the settings file BERTH_SETTINGS names).
	app := func(name, extra string) string {
		return "<?php\n" + extra + "echo '" + name + " says: ', @file_get_contents(dirname(getenv('BERTH_SETTINGS')) . '/files/upload.txt');\n"
	}
	f.write("platforms/app.yaml", "kind: Platform\nname: app\ntype: php\nisolation: false\nsource: { path: code1 }\nservers: [web1]\n")
	f.write("platforms/app2.yaml", "kind: Platform\nname: app2\ntype: php\nisolation: false\nsource: { path: code2 }\nservers: [web2]\n")
	f.write("code1/index.php", app("app1", ""))
	f.write("code2/index.php", app("app2", "http_response_code(500);\n"))
	m.site("app")
	return m
}

// phpService makes php, a php-fpm of the test, include the pools berth
// writes, and returns the php service of a Server (YAML, indented as
// under services:) that writes them there and reloads it.
func phpService(t *testing.T, php *testenv.PHPFPMServer) string {
	t.Helper()
	pools, run := filepath.Join(php.Dir, "pool.d"), filepath.Join(php.Dir, "sockets")
	for _, d := range []string{pools, run} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(php.Dir, "php-fpm.conf")
	cf, err := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(cf, "include = %s/*.conf\n", pools)
	if err := cf.Close(); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`  php:
    type: php-fpm
    pool_dir: %s
    run_dir: %s
    test: ["php-fpm{version}", -t, -y, %s]
    reload: [kill, -USR2, "%d"]
`, pools, run, conf, php.Proc.Cmd.Process.Pid)
}

// site places a.example.com on platform.
func (m *moveFixture) site(platform string) {
	m.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: "+platform+"\n")
}

// get asks web server i (1-based) for / of a.example.com.
func (m *moveFixture) get(i int) (int, http.Header, string) {
	m.t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	req, _ := http.NewRequest("GET", "http://"+m.nodes[i-1].Addr+"/", nil)
	req.Host = "a.example.com"
	r, err := client.Do(req)
	if err != nil {
		return 0, nil, err.Error()
	}
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	return r.StatusCode, r.Header, string(body)
}

// answers waits (bounded: a reload takes effect shortly after its
// signal) until web server i answers status with a body containing want.
func (m *moveFixture) answers(i, status int, want string) {
	m.t.Helper()
	testenv.EventuallyWith(m.t, fmt.Sprintf("web%d answers %d %q", i, status, want), 10*time.Second, func() (bool, string) {
		code, _, body := m.get(i)
		return code == status && strings.Contains(body, want), fmt.Sprintf("%d %q", code, body)
	})
}

// loop asks web server i for the site until stop is called, and returns
// every answer that is neither the site (200, app1's page), nor its
// maintenance page (503 with Retry-After), nor its disabled page (503).
func (m *moveFixture) loop(i int) (stop func() []string) {
	done := make(chan struct{})
	out := make(chan []string)
	go func() {
		var bad []string
		kinds := map[string]int{}
		for {
			select {
			case <-done:
				m.t.Logf("web%d answered during the move: %v", i, kinds)
				out <- bad
				return
			default:
			}
			code, h, body := m.get(i)
			switch {
			case code == 200 && strings.Contains(body, m.siteSays):
				kinds["site"]++
			case code == 503 && strings.Contains(body, "is under maintenance") && h.Get("Retry-After") != "":
				kinds["maintenance"]++
			case code == 503 && strings.Contains(body, "is disabled"):
				kinds["disabled"]++
			default:
				bad = append(bad, fmt.Sprintf("%d %q", code, body))
			}
		}
	}()
	return func() []string {
		close(done)
		return <-out
	}
}

// TestMigrateSite: a PHP site with an uploaded file moves from web1 (app)
// to web2 (app2). The plan shows one migration with its steps, never a
// deletion on web1. A target that fails its health check (app2 answers
// 500) is reverted: web1 serves as before, web2 does not serve the site,
// the run fails saying why. Once app2 is fixed the move goes through:
// web2 serves the site with its file, web1 shows it disabled and keeps
// its files.
func TestMigrateSite(t *testing.T) {
	m := newMoveFixture(t)
	m.mustApply()
	upload := filepath.Join(m.roots[0], "sites", "a.example.com", "files", "upload.txt")
	if err := os.WriteFile(upload, []byte("uploaded on web1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m.answers(1, 200, "app1 says: uploaded on web1")

	m.site("app2")
	code, out, errOut := m.berth("plan")
	if code != 0 && code != 2 {
		t.Fatalf("plan: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "» a.example.com: web1/app → web2/app2  (planned)") || !strings.Contains(out, "health check on web2 by Host header") {
		t.Errorf("the plan does not show the migration with its steps:\n%s", out)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "- site/a.example.com/") {
			t.Errorf("the plan deletes the source: %s\n%s", l, out)
		}
	}

	t.Logf("plan:\n%s", out)
	// app2 answers 500: reverted.
	code, out, errOut = m.berth("apply", "--auto-approve")
	if code == 0 || !strings.Contains(out+errOut, "reverted") || !strings.Contains(out+errOut, "answered 500") {
		t.Fatalf("apply with a failing target: exit %d, want a failure saying it was reverted because of the 500\n%s\n%s", code, out, errOut)
	}
	t.Logf("failed apply:\n%s\n%s", out, errOut)
	m.answers(1, 200, "app1 says: uploaded on web1")
	if code, _, body := m.get(2); code != 404 {
		t.Errorf("web2 after the revert: %d %q, want the default server's 404", code, body)
	}

	// app2 fixed: moved.
	m.write("code2/index.php", "<?php\necho 'app2 says: ', @file_get_contents(dirname(getenv('BERTH_SETTINGS')) . '/files/upload.txt');\n")
	stop := m.loop(1)
	t.Logf("apply:\n%s", m.mustApply())
	seen := stop()
	for _, a := range seen {
		t.Errorf("during the move web1 answered %s", a)
	}
	m.answers(2, 200, "app2 says: uploaded on web1")
	m.answers(1, 503, "is disabled")
	if data, err := os.ReadFile(upload); err != nil || string(data) != "uploaded on web1\n" {
		t.Errorf("web1's files after the move: %q, %v", data, err)
	}
	if _, err := os.Stat(filepath.Join(m.roots[1], "sites", "a.example.com", "files", "upload.txt")); err != nil {
		t.Errorf("the file was not copied to web2: %v", err)
	}
	// The source is kept (disabled) during the grace period: the next
	// plan changes nothing and shows the migration done.
	code, out, errOut = m.berth("plan")
	if code != 0 || !strings.Contains(out, "» a.example.com: web1/app → web2/app2  (done ") || !strings.Contains(out, "kept disabled until") {
		t.Errorf("plan after the move: exit %d\n%s\n%s", code, out, errOut)
	}

	// The grace period is over: web1's copy is backed up, then removed.
	migrationClock = func() time.Time { return time.Now().Add(25 * time.Hour) }
	t.Cleanup(func() { migrationClock = nil })
	code, out, errOut = m.berth("plan")
	if code != 2 || !strings.Contains(out, "+ site/a.example.com/backup@web1") || !strings.Contains(out, "- site/a.example.com/dir@web1") ||
		!strings.Contains(out, "the grace period is over") {
		t.Errorf("plan after the grace period: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Logf("apply after the grace period:\n%s", m.mustApply())
	if _, err := os.Stat(filepath.Join(m.roots[0], "sites", "a.example.com")); !os.IsNotExist(err) {
		t.Errorf("web1's copy after the grace period: %v", err)
	}
	backups, _ := filepath.Glob(filepath.Join(m.base, "backups", "production", "a.example.com", "*", "*"))
	if len(backups) == 0 {
		t.Errorf("no backup of the site in %s", filepath.Join(m.base, "backups"))
	}
	m.answers(2, 200, "app2 says: uploaded on web1")
	if code, out, errOut := m.berth("plan"); code != 0 || strings.Contains(out, "»") {
		t.Errorf("plan once the source is removed: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestMigrateSiteCrash: berth apply killed (SIGKILL) at a step of a
// migration — the target reloaded before the step ran, the files copied,
// the maintenance page up, the switch recorded — leaves the site served
// (or its maintenance page); the next apply finishes the move with the
// files intact, and then there is nothing left to do.
func TestMigrateSiteCrash(t *testing.T) {
	for _, point := range []string{"after-reload", "mid-migrate:copied", "mid-migrate:maintenance", "mid-migrate:switched"} {
		t.Run(point, func(t *testing.T) {
			m := newMoveFixture(t)
			m.write("code2/index.php", "<?php\necho 'app2 says: ', @file_get_contents(dirname(getenv('BERTH_SETTINGS')) . '/files/upload.txt');\n")
			m.mustApply()
			files1 := filepath.Join(m.roots[0], "sites", "a.example.com", "files")
			for rel, content := range map[string]string{"upload.txt": "uploaded on web1\n", "img/a.png": "png\n"} {
				p := filepath.Join(files1, rel)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			before := filesTree(t, files1)
			m.site("app2")
			killed, out := killedAt(point, append([]string{"apply", "--auto-approve", "--env", "production", "--repo", m.repo,
				"--state-dir", m.stateDir, "--no-color"}, m.flags...)...)
			if !killed {
				t.Fatalf("apply was not killed at %s:\n%s", point, out)
			}
			code, _, body := m.get(1)
			if !(code == 200 && strings.Contains(body, "app1 says: uploaded on web1") || code == 503) {
				t.Errorf("web1 after the kill: %d %q, want the site or its maintenance or disabled page", code, body)
			}
			m.mustApply()
			m.answers(2, 200, "app2 says: uploaded on web1")
			m.answers(1, 503, "is disabled")
			if got := filesTree(t, filepath.Join(m.roots[1], "sites", "a.example.com", "files")); !slices.Equal(got, before) {
				t.Errorf("web2's files %v, want %v", got, before)
			}
			if got := filesTree(t, files1); !slices.Equal(got, before) {
				t.Errorf("web1's files %v, want %v", got, before)
			}
			if code, out, errOut := m.berth("plan"); code != 0 {
				t.Errorf("plan after the rerun: exit %d\n%s\n%s", code, out, errOut)
			}
		})
	}
}

// TestMigrateSiteWithDatabase: a site on web1 + db1, build 1 of its app,
// moves to web2 + db2 with build 2, whose update step changes the schema
// (build 2 answers 500 without it). The plan shows one migration with the
// database copy and the update step; while it runs web1 answers only
// with the site or its maintenance or disabled page; after it web2
// serves build 2 with every row written on db1, the update step ran
// once, and db1 keeps its database until the grace period is over, when
// it is removed after its backup.
func TestMigrateSiteWithDatabase(t *testing.T) {
	m := newMoveFixtureDB(t, 2)
	code := func(dir string) {
		for _, name := range []string{"index.php", "update.php"} {
			if data, err := os.ReadFile(filepath.Join("testdata/moveapp", dir, name)); err == nil {
				m.write("code"+strings.TrimPrefix(dir, "v")+"/"+name, string(data))
			}
		}
	}
	code("v1")
	code("v2")
	m.write("platforms/app2.yaml", "kind: Platform\nname: app2\ntype: php\nisolation: false\nsource: { path: code2 }\nservers: [web2]\nupdate: [php, update.php]\n")
	m.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: app\ndb: { server: db1 }\n")
	m.mustApply()
	m.siteSays = "v1 rows="
	for range 5 {
		m.answers(1, 200, "v1 rows=")
	}
	db1, db2 := m.dbs[0], m.dbs[1]
	rows := func(db *testenv.MariaDBServer, query string) string {
		t.Helper()
		return strings.TrimSpace(db.SQL(t, query))
	}

	m.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: app2\ndb: { server: db2 }\n")
	code0, out, errOut := m.berth("plan")
	if code0 != 2 || !strings.Contains(out, "» a.example.com: web1/app, db1 → web2/app2, db2  (planned)") ||
		!strings.Contains(out, "fresh dump of the database, loaded on the target: a_example_com on db1 → a_example_com on db2") ||
		!strings.Contains(out, "update step on web2: php update.php") {
		t.Fatalf("plan: exit %d, want the migration with its database and update steps\n%s\n%s", code0, out, errOut)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "- site/a.example.com/") {
			t.Errorf("the plan deletes the source: %s", l)
		}
	}

	stop := m.loop(1)
	t.Logf("apply:\n%s", m.mustApply())
	for _, a := range stop() {
		t.Errorf("during the move web1 answered %s", a)
	}
	// Every row written on db1 is on db2, the update step ran once, and
	// web2 serves build 2.
	n1 := rows(db1, "SELECT COUNT(*) FROM a_example_com.visits")
	sum := "SELECT COUNT(*), SUM(CRC32(CONCAT(id, build))) FROM a_example_com.visits WHERE id <= " + n1
	if got, want := rows(db2, sum), rows(db1, sum); got != want || n1 == "0" {
		t.Errorf("db2 holds %q of db1's %s rows, want %q", got, n1, want)
	}
	m.answers(2, 200, "updates=1")
	m.answers(1, 503, "is disabled")
	if got := rows(db2, "SELECT COUNT(*) FROM a_example_com.updates"); got != "1" {
		t.Errorf("the update step ran %s times on db2's data, want once", got)
	}
	if got := rows(db1, "SHOW TABLES FROM a_example_com"); got != "visits" {
		t.Errorf("db1 after the move holds tables %q, want its own visits only (kept, untouched)", got)
	}
	if code, out, errOut := m.berth("plan"); code != 0 || !strings.Contains(out, "(done ") {
		t.Errorf("plan after the move: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := rows(db2, "SELECT COUNT(*) FROM a_example_com.updates"); got != "1" {
		t.Errorf("the update step ran again: %s", got)
	}

	// The grace period is over: db1's database is backed up, then dropped.
	migrationClock = func() time.Time { return time.Now().Add(25 * time.Hour) }
	t.Cleanup(func() { migrationClock = nil })
	code0, out, errOut = m.berth("plan")
	if code0 != 2 || !strings.Contains(out, "- site/a.example.com/db:a_example_com@db1") {
		t.Errorf("plan after the grace period: exit %d\n%s\n%s", code0, out, errOut)
	}
	t.Logf("apply after the grace period:\n%s", m.mustApply())
	if got := rows(db1, "SHOW DATABASES LIKE 'a_example_com'"); got != "" {
		t.Errorf("db1 still holds the database after the grace period")
	}
	dumps, _ := filepath.Glob(filepath.Join(m.base, "backups", "production", "a.example.com", "*", "db.sql*"))
	if len(dumps) == 0 {
		t.Errorf("no backup of the database in %s", filepath.Join(m.base, "backups"))
	}
	m.answers(2, 200, "v2 rows=")
}

// TestRenameSite: a site on web1 + db1 renamed with renamed_from is one
// migration on web1: the new name serves every row written under the old
// one (its database copied to the new name's), the old name answers with
// a 301 to the new one; after the grace period the old copy is removed
// after its backup and the new name's vhost keeps redirecting the old.
func TestRenameSite(t *testing.T) {
	m := newMoveFixtureDB(t, 1)
	data, err := os.ReadFile("testdata/moveapp/v1/index.php")
	if err != nil {
		t.Fatal(err)
	}
	m.write("code1/index.php", string(data))
	m.write("sites/a.yaml", "kind: Site\nname: old.example.com\nplatform: app\ndb: { server: db1 }\n")
	m.mustApply()
	get := func(name string) (int, http.Header, string) {
		t.Helper()
		client := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		req, _ := http.NewRequest("GET", "http://"+m.nodes[0].Addr+"/page?x=1", nil)
		req.Host = name
		r, err := client.Do(req)
		if err != nil {
			return 0, nil, err.Error()
		}
		defer r.Body.Close()
		body, _ := io.ReadAll(r.Body)
		return r.StatusCode, r.Header, string(body)
	}
	answers := func(name string, ok func(int, http.Header, string) bool) {
		t.Helper()
		testenv.EventuallyWith(t, name+" answers", 10*time.Second, func() (bool, string) {
			code, h, body := get(name)
			return ok(code, h, body), fmt.Sprintf("%d %v %q", code, h, body)
		})
	}
	for range 3 {
		answers("old.example.com", func(code int, _ http.Header, body string) bool {
			return code == 200 && strings.Contains(body, "v1 rows=")
		})
	}
	db := m.dbs[0]
	before := strings.TrimSpace(db.SQL(t, "SELECT COUNT(*) FROM old_example_com.visits"))

	m.write("sites/a.yaml", "kind: Site\nname: new.example.com\nrenamed_from: old.example.com\nplatform: app\ndb: { server: db1 }\n")
	code, out, errOut := m.berth("plan")
	if code != 2 || !strings.Contains(out, "» new.example.com (renamed from old.example.com): web1/app → web1/app  (planned)") ||
		!strings.Contains(out, "old_example_com on db1 → new_example_com on db1") {
		t.Fatalf("plan: exit %d, want the rename\n%s\n%s", code, out, errOut)
	}
	t.Logf("apply:\n%s", m.mustApply())
	moved := func(code int, h http.Header, _ string) bool {
		return code == 301 && h.Get("Location") == "http://new.example.com/page?x=1"
	}
	answers("old.example.com", moved)
	want, _ := strconv.Atoi(before)
	answers("new.example.com", func(code int, _ http.Header, body string) bool {
		var n int
		fmt.Sscanf(strings.TrimPrefix(strings.TrimSpace(body), "v1 rows="), "%d", &n)
		return code == 200 && n > want
	})
	if code, out, errOut := m.berth("plan"); code != 0 {
		t.Errorf("plan after the rename: exit %d\n%s\n%s", code, out, errOut)
	}

	migrationClock = func() time.Time { return time.Now().Add(25 * time.Hour) }
	t.Cleanup(func() { migrationClock = nil })
	t.Logf("apply after the grace period:\n%s", m.mustApply())
	if got := strings.TrimSpace(db.SQL(t, "SHOW DATABASES LIKE 'old_example_com'")); got != "" {
		t.Errorf("the old database is still there after the grace period")
	}
	if _, err := os.Stat(filepath.Join(m.roots[0], "sites", "old.example.com")); !os.IsNotExist(err) {
		t.Errorf("the old site directory after the grace period: %v", err)
	}
	answers("old.example.com", moved)
	answers("new.example.com", func(code int, _ http.Header, body string) bool {
		return code == 200 && strings.Contains(body, "v1 rows=")
	})
	if code, out, errOut := m.berth("plan"); code != 0 || strings.Contains(out, "»") {
		t.Errorf("plan once the old copy is removed: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestMigrateSiteBack: the commit of a finished migration reverted within
// its grace period moves the site back to web1 as a migration, with the
// files written on web2 since the switch; web2 is then disabled.
func TestMigrateSiteBack(t *testing.T) {
	m := newMoveFixture(t)
	m.write("code2/index.php", "<?php\necho 'app2 says: ', @file_get_contents(dirname(getenv('BERTH_SETTINGS')) . '/files/upload.txt');\n")
	m.mustApply()
	if err := os.WriteFile(filepath.Join(m.roots[0], "sites", "a.example.com", "files", "upload.txt"), []byte("uploaded on web1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m.site("app2")
	m.mustApply()
	m.answers(2, 200, "app2 says: uploaded on web1")
	// Written on web2 after the switch.
	if err := os.WriteFile(filepath.Join(m.roots[1], "sites", "a.example.com", "files", "upload.txt"), []byte("written on web2\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	m.site("app") // the commit reverted
	code, out, errOut := m.berth("plan")
	if code != 2 || !strings.Contains(out, "» a.example.com: web2/app2 → web1/app  (planned)") {
		t.Fatalf("plan of the revert: exit %d, want the move back\n%s\n%s", code, out, errOut)
	}
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "- site/a.example.com/") && !strings.HasPrefix(l, "- site/a.example.com/migrate-start@web1 ") {
			t.Errorf("the plan deletes the site on web2: %s", l)
		}
	}
	t.Logf("apply:\n%s", m.mustApply())
	m.answers(1, 200, "app1 says: written on web2")
	m.answers(2, 503, "is disabled")
	if code, out, errOut := m.berth("plan"); code != 0 || !strings.Contains(out, "» a.example.com: web2/app2 → web1/app  (done ") {
		t.Errorf("plan after the move back: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestMigrateSiteWithDatabaseCrash: berth apply killed (SIGKILL) while a
// site moves from web1 + db1 to web2 + db2 — in the maintenance window,
// after the database was copied, after the switch — leaves the site
// served or its maintenance page; the rerun finishes the move with every
// row of db1 on db2 (count and checksum) and the files intact.
func TestMigrateSiteWithDatabaseCrash(t *testing.T) {
	for _, point := range []string{"mid-migrate:maintenance", "mid-migrate:database", "mid-migrate:switched"} {
		t.Run(point, func(t *testing.T) {
			m := newMoveFixtureDB(t, 2)
			data, err := os.ReadFile("testdata/moveapp/v1/index.php")
			if err != nil {
				t.Fatal(err)
			}
			m.write("code1/index.php", string(data))
			m.write("code2/index.php", string(data))
			m.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: app\ndb: { server: db1 }\n")
			m.mustApply()
			files1 := filepath.Join(m.roots[0], "sites", "a.example.com", "files")
			if err := os.WriteFile(filepath.Join(files1, "upload.txt"), []byte("uploaded on web1\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			m.siteSays = "v1 rows="
			for range 3 {
				m.answers(1, 200, "v1 rows=")
			}
			before := filesTree(t, files1)
			m.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: app2\ndb: { server: db2 }\n")
			killed, out := killedAt(point, append([]string{"apply", "--auto-approve", "--env", "production", "--repo", m.repo,
				"--state-dir", m.stateDir, "--no-color"}, m.flags...)...)
			if !killed {
				t.Fatalf("apply was not killed at %s:\n%s", point, out)
			}
			if code, _, body := m.get(1); !(code == 200 && strings.Contains(body, "v1 rows=") || code == 503) {
				t.Errorf("web1 after the kill: %d %q, want the site or its maintenance or disabled page", code, body)
			}
			m.mustApply()
			m.answers(2, 200, "v1 rows=")
			m.answers(1, 503, "is disabled")
			db1, db2 := m.dbs[0], m.dbs[1]
			n1 := strings.TrimSpace(db1.SQL(t, "SELECT COUNT(*) FROM a_example_com.visits"))
			sum := "SELECT COUNT(*), SUM(CRC32(CONCAT(id, build))) FROM a_example_com.visits WHERE id <= " + n1
			if got, want := strings.TrimSpace(db2.SQL(t, sum)), strings.TrimSpace(db1.SQL(t, sum)); got != want || n1 == "0" {
				t.Errorf("db2 holds %q of db1's %s rows, want %q", got, n1, want)
			}
			if got := filesTree(t, filepath.Join(m.roots[1], "sites", "a.example.com", "files")); !slices.Equal(got, before) {
				t.Errorf("web2's files %v, want %v", got, before)
			}
			if code, out, errOut := m.berth("plan"); code != 0 {
				t.Errorf("plan after the rerun: exit %d\n%s\n%s", code, out, errOut)
			}
		})
	}
}

// TestRollbackMigration: a site moved from web1 + db1 to web2 + db2
// goes back with berth rollback-migration, without a commit: the rows
// written on db2 since the move are on db1 (count and checksum), web1
// serves, web2 shows the site disabled; the plan after it changes
// nothing and says the site is held. --release lets the revision move it
// forward again; reverting the commit instead ends the hold.
func TestRollbackMigration(t *testing.T) {
	m := newMoveFixtureDB(t, 2)
	data, err := os.ReadFile("testdata/moveapp/v1/index.php")
	if err != nil {
		t.Fatal(err)
	}
	m.write("code1/index.php", string(data))
	m.write("code2/index.php", string(data))
	m.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: app\ndb: { server: db1 }\n")
	m.mustApply()
	m.siteSays = "v1 rows="
	m.answers(1, 200, "v1 rows=")
	m.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: app2\ndb: { server: db2 }\n")
	m.mustApply()
	m.answers(1, 503, "is disabled")
	for range 3 { // written on web2 after the switch
		m.answers(2, 200, "v1 rows=")
	}
	db1, db2 := m.dbs[0], m.dbs[1]
	// The rows up to db2's last (the health check on web1 writes more).
	n2 := strings.TrimSpace(db2.SQL(t, "SELECT COUNT(*) FROM a_example_com.visits"))
	sum := "SELECT COUNT(*), SUM(CRC32(CONCAT(id, build))) FROM a_example_com.visits WHERE id <= " + n2
	onDB2 := strings.TrimSpace(db2.SQL(t, sum))

	code, out, errOut := m.berth("rollback-migration", "a.example.com", "--auto-approve")
	if code != 0 || !strings.Contains(out, "» a.example.com: web2/app2, db2 → web1/app, db1  (planned)") {
		t.Fatalf("rollback-migration: exit %d, want the move back applied\n%s\n%s", code, out, errOut)
	}
	if got := strings.TrimSpace(db1.SQL(t, sum)); got != onDB2 {
		t.Errorf("db1 after the rollback holds %q, want db2's %q", got, onDB2)
	}
	m.answers(1, 200, "v1 rows=")
	m.answers(2, 503, "is disabled")
	code, out, errOut = m.berth("plan")
	if code != 0 || !strings.Contains(out, "site a.example.com is held on platform app, database on db1 by berth rollback-migration") {
		t.Errorf("plan after the rollback: exit %d, want no changes and the hold's warning\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := m.berth("rollback-migration", "a.example.com", "--auto-approve"); code != exitUsage || !strings.Contains(errOut, "already held") {
		t.Errorf("a second rollback: exit %d\n%s\n%s", code, out, errOut)
	}

	// --release: the revision moves it to web2 again.
	if code, out, errOut := m.berth("rollback-migration", "--release", "a.example.com"); code != 0 {
		t.Fatalf("release: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := m.berth("plan"); code != 2 || !strings.Contains(out, "» a.example.com: web1/app, db1 → web2/app2, db2  (planned)") {
		t.Errorf("plan after the release: exit %d, want the move forward\n%s\n%s", code, out, errOut)
	}

	// Moved forward, held back again, then the commit reverted: the hold
	// ends with it.
	m.mustApply()
	m.answers(2, 200, "v1 rows=")
	if code, out, errOut := m.berth("rollback-migration", "a.example.com", "--auto-approve"); code != 0 {
		t.Fatalf("hold again: exit %d\n%s\n%s", code, out, errOut)
	}
	m.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: app\ndb: { server: db1 }\n")
	if out := m.mustApply(); !strings.Contains(out, "site a.example.com is no longer held on platform app by berth rollback-migration") {
		t.Errorf("apply of the revert does not end the hold:\n%s", out)
	}
	if code, out, errOut := m.berth("plan"); code != 0 || strings.Contains(out, "held on") {
		t.Errorf("plan after the revert: exit %d\n%s\n%s", code, out, errOut)
	}
	m.answers(1, 200, "v1 rows=")

	// Moved to web2 again, then back through berth serve's API.
	m.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: app2\ndb: { server: db2 }\n")
	m.mustApply()
	m.answers(1, 503, "is disabled")
	token := filepath.Join(t.TempDir(), "operator.token")
	if err := os.WriteFile(token, []byte("operator-token-for-tests\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, append([]string{"--repo", m.repo, "--env", "production", "--state-dir", m.stateDir, "--poll", "0", "--drift-interval", "0",
		"--health-interval", "0", "--schedule-interval", "0", "--api-token-file", token}, m.flags...)...)
	p.until("production synced", func(st map[string]daemon.EnvStatus) bool { return st["production"].Phase == daemon.PhaseSynced })
	req, _ := http.NewRequest("POST", p.api+"/api/v1/environments/production/sites/a.example.com/rollback-migration", nil)
	req.Header.Set("Authorization", "Bearer operator-token-for-tests")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST rollback-migration: %s", resp.Status)
	}
	testenv.EventuallyWith(t, "web1 serves the site again", 60*time.Second, func() (bool, string) {
		code, _, body := m.get(1)
		return code == 200 && strings.Contains(body, "v1 rows="), fmt.Sprintf("%d %q", code, body)
	})
	m.answers(2, 503, "is disabled")
	if !slices.ContainsFunc(p.runs("production"), func(r runJSONView) bool {
		return r.Trigger == "rollback-migration a.example.com" && r.Result == "job-done"
	}) {
		t.Errorf("no job rollback-migration a.example.com in the runs: %+v", p.runs("production"))
	}
	p.stop()
}
