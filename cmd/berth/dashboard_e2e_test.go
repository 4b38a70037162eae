package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/daemon"
	"github.com/berthhq/berth/internal/testenv"
)

// TestDashboardEndToEnd: berth serve applies a repo of three static
// sites on real nginx; a browser (a cookie jar) logs in to the dashboard
// with the operator token, reads the environments, the site list, a
// site's page and a run with its plan, and starts a run with the
// environment's "Reconcile now" form, which the run history then shows
// as a manual run; the read token's session has no such form, and its
// POST is refused.
func TestDashboardEndToEnd(t *testing.T) {
	base := t.TempDir()
	for _, d := range []string{filepath.Dir(base), base} {
		os.Chmod(d, 0o755)
	}
	n := testenv.Nginx(t)
	web := &webFixture{t: t, addr: n.Addr, confDir: n.SitesDir, webRoot: filepath.Join(base, "www"), repo: filepath.Join(base, "repo")}
	web.write("berth.yaml", "environments:\n  production: { branch: main }\n")
	web.write("servers/web.yaml", nginxServer(n, web.webRoot))
	web.write("platforms/static.yaml", "kind: Platform\nname: static\ntype: static\nsource: { path: code }\nservers: [web]\n")
	web.write("code/index.html", "<h1>static</h1>\n")
	for _, s := range []string{"a", "b", "c"} {
		web.write("sites/"+s+".yaml", fmt.Sprintf("kind: Site\nname: %s.example.com\nplatform: static\n", s))
	}
	opToken := filepath.Join(base, "api.token")
	os.WriteFile(opToken, []byte("operator-token-for-tests\n"), 0o600)
	p := startServe(t, "--repo", web.repo, "--env", "production", "--state-dir", filepath.Join(base, "state"),
		"--poll", "0", "--drift-interval", "0", "--api-token-file", opToken)
	p.until("production synced", func(st map[string]daemon.EnvStatus) bool { return st["production"].Phase == daemon.PhaseSynced })

	browser := func(token string) (*http.Client, string) { return dashboardLogin(t, p.api, token) }
	page := func(c *http.Client, path string, want ...string) string {
		t.Helper()
		resp, err := c.Get(p.api + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d\n%s", path, resp.StatusCode, b)
		}
		for _, w := range want {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s: no %q in\n%s", path, w, b)
			}
		}
		return string(b)
	}

	op, home := browser("operator-token-for-tests")
	for _, w := range []string{"production", "Synced", "Reconcile now"} {
		if !strings.Contains(home, w) {
			t.Errorf("environments page: no %q in\n%s", w, home)
		}
	}
	page(op, "/ui/sites?env=production", "Sites 1–3 of 3", "a.example.com", "c.example.com")
	page(op, "/ui/sites?env=production&q=b.ex", "Sites 1–1 of 1", "b.example.com")
	page(op, "/ui/sites/production/b.example.com", "static", "web", "Timeline")
	first := p.runs("production")
	if len(first) == 0 {
		t.Fatal("no run recorded")
	}
	page(op, fmt.Sprintf("/ui/runs/%d", first[len(first)-1].ID), "site/a.example.com", "Plan", "Log")

	csrf := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(home)[1]
	resp, err := op.PostForm(p.api+"/ui/envs/production/reconcile", url.Values{"csrf": {csrf}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/ui/runs" {
		t.Fatalf("reconcile now: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	testenv.Eventually(t, "a manual run in the history", time.Minute, func() bool {
		for _, r := range p.runs("production") {
			if r.Trigger == daemon.ReasonManual {
				return true
			}
		}
		return false
	})
	page(op, "/ui/runs?env=production", daemon.ReasonManual)
	if b, _ := os.ReadFile(p.log); !strings.Contains(string(b), "audit: reconcile now") || !strings.Contains(string(b), "operator token file (admin) session") {
		t.Errorf("no audit line for the reconcile in the log")
	}

	// Back up now, from the site's page: a backup run in the history.
	sitePage := page(op, "/ui/sites/production/b.example.com", "Back up now")
	csrf = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(sitePage)[1]
	resp, err = op.PostForm(p.api+"/ui/sites/production/b.example.com/backup", url.Values{"csrf": {csrf}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	testenv.EventuallyWith(t, "a backup run of b.example.com", time.Minute, func() (bool, string) {
		for _, r := range p.runs("production") {
			if r.Trigger == "backup b.example.com" {
				return r.Result == "job-done", r.Result
			}
		}
		return false, "none"
	})
	if b, _ := os.ReadFile(p.log); !strings.Contains(string(b), "audit: back up now") {
		t.Errorf("no audit line for the backup in the log")
	}

	// Restore from that backup: a confirmation naming it, then the run.
	var backupID string
	for _, r := range p.runs("production") {
		if r.Trigger == "backup b.example.com" {
			if m := regexp.MustCompile(`backup (\S+) taken`).FindStringSubmatch(p.run(r.ID).Log); m != nil {
				backupID = m[1]
			}
		}
	}
	if backupID == "" {
		t.Fatal("the backup run's log names no backup")
	}
	resp, err = op.PostForm(p.api+"/ui/sites/production/b.example.com/restore", url.Values{"csrf": {csrf}, "backup": {backupID}})
	if err != nil {
		t.Fatal(err)
	}
	confirm, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(confirm), "Restore from backup "+backupID) {
		t.Fatalf("no confirmation naming the backup:\n%s", confirm)
	}
	resp, err = op.PostForm(p.api+"/ui/sites/production/b.example.com/restore", url.Values{"csrf": {csrf}, "backup": {backupID}, "confirm": {backupID}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	testenv.EventuallyWith(t, "a restore run of b.example.com", time.Minute, func() (bool, string) {
		for _, r := range p.runs("production") {
			if r.Trigger == "restore b.example.com" {
				return r.Result == "job-done", r.Result + " " + p.run(r.ID).Log
			}
		}
		return false, "none"
	})

	rd, home := browser(apiReadToken)
	if strings.Contains(home, "Reconcile now") {
		t.Error("the reader's page offers Reconcile now")
	}
	csrf = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(home)[1]
	resp, err = rd.PostForm(p.api+"/ui/envs/production/reconcile", url.Values{"csrf": {csrf}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("reader's reconcile: %d, want 403", resp.StatusCode)
	}
}

// dashboardLogin logs in to the dashboard at api with token, as a browser
// (a cookie jar), and returns it with the page it landed on.
func dashboardLogin(t *testing.T, api, token string) (*http.Client, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(api+"/ui/login", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/ui/" {
		t.Fatalf("login: %d at %s\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	return c, string(body)
}
