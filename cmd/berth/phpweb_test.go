package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthhq/berth/internal/testenv"
)

// phpWeb is the fixture of the end-to-end tests that serve PHP: a real
// nginx and a real PHP-FPM 8.2 started for the test, a sites repo and
// state directory under base, and the pool and run directories berth
// writes per PHP version (base/php/VERSION/pool.d, …/run), of which
// PHP-FPM includes 8.2's. Server "web" (webServer) runs both as nobody.
type phpWeb struct {
	*webFixture
	base    string
	nginx   *testenv.NginxServer
	php     *testenv.PHPFPMServer
	phpRoot string // pool and run directories of every PHP version
	poolDir string // PHP 8.2's, which PHP-FPM includes
	fpmConf string
}

// newPHPWeb starts nginx and PHP-FPM and prepares the directories. base
// and its parent are made 0755 so that nobody reaches the web root.
func newPHPWeb(t *testing.T) *phpWeb {
	t.Helper()
	dropSiteUsers(t) // first, so that it runs after PHP-FPM stopped
	base := t.TempDir()
	for _, d := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	n := testenv.Nginx(t)
	php := testenv.PHPFPM(t)
	w := &phpWeb{
		webFixture: &webFixture{t: t, repo: filepath.Join(base, "repo"), stateDir: filepath.Join(base, "state"),
			webRoot: filepath.Join(base, "www"), confDir: n.SitesDir, addr: n.Addr},
		base: base, nginx: n, php: php, phpRoot: filepath.Join(base, "php"),
		poolDir: filepath.Join(base, "php", "8.2", "pool.d"), fpmConf: filepath.Join(php.Dir, "php-fpm.conf"),
	}
	for _, d := range []string{w.poolDir, filepath.Join(base, "php", "8.2", "run")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cf, err := os.OpenFile(w.fpmConf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(cf, "include = %s/*.conf\n", w.poolDir)
	if err := cf.Close(); err != nil {
		t.Fatal(err)
	}
	return w
}

// dropSiteUsers deletes, when the test ends, the Unix users of isolated
// sites (berth-*) that berth created during the test and did not delete
// itself: the next test starts from the same machine. The e2e tests of
// this package run one at a time, so no other test uses them. TestMain
// does the same for the tests without this fixture.
func dropSiteUsers(t *testing.T) {
	t.Helper()
	before, err := siteUsers()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := deleteSiteUsers(before); err != nil {
			t.Error(err)
		}
	})
}

// deleteSiteUsers deletes the berth-* users that are not in before.
func deleteSiteUsers(before map[string]bool) error {
	now, err := siteUsers()
	if err != nil {
		return err
	}
	var errs []error
	for u := range now {
		if before[u] {
			continue
		}
		// userdel exits 8 while a process still runs as the user (a
		// PHP-FPM worker finishing after the test's last reload): that
		// user is left for the next test, which adopts it. Exit 6: gone
		// already (berth deleted it as the test ended).
		out, err := exec.Command("userdel", u).CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == 6 {
			continue
		}
		if err != nil && !strings.Contains(string(out), "is currently used by process") {
			errs = append(errs, fmt.Errorf("userdel %s: %w\n%s", u, err, out))
		}
	}
	return errors.Join(errs...)
}

// siteUsers returns the names of the machine's berth-* users.
func siteUsers() (map[string]bool, error) {
	out, err := exec.Command("getent", "passwd").Output()
	if err != nil {
		return nil, fmt.Errorf("getent passwd: %w", err)
	}
	users := map[string]bool{}
	for l := range strings.Lines(string(out)) {
		if name, _, _ := strings.Cut(l, ":"); strings.HasPrefix(name, "berth-") {
			users[name] = true
		}
	}
	return users, nil
}

// nginxServer returns the Server document of "web": address local, the
// test's nginx n serving webRoot as nobody.
func nginxServer(n *testenv.NginxServer, webRoot string) string {
	return fmt.Sprintf(`kind: Server
name: web
address: local
services:
  http:
    type: nginx
    listen: %s
    conf_dir: %s
    web_root: %s
    user: nobody
    group: nogroup
    test: [nginx, -p, %q, -c, conf/nginx.conf, -t]
    reload: [nginx, -p, %q, -c, conf/nginx.conf, -s, reload]
`, n.Addr, n.SitesDir, webRoot, n.Prefix, n.Prefix)
}

// webServer returns the Server document of "web" (address local, the
// test's nginx and PHP-FPM); services is appended to its services
// (e.g. "  db: { type: sqlite }\n").
func (w *phpWeb) webServer(services string) string {
	return nginxServer(w.nginx, w.webRoot) + fmt.Sprintf(`  php:
    type: php-fpm
    pool_dir: %s
    run_dir: %s
    test: ["php-fpm{version}", -t, -y, %s]
    reload: [kill, -USR2, "%d"]
%s`, filepath.Join(w.phpRoot, "{version}", "pool.d"), filepath.Join(w.phpRoot, "{version}", "run"),
		w.fpmConf, w.php.Proc.Cmd.Process.Pid, services)
}
