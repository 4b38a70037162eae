package main

import (
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthhq/berth/render"
	"github.com/berthhq/berth/spec"
)

// isolationPHP answers with the user its pool runs as and, for ?read=PATH,
// whether PHP can read the file (file_get_contents, within open_basedir)
// and whether the pool's user can (cat through the shell, which
// open_basedir does not confine: only the file's permissions stop it).
const isolationPHP = `<?php
header('Content-Type: text/plain');
echo "user=", posix_getpwuid(posix_geteuid())['name'], "\n";
echo "settings=", getenv('BERTH_SETTINGS'), "\n";
$f = $_GET['read'] ?? '';
if ($f !== '') {
    $data = @file_get_contents($f);
    echo $data === false ? "php=denied: " . (error_get_last()['message'] ?? '') : "php=read", "\n";
    echo "cat=", trim(shell_exec('cat ' . escapeshellarg($f) . ' >/dev/null 2>&1 && echo read || echo denied')), "\n";
}
`

// TestEndToEndSiteIsolation: two PHP sites on real nginx and PHP-FPM run
// as two Unix users berth created; site A's PHP reads its own settings
// file and gets a permission error on site B's; removing B deletes B's
// user, and a second apply runs nothing; isolation: false on the
// platform runs A as the web server's user again and deletes A's user.
func TestEndToEndSiteIsolation(t *testing.T) {
	w := newPHPWeb(t)
	f := w.webFixture
	f.write("berth.yaml", "environments:\n  production: { branch: main }\n")
	f.write("servers/web.yaml", w.webServer("  db: { type: sqlite }\n"))
	f.write("platforms/app.yaml", "kind: Platform\nname: app\ntype: php\nsource: { path: code }\nservers: [web]\n")
	f.write("code/index.php", isolationPHP)
	sites := []string{"a.example.com", "b.example.com"}
	users := map[string]string{}
	for _, s := range sites {
		f.write("sites/"+s+".yaml", "kind: Site\nname: "+s+"\nplatform: app\ndb: { server: web }\n")
		users[s] = render.SiteUser(&spec.ResolvedSite{Environment: "production", Domain: s, PHP: spec.DefaultPHP, Isolated: true})
	}
	if users[sites[0]] == users[sites[1]] {
		t.Fatalf("both sites are named user %s", users[sites[0]])
	}
	// An interrupted earlier run may have left the users: berth would
	// adopt them (and never delete them), which this test is not about.
	for _, u := range users {
		if exec.Command("getent", "passwd", u).Run() == nil {
			t.Logf("deleting user %s left by an earlier run", u)
			if out, err := exec.Command("userdel", u).CombinedOutput(); err != nil {
				t.Fatalf("userdel %s: %v\n%s", u, err, out)
			}
		}
	}
	out := f.mustApply()
	for _, s := range sites {
		if !strings.Contains(out, "site/"+s+"/user:"+users[s]+"@web") {
			t.Errorf("the apply does not create %s's user:\n%s", s, out)
		}
		if err := exec.Command("getent", "passwd", users[s]).Run(); err != nil {
			t.Fatalf("user %s of %s: %v", users[s], s, err)
		}
	}
	settings := func(s string) string { return filepath.Join(f.webRoot, "sites", s, ".env") }
	for _, s := range sites {
		st, err := os.Stat(settings(s))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o640 {
			t.Errorf("%s: mode %v, want 0640", settings(s), st.Mode())
		}
	}

	ask := func(site, read string) string {
		t.Helper()
		q := ""
		if read != "" {
			q = "?read=" + url.QueryEscape(read)
		}
		_, body := f.get(site, "/index.php"+q, func(r *http.Response, body string) bool {
			return r.StatusCode == 200 && strings.Contains(body, "user=")
		})
		return body
	}
	// Each pool runs as its own site's user.
	for _, s := range sites {
		if body := ask(s, ""); !strings.Contains(body, "user="+users[s]+"\n") {
			t.Errorf("%s runs as another user than %s:\n%s", s, users[s], body)
		}
	}
	a, b := sites[0], sites[1]
	if body := ask(a, settings(a)); !strings.Contains(body, "php=read\n") || !strings.Contains(body, "cat=read\n") {
		t.Errorf("%s cannot read its own settings file:\n%s", a, body)
	}
	body := ask(a, settings(b))
	if !strings.Contains(body, "php=denied") || !strings.Contains(body, "cat=denied\n") {
		t.Errorf("%s reads %s's settings file:\n%s", a, b, body)
	}
	// Without open_basedir too, A's user gets a permission error.
	res, err := exec.Command("runuser", "-u", users[a], "--", "php8.2", "-n", "-r", "var_dump(file_get_contents($argv[1]));", settings(b)).CombinedOutput()
	if err != nil {
		t.Fatalf("php as %s: %v\n%s", users[a], err, res)
	}
	if !strings.Contains(string(res), "Permission denied") || !strings.Contains(string(res), "bool(false)") {
		t.Errorf("%s's user reads %s's settings file:\n%s", a, b, res)
	}

	// Remove B: its user goes with it, after its pool; then nothing is left to do.
	if err := os.Remove(filepath.Join(f.repo, "sites", b+".yaml")); err != nil {
		t.Fatal(err)
	}
	out = f.mustApply()
	if !strings.Contains(out, "site/"+b+"/user:"+users[b]+"@web") {
		t.Errorf("the apply does not delete %s's user:\n%s", b, out)
	}
	if err := exec.Command("getent", "passwd", users[b]).Run(); err == nil {
		t.Errorf("user %s of the removed site %s still exists", users[b], b)
	}
	if body := ask(a, ""); !strings.Contains(body, "user="+users[a]+"\n") {
		t.Errorf("%s after %s's removal:\n%s", a, b, body)
	}
	if out := f.mustApply(); !strings.Contains(out, "No changes") {
		t.Errorf("second apply is not empty:\n%s", out)
	}

	// The platform opts out: A runs as the web server's user again, and
	// its own user goes.
	f.write("platforms/app.yaml", "kind: Platform\nname: app\ntype: php\nsource: { path: code }\nservers: [web]\nisolation: false\n")
	f.mustApply()
	if err := exec.Command("getent", "passwd", users[a]).Run(); err == nil {
		t.Errorf("user %s of %s still exists after isolation: false", users[a], a)
	}
	if body := ask(a, settings(a)); !strings.Contains(body, "user=nobody\n") || !strings.Contains(body, "php=read\n") {
		t.Errorf("%s with isolation: false:\n%s", a, body)
	}
	if out := f.mustApply(); !strings.Contains(out, "No changes") {
		t.Errorf("apply after the opt-out is not empty:\n%s", out)
	}
}
