package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/berthhq/berth/daemon"
	"github.com/berthhq/berth/internal/testenv"
)

// TestMain lets the test binary stand in for the berth binary: with
// BERTH_TEST_MAIN=1 it runs berth's main, so end-to-end tests run
// `berth serve` as a real subprocess; with $BERTH_TEST_CERT_CLOCK_FILE
// its certificates' clock is fileClock's.
func TestMain(m *testing.M) {
	if os.Getenv("BERTH_TEST_MAIN") == "1" {
		if f := os.Getenv(clockFileEnv); f != "" {
			certClock = fileClock(f)
		}
		if d, err := time.ParseDuration(os.Getenv(migrationAheadEnv)); err == nil {
			migrationClock = func() time.Time { return time.Now().Add(d) }
		}
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	// The Unix users of isolated sites that berth created in tests and
	// left are deleted once every test (and its PHP-FPM) stopped.
	before, err := siteUsers()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := deleteSiteUsers(before); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

// gitRepo is a work repository pushing to a bare one that `git daemon`
// serves on loopback.
type gitRepo struct {
	t          *testing.T
	work, bare string
	url        string
}

func (g *gitRepo) git(dir string, args ...string) string {
	g.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		g.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func (g *gitRepo) write(name, data string) {
	g.t.Helper()
	p := filepath.Join(g.work, name)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		g.t.Fatal(err)
	}
}

// commit commits everything on branch and pushes it.
func (g *gitRepo) commit(branch, msg string) {
	g.t.Helper()
	if g.git(g.work, "symbolic-ref", "--short", "HEAD") != branch {
		g.git(g.work, "checkout", "-q", branch)
	}
	g.git(g.work, "add", "-A")
	g.git(g.work, "commit", "-q", "-m", msg)
	g.git(g.work, "push", "-q", "origin", branch)
}

func newGitRepo(t *testing.T, base string) *gitRepo {
	g := &gitRepo{t: t, work: filepath.Join(base, "work"), bare: filepath.Join(base, "git", "sites.git")}
	os.MkdirAll(g.work, 0o755)
	g.git(base, "init", "-q", "--bare", "-b", "main", g.bare)
	g.git(g.work, "init", "-q", "-b", "main")
	g.git(g.work, "remote", "add", "origin", g.bare)
	port := testenv.FreePort(t)
	cmd := exec.Command("git", "daemon", "--reuseaddr", "--export-all", "--base-path="+filepath.Dir(g.bare),
		"--listen=127.0.0.1", fmt.Sprintf("--port=%d", port), filepath.Dir(g.bare))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	testenv.WaitTCP(t, fmt.Sprintf("127.0.0.1:%d", port))
	g.url = fmt.Sprintf("git://127.0.0.1:%d/sites.git", port)
	return g
}

// serveProc is `berth serve` running as a subprocess.
type serveProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	api  string
	log  string
	done chan error
	// token is the API read token the test's requests carry.
	token string
	// deliveries numbers the webhooks sent, so each is a new delivery.
	deliveries atomic.Int64
}

// get GETs path from the API with the read token.
func (p *serveProc) get(path string) *http.Response {
	p.t.Helper()
	req, _ := http.NewRequest("GET", p.api+path, nil)
	req.Header.Set("Authorization", "Bearer "+p.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	return resp
}

func startServe(t *testing.T, args ...string) *serveProc {
	t.Helper()
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	p := &serveProc{t: t, api: "http://" + listen, log: filepath.Join(t.TempDir(), "serve.log"), done: make(chan error, 1), token: apiReadToken}
	readToken := filepath.Join(t.TempDir(), "api-read.token")
	if err := os.WriteFile(readToken, []byte(apiReadToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args = append([]string{"--api-read-token-file", readToken}, args...)
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(os.Args[0], append([]string{"serve", "--listen", listen, "--log-format", "json"}, args...)...)
	p.cmd.Env = append(os.Environ(), "BERTH_TEST_MAIN=1")
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait(); logf.Close() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("berth serve log:\n%s", b)
		}
	})
	testenv.WaitTCP(t, listen)
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *serveProc) stop() {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			p.t.Fatalf("berth serve exited with %v after SIGTERM", err)
		}
	case <-time.After(60 * time.Second):
		p.t.Fatal("berth serve did not exit within 60s of SIGTERM")
	}
}

func (p *serveProc) status() map[string]daemon.EnvStatus {
	p.t.Helper()
	resp := p.get("/api/v1/status")
	defer resp.Body.Close()
	var st struct{ Environments []daemon.EnvStatus }
	json.NewDecoder(resp.Body).Decode(&st)
	out := map[string]daemon.EnvStatus{}
	for _, e := range st.Environments {
		out[e.Env] = e
	}
	return out
}

// until polls the daemon's status (bounded) until cond holds.
func (p *serveProc) until(what string, cond func(map[string]daemon.EnvStatus) bool) map[string]daemon.EnvStatus {
	p.t.Helper()
	var st map[string]daemon.EnvStatus
	testenv.Eventually(p.t, what, 60*time.Second, func() bool {
		st = p.status()
		return cond(st)
	})
	return st
}

func (p *serveProc) runs(env string) []runJSONView {
	p.t.Helper()
	resp := p.get("/api/v1/runs?env=" + env + "&limit=1000")
	defer resp.Body.Close()
	var out struct{ Runs []runJSONView }
	json.NewDecoder(resp.Body).Decode(&out)
	return out.Runs
}

type runJSONView struct {
	ID      int64
	Trigger string
	Result  string
}

var webhookSecret = []byte("hook-secret-for-tests")

const apiReadToken = "api-read-token-for-tests"

// push posts a GitHub push webhook for branch, a new delivery each time,
// and returns the status code.
func (p *serveProc) push(branch string, sign bool, pad int) int {
	p.t.Helper()
	n := p.deliveries.Add(1)
	body := []byte(fmt.Sprintf(`{"ref":"refs/heads/%s","delivery":%d,"pad":%q}`, branch, n, strings.Repeat("x", pad)))
	return p.send(body, fmt.Sprint("delivery-", n), sign)
}

// send posts body as a GitHub push delivery id.
func (p *serveProc) send(body []byte, id string, sign bool) int {
	p.t.Helper()
	req, _ := http.NewRequest("POST", p.api+"/hooks/github", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", id)
	req.Header.Set("Content-Type", "application/json")
	mac := hmac.New(sha256.New, webhookSecret)
	mac.Write(body)
	sig := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if !sign {
		sig = "sha256=" + strings.Repeat("0", 64)
	}
	req.Header.Set("X-Hub-Signature-256", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func synced(rev string) func(map[string]daemon.EnvStatus) bool {
	return func(st map[string]daemon.EnvStatus) bool {
		return st["production"].Phase == daemon.PhaseSynced && st["production"].LastApplied == rev
	}
}

func TestServeEndToEnd(t *testing.T) {
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
  dev: { branch: dev, domain_suffix: .dev.example.com }
`)
	g.write("servers/web.yaml", nginxServer(n, web.webRoot))
	g.write("platforms/static.yaml", "kind: Platform\nname: static\ntype: static\nsource: { path: code }\nservers: [web]\n")
	g.write("code/index.html", "<h1>static platform</h1>\n")
	site := func(name string) string {
		return fmt.Sprintf("kind: Site\nname: %s.example.com\nplatform: static\nweb:\n  headers:\n    X-Site: %s\n", name, name)
	}
	g.write("sites/a.yaml", site("a"))
	g.commit("main", "a")
	g.git(g.work, "branch", "staging")
	g.git(g.work, "branch", "dev")
	g.git(g.work, "push", "-q", "origin", "staging", "dev")

	state := filepath.Join(base, "state")
	secret := filepath.Join(base, "webhook.secret")
	os.WriteFile(secret, webhookSecret, 0o600)
	args := []string{"--repo", g.url, "--state-dir", state, "--github-secret-file", secret, "--poll", "0", "--drift-interval", "0"}
	p := startServe(t, args...)
	p.until("every environment synced", func(st map[string]daemon.EnvStatus) bool {
		return len(st) == 3 && st["production"].Phase == daemon.PhaseSynced && st["staging"].Phase == daemon.PhaseSynced && st["dev"].Phase == daemon.PhaseSynced
	})
	web.get("a.example.com", "/", siteAnswers("a"))
	web.get("a.example.com.staging.example.com", "/", siteAnswers("a"))
	web.get("a.example.com.dev.example.com", "/", siteAnswers("a"))
	notServed := func(r *http.Response, _ string) bool { return r.StatusCode == 404 && r.Header.Get("X-Site") == "" }

	// A new site pushed to dev: dev serves it after the webhook; staging and
	// production do not.
	g.write("sites/b.yaml", site("b"))
	g.commit("dev", "b")
	start := time.Now()
	if code := p.push("dev", true, 0); code/100 != 2 {
		t.Fatalf("webhook: %d", code)
	}
	web.get("b.example.com.dev.example.com", "/", siteAnswers("b"))
	t.Logf("push to dev -> served by nginx: %v (webhook, fetch over git://, plan, apply, nginx -t + reload)", time.Since(start))
	web.get("b.example.com", "/", notServed)
	web.get("b.example.com.staging.example.com", "/", notServed)

	// Merge dev into main: production serves it; staging stays untouched.
	g.git(g.work, "checkout", "-q", "main")
	g.git(g.work, "merge", "-q", "--ff-only", "dev")
	g.git(g.work, "push", "-q", "origin", "main")
	head := g.git(g.work, "rev-parse", "main")
	p.push("main", true, 0)
	p.until("production at the merge", synced(head))
	web.get("b.example.com", "/", siteAnswers("b"))
	web.get("b.example.com.staging.example.com", "/", notServed)
	if st := p.status(); st["staging"].LastApplied == head {
		t.Error("staging moved with main")
	}

	// Wrong signature: 401 and no run. Oversize body: 413.
	before := len(p.runs("production"))
	if code := p.push("main", false, 0); code != http.StatusUnauthorized {
		t.Errorf("wrong signature: %d, want 401", code)
	}
	if code := p.push("main", true, 2<<20); code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversize body: %d, want 413", code)
	}

	// A delivery received again, under its ID or (signed body) under a new
	// one, is acknowledged and ignored.
	replay := []byte(`{"ref":"refs/heads/main","delivery":"replayed"}`)
	for i, want := range []int{http.StatusAccepted, http.StatusOK, http.StatusOK} {
		if code := p.send(replay, fmt.Sprint("replayed-", min(i, 1)), true); code != want {
			t.Errorf("delivery %d of the same push: %d, want %d", i, code, want)
		}
	}

	// berth status --server asks with the read token; without one it says
	// what to give.
	tokenFile := filepath.Join(base, "read.token")
	os.WriteFile(tokenFile, []byte(apiReadToken), 0o600)
	var out, errOut bytes.Buffer
	if code := run([]string{"status", "--server", p.api, "--token-file", tokenFile}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "production (branch main): Synced") {
		t.Errorf("berth status --server with the read token: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	out.Reset()
	errOut.Reset()
	if code := run([]string{"status", "--server", p.api}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "--token-file") {
		t.Errorf("berth status --server without a token: exit %d\n%s%s", code, out.String(), errOut.String())
	}

	// 100 concurrent valid webhooks for one new commit: one or two runs.
	g.write("sites/c.yaml", site("c"))
	g.commit("main", "c")
	head = g.git(g.work, "rev-parse", "main")
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() { p.push("main", true, 0) })
	}
	wg.Wait()
	p.until("production at c", synced(head))
	if n := len(p.runs("production")) - before; n < 1 || n > 2 {
		t.Errorf("100 webhooks (and one rejected) made %d runs, want 1 or 2", n)
	}
	web.get("c.example.com", "/", siteAnswers("c"))

	// Invalid YAML on main: Stalled with file:line; production keeps serving;
	// a fix recovers.
	g.write("sites/c.yaml", "kind: Site\nname: c.example.com\nplatform: [static\n")
	g.commit("main", "broken")
	p.push("main", true, 0)
	st := p.until("production stalled", func(st map[string]daemon.EnvStatus) bool { return st["production"].Phase == daemon.PhaseStalled })
	if pr := st["production"].Problems; len(pr) == 0 || pr[0].File != "sites/c.yaml" || pr[0].Line != 4 {
		t.Errorf("stalled problems: %+v", pr)
	}
	if st["production"].LastApplied != head {
		t.Errorf("the last good revision is no longer the applied one: %+v", st["production"])
	}
	web.get("c.example.com", "/", siteAnswers("c"))
	g.write("sites/c.yaml", site("c2"))
	g.commit("main", "fix")
	head = g.git(g.work, "rev-parse", "main")
	p.push("main", true, 0)
	p.until("production recovered", synced(head))
	web.get("c2.example.com", "/", siteAnswers("c2"))

	// SIGTERM right after a push: the daemon finishes its step and exits;
	// on restart the run converges.
	g.write("sites/d.yaml", site("d"))
	g.commit("main", "d")
	head = g.git(g.work, "rev-parse", "main")
	p.push("main", true, 0)
	p.stop()
	p = startServe(t, append(args[:len(args)-2], "--drift-interval", "1s")...)
	p.until("production at d after a restart", synced(head))
	web.get("d.example.com", "/", siteAnswers("d"))

	// A managed vhost edited by hand: the drift timer restores it, and the
	// run record says drift.
	vhost := filepath.Join(n.SitesDir, "d.example.com.conf")
	good, _ := os.ReadFile(vhost)
	os.WriteFile(vhost, []byte("# edited by hand\n"), 0o644)
	testenv.Eventually(t, "the drift timer restoring the vhost", 60*time.Second, func() bool {
		now, _ := os.ReadFile(vhost)
		return bytes.Equal(now, good)
	})
	// The file is restored before the run ends (check, reload, record).
	testenv.Eventually(t, "a succeeded drift run in the run history", 60*time.Second, func() bool {
		for _, r := range p.runs("production") {
			if strings.Contains(r.Trigger, "drift") && r.Result == "succeeded" {
				return true
			}
		}
		return false
	})
}
