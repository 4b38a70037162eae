package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/daemon"
	"github.com/berthhq/berth/internal/testenv"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/state"
)

// TestEnvironmentsOnOneServer: production (main) and staging (staging, with
// a domain suffix) on one local nginx, with different code on the two
// branches. Before environments kept apart, both shared
// <web_root>/platforms/static/current and switched it back and forth.
func TestEnvironmentsOnOneServer(t *testing.T) {
	base := t.TempDir()
	for _, d := range []string{filepath.Dir(base), base} {
		os.Chmod(d, 0o755)
	}
	n := testenv.Nginx(t)
	web := &webFixture{t: t, addr: n.Addr, confDir: n.SitesDir, webRoot: filepath.Join(base, "www")}
	g := newGitRepo(t, base)
	g.write("berth.yaml", `environments:
  production: { branch: main }
  staging: { branch: staging, domain_suffix: .staging.example.com }
policy: { max_deletions: 2 }
`)
	g.write("servers/web.yaml", nginxServer(n, web.webRoot))
	g.write("platforms/static.yaml", "kind: Platform\nname: static\ntype: static\nsource: { path: code }\nservers: [web]\n")
	for _, s := range []string{"a", "b"} {
		g.write("sites/"+s+".yaml", fmt.Sprintf("kind: Site\nname: %s.example.com\nplatform: static\nweb:\n  headers:\n    X-Site: %s\n", s, s))
	}
	g.write("code/index.html", "<h1>production code</h1>\n")
	g.commit("main", "production")
	g.git(g.work, "checkout", "-q", "-b", "staging")
	g.write("code/index.html", "<h1>staging code</h1>\n")
	g.commit("staging", "staging code")
	g.git(g.work, "push", "-q", "-u", "origin", "staging")

	stateDir := filepath.Join(base, "state")
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
	}
	check()

	// Three drift runs of each environment change nothing: every one is a
	// no-op and no file (content, mode, mtime) or link moved.
	before, links := web.snapshot(), currentLinks(t, web.webRoot)
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
	if d := diffSnap(before, web.snapshot()); len(d) > 0 {
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
	prodBefore := production(web.snapshot())
	g.git(g.work, "rm", "-q", "sites/b.yaml")
	g.commit("staging", "b leaves staging")
	stagingHead = g.git(g.work, "rev-parse", "staging")
	p.push("staging", true, 0)
	p.until("staging without b", func(st map[string]daemon.EnvStatus) bool {
		return st["staging"].Phase == daemon.PhaseSynced && st["staging"].LastApplied == stagingHead
	})
	web.get("b.example.com.staging.example.com", "/", func(r *http.Response, _ string) bool { return r.StatusCode == 404 && r.Header.Get("X-Site") == "" })
	web.get("b.example.com", "/", serves("b", "production"))
	if d := diffSnap(prodBefore, production(web.snapshot())); len(d) > 0 {
		t.Errorf("removing a site from staging changed production's %v", d)
	}
	p.stop()

	// The staging environment removed from berth.yaml: its inventory is
	// pruned as a whole (a desired state with nothing in it, the server's
	// services from production, which keeps the server). Only staging's
	// resources go; production's files, links and shared directories stay
	// byte-identical.
	g.git(g.work, "checkout", "-q", "main")
	g.write("berth.yaml", "environments:\n  production: { branch: main }\npolicy: { max_deletions: 2 }\n")
	g.commit("main", "no more staging")
	prodBefore = production(web.snapshot())
	removeEnvironment(t, g.work, stateDir, "staging")
	web.get("a.example.com.staging.example.com", "/", func(r *http.Response, _ string) bool { return r.StatusCode == 404 && r.Header.Get("X-Site") == "" })
	for _, s := range []string{"a", "b"} {
		web.get(s+".example.com", "/", serves(s, "production"))
	}
	after := web.snapshot()
	if d := diffSnap(prodBefore, production(after)); len(d) > 0 {
		t.Errorf("removing staging changed production's %v", d)
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

// removeEnvironment prunes what env recorded, as converging an environment
// that berth.yaml no longer declares does: the desired state is empty and
// the services of the servers come from production, resolved from repo.
func removeEnvironment(t *testing.T, repo, stateDir, env string) {
	t.Helper()
	ctx := context.Background()
	f := &envFlags{env: "production", repo: repo, stateDir: stateDir}
	l, err := f.load(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	store, err := openState(ctx, stateDir, false, "test", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	e, prod, _, err := l.engine(ctx, store, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	gone := &reconcile.Desired{Env: env, Revision: "environment removed", Service: prod.Service}
	plan, err := e.Plan(ctx, gone, reconcile.PlanOptions{AllowDeletions: 10})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Summary().Destroy == 0 {
		t.Fatalf("pruning %s plans no deletion: %+v", env, plan.Changes)
	}
	res, err := e.Apply(ctx, plan)
	if err != nil {
		t.Fatalf("prune %s: %v (%+v)", env, err, res)
	}
}
