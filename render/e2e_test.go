package render

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/berthhq/berth/internal/testenv"
	"github.com/berthhq/berth/spec"
)

// e2eRepo is a sites repo for one server whose web server listens on
// listen, with every path under root. The sites: a PHP site with an upload
// limit, a PHP site behind basic auth, a static site with redirected
// aliases, headers and redirects, and a disabled site.
func e2eRepo(typ, listen, confDir, root, htpasswdLine string) fstest.MapFS {
	repo := fmt.Sprintf(`kind: Server
name: web
address: local
services:
  http: { type: %[1]s, listen: '%[2]s', conf_dir: %[3]s, web_root: %[4]s/www, user: nobody, group: nogroup }
  php: { type: php-fpm, pool_dir: %[4]s/php/pool.d, run_dir: %[4]s/php/run }
---
kind: Platform
name: php-app
type: php
source: { path: code/php-app }
docroot: public
servers: [web]
---
kind: Platform
name: static-site
type: static
source: { path: code/static-site }
servers: [web]
---
kind: Site
name: php.test
platform: php-app
tls: { acme: true }
web: { client_max_body_size: 1m }
---
kind: Site
name: auth.test
platform: php-app
tls: { acme: true }
web:
  basic_auth: { realm: Team only, users: ['%[5]s'] }
---
kind: Site
name: static.test
platform: static-site
aliases: [www.static.test]
redirect_aliases: true
tls: { acme: true }
web:
  headers: { X-Berth-Test: "50%% off; static", Cache-Control: no-store }
  redirects:
    - { from: /old/*, to: /new/, code: 308 }
    - { from: /chat, to: 'https://chat.example.com/', code: 302 }
    - { from: /search, to: 'https://find.example.com/?src=old' }
    - { from: /blog/*, to: 'https://blog.example.com/$1', code: 307 }
---
kind: Site
name: off.test
platform: static-site
state: disabled
tls: { acme: true }
`, typ, listen, confDir, root, htpasswdLine)
	return fstest.MapFS{
		"berth.yaml":                    {Data: []byte(acmeConfig)},
		"sites/e2e.yaml":                {Data: []byte(repo)},
		"code/php-app/public/index.php": {Data: []byte(indexPHP)},
		"code/static-site/index.html":   {Data: []byte(staticHTML)},
	}
}

// acmeConfig declares a CA, so the e2e sites may have tls.acme: their
// vhosts serve the HTTP-01 challenge directory, which deploy fills as
// package acme's Webroot would.
const acmeConfig = "environments:\n  production: { branch: main, acme: { directory: letsencrypt, email: hostmaster@example.com } }\n"

const (
	indexPHP = `<?php
header('Content-Type: text/plain');
echo "php ", PHP_VERSION_ID >= 80200 ? "ok" : "old", " host=", $_SERVER['HTTP_HOST'], " path=", $_SERVER['REQUEST_URI'];
echo " info=", $_SERVER['PATH_INFO'] ?? "", "\n";
`
	basedirPHP = `<?php
header('Content-Type: text/plain');
echo @file_get_contents('/etc/hostname') === false ? "denied" : "readable", "\n";
echo is_writable(session_save_path()) ? "sessions ok" : "sessions broken", "\n";
`
	staticHTML = "<h1>static site</h1>\n"
	schemePHP  = `<?php
echo "HTTPS=", $_SERVER['HTTPS'] ?? "", " scheme=", $_SERVER['REQUEST_SCHEME'] ?? "";
`
)

// rootDir makes a directory other users may traverse: the web server and
// PHP drop privileges to nobody, and t.TempDir is private to root.
func rootDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "berth-render-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func mustWrite(t *testing.T, p string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(path.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// chown applies an owner and group by name; "" leaves it as it is.
func chown(t *testing.T, p, owner, group string) {
	t.Helper()
	uid, gid := -1, -1
	if owner != "" {
		u, err := user.Lookup(owner)
		if err != nil {
			t.Fatal(err)
		}
		uid, _ = strconv.Atoi(u.Uid)
	}
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			t.Fatal(err)
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	if err := os.Lchown(p, uid, gid); err != nil {
		t.Fatal(err)
	}
}

// created are the users ensureUser created, deleted by TestMain once
// every test (and the php-fpm each started, whose workers run as them)
// stopped.
var (
	createdMu sync.Mutex
	created   []string
)

func TestMain(m *testing.M) {
	code := m.Run()
	for _, u := range created {
		// Exit 6: the user is gone already.
		if out, err := exec.Command("userdel", u).CombinedOutput(); err != nil && exitCode(err) != 6 {
			fmt.Fprintf(os.Stderr, "userdel %s: %v\n%s", u, err, out)
			code = 1
		}
	}
	os.Exit(code)
}

// ensureUser creates the system user name and its group when it does not
// exist, as kind/account does for an isolated site; TestMain deletes it.
func ensureUser(t *testing.T, name string) {
	t.Helper()
	createdMu.Lock()
	defer createdMu.Unlock()
	if _, err := user.Lookup(name); err == nil {
		return
	}
	if out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
	created = append(created, name)
}

// deploy does what berth's apply does with render's output (directories,
// then files, with their modes and owners), and puts platform code where
// a deployment would: a build directory behind the current symlink.
func deploy(t *testing.T, fsys fstest.MapFS) (sites []spec.ResolvedSite, srv spec.ResolvedServer) {
	t.Helper()
	repo, err := spec.Load(fsys)
	if err != nil {
		t.Fatalf("e2e repo: %v", err)
	}
	res, err := spec.Resolve(repo, "production")
	if err != nil {
		t.Fatal(err)
	}
	for _, sv := range res.Servers {
		if sv.Name == "web" {
			srv = sv
		}
	}
	for i := range res.Sites {
		site := &res.Sites[i]
		dirs, files, err := Site(site, &srv)
		if err != nil {
			t.Fatal(err)
		}
		if u := SiteUser(site); u != "" {
			ensureUser(t, u)
		}
		for _, d := range dirs {
			// Shared parents are world-traversable, as reconcile makes them.
			if err := os.MkdirAll(path.Dir(d.Path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(d.Path, d.Mode); err != nil && !os.IsExist(err) {
				t.Fatal(err)
			}
			if err := os.Chmod(d.Path, d.Mode); err != nil {
				t.Fatal(err)
			}
			chown(t, d.Path, d.Owner, d.Group)
		}
		for _, f := range files {
			mustWrite(t, f.Path, f.Content, f.Mode)
			chown(t, f.Path, f.Owner, f.Group)
		}
		if site.TLS.ACME {
			p := Paths(site, &srv)
			mustWrite(t, p.ACMEDir+ChallengeDir+"/token-"+site.Name, []byte("keyauth of "+site.Name), 0o644)
		}
	}
	code := map[string]map[string]string{
		"php-app":     {"public/index.php": indexPHP, "public/basedir.php": basedirPHP, "public/scheme.php": schemePHP},
		"static-site": {"index.html": staticHTML, ".git/config": "secret\n", "new/index.html": "new\n"},
	}
	for _, pl := range res.Platforms {
		p := Paths(&spec.ResolvedSite{Platform: pl.Name, Environment: res.Environment}, &srv)
		build := path.Join(p.PlatformDir, "builds", "1")
		for name, content := range code[pl.Name] {
			mustWrite(t, path.Join(build, name), []byte(content), 0o644)
		}
		if err := os.Symlink("builds/1", p.Current); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(srv.PHP.For(spec.DefaultPHP).RunDir, 0o755); err != nil {
		t.Fatal(err)
	}
	return res.Sites, srv
}

// reloadPHPFPM makes the test's php-fpm include the rendered pools, asks it
// to reload (SIGUSR2: it re-executes itself, same PID) and waits for the
// sockets of the new pools.
func reloadPHPFPM(t *testing.T, p *testenv.PHPFPMServer, srv *spec.ResolvedServer, sites []spec.ResolvedSite) {
	t.Helper()
	v := srv.PHP.For(spec.DefaultPHP)
	cfg := filepath.Join(p.Dir, "php-fpm.conf")
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "include = %s/*.conf\n", v.PoolDir)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Proc.Cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	for _, s := range sites {
		if s.PHP == "" {
			continue
		}
		sock := Paths(&s, srv).Socket
		poll(t, "php-fpm socket "+sock, func() (bool, string) {
			_, err := os.Stat(sock)
			return err == nil, fmt.Sprint(err)
		})
	}
}

// children returns the PIDs of a process's children.
func children(t *testing.T, pid int) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, c := range strings.Fields(string(b)) {
		out[c] = true
	}
	return out
}

// reloadAndWait reloads a web server whose master process is pid and
// waits until every worker of the old configuration has exited: until
// then an old worker may still accept a connection and answer from the
// old configuration.
func reloadAndWait(t *testing.T, pid int, reload func() error) {
	t.Helper()
	old := children(t, pid)
	if err := reload(); err != nil {
		t.Fatal(err)
	}
	poll(t, "exit of the workers of the old configuration", func() (bool, string) {
		now := children(t, pid)
		for c := range old {
			if now[c] {
				return false, "worker " + c + " still runs"
			}
		}
		return len(now) > 0, "no workers"
	})
}

// poll calls cond until it returns true, for at most ten seconds.
func poll(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	testenv.EventuallyWith(t, what, 10*time.Second, cond)
}

type answer struct {
	code   int
	header http.Header
	body   string
}

func get(t *testing.T, addr, method, host, target string, body io.Reader, auth ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+target, body)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(addr, ":")
	req.Host = host + ":" + port
	if len(auth) == 2 {
		req.SetBasicAuth(auth[0], auth[1])
	}
	c := &http.Client{
		// A new connection per request: a kept-alive one may still
		// belong to a worker of the configuration before the reload.
		Transport:     &http.Transport{DisableKeepAlives: true},
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s http://%s%s: %v", method, host, target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

// checkServed runs the same checks against either web server.
func checkServed(t *testing.T, addr string) {
	type check struct {
		name, method, host, target string
		body                       io.Reader
		auth                       []string
		code                       int
		contains                   string
		headers                    map[string]string
	}
	big := strings.Repeat("x", 2<<20)
	checks := []check{
		{name: "php front controller", host: "php.test", target: "/", code: 200, contains: "php ok host=php.test:{port} path=/ info=\n"},
		{name: "php pretty URL", host: "php.test", target: "/articles/1?x=2", code: 200, contains: "path=/articles/1?x=2"},
		{name: "php path info", host: "php.test", target: "/index.php/extra", code: 200, contains: "info=/extra"},
		{name: "php open_basedir", host: "php.test", target: "/basedir.php", code: 200, contains: "denied\nsessions ok\n"},
		{name: "php body limit", method: "POST", host: "php.test", target: "/", body: strings.NewReader(big), code: 413},
		{name: "php body limit direct", method: "POST", host: "php.test", target: "/index.php", body: strings.NewReader(big), code: 413},
		{name: "php body limit pretty", method: "POST", host: "php.test", target: "/x/y", body: strings.NewReader(big), code: 413},
		{name: "auth without credentials", host: "auth.test", target: "/", code: 401,
			headers: map[string]string{"Www-Authenticate": `Basic realm="Team only"`}},
		{name: "auth wrong password", host: "auth.test", target: "/", auth: []string{"alice", "wrong"}, code: 401},
		{name: "auth with credentials", host: "auth.test", target: "/", auth: []string{"alice", "s3cret"}, code: 200, contains: "php ok host=auth.test:{port} "},
		{name: "static file", host: "static.test", target: "/", code: 200, contains: staticHTML,
			headers: map[string]string{"X-Berth-Test": "50% off; static", "Cache-Control": "no-store"}},
		{name: "static missing", host: "static.test", target: "/nope.html", code: 404,
			headers: map[string]string{"X-Berth-Test": "50% off; static"}},
		{name: "dotfiles refused", host: "static.test", target: "/.git/config", code: 403},
		{name: "prefix redirect", host: "static.test", target: "/old/page?q=1", code: 308,
			headers: map[string]string{"Location": "http://static.test:{port}/new/?q=1"}},
		{name: "redirect to a query", host: "static.test", target: "/search?q=1", code: 301,
			headers: map[string]string{"Location": "https://find.example.com/?src=old"}},
		{name: "wildcard redirect keeps the rest", host: "static.test", target: "/blog/2026/a-post?x=1", code: 307,
			headers: map[string]string{"Location": "https://blog.example.com/2026/a-post?x=1"}},
		{name: "wildcard redirect of the prefix", host: "static.test", target: "/blog/", code: 307,
			headers: map[string]string{"Location": "https://blog.example.com/"}},
		{name: "exact redirect", host: "static.test", target: "/chat", code: 302,
			headers: map[string]string{"Location": "https://chat.example.com/"}},
		{name: "exact redirect is exact", host: "static.test", target: "/chat/more", code: 404},
		{name: "redirected alias", host: "www.static.test", target: "/a/b?c=d", code: 301,
			headers: map[string]string{"Location": "http://static.test:{port}/a/b?c=d"}},
		{name: "challenge before the front controller", host: "php.test", target: "/.well-known/acme-challenge/token-php.test", code: 200, contains: "keyauth of php.test"},
		{name: "challenge missing is not the application", host: "php.test", target: "/.well-known/acme-challenge/nope", code: 404},
		{name: "challenge without credentials", host: "auth.test", target: "/.well-known/acme-challenge/token-auth.test", code: 200, contains: "keyauth of auth.test"},
		{name: "challenge on a redirected alias", host: "www.static.test", target: "/.well-known/acme-challenge/token-static.test", code: 200, contains: "keyauth of static.test"},
		{name: "challenge of a disabled site", host: "off.test", target: "/.well-known/acme-challenge/token-off.test", code: 200, contains: "keyauth of off.test"},
		{name: "disabled", host: "off.test", target: "/", code: 503, contains: "<h1>off.test is disabled</h1>"},
		{name: "disabled deep path", host: "off.test", target: "/some/page.php", code: 503, contains: "off.test is disabled"},
		{name: "disabled page itself", host: "off.test", target: "/index.html", code: 503, contains: "off.test is disabled"},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			a := get(t, addr, cmpOr(c.method, "GET"), c.host, c.target, c.body, c.auth...)
			if a.code != c.code {
				t.Fatalf("%s http://%s%s = %d, want %d; body:\n%s", cmpOr(c.method, "GET"), c.host, c.target, a.code, c.code, a.body)
			}
			_, port, _ := strings.Cut(addr, ":")
			if c.contains = strings.ReplaceAll(c.contains, "{port}", port); !strings.Contains(a.body, c.contains) {
				t.Errorf("body %q does not contain %q", a.body, c.contains)
			}
			for k, v := range c.headers {
				if v = strings.ReplaceAll(v, "{port}", port); a.header.Get(k) != v {
					got := a.header.Get(k)
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func htpasswdLine(t *testing.T) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return "alice:" + string(hash)
}

// TestServeNginx renders the sites into a real nginx and a real php-fpm
// and asks them over HTTP.
func TestServeNginx(t *testing.T) {
	n := testenv.Nginx(t)
	p := testenv.PHPFPM(t)
	root := rootDir(t)
	sites, srv := deploy(t, e2eRepo("nginx", n.Addr, n.SitesDir, root, htpasswdLine(t)))
	reloadPHPFPM(t, p, &srv, sites)
	if err := n.Test(); err != nil {
		t.Fatal(err)
	}
	reloadAndWait(t, n.Proc.PID(), n.Reload)
	poll(t, "answer from the reloaded nginx", func() (bool, string) {
		a := get(t, n.Addr, "GET", "static.test", "/", nil)
		return a.body == staticHTML, fmt.Sprint(a.code, a.body)
	})
	checkServed(t, n.Addr)
}

// TestServeApache is TestServeNginx with apache2.
func TestServeApache(t *testing.T) {
	a := testenv.Apache(t)
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(a.Root, "logs", "error.log"))
			t.Logf("apache2 error.log:\n%s", b)
		}
	})
	p := testenv.PHPFPM(t)
	root := rootDir(t)
	mustWrite(t, filepath.Join(a.SitesDir, "00-berth-modules.conf"), []byte(apacheModulesConf()), 0o644)
	sites, srv := deploy(t, e2eRepo("apache", a.Addr, a.SitesDir, root, htpasswdLine(t)))
	reloadPHPFPM(t, p, &srv, sites)
	if err := a.Test(); err != nil {
		t.Fatal(err)
	}
	reloadAndWait(t, a.Proc.PID(), a.Graceful)
	poll(t, "answer from the reloaded apache2", func() (bool, string) {
		a := get(t, a.Addr, "GET", "static.test", "/", nil)
		return a.body == staticHTML, fmt.Sprint(a.code, a.body)
	})
	checkServed(t, a.Addr)
}

func exitCode(err error) int {
	var e *exec.ExitError
	if errors.As(err, &e) {
		return e.ExitCode()
	}
	return -1
}

// TestServeBehindTLSLB: a PHP site whose load balancer (lb1, its requests
// from 127.0.0.1) terminates TLS, on a real nginx and a real apache2 with
// php-fpm: PHP sees HTTPS on for a request from the load balancer's
// address saying X-Forwarded-Proto https, and not for the same request
// from another address (127.0.0.2) nor without the header.
func TestServeBehindTLSLB(t *testing.T) {
	for _, typ := range []string{"nginx", "apache"} {
		t.Run(typ, func(t *testing.T) {
			var addr, sitesDir string
			var test, reload func() error
			var pid int
			if typ == "nginx" {
				n := testenv.Nginx(t)
				addr, sitesDir, test, reload, pid = n.Addr, n.SitesDir, n.Test, n.Reload, n.Proc.PID()
			} else {
				a := testenv.Apache(t)
				mustWrite(t, filepath.Join(a.SitesDir, "00-berth-modules.conf"), []byte(apacheModulesConf()), 0o644)
				addr, sitesDir, test, reload, pid = a.Addr, a.SitesDir, a.Test, a.Graceful, a.Proc.PID()
			}
			p := testenv.PHPFPM(t)
			root := rootDir(t)
			repo := fmt.Sprintf(`kind: Server
name: lb1
address: 127.0.0.1
services:
  lb: { type: nginx, listen: 8000, tls_listen: 8443, conf_dir: %[4]s/lb, cert_dir: %[4]s/lb-certs, acme_dir: %[4]s/lb-acme }
---
kind: Server
name: web
address: 127.0.0.1
services:
  http: { type: %[1]s, listen: '%[2]s', conf_dir: %[3]s, web_root: %[4]s/www, user: nobody, group: nogroup }
  php: { type: php-fpm, pool_dir: %[4]s/php/pool.d, run_dir: %[4]s/php/run }
---
kind: Platform
name: php-app
type: php
source: { path: code/php-app }
docroot: public
servers: [web]
lb: lb1
---
kind: Site
name: php.test
platform: php-app
tls: { acme: true }
`, typ, addr, sitesDir, root)
			sites, srv := deploy(t, fstest.MapFS{
				"berth.yaml":                    {Data: []byte(acmeConfig)},
				"sites/e2e.yaml":                {Data: []byte(repo)},
				"code/php-app/public/index.php": {Data: []byte(indexPHP)},
			})
			reloadPHPFPM(t, p, &srv, sites)
			if err := test(); err != nil {
				t.Fatal(err)
			}
			reloadAndWait(t, pid, reload)
			ask := func(from string, proto string) string {
				req, _ := http.NewRequest("GET", "http://"+addr+"/scheme.php", nil)
				req.Host = "php.test"
				if proto != "" {
					req.Header.Set("X-Forwarded-Proto", proto)
				}
				d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
				c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, DialContext: d.DialContext}}
				r, err := c.Do(req)
				if err != nil {
					return err.Error()
				}
				defer r.Body.Close()
				b, _ := io.ReadAll(r.Body)
				return fmt.Sprintf("%d %s", r.StatusCode, b)
			}
			poll(t, "PHP behind the load balancer", func() (bool, string) {
				got := ask("127.0.0.1", "https")
				return got == "200 HTTPS=on scheme=https" || typ == "apache" && got == "200 HTTPS=on scheme=http", got
			})
			for _, tc := range []struct{ from, proto, want string }{
				{"127.0.0.1", "http", "200 HTTPS= scheme=http"},
				{"127.0.0.1", "", "200 HTTPS= scheme=http"},
				{"127.0.0.2", "https", "200 HTTPS= scheme=http"},
			} {
				if got := ask(tc.from, tc.proto); got != tc.want {
					t.Errorf("from %s with X-Forwarded-Proto %q: PHP says %q, want %q", tc.from, tc.proto, got, tc.want)
				}
			}
		})
	}
}
