package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/testenv"
	"github.com/berthhq/berth/state"
)

// webFixture is a sites repo whose one server "web" is a real nginx or
// apache2 started for the test, reached through the local driver or over
// SSH to a real sshd.
type webFixture struct {
	t        *testing.T
	repo     string
	stateDir string
	webRoot  string
	confDir  string
	addr     string // where the web server listens
	reloads  string // file the reload command appends a line to
	flags    []string
	sshd     *testenv.SSHServer // the server's sshd, when it is reached over SSH
	nginx    *testenv.NginxServer
}

type webKind struct {
	name string
	http string // nginx | apache
	ssh  bool
}

func newWebFixture(t *testing.T, k webKind) *webFixture {
	t.Helper()
	base := t.TempDir()
	// The web server's user (nobody) must reach the web root: open up the
	// test's temp directories, which Go creates 0700.
	for _, d := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f := &webFixture{t: t, repo: filepath.Join(base, "repo"), stateDir: filepath.Join(base, "state"),
		webRoot: filepath.Join(base, "www"), reloads: filepath.Join(base, "reloads")}
	var test, reload, user, group string
	switch k.http {
	case "nginx":
		n := testenv.Nginx(t)
		f.nginx = n
		f.addr, f.confDir = n.Addr, n.SitesDir
		test = fmt.Sprintf("[nginx, -p, %q, -c, conf/nginx.conf, -t]", n.Prefix)
		reload = fmt.Sprintf("[sh, -c, 'echo reload >> %s && exec nginx -p %s -c conf/nginx.conf -s reload']", f.reloads, n.Prefix)
		user, group = "nobody", "nogroup"
	case "apache":
		// Without mod_auth_basic: a site asking for basic auth is what this
		// server's apache2 -t refuses.
		a := testenv.Apache(t, "headers", "alias")
		f.addr, f.confDir = a.Addr, a.SitesDir
		test = fmt.Sprintf("[apache2, -d, %q, -f, conf/httpd.conf, -t]", a.Root)
		reload = fmt.Sprintf("[sh, -c, 'echo reload >> %s && exec apache2 -d %s -f conf/httpd.conf -k graceful']", f.reloads, a.Root)
		user, group = "nobody", "nogroup"
	}
	address := "local"
	sshLine := ""
	if k.ssh {
		s := testenv.SSHD(t)
		f.sshd = s
		h, p, _ := net.SplitHostPort(s.Addr)
		address = h
		sshLine = fmt.Sprintf("ssh: { user: %s, port: %s, sudo: true }\n", s.User, p)
		f.flags = []string{"--ssh-key", s.KeyFile, "--known-hosts", s.KnownHostsFile}
	}
	_, port, _ := net.SplitHostPort(f.addr)
	f.write("berth.yaml", "environments:\n  production: { branch: main }\npolicy: { max_deletions: 1 }\n")
	f.write("servers/web.yaml", fmt.Sprintf(`kind: Server
name: web
address: %s
%sservices:
  http:
    type: %s
    listen: 127.0.0.1:%s
    conf_dir: %s
    web_root: %s
    user: %s
    group: %s
    test: %s
    reload: %s
`, address, sshLine, k.http, port, f.confDir, f.webRoot, user, group, test, reload))
	f.write("platforms/static.yaml", "kind: Platform\nname: static\ntype: static\nsource: { path: code }\nservers: [web]\n")
	f.write("code/index.html", "<h1>static platform</h1>\n")
	for _, s := range []string{"a", "b", "c"} {
		f.site(s, "X-Site: "+s)
	}
	return f
}

func (f *webFixture) write(name, data string) {
	f.t.Helper()
	p := filepath.Join(f.repo, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// site writes site NAME.example.com with one response header.
func (f *webFixture) site(name, header string) {
	extra := ""
	if name == "a" {
		extra = "aliases: [www.a.example.com]\nredirect_aliases: true\n"
	}
	f.write("sites/"+name+".yaml", fmt.Sprintf("kind: Site\nname: %s.example.com\nplatform: static\n%sweb:\n  headers:\n    %s\n", name, extra, header))
}

// berth runs the CLI in-process and returns its exit status and output.
func (f *webFixture) berth(args ...string) (int, string, string) {
	f.t.Helper()
	args = append(append(args, "--env", "production", "--repo", f.repo, "--state-dir", f.stateDir, "--no-color"), f.flags...)
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func (f *webFixture) mustApply() string {
	f.t.Helper()
	code, out, errOut := f.berth("apply", "--auto-approve")
	if code != 0 {
		f.t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	return out
}

func (f *webFixture) reloadCount() int {
	data, err := os.ReadFile(f.reloads)
	if err != nil {
		return 0
	}
	return strings.Count(string(data), "reload\n")
}

// snapshot records content hash, mode and mtime of every file under the
// web root and the config directory.
func (f *webFixture) snapshot() map[string]string {
	f.t.Helper()
	snap := map[string]string{}
	for _, root := range []string{f.webRoot, f.confDir} {
		snapshotTree(snap, root)
	}
	return snap
}

// snapshotTree adds to snap every path under root: a regular file's
// content hash, mode and mtime; anything else's mode (a directory's mtime
// moves whenever a file in it is replaced; what matters is its mode).
// Sockets (PHP-FPM's) are left out.
func snapshotTree(snap map[string]string, root string) {
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSocket != 0 {
			return nil
		}
		info, _ := d.Info()
		if !d.Type().IsRegular() {
			snap[p] = info.Mode().String()
			return nil
		}
		data, _ := os.ReadFile(p)
		snap[p] = fmt.Sprintf("%x %v %d", sha256.Sum256(data), info.Mode(), info.ModTime().UnixNano())
		return nil
	})
}

func diffSnap(a, b map[string]string) []string {
	var d []string
	for k, v := range a {
		if b[k] != v {
			d = append(d, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			d = append(d, k+" (new)")
		}
	}
	return d
}

// get asks the web server for path with a Host header, waiting (bounded)
// for an answer that satisfies ok: a reload takes effect asynchronously.
func (f *webFixture) get(hostname, path string, ok func(*http.Response, string) bool) (*http.Response, string) {
	f.t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var resp *http.Response
	var body string
	testenv.EventuallyWith(f.t, fmt.Sprintf("satisfying answer to GET %s%s", hostname, path), 10*time.Second, func() (bool, string) {
		req, _ := http.NewRequest("GET", "http://"+f.addr+path, nil)
		req.Host = hostname
		r, err := client.Do(req)
		if err != nil {
			return false, err.Error()
		}
		var b bytes.Buffer
		b.ReadFrom(r.Body)
		r.Body.Close()
		resp, body = r, b.String()
		return ok(resp, body), fmt.Sprintf("%s %v %q", r.Status, r.Header, body)
	})
	return resp, body
}

func siteAnswers(name string) func(*http.Response, string) bool {
	return func(r *http.Response, body string) bool {
		return r.StatusCode == 200 && r.Header.Get("X-Site") == name && strings.Contains(body, "static platform")
	}
}

func TestEndToEndWeb(t *testing.T) {
	for _, k := range []webKind{
		{name: "nginx-local", http: "nginx"},
		{name: "nginx-ssh", http: "nginx", ssh: true},
		{name: "apache-local", http: "apache"},
		{name: "apache-ssh", http: "apache", ssh: true},
	} {
		t.Run(k.name, func(t *testing.T) { testEndToEndWeb(t, k) })
	}
}

func testEndToEndWeb(t *testing.T, k webKind) {
	f := newWebFixture(t, k)

	// 1. Apply: every site answers by Host header with its own content.
	out := f.mustApply()
	if !strings.Contains(out, "to add, 0 to change, 0 to destroy.") {
		t.Fatalf("first apply plan:\n%s", out)
	}
	for _, s := range []string{"a", "b", "c"} {
		f.get(s+".example.com", "/", siteAnswers(s))
	}
	r, _ := f.get("www.a.example.com", "/", func(r *http.Response, _ string) bool { return r.StatusCode == 301 })
	if loc := r.Header.Get("Location"); !strings.Contains(loc, "a.example.com") {
		t.Errorf("alias redirect to %q", loc)
	}
	if f.reloadCount() != 1 {
		t.Errorf("%d reloads after the first apply, want 1", f.reloadCount())
	}

	// 2. Apply again: empty plan, no file rewritten, no reload.
	before := f.snapshot()
	code, planOut, _ := f.berth("plan")
	if code != 0 || !strings.Contains(planOut, "Plan: 0 to add, 0 to change, 0 to destroy.") {
		t.Fatalf("plan after apply: exit %d\n%s", code, planOut)
	}
	f.mustApply()
	if d := diffSnap(before, f.snapshot()); len(d) > 0 {
		t.Errorf("a no-op apply touched %v", d)
	}
	if f.reloadCount() != 1 {
		t.Errorf("a no-op apply reloaded")
	}

	// 3. Edit one site: exactly its vhost changes, with a diff; one reload.
	f.site("c", "X-Site: c-edited")
	code, planOut, _ = f.berth("plan")
	if code != exitChanges || strings.Count(planOut, "\n  ~ ") != 1 || !strings.Contains(planOut, "~ site/c.example.com/vhost@web") ||
		!strings.Contains(planOut, "Plan: 0 to add, 1 to change, 0 to destroy.") || !strings.Contains(planOut, "c-edited") {
		t.Fatalf("plan after editing c: exit %d\n%s", code, planOut)
	}
	before = f.snapshot()
	f.mustApply()
	changed := diffSnap(before, f.snapshot())
	if len(changed) != 1 || !strings.HasSuffix(changed[0], "c.example.com.conf") {
		t.Errorf("editing one site wrote %v, want only its vhost", changed)
	}
	if f.reloadCount() != 2 {
		t.Errorf("%d reloads, want 2", f.reloadCount())
	}
	f.get("c.example.com", "/", siteAnswers("c-edited"))

	// 4. A broken revision: exit 1 with file:line:column, hosts unchanged.
	f.write("sites/b.yaml", "kind: Site\nname: b.example.com\nplatform: [static\n")
	before = f.snapshot()
	code, _, errOut := f.berth("apply", "--auto-approve")
	if code != 1 || !strings.Contains(errOut, "sites/b.yaml:4:1: invalid YAML") {
		t.Fatalf("broken revision: exit %d\n%s", code, errOut)
	}
	if d := diffSnap(before, f.snapshot()); len(d) > 0 {
		t.Errorf("a broken revision changed %v", d)
	}
	f.site("b", "X-Site: b")

	// 5. A config the web server rejects: check fails, old files restored,
	// the site answers as before, the run is recorded as failed. Valid as
	// far as berth can tell, refused by this server: for nginx a name longer
	// than server_names_hash_bucket_size allows, for apache basic auth on a
	// server without mod_auth_basic.
	if k.http == "nginx" {
		long := strings.Repeat("x", 60) + "." + strings.Repeat("y", 60) + "." + strings.Repeat("z", 60) + ".example.com"
		f.write("sites/b.yaml", "kind: Site\nname: b.example.com\nplatform: static\naliases: ["+long+"]\nweb:\n  headers:\n    X-Site: b2\n")
	} else {
		f.write("sites/b.yaml", "kind: Site\nname: b.example.com\nplatform: static\nweb:\n  headers:\n    X-Site: b2\n"+
			"  basic_auth: { users: ['u:$2y$05$TF9oqWf9ZqBc1b1F2VnFyOOOaCuwnfU0I1cFYAwSS5DNqj4W7JWuq'] }\n")
	}
	before = f.snapshot()
	code, out, errOut = f.berth("apply", "--auto-approve")
	if code != 1 || !strings.Contains(errOut, "configuration check failed") {
		t.Fatalf("rejected config: exit %d\n%s\n%s", code, out, errOut)
	}
	after := f.snapshot()
	for p, v := range before {
		if strings.HasSuffix(p, ".conf") && after[p] != v && !strings.HasPrefix(after[p], v[:64]) {
			t.Errorf("%s not restored", p)
		}
	}
	f.get("b.example.com", "/", siteAnswers("b"))
	st, err := state.Open(context.Background(), f.stateDir, state.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	runs, err := st.Runs(context.Background(), "production", 1)
	st.Close()
	if err != nil || len(runs) != 1 || runs[0].Result != state.ResultFailed || !strings.Contains(runs[0].Error, "check failed") {
		t.Fatalf("last run: %+v %v", runs, err)
	}
	f.site("b", "X-Site: b")
	f.mustApply()

	// 6. Delete more sites than policy allows: refused, nothing changed.
	for _, s := range []string{"b", "c"} {
		os.Remove(filepath.Join(f.repo, "sites", s+".yaml"))
	}
	before = f.snapshot()
	code, _, errOut = f.berth("apply", "--auto-approve")
	if code != 1 || !strings.Contains(errOut, "policy.max_deletions = 1") {
		t.Fatalf("over-policy deletion: exit %d\n%s", code, errOut)
	}
	if d := diffSnap(before, f.snapshot()); len(d) > 0 {
		t.Errorf("a refused plan changed %v", d)
	}
	// The same deletion in a revision that also raises the limit: the
	// revision cannot lift its own limit, still refused.
	f.write("berth.yaml", "environments:\n  production: { branch: main }\npolicy: { max_deletions: 100 }\n")
	code, _, errOut = f.berth("apply", "--auto-approve")
	if code != 1 || !strings.Contains(errOut, "policy.max_deletions = 1 allows (this revision raises it to 100") {
		t.Fatalf("over-policy deletion raising its own limit: exit %d\n%s", code, errOut)
	}
	if d := diffSnap(before, f.snapshot()); len(d) > 0 {
		t.Errorf("a refused plan changed %v", d)
	}
	f.write("berth.yaml", "environments:\n  production: { branch: main }\npolicy: { max_deletions: 1 }\n")

	// 7. Delete one site: its resources go, the others stay untouched.
	f.site("b", "X-Site: b")
	code, planOut, _ = f.berth("plan")
	if code != exitChanges || !strings.Contains(planOut, "- site/c.example.com/vhost@web") || strings.Contains(planOut, "site/b.example.com") ||
		strings.Contains(planOut, "\n  + ") || strings.Contains(planOut, "\n  ~ ") {
		t.Fatalf("plan deleting c: exit %d\n%s", code, planOut)
	}
	before = f.snapshot()
	f.mustApply()
	for _, p := range diffSnap(before, f.snapshot()) {
		if !strings.Contains(p, "c.example.com") {
			t.Errorf("deleting c touched %s", p)
		}
	}
	if _, err := os.Stat(filepath.Join(f.confDir, "c.example.com.conf")); !os.IsNotExist(err) {
		t.Errorf("c's vhost still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.webRoot, "sites", "c.example.com")); !os.IsNotExist(err) {
		t.Errorf("c's site dir still there: %v", err)
	}
	f.get("b.example.com", "/", siteAnswers("b"))
	f.get("c.example.com", "/", func(r *http.Response, _ string) bool { return r.Header.Get("X-Site") != "c-edited" })
}
