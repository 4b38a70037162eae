package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/forge"
	"github.com/berthhq/berth/internal/testenv"
)

// TestGiteaPullRequestLoop: a real Gitea (built by scripts/build-gitea,
// started on loopback with SQLite) hosts the sites repo. berth serve
// follows it: a push reaches berth through Gitea's own webhook, the run
// serves the new site on real nginx and berth sets the commit status
// berth/production to success on that commit, linking to the run; a
// commit whose configuration check fails gets failure. berth plan
// --comment on a pull request creates one comment, and after another
// push to the branch edits it instead of adding a second.
func TestGiteaPullRequestLoop(t *testing.T) {
	gt := testenv.Gitea(t)
	gt.API(t, "POST", "/user/repos", map[string]any{"name": "sites", "private": false, "default_branch": "main"}, nil)
	base := t.TempDir()
	for _, d := range []string{filepath.Dir(base), base} {
		os.Chmod(d, 0o755)
	}
	n := testenv.Nginx(t)
	web := &webFixture{t: t, addr: n.Addr, confDir: n.SitesDir, webRoot: filepath.Join(base, "www")}
	g := &gitRepo{t: t, work: filepath.Join(base, "work"), url: gt.CloneURL("sites")}
	os.MkdirAll(g.work, 0o755)
	g.git(g.work, "init", "-q", "-b", "main")
	g.git(g.work, "remote", "add", "origin", gt.PushURL("sites"))
	g.write("berth.yaml", "environments:\n  production: { branch: main }\n")
	server := nginxServer(n, web.webRoot)
	g.write("servers/web.yaml", server)
	g.write("platforms/static.yaml", "kind: Platform\nname: static\ntype: static\nsource: { path: code }\nservers: [web]\n")
	g.write("code/index.html", "<h1>static platform</h1>\n")
	site := func(name string) string {
		return fmt.Sprintf("kind: Site\nname: %s.example.com\nplatform: static\nweb:\n  headers:\n    X-Site: %s\n", name, name)
	}
	g.write("sites/a.yaml", site("a"))
	g.commit("main", "site a")

	secrets := t.TempDir()
	tokenFile, secretFile := filepath.Join(secrets, "forge.token"), filepath.Join(secrets, "gitea.secret")
	os.WriteFile(tokenFile, []byte(gt.Token(t, "berth", "write:repository", "write:issue")+"\n"), 0o600)
	os.WriteFile(secretFile, webhookSecret, 0o600)
	state := filepath.Join(base, "state")
	p := startServe(t, "--repo", g.url, "--state-dir", state, "--poll", "0", "--drift-interval", "0", "--health-interval", "0",
		"--gitea-secret-file", secretFile, "--forge-url", gt.URL, "--forge-repo", gt.Admin+"/sites", "--forge-token-file", tokenFile,
		"--public-url", "http://berth.example.test")
	owner := "/repos/" + gt.Admin + "/sites"
	gt.API(t, "POST", owner+"/hooks", map[string]any{"type": "gitea", "active": true, "events": []string{"push"},
		"config": map[string]string{"url": p.api + "/hooks/gitea", "content_type": "json", "secret": string(webhookSecret)}}, nil)

	status := func(sha, want string) {
		t.Helper()
		testenv.EventuallyWith(t, "commit status "+want+" on "+sha[:12], 2*time.Minute, func() (bool, string) {
			var combined struct {
				Statuses []struct {
					Status, Context string
					Target          string `json:"target_url"`
				}
			}
			// The combined status: the latest of each context.
			gt.API(t, "GET", owner+"/commits/"+sha+"/status", nil, &combined)
			for _, s := range combined.Statuses {
				if s.Context == "berth/production" {
					return s.Status == want && strings.HasPrefix(s.Target, "http://berth.example.test/ui/runs/"), fmt.Sprintf("%+v", s)
				}
			}
			return false, "no berth/production status"
		})
	}
	status(g.git(g.work, "rev-parse", "HEAD"), forge.StateSuccess)
	web.get("a.example.com", "/", siteAnswers("a"))

	// A push: Gitea's webhook starts the run; success on that commit.
	g.write("sites/b.yaml", site("b"))
	g.commit("main", "site b")
	status(g.git(g.work, "rev-parse", "HEAD"), forge.StateSuccess)
	web.get("b.example.com", "/", siteAnswers("b"))

	// A pull request: one plan comment, edited on the next push.
	g.git(g.work, "checkout", "-q", "-b", "feature")
	g.write("sites/c.yaml", site("c"))
	g.commit("feature", "site c")
	var pr struct{ Number int }
	gt.API(t, "POST", owner+"/pulls", map[string]any{"head": "feature", "base": "main", "title": "Add c"}, &pr)
	comment := func(want string) {
		t.Helper()
		var out, errOut bytes.Buffer
		code := run([]string{"plan", "--env", "production", "--repo", g.work, "--rev", g.git(g.work, "rev-parse", "HEAD"), "--state-dir", state,
			"--markdown", "--comment", fmt.Sprint(pr.Number), "--forge-url", gt.URL, "--forge-repo", gt.Admin + "/sites", "--forge-token-file", tokenFile}, &out, &errOut)
		if code != exitChanges {
			t.Fatalf("berth plan --comment: exit %d\n%s\n%s", code, out.String(), errOut.String())
		}
		var cs []struct{ Body string }
		gt.API(t, "GET", fmt.Sprintf("%s/issues/%d/comments", owner, pr.Number), nil, &cs)
		if len(cs) != 1 || !strings.Contains(cs[0].Body, forge.Marker("production")) || !strings.Contains(cs[0].Body, want) {
			t.Fatalf("comments of pull request #%d after a plan with %s: %+v", pr.Number, want, cs)
		}
		if strings.Contains(cs[0].Body, string(bytes.TrimSpace(mustRead(t, tokenFile)))) {
			t.Fatal("the comment holds the forge token")
		}
	}
	comment("c.example.com")
	g.write("sites/d.yaml", site("d"))
	g.commit("feature", "site d")
	comment("d.example.com")

	// A commit whose configuration check fails: failure on that commit.
	g.git(g.work, "checkout", "-q", "main")
	g.write("servers/web.yaml", strings.Replace(server, "test: [nginx,", "test: [false, nginx,", 1))
	g.write("sites/e.yaml", site("e"))
	g.commit("main", "a check that fails")
	status(g.git(g.work, "rev-parse", "HEAD"), forge.StateFailure)
	web.get("a.example.com", "/", siteAnswers("a"))
}
