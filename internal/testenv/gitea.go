package testenv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// GiteaVersion is the Gitea scripts/build-gitea builds.
const GiteaVersion = "v1.26.0"

// GiteaServer is a running Gitea on loopback with SQLite, started as user
// nobody (Gitea refuses root) in a work directory of its own, with one
// administrator.
type GiteaServer struct {
	URL      string // http://127.0.0.1:PORT
	Admin    string
	Password string
	Dir      string
	Proc     *Proc
}

// giteaBinary returns the built Gitea, building it first (once, with a
// lock) with scripts/build-gitea when it is missing.
func giteaBinary(t testing.TB) string {
	t.Helper()
	cache := os.Getenv("BERTH_GITEA_CACHE")
	if cache == "" {
		cache = "/var/cache/berth/gitea-" + GiteaVersion
	}
	bin := filepath.Join(cache, "gitea")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	unlock := lockFile(t, "gitea-build")
	defer unlock()
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	script, err := repoFile("scripts/build-gitea")
	if err != nil {
		t.Fatalf("testenv: gitea is not built (%s) and %v", bin, err)
	}
	t.Logf("testenv: building gitea %s into %s with %s (once; several minutes)", GiteaVersion, cache, script)
	cmd := exec.Command("bash", script)
	cmd.Env = append(os.Environ(), "BERTH_GITEA_CACHE="+cache)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv: scripts/build-gitea: %v\n%s", err, out)
	}
	return bin
}

// repoFile finds name relative to the module's top, from the test's
// working directory up.
func repoFile(name string) (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, name), nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod above the working directory to find %s", name)
		}
		d = parent
	}
}

// Gitea starts Gitea and stops it (by PID) when the test ends. A Gitea
// that exits before it answers (its free port taken meanwhile by another
// process of the machine) is started again, twice at most, in a new
// directory on a new port.
func Gitea(t testing.TB) *GiteaServer {
	t.Helper()
	bin := giteaBinary(t)
	need(t, "git", "git")
	need(t, "runuser", "util-linux")
	var errs []error
	for range 3 {
		g, err := startGitea(t, bin)
		if err == nil {
			return g
		}
		t.Logf("testenv: %v", err)
		errs = append(errs, err)
	}
	t.Fatalf("testenv: gitea did not start: %v", errors.Join(errs...))
	return nil
}

func startGitea(t testing.TB, bin string) (*GiteaServer, error) {
	t.Helper()
	w := tempRoot(t, "gitea")
	port := FreePort(t)
	g := &GiteaServer{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Admin: "berth-admin", Password: "admin-password-" + strconv.Itoa(port), Dir: w}
	cache := filepath.Dir(bin)
	for _, d := range []string{"options", "templates"} {
		if out, err := exec.Command("cp", "-r", filepath.Join(cache, d), filepath.Join(w, d)).CombinedOutput(); err != nil {
			t.Fatalf("testenv: copy gitea's %s: %v\n%s", d, err, out)
		}
	}
	conf := filepath.Join(w, "custom", "conf", "app.ini")
	mkdir(t, filepath.Dir(conf))
	writeFile(t, conf, fmt.Sprintf(`RUN_USER = nobody
WORK_PATH = %[1]s
[server]
HTTP_ADDR = 127.0.0.1
HTTP_PORT = %[2]d
ROOT_URL = %[3]s/
DISABLE_SSH = true
OFFLINE_MODE = true
[database]
DB_TYPE = sqlite3
PATH = %[1]s/data/gitea.db
[repository]
ROOT = %[1]s/repos
[security]
INSTALL_LOCK = true
SECRET_KEY = test-secret-key-%[2]d
[webhook]
ALLOWED_HOST_LIST = loopback
[log]
MODE = console
LEVEL = Info
`, w, port, g.URL))
	if out, err := exec.Command("chown", "-R", "nobody:nogroup", w).CombinedOutput(); err != nil {
		t.Fatalf("testenv: chown gitea's work dir: %v\n%s", err, out)
	}
	env := []string{"GITEA_WORK_DIR=" + w, "HOME=" + w, "USER=nobody", "PATH=" + os.Getenv("PATH")}
	as := func(args ...string) []string {
		return append([]string{"runuser", "-u", "nobody", "--", "env"}, append(env, args...)...)
	}
	// Gitea runs in its work dir: the test's own directory may be one
	// nobody cannot enter (a CI clone under a 0700 mktemp -d), and Gitea
	// exits at start when it cannot resolve where it is.
	inWork := func(c *exec.Cmd) { c.Dir = w }
	g.Proc = start(t, "gitea", filepath.Join(w, "gitea.log"), as(bin, "web", "--config", conf), inWork)
	if err := waitFor(g.Proc, "gitea's API at "+g.URL, 2*time.Minute, func() bool {
		resp, err := http.Get(g.URL + "/api/v1/version")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}); err != nil {
		g.Proc.Stop()
		return nil, err
	}
	argv := as(bin, "--config", conf, "admin", "user", "create", "--username", g.Admin, "--password", g.Password,
		"--email", "admin@example.test", "--admin", "--must-change-password=false")
	create := exec.Command(argv[0], argv[1:]...)
	inWork(create)
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("testenv: gitea admin user create: %v\n%s", err, out)
	}
	return g, nil
}

// API calls Gitea's REST API as the administrator (basic auth) and
// decodes the JSON answer into out (when not nil); it fails the test on a
// status other than 2xx.
func (g *GiteaServer) API(t testing.TB, method, path string, in, out any) {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, g.URL+"/api/v1"+path, body)
	req.SetBasicAuth(g.Admin, g.Password)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("gitea %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("gitea %s %s: %s\n%s", method, path, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("gitea %s %s: %v\n%s", method, path, err, b)
		}
	}
}

// Token creates an access token of the administrator with scopes.
func (g *GiteaServer) Token(t testing.TB, name string, scopes ...string) string {
	t.Helper()
	var out struct {
		SHA1 string `json:"sha1"`
	}
	g.API(t, "POST", "/users/"+g.Admin+"/tokens", map[string]any{"name": name, "scopes": scopes}, &out)
	if out.SHA1 == "" {
		t.Fatal("gitea answered no token")
	}
	return out.SHA1
}

// PushURL is the URL to push repo of the administrator with, credentials
// in it (for git push from the test only).
func (g *GiteaServer) PushURL(repo string) string {
	return fmt.Sprintf("http://%s:%s@%s/%s/%s.git", g.Admin, g.Password, g.URL[len("http://"):], g.Admin, repo)
}

// CloneURL is the anonymous URL of a public repository of the
// administrator.
func (g *GiteaServer) CloneURL(repo string) string {
	return fmt.Sprintf("%s/%s/%s.git", g.URL, g.Admin, repo)
}
