package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/berthhq/berth/internal/testenv"
)

// debianWordPress is where Debian's wordpress package installs WordPress.
const debianWordPress = "/usr/share/wordpress"

// TestEndToEndWordPress: Debian's wordpress package as a `wordpress`
// platform (its files copied into the sites repo, with a wp-config.php
// that reads berth's settings file) on nginx + php-fpm + MariaDB. The
// site installs through its install step (wp_install, no wp-cli) and
// serves its front page; a second apply runs nothing; with the marker
// removed and the vhost edited, `berth verify` runs the install again,
// which leaves the installed site as it is, and restores the vhost. The admin password (and every other generated secret) is in
// no plan, log, run record or world-readable file.
func TestEndToEndWordPress(t *testing.T) {
	if _, err := os.Stat(filepath.Join(debianWordPress, "wp-load.php")); err != nil {
		t.Fatalf("Debian's wordpress package is not installed (scripts/install-deps installs it): %v", err)
	}
	w := newPHPWeb(t)
	base, n, php, f := w.base, w.nginx, w.php, w.webFixture
	my := testenv.MariaDB(t)

	f.write("berth.yaml", "environments:\n  production: { branch: main }\n")
	f.write("servers/web.yaml", w.webServer("")+fmt.Sprintf(`---
kind: Server
name: mdb
address: local
services:
  db: { type: mariadb, socket: %s }
`, my.Socket))

	// The platform: Debian's WordPress, links resolved (they point into
	// /usr/share/javascript and /etc/wordpress), with berth's wp-config.php
	// instead of Debian's and a theme.
	code := filepath.Join(f.repo, "wordpress")
	if err := os.MkdirAll(f.repo, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-rL", debianWordPress, code).CombinedOutput(); err != nil {
		t.Fatalf("copy %s: %v\n%s", debianWordPress, err, out)
	}
	for src, dst := range map[string]string{"wp-config.php": "wp-config.php",
		"berth-test/style.css": "wp-content/themes/berth-test/style.css", "berth-test/index.php": "wp-content/themes/berth-test/index.php"} {
		data, err := os.ReadFile(filepath.Join("testdata/wordpress", src))
		if err != nil {
			t.Fatal(err)
		}
		f.write(filepath.Join("wordpress", dst), string(data))
	}
	f.write("platforms/wp.yaml", "kind: Platform\nname: wp\ntype: wordpress\nsource: { path: wordpress }\nservers: [web]\n")
	f.write("sites/blog.yaml", "kind: Site\nname: blog.example.com\nplatform: wp\ndb: { server: mdb }\n")

	var logs bytes.Buffer // everything berth printed
	berth := func(args ...string) string {
		t.Helper()
		code, out, errOut := f.berth(args...)
		logs.WriteString(out + errOut)
		if code != 0 && !(code == 2 && args[0] == "plan") {
			t.Fatalf("berth %s: exit %d\n%s\n%s", strings.Join(args, " "), code, out, errOut)
		}
		return out + errOut
	}
	out := berth("plan")
	if !strings.Contains(out, "site/blog.example.com/install@web") || !strings.Contains(out, "wp_install()") {
		t.Fatalf("the plan does not show the install:\n%s", out)
	}
	out = berth("apply", "--auto-approve")
	if !strings.Contains(out, "WordPress installed: blog.example.com, admin user admin") {
		t.Fatalf("the first apply does not report the install:\n%s", out)
	}
	marker := filepath.Join(f.webRoot, "sites", "blog.example.com", ".berth-installed")
	if st, err := os.Stat(marker); err != nil || st.Mode().Perm() != 0o640 {
		t.Fatalf("install marker: %v %v", st, err)
	}

	frontPage := func(r *http.Response, body string) bool {
		return r.StatusCode == 200 && strings.Contains(body, "<title>blog.example.com</title>") && strings.Contains(body, "Hello world!")
	}
	f.get("blog.example.com", "/", frontPage)
	if got := my.SQL(t, "SELECT user_login FROM blog_example_com.wp_users"); strings.TrimSpace(got) != "admin" {
		t.Errorf("wp_users holds %q", got)
	}

	// Installed: a second apply runs nothing.
	out = berth("apply", "--auto-approve")
	if !strings.Contains(out, "No changes") || strings.Contains(out, "install@web") {
		t.Errorf("second apply is not empty:\n%s", out)
	}

	// The marker removed and the vhost edited by hand: berth verify runs
	// the install again, which leaves the site as it is, and puts the
	// vhost back.
	if err := os.Remove(marker); err != nil {
		t.Fatal(err)
	}
	vhost := filepath.Join(n.SitesDir, "blog.example.com.conf")
	rendered, err := os.ReadFile(vhost)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vhost, append(bytes.Clone(rendered), "# edited by hand\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	out = berth("verify", "blog.example.com")
	if !strings.Contains(out, "site/blog.example.com/install@web") || !strings.Contains(out, "already installed") {
		t.Fatalf("verify without the marker does not run the install again:\n%s", out)
	}
	if !strings.Contains(out, "~ site/blog.example.com/vhost@web") {
		t.Errorf("verify does not fix the vhost:\n%s", out)
	}
	if got, _ := os.ReadFile(vhost); !bytes.Equal(got, rendered) {
		t.Errorf("the vhost after verify:\n%s", got)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("no marker after the second install: %v", err)
	}
	f.get("blog.example.com", "/", frontPage)
	if got := my.SQL(t, "SELECT COUNT(*) FROM blog_example_com.wp_users"); strings.TrimSpace(got) != "1" {
		t.Errorf("wp_users holds %s users after the second install, want 1", got)
	}
	out = berth("apply", "--auto-approve")
	if !strings.Contains(out, "No changes") {
		t.Errorf("apply after the reinstall is not empty:\n%s", out)
	}
	berth("plan", "--json")

	// Every generated secret: the database password, WordPress's keys
	// and salts, the admin password.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(f.stateDir, "berth.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	secrets := map[string]string{}
	rs, err := db.QueryContext(context.Background(), "SELECT key, value FROM secrets")
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var k, v string
		if err := rs.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		secrets[k] = v
	}
	rs.Close()
	if _, ok := secrets["admin/production/blog.example.com"]; !ok || len(secrets) != 10 {
		t.Fatalf("the state store holds %d secrets (%v), want the admin password, the db password and 8 salts", len(secrets), secrets == nil)
	}

	records := stateRecords(t, db, "WordPress installed")

	world := worldReadable(base, n.Prefix, php.Dir, my.Dir)
	for k, s := range secrets {
		if strings.Contains(logs.String(), s) {
			t.Errorf("secret %s is in berth's output (plans, logs)", k)
		}
		if strings.Contains(records, s) {
			t.Errorf("secret %s is in the run records or the inventory", k)
		}
		for _, p := range world {
			if data, _ := os.ReadFile(p); bytes.Contains(data, []byte(s)) {
				t.Errorf("secret %s is in the world-readable file %s", k, p)
			}
		}
	}
	if len(world) < 100 {
		t.Errorf("only %d world-readable files were searched", len(world))
	}
}
