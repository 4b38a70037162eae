package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/berthhq/berth/daemon"
	"github.com/berthhq/berth/internal/testenv"
	"github.com/berthhq/berth/kind/install"
)

// hostileWPLoad is a wordpress platform's wp-load.php that, loaded by
// berth's install, prints every secret it can reach in every encoding:
// the settings file as it is, the environment, each value defined by the
// settings file, the admin password berth gives wp_install(), and the
// secrets the test planted in PLANTED_FILE (a file the web server's user can
// read). With FAIL_FILE present, the install fails after printing.
const hostileWPLoad = `<?php
define('ABSPATH', __DIR__ . '/');
function wp_slash($v) { return $v; }
function is_wp_error($r) { return false; }
function leak($name, $s) {
    echo "PLANTED $name\n";
    echo "raw: $s\n";
    echo "inside: xx{$s}yy\n";
    echo "url: ", urlencode($s), " ", rawurlencode($s), "\n";
    echo "base64: ", base64_encode($s), "\n";
    echo "base64 of a longer text: ", base64_encode("prefix-" . $s . "-suffix"), "\n";
    echo "base64url: ", rtrim(strtr(base64_encode($s), '+/', '-_'), '='), "\n";
    echo "json: ", json_encode(array("v" => $s)), "\n";
    echo "hex: ", bin2hex($s), " ", strtoupper(bin2hex($s)), "\n";
    echo "truncated: ", substr($s, 0, 16), "...\n";
    echo "wrapped:\n", chunk_split($s, 16, "\n");
    echo "wrapped base64:\n", chunk_split(base64_encode(str_repeat("z", 40) . $s), 20, "\n");
}
echo "== settings file\n";
readfile(getenv('BERTH_SETTINGS'));
echo "== environment\n";
print_r(getenv());
require getenv('BERTH_SETTINGS');
foreach (array('DB_PASSWORD', 'AUTH_KEY', 'SECURE_AUTH_KEY', 'LOGGED_IN_KEY', 'NONCE_KEY', 'AUTH_SALT', 'SECURE_AUTH_SALT', 'LOGGED_IN_SALT', 'NONCE_SALT') as $c) {
    leak($c, constant($c));
}
foreach (json_decode(file_get_contents('PLANTED_FILE'), true) as $k => $v) {
    leak($k, $v);
}
`

const hostileUpgrade = `<?php
function is_blog_installed() { return false; }
function wp_install($title, $user, $email, $public, $deprecated, $password) {
    leak('admin password', $password);
    if (file_exists('FAIL_FILE')) {
        fwrite(STDERR, "failing on purpose after printing the admin password: $password\n");
        exit(1);
    }
    return null;
}
`

// leakForms are the strings whose presence in an output would leak s: its
// 12-character runs, its encodings, and the 12-character runs of the
// base64 of longer texts holding it (as hostileWPLoad prints them).
func leakForms(s string) []string {
	var out []string
	windows := func(t string) {
		for i := 0; i+12 <= len(t); i++ {
			out = append(out, t[i:i+12])
		}
	}
	windows(s)
	j, _ := json.Marshal(s)
	out = append(out, url.QueryEscape(s), url.PathEscape(s), base64.StdEncoding.EncodeToString([]byte(s)),
		base64.RawURLEncoding.EncodeToString([]byte(s)), hex.EncodeToString([]byte(s)), strings.ToUpper(hex.EncodeToString([]byte(s))),
		string(j[1:len(j)-1]))
	for _, pfx := range []string{"prefix-", strings.Repeat("z", 40)} {
		enc := base64.StdEncoding.EncodeToString([]byte(pfx + s + "-suffix"))
		// The characters that encode only bytes of s.
		from, to := (len(pfx)+2)/3*4, (len(pfx)+len(s))/3*4
		windows(enc[from:to])
	}
	return out
}

// leaked names the secrets (by name) that text leaks in any form.
func leaked(text string, secrets map[string]string) []string {
	var out []string
	for name, s := range secrets {
		for _, f := range leakForms(s) {
			if strings.Contains(text, f) {
				out = append(out, fmt.Sprintf("%s (as %q)", name, f))
				break
			}
		}
	}
	return out
}

func randomSecret(t *testing.T) string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	// '+' and '/' make the URL, JSON and base64 forms differ from the raw one.
	s := base64.RawURLEncoding.EncodeToString(b)
	return s[:10] + "+/" + s[10:]
}

// TestSecretPlanting: a wordpress platform whose wp-load.php prints every
// secret its install can reach (the settings file with the database
// password and the eight salts, the environment, the admin password given
// to wp_install(), and the secrets berth's operator holds: the database
// administrator's password, the Git token, the API tokens, the webhook
// secrets) in every encoding, truncated and line-wrapped. berth apply on
// real nginx + php-fpm + MariaDB installs the site; none of the secrets
// the apply knows, in any form, is in its output, the run records, or a
// world-readable file under the state directory and the web root. Then
// berth serve installs the site again, failing on purpose: none of the
// secrets it knows (now also its API tokens and webhook secrets) is in its
// log, its run records, or its API answers.
func TestSecretPlanting(t *testing.T) {
	w := newPHPWeb(t)
	base := w.base
	my := testenv.MariaDB(t)

	// The secrets the operator holds, each in a file of its own.
	held := map[string]string{}
	files := map[string]string{}
	for _, name := range []string{"db-admin", "git-token", "api-token", "api-read-token", "github-secret", "gitea-secret", "gitlab-token", "generic-token"} {
		held[name] = randomSecret(t)
		files[name] = filepath.Join(base, name)
		if err := os.WriteFile(files[name], []byte(held[name]+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	my.SQL(t, fmt.Sprintf("CREATE USER 'berthadm'@'localhost' IDENTIFIED BY '%s'; GRANT ALL ON *.* TO 'berthadm'@'localhost' WITH GRANT OPTION", held["db-admin"]))
	// The install plants them all: it can read this file.
	planted := filepath.Join(base, "planted.json")
	data, _ := json.Marshal(held)
	if err := os.WriteFile(planted, data, 0o644); err != nil {
		t.Fatal(err)
	}
	fail := filepath.Join(base, "fail-the-install")

	f := w.webFixture
	f.write("berth.yaml", "environments:\n  production: { branch: main }\n")
	f.write("servers/web.yaml", w.webServer("")+fmt.Sprintf(`---
kind: Server
name: mdb
address: local
services:
  db: { type: mariadb, socket: %s, admin_user: berthadm, password_file: %s }
`, my.Socket, files["db-admin"]))
	f.write("platforms/wp.yaml", "kind: Platform\nname: wp\ntype: wordpress\nsource: { path: wp }\nservers: [web]\n")
	f.write("wp/wp-load.php", strings.ReplaceAll(hostileWPLoad, "PLANTED_FILE", planted))
	f.write("wp/wp-admin/includes/upgrade.php", strings.ReplaceAll(hostileUpgrade, "FAIL_FILE", fail))
	f.write("wp/index.php", "<?php echo 'blog';\n")
	f.write("sites/blog.yaml", "kind: Site\nname: blog.example.com\nplatform: wp\ndb: { server: mdb }\n")

	// berth apply.
	code, out, errOut := f.berth("apply", "--auto-approve", "--git-token-file", files["git-token"])
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	applyOut := out + errOut
	for _, want := range []string{"PLANTED admin password", "PLANTED DB_PASSWORD", "PLANTED NONCE_SALT", "PLANTED db-admin", "PLANTED git-token", "[redacted]"} {
		if !strings.Contains(applyOut, want) {
			t.Fatalf("the install did not print %q; apply's output:\n%s", want, applyOut)
		}
	}
	marker := filepath.Join(f.webRoot, "sites", "blog.example.com", install.InstallMarker)
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the install left no marker: %v", err)
	}

	// Every secret berth generated, from the state store.
	generated := map[string]string{}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(f.stateDir, "berth.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(context.Background(), "SELECT key, value FROM secrets")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k, v string
		rows.Scan(&k, &v)
		generated[k] = v
	}
	rows.Close()
	if len(generated) != 10 { // the database password, 8 salts, the admin password
		t.Fatalf("the state store holds %d secrets, want 10: %v", len(generated), keys(generated))
	}
	known := map[string]string{"db-admin": held["db-admin"], "git-token": held["git-token"]}
	for k, v := range generated {
		known[k] = v
	}
	if l := leaked(applyOut, known); len(l) > 0 {
		t.Errorf("berth apply printed secrets: %v\n%s", l, applyOut)
	}
	if l := leaked(stateRecords(t, db, "PLANTED"), known); len(l) > 0 {
		t.Errorf("the run records hold secrets after apply: %v", l)
	}
	checkWorldReadable(t, known, f.stateDir, f.webRoot)
	var cliRuns int64
	db.QueryRow("SELECT max(id) FROM runs").Scan(&cliRuns)

	// berth serve: the install runs again (its marker removed) and fails.
	os.Remove(marker)
	os.WriteFile(fail, nil, 0o644)
	p := startServe(t, "--repo", f.repo, "--state-dir", f.stateDir, "--poll", "0", "--drift-interval", "0",
		"--api-token-file", files["api-token"], "--api-read-token-file", files["api-read-token"],
		"--github-secret-file", files["github-secret"], "--gitea-secret-file", files["gitea-secret"],
		"--gitlab-token-file", files["gitlab-token"], "--generic-token-file", files["generic-token"], "--git-token-file", files["git-token"])
	p.token = held["api-read-token"] // in place of startServe's, which this one overrides
	st := p.until("the install failed", func(st map[string]daemon.EnvStatus) bool {
		r := st["production"].LastRun
		return r != nil && r.Result == "failed"
	})
	all := map[string]string{}
	for k, v := range known {
		all[k] = v
	}
	for k, v := range held {
		all[k] = v
	}
	// The daemon's answers, with the operator token.
	var answers strings.Builder
	api := func(path string) string {
		req, _ := http.NewRequest("GET", p.api+path, nil)
		req.Header.Set("Authorization", "Bearer "+held["api-token"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s %s", path, resp.Status, b)
		}
		answers.Write(b)
		return string(b)
	}
	api("/api/v1/status")
	var runs struct{ Runs []struct{ ID int64 } }
	json.Unmarshal([]byte(api("/api/v1/runs?env=production")), &runs)
	for _, r := range runs.Runs {
		api(fmt.Sprintf("/api/v1/runs/%d", r.ID))
	}
	// The dashboard's pages, logged in with the operator token.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err := browser.PostForm(p.api+"/ui/login", url.Values{"token": {held["api-token"]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, path := range append([]string{"/ui/", "/ui/sites?env=production", "/ui/runs"}, runPages(runs.Runs)...) {
		resp, err := browser.Get(p.api + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Request.URL.Path == "/ui/login" {
			t.Fatalf("dashboard %s: %s at %s", path, resp.Status, resp.Request.URL)
		}
		answers.Write(b)
	}
	if !strings.Contains(answers.String(), "PLANTED admin password") || !strings.Contains(answers.String(), "PLANTED api-token") {
		t.Fatalf("the daemon's answers do not show the install's output (status %+v):\n%s", st["production"], answers.String())
	}
	p.stop()
	serveLog, _ := os.ReadFile(p.log)
	if !strings.Contains(string(serveLog), "PLANTED github-secret") {
		t.Fatalf("the daemon's log does not show the install's output:\n%s", serveLog)
	}
	if l := leaked(answers.String(), all); len(l) > 0 {
		t.Errorf("the daemon's API answered secrets: %v", l)
	}
	if l := leaked(string(serveLog), all); len(l) > 0 {
		t.Errorf("the daemon logged secrets: %v", l)
	}
	// The CLI's records hold what the install printed of the secrets it
	// did not know (the API tokens and webhook secrets, which only berth
	// serve reads); the daemon's hold none.
	if l := leaked(stateRecords(t, db, "PLANTED"), known); len(l) > 0 {
		t.Errorf("the run records hold secrets after berth serve: %v", l)
	}
	var daemonRuns strings.Builder
	rs, err := db.Query("SELECT id, revision, trigger, result, coalesce(error, ''), coalesce(changes, ''), coalesce(log, '') FROM runs WHERE id > ?", cliRuns)
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var id int64
		var rev, trig, result, errText, changes, log string
		rs.Scan(&id, &rev, &trig, &result, &errText, &changes, &log)
		fmt.Fprintf(&daemonRuns, "%d %s %s %s %s\n%s\n%s\n", id, rev, trig, result, errText, changes, log)
	}
	rs.Close()
	if !strings.Contains(daemonRuns.String(), "PLANTED github-secret") {
		t.Fatalf("the daemon's run records do not show the install's output:\n%s", daemonRuns.String())
	}
	if l := leaked(daemonRuns.String(), all); len(l) > 0 {
		t.Errorf("the daemon's run records hold secrets: %v", l)
	}
	checkWorldReadable(t, all, f.stateDir, f.webRoot)
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// checkWorldReadable looks for secrets in every world-readable file under
// roots.
func checkWorldReadable(t *testing.T, secrets map[string]string, roots ...string) {
	t.Helper()
	world := worldReadable(roots...)
	for _, p := range world {
		data, _ := os.ReadFile(p)
		if l := leaked(string(data), secrets); len(l) > 0 {
			t.Errorf("the world-readable file %s holds secrets: %v", p, l)
		}
	}
	if len(world) < 3 {
		t.Errorf("only %d world-readable files were searched under %v", len(world), roots)
	}
}

// runPages are the dashboard's pages of runs.
func runPages(runs []struct{ ID int64 }) []string {
	out := make([]string, len(runs))
	for i, r := range runs {
		out[i] = fmt.Sprintf("/ui/runs/%d", r.ID)
	}
	return out
}
