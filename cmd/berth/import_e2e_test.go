package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/testenv"
)

// TestEndToEndImport: a server with five hand-made nginx vhosts (three
// static, two PHP), two hand-made PHP-FPM pools and two MariaDB
// databases, plus a vhost berth cannot express and a database of no
// site, on real nginx, PHP-FPM and MariaDB. berth import writes the
// repo, which validates; the first apply leaves every hand-made vhost's
// bytes as they were and the sites answer as before; the databases keep
// their data. An alias added in the repo then converges: berth rewrites
// that site's vhost and nginx answers the new name.
func TestEndToEndImport(t *testing.T) {
	w := newPHPWeb(t)
	n, f := w.nginx, w.webFixture
	my := testenv.MariaDB(t)

	// The hand-made server: document roots, pools, vhosts, databases.
	hand := filepath.Join(w.base, "hand")
	runDir := filepath.Join(w.phpRoot, "8.2", "run")
	type handSite struct{ name, body, pool string }
	sites := []handSite{
		{"static1.example.test", "static one", ""},
		{"static2.example.test", "static two", ""},
		{"static3.example.test", "static three", ""},
		{"shop.example.test", "", "shop"},
		{"blog.example.test", "", "blog"},
	}
	vhosts := map[string]string{} // site -> vhost file
	for _, s := range sites {
		root := filepath.Join(hand, s.name)
		mustWrite(t, filepath.Join(root, "index.html"), s.body+"\n")
		vhost := fmt.Sprintf("server {\n    listen %s;\n    server_name %s www.%s;\n    root %s;\n    index index.html index.php;\n    location / {\n        try_files $uri $uri/ =404;\n    }\n", n.Addr, s.name, s.name, root)
		if s.pool != "" {
			mustWrite(t, filepath.Join(root, "index.php"), "<?php echo 'php site ', $_SERVER['SERVER_NAME'], \"\\n\";\n")
			os.Remove(filepath.Join(root, "index.html"))
			vhost = strings.Replace(vhost, "index index.html index.php;", "index index.php;", 1)
			vhost += fmt.Sprintf("    location ~ \\.php$ {\n        include /etc/nginx/fastcgi_params;\n        fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;\n        fastcgi_pass unix:%s;\n    }\n", filepath.Join(runDir, s.pool+"-hand.sock"))
			mustWrite(t, filepath.Join(w.poolDir, s.pool+".conf"), fmt.Sprintf("[%s]\nuser = nobody\ngroup = nogroup\nlisten = %s/$pool-hand.sock\nlisten.owner = nobody\nlisten.group = nogroup\nlisten.mode = 0660\npm = ondemand\npm.max_children = 2\n", s.pool, runDir))
		}
		vhost += "}\n"
		vhosts[s.name] = filepath.Join(n.SitesDir, s.name+".conf")
		mustWrite(t, vhosts[s.name], vhost)
	}
	odd := filepath.Join(n.SitesDir, "odd.example.test.conf")
	mustWrite(t, odd, fmt.Sprintf("server {\n    listen %s;\n    server_name odd.example.test;\n    root %s;\n    autoindex on;\n}\n", n.Addr, hand))
	if err := n.Reload(); err != nil {
		t.Fatal(err)
	}
	reloadPHP(t, w)
	my.SQL(t, "CREATE DATABASE shop_example_test; CREATE TABLE shop_example_test.orders (id INT); INSERT INTO shop_example_test.orders VALUES (7);"+
		"CREATE DATABASE blogdb; CREATE TABLE blogdb.posts (id INT); INSERT INTO blogdb.posts VALUES (9); CREATE DATABASE leftover;"+
		"CREATE USER shopapp@localhost IDENTIFIED BY 'hand-made'; GRANT ALL ON shop_example_test.* TO shopapp@localhost;")
	handUser := func() string {
		return my.SQL(t, "SELECT CONCAT(authentication_string, ' ', (SELECT COUNT(*) FROM mysql.db WHERE User = 'shopapp')) FROM mysql.user WHERE User = 'shopapp'")
	}
	handUserBefore := handUser()

	static := func(body string) func(*http.Response, string) bool {
		return func(r *http.Response, b string) bool { return r.StatusCode == 200 && strings.TrimSpace(b) == body }
	}
	php := func(name string) func(*http.Response, string) bool {
		return func(r *http.Response, b string) bool {
			return r.StatusCode == 200 && strings.Contains(b, "php site "+name)
		}
	}
	answers := func() {
		t.Helper()
		for _, s := range sites {
			if s.pool == "" {
				f.get(s.name, "/", static(s.body))
				f.get("www."+s.name, "/", static(s.body))
			} else {
				f.get(s.name, "/index.php", php(s.name))
			}
		}
	}
	answers() // the hand-made server works before berth

	f.write("berth.yaml", "environments:\n  production: { branch: main }\n")
	f.write("servers/web.yaml", w.webServer(fmt.Sprintf("  db: { type: mariadb, socket: %s }\n", my.Socket)))
	if err := os.MkdirAll(f.stateDir, 0o755); err != nil {
		t.Fatal(err)
	}

	cli := func(want int, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != want {
			t.Fatalf("berth %s: exit %d, want %d\n%s\n%s", strings.Join(args, " "), code, want, out.String(), errOut.String())
		}
		return out.String()
	}
	out := cli(0, "import", "--env", "production", "--repo", f.repo, "--state-dir", f.stateDir, "--db", "blog.example.test=blogdb", "web")
	t.Logf("berth import:\n%s", out)
	for _, want := range []string{
		"wrote sites/static1.example.test.yaml", "wrote platforms/shop-example-test.yaml",
		"imported shop.example.test (platform shop-example-test): adopted " + vhosts["shop.example.test"] + ", database shop_example_test",
		"imported blog.example.test (platform blog-example-test): adopted " + vhosts["blog.example.test"] + ", database blogdb",
		"not imported: vhost " + odd + ":1 (odd.example.test): berth cannot express autoindex on (line 5)",
		"not imported: database leftover: no site is named after it: give it one with --db SITE=leftover",
		"5 sites imported",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("berth import does not say %q", want)
		}
	}
	cli(0, "validate", f.repo)
	// Import never writes over a file: a second import finds every site
	// already in the repo.
	again := cli(0, "import", "--env", "production", "--repo", f.repo, "--state-dir", f.stateDir, "web")
	if !strings.Contains(again, "the repo already has site/static1.example.test") || strings.Contains(again, "wrote ") {
		t.Errorf("a second import:\n%s", again)
	}

	before := map[string][]byte{}
	handPools := []string{filepath.Join(w.poolDir, "shop.conf"), filepath.Join(w.poolDir, "blog.conf")}
	for _, p := range append(append([]string{odd}, handPools...), mapValues(vhosts)...) {
		before[p] = mustRead(t, p)
	}
	code, plan, errOut := f.berth("plan")
	if code != 0 && code != 2 {
		t.Fatalf("plan: exit %d\n%s\n%s", code, plan, errOut)
	}
	t.Logf("first plan:\n%s", plan)
	for _, p := range vhosts {
		if strings.Contains(plan, p) {
			t.Errorf("the first plan changes the hand-made vhost %s", p)
		}
	}
	f.mustApply()
	for p, b := range before {
		if !bytes.Equal(mustRead(t, p), b) {
			t.Errorf("the first apply changed the hand-made %s", p)
		}
	}
	answers()
	if got := strings.TrimSpace(my.SQL(t, "SELECT id FROM shop_example_test.orders UNION ALL SELECT id FROM blogdb.posts")); got != "7\n9" {
		t.Errorf("the adopted databases hold %q", got)
	}
	if got := handUser(); got != handUserBefore {
		t.Errorf("the hand-made database user changed: %q, was %q", got, handUserBefore)
	}
	if out := f.mustApply(); !strings.Contains(out, "No changes") {
		t.Errorf("a second apply is not empty:\n%s", out)
	}

	// An edit in the repo converges: a new alias, and a new name served,
	// by a static site and by a PHP site (through berth's own pool now).
	for name, alias := range map[string]string{"static1.example.test": "new.example.test", "shop.example.test": "newshop.example.test"} {
		site := filepath.Join(f.repo, "sites", name+".yaml")
		text := strings.Replace(string(mustRead(t, site)), `aliases: ["www.`+name+`"]`, `aliases: ["www.`+name+`", "`+alias+`"]`, 1)
		if err := os.WriteFile(site, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out = f.mustApply()
	for _, name := range []string{"static1.example.test", "shop.example.test"} {
		if !strings.Contains(out, vhosts[name]) {
			t.Errorf("the apply after the edit does not rewrite the vhost of %s:\n%s", name, out)
		}
	}
	f.get("new.example.test", "/", static("static one"))
	f.get("static1.example.test", "/", static("static one"))
	f.get("newshop.example.test", "/index.php", php("shop.example.test")) // PHP names the main name
	f.get("shop.example.test", "/index.php", php("shop.example.test"))
	if out := f.mustApply(); !strings.Contains(out, "No changes") {
		t.Errorf("the apply after the edit did not converge:\n%s", out)
	}
	for _, p := range []string{vhosts["static2.example.test"], vhosts["blog.example.test"], odd} {
		if !bytes.Equal(mustRead(t, p), before[p]) {
			t.Errorf("the edit of two other sites changed %s", p)
		}
	}
	answers()

	// What import adopted stays adopted in the inventory, the vhost berth
	// took over too.
	for _, id := range []string{"site/static1.example.test/vhost@web", "site/static2.example.test/vhost@web", "site/blog.example.test/db:blogdb@web"} {
		if data := inventoryData(t, f.stateDir, id); !strings.Contains(data, `"adopted":true`) {
			t.Errorf("inventory record %s: %q, want adopted", id, data)
		}
	}
	// A removed imported site: berth removes its own additions, never
	// the hand-made vhost nor the document root.
	for _, p := range []string{"sites/static3.example.test.yaml", "platforms/static3-example-test.yaml"} {
		if err := os.Remove(filepath.Join(f.repo, p)); err != nil {
			t.Fatal(err)
		}
	}
	f.mustApply()
	if !bytes.Equal(mustRead(t, vhosts["static3.example.test"]), before[vhosts["static3.example.test"]]) {
		t.Error("removing the imported site changed its hand-made vhost")
	}
	mustRead(t, filepath.Join(hand, "static3.example.test", "index.html"))
	f.get("static3.example.test", "/", static("static three"))
}

// inventoryData returns the data column of one inventory record.
func inventoryData(t *testing.T, stateDir, id string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(stateDir, "berth.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var data sql.NullString
	if err := db.QueryRowContext(context.Background(), "SELECT data FROM resources WHERE id = ?", id).Scan(&data); err != nil {
		t.Fatalf("inventory record %s: %v", id, err)
	}
	return data.String
}

// reloadPHP makes the test's PHP-FPM read the pools again and waits for
// the hand-made pools' sockets to accept.
func reloadPHP(t *testing.T, w *phpWeb) {
	t.Helper()
	if err := syscall.Kill(w.php.Proc.Cmd.Process.Pid, syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	for _, pool := range []string{"shop", "blog"} {
		sock := filepath.Join(w.phpRoot, "8.2", "run", pool+"-hand.sock")
		testenv.Eventually(t, "PHP-FPM pool "+pool+" accepts", 10*time.Second, func() bool {
			c, err := net.Dial("unix", sock)
			if err == nil {
				c.Close()
			}
			return err == nil
		})
	}
}

func mustWrite(t *testing.T, p, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// TestEndToEndImportApacheSSH: berth import reads a server over SSH (with
// sudo) whose web server is apache: a hand-made VirtualHost is imported
// and kept byte for byte by the first apply, one with a directive berth
// cannot express is listed, and an alias added in the repo converges on
// real apache.
func TestEndToEndImportApacheSSH(t *testing.T) {
	f := newWebFixture(t, webKind{name: "apache-ssh", http: "apache", ssh: true})
	for _, p := range []string{"platforms/static.yaml", "sites/a.yaml", "sites/b.yaml", "sites/c.yaml"} {
		if err := os.Remove(filepath.Join(f.repo, p)); err != nil {
			t.Fatal(err)
		}
	}
	hand := filepath.Join(filepath.Dir(f.webRoot), "hand")
	vhost := func(name, extra string) string {
		root := filepath.Join(hand, name)
		mustWrite(t, filepath.Join(root, "index.html"), "hand-made "+name+"\n")
		return fmt.Sprintf("<VirtualHost %s>\n    ServerName %s\n    DocumentRoot %s\n    DirectoryIndex index.html\n    <Directory %s>\n        Require all granted\n    </Directory>\n%s</VirtualHost>\n", f.addr, name, root, root, extra)
	}
	good := filepath.Join(f.confDir, "old.example.test.conf")
	mustWrite(t, good, vhost("old.example.test", ""))
	odd := filepath.Join(f.confDir, "odd.example.test.conf")
	mustWrite(t, odd, vhost("odd.example.test", "    Redirect /a /b\n"))
	apacheRoot := filepath.Dir(f.confDir)
	if out, err := exec.Command("apache2", "-d", apacheRoot, "-f", "conf/httpd.conf", "-k", "graceful").CombinedOutput(); err != nil {
		t.Fatalf("apache2 graceful: %v\n%s", err, out)
	}
	body := func(want string) func(*http.Response, string) bool {
		return func(r *http.Response, b string) bool { return r.StatusCode == 200 && strings.TrimSpace(b) == want }
	}
	f.get("old.example.test", "/", body("hand-made old.example.test"))

	var out, errOut bytes.Buffer
	args := append([]string{"import", "--env", "production", "--repo", f.repo, "--state-dir", f.stateDir}, f.flags...)
	if code := run(append(args, "web"), &out, &errOut); code != 0 {
		t.Fatalf("berth import: exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"imported old.example.test (platform old-example-test): adopted " + good,
		"not imported: vhost " + odd + ":1 (odd.example.test): berth cannot express Redirect /a /b (line 8)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("berth import does not say %q:\n%s", want, out.String())
		}
	}
	if code := run([]string{"validate", f.repo}, &out, &errOut); code != 0 {
		t.Fatalf("validate: exit %d\n%s", code, errOut.String())
	}
	before := mustRead(t, good)
	f.mustApply()
	if !bytes.Equal(mustRead(t, good), before) {
		t.Errorf("the first apply changed the hand-made VirtualHost")
	}
	f.get("old.example.test", "/", body("hand-made old.example.test"))

	site := filepath.Join(f.repo, "sites", "old.example.test.yaml")
	text := strings.Replace(string(mustRead(t, site)), "platform: \"old-example-test\"\n", "platform: \"old-example-test\"\naliases: [new.example.test]\n", 1)
	if err := os.WriteFile(site, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	f.mustApply()
	if bytes.Equal(mustRead(t, good), before) {
		t.Error("the apply after the edit did not rewrite the VirtualHost")
	}
	f.get("new.example.test", "/", body("hand-made old.example.test"))
	f.get("old.example.test", "/", body("hand-made old.example.test"))
	if out := f.mustApply(); !strings.Contains(out, "No changes") {
		t.Errorf("the apply after the edit did not converge:\n%s", out)
	}
}
