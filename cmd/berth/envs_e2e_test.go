package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/backup"
	"github.com/berthhq/berth/daemon"
	"github.com/berthhq/berth/internal/testenv"
	"github.com/berthhq/berth/state"
)

// TestEnvironmentsOnOneServer: production (main) and staging (staging, with
// a domain suffix) on one local nginx and PHP-FPM, with different code on
// the two branches. Before environments kept apart, both shared
// <web_root>/platforms/static/current and switched it back and forth.
// Then staging leaves berth.yaml: the daemon reports it and removes
// nothing; `berth plan --env staging` shows its removal and `berth apply
// --env staging` removes only staging's resources, its sites' data backed
// up first, production byte-identical and still served.
func TestEnvironmentsOnOneServer(t *testing.T) {
	w := newPHPWeb(t)
	base, web := w.base, w.webFixture
	g := newGitRepo(t, base)
	backups := filepath.Join(base, "backups")
	g.write("berth.yaml", fmt.Sprintf(`environments:
  production: { branch: main }
  staging: { branch: staging, domain_suffix: .staging.example.com }
policy: { max_deletions: 2 }
backups: { dir: %s }
`, backups))
	g.write("servers/web.yaml", w.webServer("  db: { type: sqlite }\n"))
	g.write("platforms/static.yaml", "kind: Platform\nname: static\ntype: static\nsource: { path: code }\nservers: [web]\n")
	g.write("platforms/app.yaml", "kind: Platform\nname: app\ntype: php\nsource: { path: app }\nservers: [web]\n")
	for _, s := range []string{"a", "b"} {
		g.write("sites/"+s+".yaml", fmt.Sprintf("kind: Site\nname: %s.example.com\nplatform: static\nweb:\n  headers:\n    X-Site: %s\n", s, s))
	}
	g.write("sites/c.yaml", "kind: Site\nname: c.example.com\nplatform: app\ndb: { server: web }\nweb:\n  headers:\n    X-Site: c\n")
	g.write("code/index.html", "<h1>production code</h1>\n")
	g.write("app/index.php", "<?php echo 'php ' . PHP_MAJOR_VERSION . ' code';\n")
	g.commit("main", "production")
	g.git(g.work, "checkout", "-q", "-b", "staging")
	g.write("code/index.html", "<h1>staging code</h1>\n")
	g.commit("staging", "staging code")
	g.git(g.work, "push", "-q", "-u", "origin", "staging")

	stateDir := web.stateDir
	secret := filepath.Join(base, "webhook.secret")
	os.WriteFile(secret, webhookSecret, 0o600)
	p := startServe(t, "--repo", g.url, "--state-dir", stateDir, "--github-secret-file", secret, "--poll", "0", "--drift-interval", "1s")
	mainHead, stagingHead := g.git(g.work, "rev-parse", "main"), g.git(g.work, "rev-parse", "staging")
	p.until("both environments synced at their branch heads", func(st map[string]daemon.EnvStatus) bool {
		return st["production"].Phase == daemon.PhaseSynced && st["production"].LastApplied == mainHead &&
			st["staging"].Phase == daemon.PhaseSynced && st["staging"].LastApplied == stagingHead
	})

	// Each environment serves its own code, by Host header.
	serves := func(site, code string) func(*http.Response, string) bool {
		return func(r *http.Response, body string) bool {
			return r.StatusCode == 200 && r.Header.Get("X-Site") == site && strings.Contains(body, code+" code")
		}
	}
	check := func() {
		t.Helper()
		for _, s := range []string{"a", "b"} {
			web.get(s+".example.com", "/", serves(s, "production"))
			web.get(s+".example.com.staging.example.com", "/", serves(s, "staging"))
		}
		web.get("c.example.com", "/", serves("c", "php 8"))
		web.get("c.example.com.staging.example.com", "/", serves("c", "php 8"))
	}
	check()

	// Three drift runs of each environment change nothing: every one is a
	// no-op and no file (content, mode, mtime) or link moved.
	before, links := w.tree(), currentLinks(t, web.webRoot)
	drifts := func(env string) (n int, bad []string) {
		for _, r := range p.runs(env) {
			if r.Trigger != daemon.ReasonDrift || r.Result == state.ResultRunning {
				continue // a run still going is looked at when it ended
			}
			n++
			if r.Result != state.ResultNoOp {
				bad = append(bad, fmt.Sprintf("run %d: %s", r.ID, r.Result))
			}
		}
		return n, bad
	}
	p0, _ := drifts("production")
	s0, _ := drifts("staging")
	testenv.Eventually(t, "three more drift runs of each environment", 120*time.Second, func() bool {
		pn, _ := drifts("production")
		sn, _ := drifts("staging")
		return pn >= p0+3 && sn >= s0+3
	})
	for _, env := range []string{"production", "staging"} {
		if _, bad := drifts(env); len(bad) > 0 {
			t.Errorf("%s: drift runs that were not no-ops: %v", env, bad)
		}
	}
	if d := diffSnap(before, w.tree()); len(d) > 0 {
		t.Errorf("drift runs changed %v", d)
	}
	if now := currentLinks(t, web.webRoot); !maps.Equal(links, now) {
		t.Errorf("drift switched current links: before %v, after %v", links, now)
	}
	check()
	// Each environment has its own platform directory.
	for _, env := range []string{"production", "staging"} {
		l := filepath.Join(web.webRoot, "platforms", "static", env, "current")
		if !strings.HasPrefix(links[l], "builds/") {
			t.Errorf("%s: %q; want a link into the environment's own builds/ (links: %v)", l, links[l], links)
		}
	}

	// Site b removed from staging: staging stops serving it; every file of
	// production stays byte-identical (and untouched).
	prodBefore := production(w.tree())
	g.git(g.work, "rm", "-q", "sites/b.yaml")
	g.commit("staging", "b leaves staging")
	stagingHead = g.git(g.work, "rev-parse", "staging")
	p.push("staging", true, 0)
	p.until("staging without b", func(st map[string]daemon.EnvStatus) bool {
		return st["staging"].Phase == daemon.PhaseSynced && st["staging"].LastApplied == stagingHead
	})
	web.get("b.example.com.staging.example.com", "/", func(r *http.Response, _ string) bool { return r.StatusCode == 404 && r.Header.Get("X-Site") == "" })
	web.get("b.example.com", "/", serves("b", "production"))
	if d := diffSnap(prodBefore, production(w.tree())); len(d) > 0 {
		t.Errorf("removing a site from staging changed production's %v", d)
	}
	p.stop()

	// Staging leaves berth.yaml on main. The daemon converges production
	// (nothing to do), reports staging as orphaned and removes nothing.
	g.git(g.work, "checkout", "-q", "main")
	g.write("berth.yaml", fmt.Sprintf("environments:\n  production: { branch: main }\npolicy: { max_deletions: 2 }\nbackups: { dir: %s }\n", backups))
	g.commit("main", "no more staging")
	g.git(g.work, "push", "-q", "origin", "main")
	mainHead = g.git(g.work, "rev-parse", "main")
	prodBefore, withStaging := production(w.tree()), w.tree()
	p = startServe(t, "--repo", g.url, "--state-dir", stateDir, "--poll", "0", "--drift-interval", "0")
	st := p.until("production synced at main's head, staging orphaned", func(st map[string]daemon.EnvStatus) bool {
		return st["production"].Phase == daemon.PhaseSynced && st["production"].LastApplied == mainHead && st["staging"].Phase == daemon.PhaseOrphaned
	})
	if msg := st["staging"].Message; !strings.Contains(msg, "berth apply --env staging") {
		t.Errorf("the orphaned environment's message: %q", msg)
	}
	p.stop()
	if d := diffSnap(withStaging, w.tree()); len(d) > 0 {
		t.Errorf("the daemon changed %v after staging left berth.yaml", d)
	}

	// berth plan --env staging shows the removal of staging's resources
	// only, its sites backed up first; apply does it.
	cli := func(want int, args ...string) (string, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		args = append(args, "--env", "staging", "--repo", g.work, "--state-dir", stateDir, "--no-color")
		if code := run(args, &stdout, &stderr); code != want {
			t.Fatalf("berth %v: exit %d, want %d\n%s\n%s", args, code, want, stdout.String(), stderr.String())
		}
		return stdout.String(), stderr.String()
	}
	status := func() string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run([]string{"status", "--repo", g.work, "--state-dir", stateDir}, &stdout, &stderr); code != exitOK {
			t.Fatalf("berth status: exit %d\n%s\n%s", code, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	if out := status(); !strings.Contains(out, "staging (removed from berth.yaml): OutOfSync") || !strings.Contains(out, "berth apply --env staging") {
		t.Errorf("berth status does not list the removed staging:\n%s", out)
	}
	out, _ := cli(exitChanges, "plan")
	for _, want := range []string{"not declared in berth.yaml", "site/c.example.com.staging.example.com/backup@web", "- site/a.example.com.staging.example.com/vhost@web"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan of the removed staging lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, " site/") && !strings.Contains(line, "staging") {
			t.Errorf("plan of the removed staging touches another environment: %s", line)
		}
	}
	cli(exitOK, "apply", "--auto-approve")

	web.get("a.example.com.staging.example.com", "/", func(r *http.Response, _ string) bool { return r.StatusCode == 404 && r.Header.Get("X-Site") == "" })
	web.get("c.example.com.staging.example.com", "/", func(r *http.Response, _ string) bool { return r.StatusCode == 404 && r.Header.Get("X-Site") == "" })
	for _, s := range []string{"a", "b"} {
		web.get(s+".example.com", "/", serves(s, "production"))
	}
	web.get("c.example.com", "/", serves("c", "php 8"))
	after := w.tree()
	if d := diffSnap(prodBefore, production(after)); len(d) > 0 {
		t.Errorf("removing staging changed production's %v", d)
	}
	if a, b := treeHash(prodBefore), treeHash(production(after)); a != b {
		t.Errorf("production's tree hash %s before staging's removal, %s after", a, b)
	}
	var left []string
	for path := range after {
		if strings.Contains(path, "staging") {
			left = append(left, path)
		}
	}
	slices.Sort(left)
	if len(left) > 0 {
		t.Errorf("staging's resources left behind: %v", left)
	}
	// c's data (its SQLite database) was backed up before it was deleted.
	var manifests []backup.Manifest
	filepath.WalkDir(filepath.Join(backups, "staging"), func(p string, e fs.DirEntry, err error) error {
		if err == nil && e.Name() == "manifest.json" {
			var m backup.Manifest
			data, _ := os.ReadFile(p)
			if err := json.Unmarshal(data, &m); err != nil {
				t.Errorf("%s: %v", p, err)
			}
			manifests = append(manifests, m)
		}
		return nil
	})
	if len(manifests) != 1 || manifests[0].Site != "c.example.com.staging.example.com" || manifests[0].Reason != backup.ReasonDelete || manifests[0].Env != "staging" {
		t.Errorf("backups of staging: %+v", manifests)
	}
	// Nothing of staging is left to remove: it is an unknown environment.
	cli(exitUsage, "plan")
	if out := status(); strings.Contains(out, "staging") {
		t.Errorf("berth status lists staging after its removal:\n%s", out)
	}
}

// tree is the snapshot of what the web server and PHP-FPM read: the web
// root, the vhosts and the pools.
func (w *phpWeb) tree() map[string]string {
	snap := w.snapshot()
	snapshotTree(snap, w.phpRoot)
	return snap
}

// treeHash is one hash of a snapshot: every path with its content, mode
// and mtime.
func treeHash(snap map[string]string) string {
	h := sha256.New()
	for _, p := range slices.Sorted(maps.Keys(snap)) {
		fmt.Fprintf(h, "%s\x00%s\x00", p, snap[p])
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// currentLinks returns the target of every current link under root.
func currentLinks(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type()&fs.ModeSymlink != 0 && d.Name() == "current" {
			out[p], _ = os.Readlink(p)
		}
		return nil
	})
	return out
}

// production keeps the snapshot's entries that are not staging's: its own
// and the directories the environments share.
func production(snap map[string]string) map[string]string {
	out := map[string]string{}
	for p, v := range snap {
		if !strings.Contains(p, "staging") {
			out[p] = v
		}
	}
	return out
}
