package migrate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/local"
	"github.com/berthhq/berth/reconcile"
)

// dbWorld is a site on n web servers, each in a directory of its own
// (web1, web2...), whose database moves from db1 to db2: each server's
// settings file says which, the databases are files.
type dbWorld struct {
	root   string
	webs   []string
	spec   DBSpec
	copies int
	backs  int
	// atCopy is every server's vhost and settings when the copy ran;
	// atHealth each server's when its health check ran.
	atCopy   string
	atHealth map[string]string
	// unhealthy are the servers whose health check fails.
	unhealthy map[string]error
}

// localHosts reaches every server of a dbWorld: they are directories.
type localHosts struct{}

func (localHosts) Host(context.Context, string) (host.Host, error) { return local.New(), nil }

// p is path rel of web server web.
func (w *dbWorld) p(web, rel string) string { return filepath.Join(w.root, web, rel) }

func newDBWorld(t *testing.T, n int) *dbWorld {
	t.Helper()
	w := &dbWorld{root: t.TempDir(), atHealth: map[string]string{}, unhealthy: map[string]error{}}
	for i := range n {
		w.webs = append(w.webs, fmt.Sprintf("web%d", i+1))
	}
	// state is every server's vhost and settings.
	state := func() string {
		var b strings.Builder
		for _, web := range w.webs {
			b.WriteString(web + ": " + read(t, w.p(web, "conf/a.conf")) + read(t, w.p(web, "sites/a/settings")))
		}
		return b.String()
	}
	settings := func(db string) func(context.Context) error {
		return func(context.Context) error {
			for _, web := range w.webs {
				if err := os.WriteFile(w.p(web, "sites/a/settings"), []byte(db+"\n"), 0o640); err != nil {
					return err
				}
			}
			return nil
		}
	}
	w.spec = DBSpec{ID: "site/a/migrate-db@web1", Site: "a", Server: "web1", SiteDir: w.p("web1", "sites/a"), Hosts: localHosts{},
		Source: "db1", Target: "db2", From: "db1", To: "db2",
		Backup: func(context.Context) error { return nil },
		CopyDB: func(context.Context) error {
			w.copies++
			w.atCopy = state()
			return nil
		},
		CopyBack: func(context.Context) error {
			for _, web := range w.webs {
				if read(t, w.p(web, "conf/a.conf")) != "503 Retry-After\n" {
					t.Errorf("copied back without the maintenance page on %s", web)
				}
			}
			w.backs++
			return nil
		},
		Switch: settings("db2"), Unswitch: settings("db1"),
		HealthWait: time.Nanosecond,
		Now:        func() time.Time { return time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC) },
	}
	for _, web := range w.webs {
		write(t, w.p(web, "conf/a.conf"), "serve a\n")
		write(t, w.p(web, "sites/a/settings"), "db1\n")
		page := w.p(web, "sites/a/disabled/index.html")
		reloads := w.p(web, "reloads")
		w.spec.Webs = append(w.spec.Webs, DBWeb{Server: web, SiteDir: w.p(web, "sites/a"),
			Maintenance: Side{PageDir: filepath.Dir(page), Page: File{Path: page, Content: []byte("maintenance\n")},
				Vhost: File{Path: w.p(web, "conf/a.conf"), Content: []byte("503 Retry-After\n")}},
			HTTP: reconcile.Service{Name: "http", Test: []string{"true"}, Reload: []string{"sh", "-c", `echo http >> "$1"`, "sh", reloads}},
			PHP:  []reconcile.Service{{Name: "php", Reload: []string{"sh", "-c", `echo php >> "$1"`, "sh", reloads}}},
			Maintained: func(context.Context) error {
				if read(t, w.p(web, "conf/a.conf")) != "503 Retry-After\n" {
					return errors.New("answered 200")
				}
				return nil
			},
			Health: func(context.Context) error {
				w.atHealth[web] = read(t, w.p(web, "conf/a.conf")) + read(t, w.p(web, "sites/a/settings"))
				return w.unhealthy[web]
			},
		})
	}
	return w
}

// check plans the step as a run would (its observed paths read).
func (w *dbWorld) check(t *testing.T) (*DBStep, reconcile.Change) {
	t.Helper()
	s := NewDB(w.spec)
	obs := map[string]host.Observation{}
	for _, p := range s.Observe() {
		_, err := os.Stat(p)
		obs[p] = host.Observation{Exists: err == nil}
	}
	c, err := s.Check(context.Background(), reconcile.CheckInput{Obs: obs})
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

// TestDBStep: the database move's sequence on the site's web servers
// (one, and a cluster of two: the maintenance page, the settings, the own
// vhost and the health check on each), its revert (on every server), and
// its timeline: applied, converged once the builder sees the marker,
// applied again: nothing runs.
func TestDBStep(t *testing.T) {
	for _, tc := range []struct {
		name      string
		webs      int
		unhealthy string // the server whose health check fails
		backup    error
		copyErr   error
		cut       bool // an earlier run was cut off in the maintenance window
		wantErr   string
		settings  string // after, on every server
		atHealth  string // on every server checked
		checked   string // the servers health-checked
		copies    int
		backs     int // copies back, with the maintenance page up
		done      bool
		reloads   string // on every server
	}{
		{name: "moved", webs: 1, settings: "db2\n", atHealth: "serve a\ndb2\n", checked: "web1", copies: 1, done: true, reloads: "http\nphp\nhttp\n"},
		{name: "cluster moved", webs: 2, settings: "db2\n", atHealth: "serve a\ndb2\n", checked: "web1 web2", copies: 1, done: true, reloads: "http\nphp\nhttp\n"},
		{name: "unhealthy reverted", webs: 1, unhealthy: "web1", wantErr: "health check of a on web1 with its database on db2",
			settings: "db1\n", atHealth: "serve a\ndb2\n", checked: "web1", copies: 1, backs: 1, reloads: "http\nphp\nhttp\nhttp\nphp\nhttp\n"},
		{name: "cluster unhealthy on web2 reverted on both", webs: 2, unhealthy: "web2", wantErr: "health check of a on web2 with its database on db2",
			settings: "db1\n", atHealth: "serve a\ndb2\n", checked: "web1 web2", copies: 1, backs: 1, reloads: "http\nphp\nhttp\nhttp\nphp\nhttp\n"},
		{name: "failed copy reverted", webs: 1, copyErr: errors.New("dump failed"), wantErr: "dump failed", settings: "db1\n", copies: 1, reloads: "http\nphp\nhttp\n"},
		{name: "cluster failed copy reverted on both", webs: 2, copyErr: errors.New("dump failed"), wantErr: "dump failed", settings: "db1\n", copies: 1, reloads: "http\nphp\nhttp\n"},
		{name: "failed backup moves nothing", webs: 1, backup: errors.New("disk full"), wantErr: "disk full", settings: "db1\n", reloads: "php\nhttp\n"},
		{name: "cut in the maintenance window, then moved", webs: 1, cut: true, settings: "db2\n", atHealth: "serve a\ndb2\n", checked: "web1", copies: 1, done: true, reloads: "http\nphp\nhttp\n"},
		{name: "cluster cut in the maintenance window, then moved", webs: 2, cut: true, settings: "db2\n", atHealth: "serve a\ndb2\n", checked: "web1 web2", copies: 1, done: true, reloads: "http\nphp\nhttp\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newDBWorld(t, tc.webs)
			if tc.unhealthy != "" {
				w.unhealthy[tc.unhealthy] = errors.New("answered 500")
			}
			w.spec.Backup = func(context.Context) error { return tc.backup }
			if tc.copyErr != nil {
				w.spec.CopyDB = func(context.Context) error { w.copies++; return tc.copyErr }
			}
			if tc.cut {
				for _, web := range w.webs {
					write(t, w.p(web, "sites/a/"+dbSavedName), "serve a\n")
					write(t, w.p(web, "conf/a.conf"), "503 Retry-After\n")
				}
			}
			s, c := w.check(t)
			if c.Action != reconcile.Update || !strings.Contains(c.Reason, "move the database of a: db1 → db2") {
				t.Fatalf("check: %+v", c)
			}
			err := s.Apply(context.Background(), local.New(), &c)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("apply: %v, want %q", err, tc.wantErr)
			}
			if tc.unhealthy != "" && !strings.Contains(err.Error(), "reverted (the site is served from its database on db1") {
				t.Errorf("apply: %v, want it reverted", err)
			}
			var checked []string
			for _, web := range w.webs {
				if got := read(t, w.p(web, "conf/a.conf")); got != "serve a\n" {
					t.Errorf("vhost on %s after: %q, want the site's own", web, got)
				}
				if got := read(t, w.p(web, "sites/a/settings")); got != tc.settings {
					t.Errorf("settings on %s after: %q, want %q", web, got, tc.settings)
				}
				if got := read(t, w.p(web, "reloads")); got != tc.reloads && !(tc.reloads == "" && got == "(none)") {
					t.Errorf("reloads on %s: %q, want %q", web, got, tc.reloads)
				}
				if at, ok := w.atHealth[web]; ok {
					checked = append(checked, web)
					if at != tc.atHealth {
						t.Errorf("at the health check on %s: %q, want %q", web, at, tc.atHealth)
					}
				}
				if tc.done || tc.wantErr != "" {
					if got := read(t, w.p(web, "sites/a/"+dbSavedName)); got != "(none)" {
						t.Errorf("the kept vhost is left on %s: %q", web, got)
					}
				}
			}
			if got := strings.Join(checked, " "); got != tc.checked {
				t.Errorf("health-checked %q, want %q", got, tc.checked)
			}
			if w.backs != tc.backs {
				t.Errorf("copied back %d times, want %d", w.backs, tc.backs)
			}
			if w.copies != tc.copies {
				t.Errorf("copies %d, want %d", w.copies, tc.copies)
			}
			if tc.copyErr == nil && w.copies > 0 {
				want := ""
				for _, web := range w.webs {
					want += web + ": 503 Retry-After\ndb1\n"
				}
				if w.atCopy != want {
					t.Errorf("at the copy: %q, want the maintenance page and the settings at db1 everywhere: %q", w.atCopy, want)
				}
			}
			m, ok, err := ReadDBMarker(context.Background(), local.New(), w.spec.SiteDir)
			if err != nil || !ok || m.Done != tc.done || m.To != "db2" {
				t.Errorf("marker %+v %v %v, want done=%v to db2", m, ok, err, tc.done)
			}
			for _, web := range w.webs[1:] {
				if _, ok, _ := ReadDBMarker(context.Background(), local.New(), w.p(web, "sites/a")); ok {
					t.Errorf("a marker on %s: the first web server holds it", web)
				}
			}
			if tc.done {
				if got := read(t, w.p("web1", "sites/a/"+DBMovingName)); got != "(none)" {
					t.Errorf("%s left after the move: %q", DBMovingName, got)
				}
			}
			if tc.wantErr != "" {
				return
			}
			// The next run: the builder read the marker.
			w.spec.Done = true
			s, c = w.check(t)
			if c.Action != reconcile.None {
				t.Fatalf("check once moved: %+v, want converged", c)
			}
			if err := s.Apply(context.Background(), local.New(), &c); err != nil {
				t.Fatal(err)
			}
			if w.copies != tc.copies {
				t.Errorf("applied again: copied %d times", w.copies)
			}
		})
	}
}

// TestDBStepClusterWaitsForEveryServer: the copy waits until every web
// server of the site answers with the maintenance page; one that never
// does (web2's vhost is not served) stops the move before the copy, and
// it is reverted on both.
func TestDBStepClusterWaitsForEveryServer(t *testing.T) {
	w := newDBWorld(t, 2)
	w.spec.Webs[1].Maintained = func(context.Context) error { return errors.New("answered 200") }
	s, c := w.check(t)
	err := s.Apply(context.Background(), local.New(), &c)
	if err == nil || !strings.Contains(err.Error(), "the maintenance page on web2 is not served: answered 200") || !strings.Contains(err.Error(), "reverted") {
		t.Fatalf("apply: %v, want the move reverted because web2 does not show the maintenance page", err)
	}
	if w.copies != 0 {
		t.Errorf("copied %d times before web2 showed the maintenance page", w.copies)
	}
	for _, web := range w.webs {
		if got := read(t, w.p(web, "conf/a.conf")); got != "serve a\n" {
			t.Errorf("vhost on %s after: %q, want the site's own", web, got)
		}
		if got := read(t, w.p(web, "sites/a/settings")); got != "db1\n" {
			t.Errorf("settings on %s after: %q, want db1", web, got)
		}
	}
}

// TestDBStepCutAfterSwitch: a run cut off after the switch was recorded
// (the maintenance page still up, the kept vhosts and the moving marker
// there) is finished by the next: its check asks to clean up, the apply
// copies nothing and removes the kept vhost of every web server, and the
// run after is converged.
func TestDBStepCutAfterSwitch(t *testing.T) {
	for _, n := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d web servers", n), func(t *testing.T) {
			w := newDBWorld(t, n)
			for _, web := range w.webs {
				write(t, w.p(web, "sites/a/"+dbSavedName), "serve a\n")
			}
			write(t, w.p("web1", "sites/a/"+DBMovingName), `{"to":"db2","at":"2026-12-02T07:00:00Z"}`)
			write(t, w.p("web1", "sites/a/"+DBMarkerName), `{"to":"db2","at":"2026-12-02T07:00:00Z"}`)
			w.spec.Done = true
			s, c := w.check(t)
			if c.Action != reconcile.Update {
				t.Fatalf("check: %+v, want the clean-up", c)
			}
			if err := s.Apply(context.Background(), local.New(), &c); err != nil {
				t.Fatal(err)
			}
			if w.copies != 0 {
				t.Errorf("copied %d times after the switch", w.copies)
			}
			for _, web := range w.webs {
				if got := read(t, w.p(web, "sites/a/"+dbSavedName)); got != "(none)" {
					t.Errorf("the kept vhost is left on %s", web)
				}
			}
			if _, c := w.check(t); c.Action != reconcile.None {
				t.Errorf("check after: %+v, want converged", c)
			}
		})
	}
}

// TestDBStepPruned: the step's record once the grace period is over is
// forgotten, and its apply touches nothing.
func TestDBStepPruned(t *testing.T) {
	s := &DBStep{Base: reconcile.PrunedBase(KindDB, reconcile.Record{ID: "site/a/migrate-db@web1", Server: "web1", Kind: KindDB, Site: "a"})}
	c, err := s.Check(context.Background(), reconcile.CheckInput{})
	if err != nil || c.Action != reconcile.Delete {
		t.Fatalf("check: %+v %v", c, err)
	}
	if err := s.Apply(context.Background(), local.New(), &c); err != nil {
		t.Fatal(err)
	}
}
