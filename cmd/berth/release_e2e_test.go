package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/testenv"
)

// gitFixture is a platform's Git repository made with the git CLI.
type gitFixture struct {
	t   *testing.T
	dir string
}

func (g *gitFixture) git(args ...string) string {
	g.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = g.dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@berth.invalid",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@berth.invalid", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		g.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes index.html and commits it on main; it returns the commit.
func (g *gitFixture) commit(content string) string {
	g.t.Helper()
	if err := os.WriteFile(filepath.Join(g.dir, "index.html"), []byte(content), 0o644); err != nil {
		g.t.Fatal(err)
	}
	g.git("add", "-A")
	g.git("commit", "-q", "-m", content)
	return g.git("rev-parse", "HEAD")
}

// TestEndToEndRelease deploys a git platform to two real nginx servers,
// one local and one over SSH: built once, shipped to both; a new ref
// switches current while requests keep being answered; old builds are
// pruned to keep_builds; a failing build switches nothing.
func TestEndToEndRelease(t *testing.T) {
	base := t.TempDir()
	for _, d := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	g := &gitFixture{t: t, dir: filepath.Join(base, "app")}
	if err := os.Mkdir(g.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	g.git("init", "-q", "-b", "main")
	c1 := g.commit("v1\n")

	f := &webFixture{t: t, repo: filepath.Join(base, "repo"), stateDir: filepath.Join(base, "state"), reloads: filepath.Join(base, "reloads")}
	runs := filepath.Join(base, "build-runs")
	sshd := testenv.SSHD(t)
	f.flags = []string{"--ssh-key", sshd.KeyFile, "--known-hosts", sshd.KnownHostsFile}
	sshHost, sshPort, _ := net.SplitHostPort(sshd.Addr)
	f.write("berth.yaml", "environments:\n  production: { branch: main }\n")
	addrs := map[string]string{}
	webRoots := map[string]string{}
	for _, srv := range []struct{ name, address, ssh string }{
		{"web1", "local", ""},
		{"web2", sshHost, fmt.Sprintf("ssh: { user: %s, port: %s, sudo: true }\n", sshd.User, sshPort)},
	} {
		n := testenv.Nginx(t)
		addrs[srv.name] = n.Addr
		webRoots[srv.name] = filepath.Join(base, "www-"+srv.name)
		_, port, _ := net.SplitHostPort(n.Addr)
		f.write("servers/"+srv.name+".yaml", fmt.Sprintf(`kind: Server
name: %s
address: %s
%sservices:
  http:
    type: nginx
    listen: 127.0.0.1:%s
    conf_dir: %s
    web_root: %s
    user: nobody
    group: nogroup
    test: [nginx, -p, %q, -c, conf/nginx.conf, -t]
    reload: [nginx, -p, %q, -c, conf/nginx.conf, -s, reload]
`, srv.name, srv.address, srv.ssh, port, n.SitesDir, webRoots[srv.name], n.Prefix, n.Prefix))
	}
	platform := func(ref string, keep int, build ...string) {
		b := []string{fmt.Sprintf("echo run >> %s", runs), `printf '%s\n' "$BERTH_BUILD" > build.txt`}
		f.write("platforms/app.yaml", fmt.Sprintf("kind: Platform\nname: app\ntype: static\nsource: { git: \"file://%s\", ref: %s }\nkeep_builds: %d\nbuild: [%q, %q%s]\nservers: [web1, web2]\n",
			g.dir, ref, keep, b[0], b[1], strings.Join(append([]string{""}, quoteAll(build)...), ", ")))
	}
	platform(c1, 2)
	f.write("sites/app.yaml", "kind: Site\nname: app.example.com\nplatform: app\n")

	buildRuns := func() int {
		data, _ := os.ReadFile(runs)
		return strings.Count(string(data), "run\n")
	}
	get := func(server, path string) string {
		_, body := (&webFixture{t: t, addr: addrs[server]}).get("app.example.com", path, func(r *http.Response, _ string) bool { return r.StatusCode == 200 })
		return body
	}
	current := func(server string) string {
		target, err := os.Readlink(filepath.Join(webRoots[server], "platforms", "app", "production", "current"))
		if err != nil {
			t.Fatal(err)
		}
		return target
	}

	// 1. Built once, shipped to both servers, served by both.
	f.mustApply()
	if n := buildRuns(); n != 1 {
		t.Errorf("the build ran %d times for two servers, want once", n)
	}
	id1 := strings.TrimSpace(get("web1", "/build.txt"))
	for _, s := range []string{"web1", "web2"} {
		if body := get(s, "/"); body != "v1\n" {
			t.Errorf("%s serves %q, want v1", s, body)
		}
		if got := strings.TrimSpace(get(s, "/build.txt")); got != id1 || current(s) != "builds/"+id1 {
			t.Errorf("%s: build.txt %q, current -> %s, want build %s", s, got, current(s), id1)
		}
	}
	if code, out, _ := f.berth("plan"); code != 0 {
		t.Fatalf("plan after apply: exit %d\n%s", code, out)
	}

	// 2. A new ref (a tag) while requests keep coming: none fails.
	c2 := g.commit("v2\n")
	g.git("tag", "-a", "-m", "release 2", "r2", c2)
	platform("r2", 2)
	stop, errs, total := loadLoop(t, addrs["web1"], addrs["web2"])
	f.mustApply()
	stop()
	t.Logf("%d requests during the apply that switched current, %d failed", total.Load(), errs.Load())
	if n := errs.Load(); n != 0 || total.Load() == 0 {
		t.Errorf("%d of %d requests during the switch failed", n, total.Load())
	}
	for _, s := range []string{"web1", "web2"} {
		if body := get(s, "/"); body != "v2\n" {
			t.Errorf("%s serves %q after the switch, want v2", s, body)
		}
	}
	id2 := strings.TrimSpace(get("web2", "/build.txt"))
	if id2 == id1 || current("web2") != "builds/"+id2 || buildRuns() != 2 {
		t.Errorf("after the new ref: build %s (was %s), current -> %s, build runs %d", id2, id1, current("web2"), buildRuns())
	}
	if code, out, _ := f.berth("apply", "--auto-approve"); code != 0 || !strings.Contains(out, "No changes") {
		t.Errorf("apply after the switch: exit %d\n%s", code, out)
	}
	if n := buildRuns(); n != 2 {
		t.Errorf("a converged apply built again: %d runs", n)
	}

	// 3. A branch ref and keep_builds 2: the oldest build goes, on both.
	g.commit("v3\n")
	platform("main", 2)
	f.mustApply()
	for _, s := range []string{"web1", "web2"} {
		builds, _ := filepath.Glob(filepath.Join(webRoots[s], "platforms", "app", "production", "builds", "*", ".berth-build"))
		if len(builds) != 2 || get(s, "/") != "v3\n" {
			t.Errorf("%s: %d builds left (want 2), serves %q", s, len(builds), get(s, "/"))
		}
		if _, err := os.Stat(filepath.Join(webRoots[s], "platforms", "app", "production", "builds", id1)); err == nil {
			t.Errorf("%s: the oldest build %s was not pruned", s, id1)
		}
	}

	// 4. A failing build: the run fails with its output, nothing switches.
	g.commit("v4\n")
	platform("main", 2, "echo the-build-broke; exit 7")
	code, out, errOut := f.berth("apply", "--auto-approve")
	if code == 0 || !strings.Contains(out+errOut, "the-build-broke") {
		t.Fatalf("failing build: exit %d, want the command's output\n%s\n%s", code, out, errOut)
	}
	for _, s := range []string{"web1", "web2"} {
		if body := get(s, "/"); body != "v3\n" {
			t.Errorf("%s serves %q after the failed build, want v3", s, body)
		}
	}
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = fmt.Sprintf("%q", x)
	}
	return out
}

// loadLoop requests app.example.com from every address in a loop until
// stop is called; errs counts answers that are not 200 with a version.
func loadLoop(t *testing.T, addrs ...string) (stop func(), errs, total *atomic.Int64) {
	errs, total = new(atomic.Int64), new(atomic.Int64)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second}
	for _, addr := range addrs {
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/", nil)
				req.Host = "app.example.com"
				resp, err := client.Do(req)
				if ctx.Err() != nil {
					return
				}
				total.Add(1)
				if err != nil {
					errs.Add(1)
					t.Logf("GET %s: %v", addr, err)
					continue
				}
				var b bytes.Buffer
				_, _ = io.Copy(&b, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !strings.HasPrefix(b.String(), "v") {
					errs.Add(1)
					t.Logf("GET %s: %d %q", addr, resp.StatusCode, b.String())
				}
			}
		})
	}
	return func() { cancel(); wg.Wait() }, errs, total
}
