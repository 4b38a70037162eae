package migrate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/local"
	"github.com/berthhq/berth/reconcile"
)

// dbWorld is a web server in a directory whose site's database moves from
// db1 to db2: the settings file says which, the databases are files.
type dbWorld struct {
	root   string
	spec   DBSpec
	copies int
	backs  int
	// atCopy and atHealth are the vhost and settings when the copy and
	// the health check ran.
	atCopy, atHealth string
}

func newDBWorld(t *testing.T, healthErr error) *dbWorld {
	t.Helper()
	w := &dbWorld{root: t.TempDir()}
	p := func(rel string) string { return filepath.Join(w.root, rel) }
	write(t, p("conf/a.conf"), "serve a\n")
	write(t, p("sites/a/settings"), "db1\n")
	page := p("sites/a/disabled/index.html")
	settings := func(db string) func(context.Context) error {
		return func(context.Context) error { return os.WriteFile(p("sites/a/settings"), []byte(db+"\n"), 0o640) }
	}
	w.spec = DBSpec{ID: "site/a/migrate-db@web1", Site: "a", Server: "web1", Source: "db1", Target: "db2", From: "db1", To: "db2",
		SiteDir: p("sites/a"),
		Backup:  func(context.Context) error { return nil },
		Maintenance: Side{PageDir: filepath.Dir(page), Page: File{Path: page, Content: []byte("maintenance\n")},
			Vhost: File{Path: p("conf/a.conf"), Content: []byte("503 Retry-After\n")}},
		HTTP: reconcile.Service{Name: "http", Test: []string{"true"}, Reload: []string{"sh", "-c", `echo http >> "$1"`, "sh", p("reloads")}},
		PHP:  []reconcile.Service{{Name: "php", Reload: []string{"sh", "-c", `echo php >> "$1"`, "sh", p("reloads")}}},
		CopyDB: func(context.Context) error {
			w.copies++
			w.atCopy = read(t, p("conf/a.conf")) + read(t, p("sites/a/settings"))
			return nil
		},
		CopyBack: func(context.Context) error {
			if read(t, p("conf/a.conf")) != "503 Retry-After\n" {
				t.Error("copied back without the maintenance page")
			}
			w.backs++
			return nil
		},
		Maintained: func(context.Context) error {
			if read(t, p("conf/a.conf")) != "503 Retry-After\n" {
				return errors.New("answered 200")
			}
			return nil
		},
		Switch: settings("db2"), Unswitch: settings("db1"),
		Health: func(context.Context) error {
			w.atHealth = read(t, p("conf/a.conf")) + read(t, p("sites/a/settings"))
			return healthErr
		},
		HealthWait: time.Nanosecond,
		Now:        func() time.Time { return time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC) },
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

// TestDBStep: the database move's sequence on the web server, its revert,
// and its timeline: applied, converged once the builder sees the marker,
// applied again: nothing runs.
func TestDBStep(t *testing.T) {
	for _, tc := range []struct {
		name     string
		health   error
		backup   error
		copyErr  error
		cut      bool // an earlier run was cut off in the maintenance window
		wantErr  string
		settings string // after
		atHealth string
		copies   int
		backs    int // copies back, with the maintenance page up
		done     bool
		reloads  string
	}{
		{name: "moved", settings: "db2\n", atHealth: "serve a\ndb2\n", copies: 1, done: true, reloads: "http\nphp\nhttp\n"},
		{name: "unhealthy reverted", health: errors.New("answered 500"), wantErr: "reverted (the site is served from its database on db1",
			settings: "db1\n", atHealth: "serve a\ndb2\n", copies: 1, backs: 1, reloads: "http\nphp\nhttp\nhttp\nphp\nhttp\n"},
		{name: "failed copy reverted", copyErr: errors.New("dump failed"), wantErr: "dump failed", settings: "db1\n", copies: 1, reloads: "http\nphp\nhttp\n"},
		{name: "failed backup moves nothing", backup: errors.New("disk full"), wantErr: "disk full", settings: "db1\n", reloads: "php\nhttp\n"},
		{name: "cut in the maintenance window, then moved", cut: true, settings: "db2\n", atHealth: "serve a\ndb2\n", copies: 1, done: true, reloads: "http\nphp\nhttp\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newDBWorld(t, tc.health)
			w.spec.Backup = func(context.Context) error { return tc.backup }
			if tc.copyErr != nil {
				w.spec.CopyDB = func(context.Context) error { w.copies++; return tc.copyErr }
			}
			if tc.cut {
				write(t, filepath.Join(w.root, "sites/a", dbSavedName), "serve a\n")
				write(t, filepath.Join(w.root, "conf/a.conf"), "503 Retry-After\n")
			}
			s, c := w.check(t)
			if c.Action != reconcile.Update || !strings.Contains(c.Reason, "move the database of a: db1 → db2") {
				t.Fatalf("check: %+v", c)
			}
			err := s.Apply(context.Background(), local.New(), &c)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("apply: %v, want %q", err, tc.wantErr)
			}
			if got := read(t, filepath.Join(w.root, "conf/a.conf")); got != "serve a\n" {
				t.Errorf("vhost after: %q, want the site's own", got)
			}
			if got := read(t, filepath.Join(w.root, "sites/a/settings")); got != tc.settings {
				t.Errorf("settings after: %q, want %q", got, tc.settings)
			}
			if w.backs != tc.backs {
				t.Errorf("copied back %d times, want %d", w.backs, tc.backs)
			}
			if w.copies != tc.copies || w.atHealth != tc.atHealth {
				t.Errorf("copies %d, at the health check %q; want %d, %q", w.copies, w.atHealth, tc.copies, tc.atHealth)
			}
			if tc.copyErr == nil && w.copies > 0 && w.atCopy != "503 Retry-After\ndb1\n" {
				t.Errorf("at the copy: %q, want the maintenance page and the settings at db1", w.atCopy)
			}
			if got := read(t, filepath.Join(w.root, "reloads")); got != tc.reloads && !(tc.reloads == "" && got == "(none)") {
				t.Errorf("reloads %q, want %q", got, tc.reloads)
			}
			m, ok, err := ReadDBMarker(context.Background(), local.New(), w.spec.SiteDir)
			if err != nil || !ok || m.Done != tc.done || m.To != "db2" {
				t.Errorf("marker %+v %v %v, want done=%v to db2", m, ok, err, tc.done)
			}
			if tc.done {
				for _, name := range []string{dbSavedName, DBMovingName} {
					if got := read(t, filepath.Join(w.root, "sites/a", name)); got != "(none)" {
						t.Errorf("%s left after the move: %q", name, got)
					}
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

// TestDBStepCutAfterSwitch: a run cut off after the switch was recorded
// (the maintenance page still up, the kept vhost and the moving marker
// there) is finished by the next: its check asks to clean up, the apply
// copies nothing, and the run after is converged.
func TestDBStepCutAfterSwitch(t *testing.T) {
	w := newDBWorld(t, nil)
	write(t, filepath.Join(w.root, "sites/a", dbSavedName), "serve a\n")
	write(t, filepath.Join(w.root, "sites/a", DBMovingName), `{"to":"db2","at":"2026-12-02T07:00:00Z"}`)
	write(t, filepath.Join(w.root, "sites/a", DBMarkerName), `{"to":"db2","at":"2026-12-02T07:00:00Z"}`)
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
	if _, c := w.check(t); c.Action != reconcile.None {
		t.Errorf("check after: %+v, want converged", c)
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
