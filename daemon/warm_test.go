package daemon

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/berthhq/berth/desired"
	"github.com/berthhq/berth/internal/testenv"
	"github.com/berthhq/berth/spec"
)

// warmServer is the fixture's server with a PHP-FPM and SQLite, whose
// nginx reload leaves a mark, so a test sees when the http service was
// reloaded.
const warmServer = `kind: Server
name: local
address: local
services:
  http:
    type: nginx
    conf_dir: sites
    web_root: www
    user: root
    test: ["true"]
    reload: ["touch", "reloaded"]
  php:
    type: php-fpm
    pool_dir: php/{version}/pool
    run_dir: RUN_DIR
    test: ["true"]
    reload: ["true"]
  db:
    type: sqlite
`

var hashSalt = regexp.MustCompile(`\$settings\['hash_salt'\] = '([^']+)'`)

// TestWarmDriftCheck: a drift check or poll of the revision last built
// reuses its desired state — the repo is not read again (loads counts the
// Source's FS calls) — yet observes the hosts and repairs what differs on
// them, honours what changed in the state store between two runs (a
// secret, a pending reload) and retries an apply that failed half way;
// a new revision or a manual trigger builds anew.
func TestWarmDriftCheck(t *testing.T) {
	type fix = *fixture
	tests := []struct {
		name string
		// before prepares the repo before the first run; between changes
		// things after it, before the second.
		before, between func(f fix)
		reason          string
		wantLoads       int64 // repo reads by the second run
		check           func(f fix, s EnvStatus)
	}{{
		name: "a file edited on the host is restored without reading the repo",
		between: func(f fix) {
			f.writeHost("sites/a.example.com.conf", "# edited by hand\n")
		},
		reason: ReasonDrift,
		check: func(f fix, s EnvStatus) {
			if got := f.readHost("sites/a.example.com.conf"); !strings.Contains(got, `server_name "a.example.com"`) {
				f.t.Errorf("the vhost was not restored:\n%s", got)
			}
			if r := f.lastRun(); r.Trigger != ReasonDrift || r.Result != "succeeded" {
				f.t.Errorf("run record: %+v", r)
			}
		},
	}, {
		name:   "a drift check that finds nothing changes nothing and reads no repo",
		reason: ReasonDrift,
		check: func(f fix, s EnvStatus) {
			if r := f.lastRun(); r.Result != "no-op" || s.Phase != PhaseSynced {
				f.t.Errorf("run record %+v, status %+v", r, s)
			}
		},
	}, {
		name: "a new revision is built",
		between: func(f fix) {
			f.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: static\nweb: { headers: { X-New: \"yes\" } }\n")
		},
		reason:    ReasonWatch,
		wantLoads: 1,
		check: func(f fix, s EnvStatus) {
			if got := f.readHost("sites/a.example.com.conf"); !strings.Contains(got, "X-New") {
				f.t.Errorf("the new revision was not applied:\n%s", got)
			}
		},
	}, {
		name:      "a manual run builds anew",
		reason:    ReasonManual,
		wantLoads: 1,
		check:     func(f fix, s EnvStatus) {},
	}, {
		name: "a secret changed in the store is honoured",
		before: func(f fix) {
			f.write("servers/local.yaml", serverWithRunDir(f))
			f.write("platforms/cms.yaml", "kind: Platform\nname: cms\ntype: drupal\nsource: { path: cms }\nservers: [local]\n")
			f.write("cms/index.php", "<?php\n")
			f.write("sites/b.yaml", "kind: Site\nname: b.example.com\nplatform: cms\ndb: { server: local }\n")
		},
		between: func(f fix) {
			if err := f.store.DeleteSecret(context.Background(), desired.SaltSecretKey("production", "b.example.com", "hash_salt")); err != nil {
				f.t.Fatal(err)
			}
		},
		reason:    ReasonDrift,
		wantLoads: 1,
		check: func(f fix, s EnvStatus) {
			salt, err := f.store.Secret(context.Background(), desired.SaltSecretKey("production", "b.example.com", "hash_salt"), nil)
			if err != nil {
				f.t.Fatal(err)
			}
			m := hashSalt.FindStringSubmatch(f.readHost("www/sites/b.example.com/settings.php"))
			if m == nil || m[1] != salt {
				f.t.Errorf("settings.php holds salt %q, the store %q", m, salt)
			}
		},
	}, {
		name:   "a pending reload recorded between runs is run",
		before: func(f fix) { f.write("servers/local.yaml", serverWithRunDir(f)) },
		between: func(f fix) {
			if err := os.Remove(filepath.Join(f.state, "reloaded")); err != nil {
				f.t.Fatal(err)
			}
			if err := f.store.AddPendingReloads(context.Background(), "production", "local", []string{"http"}); err != nil {
				f.t.Fatal(err)
			}
		},
		reason: ReasonDrift,
		check: func(f fix, s EnvStatus) {
			if _, err := os.Stat(filepath.Join(f.state, "reloaded")); err != nil {
				f.t.Errorf("the pending reload was not run: %v", err)
			}
		},
	}, {
		// The platform's build fails until a file outside the repo
		// exists: the first run writes the site's files but not the
		// release; the poll that retries it builds and ships the release
		// from the kept desired state.
		name: "an apply that failed half way is finished by the next poll",
		before: func(f fix) {
			f.write("platforms/static.yaml", "kind: Platform\nname: static\ntype: static\nsource: { path: code }\nservers: [local]\nbuild: [\"test -e "+filepath.Join(f.state, "build-ok")+"\"]\n")
		},
		between: func(f fix) {
			s := f.first
			if s.Phase != PhaseOutOfSync || s.Health != HealthDegraded {
				f.t.Errorf("the first run should have failed: %+v", s)
			}
			if !strings.Contains(f.readHost("sites/a.example.com.conf"), `server_name "a.example.com"`) {
				f.t.Error("the first run did not write the vhost: it failed before half way")
			}
			f.writeHost("build-ok", "")
		},
		reason: ReasonPoll,
		check: func(f fix, s EnvStatus) {
			if s.Phase != PhaseSynced {
				f.t.Errorf("status after the retry: %+v", s)
			}
			if got := f.readHost("www/platforms/static/production/current/index.html"); got != "hello\n" {
				f.t.Errorf("the release was not deployed: %q", got)
			}
		},
	}, {
		name:   "a git platform still at the same commit is not built again",
		before: func(f fix) { f.gitPlatform("1111111111111111111111111111111111111111") },
		reason: ReasonDrift,
		check: func(f fix, s EnvStatus) {
			if n := f.code.resolves.Load(); n != 2 {
				f.t.Errorf("the git platform was resolved %d times, want 2 (the build, the check of the kept state)", n)
			}
		},
	}, {
		name:   "a git platform whose branch moved is built anew with its new code",
		before: func(f fix) { f.gitPlatform("1111111111111111111111111111111111111111") },
		between: func(f fix) {
			f.code.set("2222222222222222222222222222222222222222")
		},
		reason:    ReasonDrift,
		wantLoads: 1,
		check: func(f fix, s EnvStatus) {
			if got := f.readHost("www/platforms/app/production/current/index.html"); got != "code at 2222222222222222222222222222222222222222" {
				f.t.Errorf("the platform's new commit was not deployed: %q", got)
			}
			if n := f.code.resolves.Load(); n != 2 {
				f.t.Errorf("the git platform was resolved %d times, want 2 (the first build; the check, whose code the new build reuses)", n)
			}
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, true)
			if tc.before != nil {
				tc.before(f)
			}
			f.start()
			f.first = f.next()
			if tc.between != nil {
				tc.between(f)
			}
			loads := f.src.loads.Load()
			f.d.TriggerAll(tc.reason)
			s := f.next()
			if got := f.src.loads.Load() - loads; got != tc.wantLoads {
				t.Errorf("the second run read the repo %d times, want %d", got, tc.wantLoads)
			}
			tc.check(f, s)
		})
	}
}

// serverWithRunDir returns warmServer with a PHP-FPM socket directory of
// its own short enough for a unix socket's path (a test's temporary
// directory is too long).
func serverWithRunDir(f *fixture) string {
	f.t.Helper()
	dir, err := os.MkdirTemp("", "bw")
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { os.RemoveAll(dir) })
	return strings.Replace(warmServer, "RUN_DIR", dir, 1)
}

// fakeCode resolves every git platform to the commit last set, whose tree
// holds one index.html naming it.
type fakeCode struct {
	mu       sync.Mutex
	rev      string
	resolves atomic.Int64
}

func (c *fakeCode) set(rev string) {
	c.mu.Lock()
	c.rev = rev
	c.mu.Unlock()
}

func (c *fakeCode) Resolve(context.Context, spec.ResolvedPlatform) (string, fs.FS, error) {
	c.resolves.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rev, fstest.MapFS{"index.html": {Data: []byte("code at " + c.rev), Mode: 0o644}}, nil
}

// gitPlatform adds a platform whose source is a git branch, resolved
// through f.code, and a site on it.
func (f *fixture) gitPlatform(rev string) {
	f.code = &fakeCode{rev: rev}
	f.d.cfg.Code = func() desired.Code { return f.code }
	f.write("platforms/app.yaml", "kind: Platform\nname: app\ntype: static\nsource: { git: \"https://git.example.com/app.git\", ref: main }\nservers: [local]\n")
	f.write("sites/c.yaml", "kind: Site\nname: c.example.com\nplatform: app\n")
}

func (f *fixture) writeHost(name, data string) {
	f.t.Helper()
	if err := os.WriteFile(filepath.Join(f.state, name), []byte(data), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) readHost(name string) string {
	f.t.Helper()
	data, err := os.ReadFile(filepath.Join(f.state, name))
	if err != nil {
		f.t.Error(err)
	}
	return string(data)
}

// TestWarmDriftCheckNginx: with a real nginx, a vhost edited by hand (and
// served: nginx was reloaded by hand) is restored and served again by a
// drift check that reuses the kept desired state, without reading the
// repo again.
func TestWarmDriftCheckNginx(t *testing.T) {
	f := newFixture(t, true)
	n := testenv.Nginx(t)
	webRoot := filepath.Join(filepath.Dir(f.state), "www")
	// nginx's workers (nobody) reach the web root through the fixture's
	// directory and the test's.
	for _, d := range []string{filepath.Dir(webRoot), filepath.Dir(filepath.Dir(webRoot))} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f.write("servers/local.yaml", fmt.Sprintf("kind: Server\nname: local\naddress: local\nservices:\n  http:\n    type: nginx\n    listen: %s\n"+
		"    conf_dir: %s\n    web_root: %s\n    user: nobody\n    group: nogroup\n    test: [nginx, -p, %q, -c, conf/nginx.conf, -t]\n"+
		"    reload: [nginx, -p, %q, -c, conf/nginx.conf, -s, reload]\n", n.Addr, n.SitesDir, webRoot, n.Prefix, n.Prefix))
	f.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: static\nweb: { headers: { X-Site: a } }\n")
	get := func(want func(*http.Response, string) bool) {
		t.Helper()
		client := &http.Client{Timeout: 5 * time.Second}
		testenv.EventuallyWith(t, "nginx's answer for a.example.com", 10*time.Second, func() (bool, string) {
			req, _ := http.NewRequest("GET", "http://"+n.Addr+"/", nil)
			req.Host = "a.example.com"
			r, err := client.Do(req)
			if err != nil {
				return false, err.Error()
			}
			body, _ := io.ReadAll(r.Body)
			r.Body.Close()
			return want(r, string(body)), fmt.Sprintf("%s %v %q", r.Status, r.Header, body)
		})
	}
	served := func(r *http.Response, body string) bool {
		return r.StatusCode == 200 && r.Header.Get("X-Site") == "a" && body == "hello\n"
	}

	f.start()
	if s := f.next(); s.Phase != PhaseSynced {
		t.Fatalf("first run: %+v %+v", s, s.LastRun)
	}
	get(served)
	vhost := filepath.Join(n.SitesDir, "a.example.com.conf")
	if err := os.WriteFile(vhost, []byte("server { listen "+n.Addr+"; server_name a.example.com; return 418; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := n.Reload(); err != nil {
		t.Fatal(err)
	}
	get(func(r *http.Response, _ string) bool { return r.StatusCode == http.StatusTeapot })

	loads := f.src.loads.Load()
	f.d.TriggerAll(ReasonDrift)
	if s := f.next(); s.Phase != PhaseSynced || s.LastRun == nil || s.LastRun.Result != "succeeded" {
		t.Fatalf("drift check: %+v %+v", s, s.LastRun)
	}
	if got := f.src.loads.Load() - loads; got != 0 {
		t.Errorf("the drift check read the repo %d times", got)
	}
	get(served)
}
