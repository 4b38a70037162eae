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

// hosts reaches both servers, two directories of this machine.
type hosts struct{ h host.Host }

func (x hosts) Host(context.Context, string) (host.Host, error) { return x.h, nil }

// world is a source and a target web server in two directories.
type world struct {
	src, dst string // their roots
	reloads  string // log of the source's reloads
	spec     Spec
	health   string // the source's vhost when the health check ran
}

func newWorld(t *testing.T, healthErr error) *world {
	t.Helper()
	d := t.TempDir()
	w := &world{src: filepath.Join(d, "web1"), dst: filepath.Join(d, "web2"), reloads: filepath.Join(d, "reloads")}
	for p, content := range map[string]string{
		"web1/conf/a.conf":           "serve a from app\n",
		"web1/sites/a/files/up.txt":  "uploaded\n",
		"web1/sites/a/files/d/x.txt": "x\n",
		"web2/conf/a.conf":           "serve a from app2\n",
		"web2/pool/a.conf":           "pool a\n",
	} {
		write(t, filepath.Join(d, p), content)
	}
	if err := os.MkdirAll(filepath.Join(w.dst, "sites/a/files"), 0o755); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(w.src, "sites/a/disabled/index.html")
	w.spec = Spec{ID: "site/a/migrate@web2", Site: "a", Server: "web2", Source: "web1", From: "web1/app", To: "web2/app2",
		Hosts:         hosts{local.New()},
		SourceSiteDir: filepath.Join(w.src, "sites/a"), SourceFiles: filepath.Join(w.src, "sites/a/files"), TargetFiles: filepath.Join(w.dst, "sites/a/files"),
		Backup: func(context.Context) error { return nil },
		Maintenance: Side{PageDir: filepath.Dir(page), Page: File{Path: page, Content: []byte("maintenance\n")},
			Vhost: File{Path: filepath.Join(w.src, "conf/a.conf"), Content: []byte("503 Retry-After\n")}},
		Disabled: Side{PageDir: filepath.Dir(page), Page: File{Path: page, Content: []byte("disabled\n")},
			Vhost: File{Path: filepath.Join(w.src, "conf/a.conf"), Content: []byte("503 disabled\n")}},
		SourceHTTP:     reconcile.Service{Name: "http", Test: []string{"true"}, Reload: []string{"sh", "-c", `echo reload >> "$1"`, "sh", w.reloads}},
		TargetRemove:   []string{filepath.Join(w.dst, "conf/a.conf"), filepath.Join(w.dst, "pool/a.conf")},
		TargetServices: []reconcile.Service{{Name: "http", Test: []string{"true"}, Reload: []string{"true"}}},
		Health: func(context.Context) error {
			w.health = read(t, filepath.Join(w.src, "conf/a.conf"))
			return healthErr
		},
		HealthWait: time.Nanosecond,
		Now:        func() time.Time { return time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC) },
	}
	return w
}

func write(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// read returns the content of p, "(none)" when it does not exist.
func read(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return "(none)"
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func (w *world) apply(t *testing.T) error {
	t.Helper()
	s := New(w.spec)
	c, err := s.Check(context.Background(), reconcile.CheckInput{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Action != reconcile.Update || !strings.Contains(c.Reason, "web1/app → web2/app2") {
		t.Fatalf("check: %+v", c)
	}
	return s.Apply(context.Background(), local.New(), &c)
}

// TestStep: the migration's sequence on two servers, and its revert.
func TestStep(t *testing.T) {
	for _, tc := range []struct {
		name      string
		health    error
		backup    error
		cut       bool // an earlier run was cut off in the maintenance window
		wantErr   string
		srcVhost  string // the source's vhost after
		atHealth  string // the source's vhost during the health check
		dstVhost  string
		copied    bool
		marker    bool
		srcReload int
	}{
		{name: "moved", srcVhost: "503 disabled\n", atHealth: "503 Retry-After\n", dstVhost: "serve a from app2\n", copied: true, marker: true, srcReload: 2},
		{name: "unhealthy target reverted", health: errors.New("answered 500"), wantErr: "reverted (the site is served from web1 as before",
			srcVhost: "serve a from app\n", atHealth: "503 Retry-After\n", dstVhost: "(none)", copied: true, srcReload: 2},
		{name: "failed backup moves nothing", backup: errors.New("disk full"), wantErr: "reverted (the site is served from web1 as before",
			srcVhost: "serve a from app\n", atHealth: "", dstVhost: "(none)", srcReload: 1},
		{name: "cut in the maintenance window, then moved", cut: true, srcVhost: "503 disabled\n", atHealth: "503 Retry-After\n",
			dstVhost: "serve a from app2\n", copied: true, marker: true, srcReload: 2},
		{name: "cut in the maintenance window, then reverted", cut: true, health: errors.New("answered 500"), wantErr: "answered 500",
			srcVhost: "serve a from app\n", atHealth: "503 Retry-After\n", dstVhost: "(none)", copied: true, srcReload: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, tc.health)
			w.spec.Backup = func(context.Context) error { return tc.backup }
			if tc.cut {
				write(t, filepath.Join(w.src, "sites/a", savedName), "serve a from app\n")
				write(t, filepath.Join(w.src, "conf/a.conf"), "503 Retry-After\n")
			}
			err := w.apply(t)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("apply: %v, want %q", err, tc.wantErr)
			}
			if got := read(t, filepath.Join(w.src, "conf/a.conf")); got != tc.srcVhost {
				t.Errorf("source vhost %q, want %q", got, tc.srcVhost)
			}
			if w.health != tc.atHealth {
				t.Errorf("source vhost during the health check %q, want %q", w.health, tc.atHealth)
			}
			if got := read(t, filepath.Join(w.dst, "conf/a.conf")); got != tc.dstVhost {
				t.Errorf("target vhost %q, want %q", got, tc.dstVhost)
			}
			if got := read(t, filepath.Join(w.dst, "sites/a/files/d/x.txt")) == "x\n"; got != tc.copied {
				t.Errorf("files copied: %v, want %v", got, tc.copied)
			}
			if got := read(t, filepath.Join(w.src, "sites/a/files/up.txt")); got != "uploaded\n" {
				t.Errorf("the source's files changed: %q", got)
			}
			if got := read(t, filepath.Join(w.src, "sites/a", savedName)); got != "(none)" && err == nil {
				t.Errorf("the kept vhost is left: %q", got)
			}
			if got := strings.Count(read(t, w.reloads), "reload"); got != tc.srcReload {
				t.Errorf("source reloads %d, want %d", got, tc.srcReload)
			}
			// Switched: the marker says so; otherwise the move is still
			// wanted, and marked so for the next run.
			m, ok, merr := ReadMarker(context.Background(), local.New(), filepath.Join(w.src, "sites/a"))
			if merr != nil || !ok || m.Done != tc.marker || m.To != "web2" || !m.At.Equal(w.spec.Now()) {
				t.Errorf("marker %+v, %v, %v; want done %v", m, ok, merr, tc.marker)
			}
			if _, err := os.Stat(filepath.Join(w.src, "sites/a", MovingName)); tc.marker != errors.Is(err, os.ErrNotExist) {
				t.Errorf("the moving marker after the run: %v", err)
			}
			if !tc.marker {
				return
			}
			// Done: the step plans nothing, and applying it again only
			// keeps the source disabled.
			w.spec.Done = true
			w.spec.Backup = func(context.Context) error { t.Error("backed up again"); return nil }
			s := New(w.spec)
			if c, _ := s.Check(context.Background(), reconcile.CheckInput{}); c.Action != reconcile.None {
				t.Errorf("check once done: %+v", c)
			}
			// A run cut off between the switch and disabling the source.
			write(t, filepath.Join(w.src, "conf/a.conf"), "503 Retry-After\n")
			if c, _ := s.Check(context.Background(), reconcile.CheckInput{}); c.Action != reconcile.Update || !strings.Contains(c.Reason, "disable it on web1") {
				t.Errorf("check once done, the source not disabled: %+v", c)
			}
			if err := s.Apply(context.Background(), local.New(), &reconcile.Change{}); err != nil {
				t.Errorf("apply once done: %v", err)
			}
			if got := read(t, filepath.Join(w.src, "conf/a.conf")); got != "503 disabled\n" {
				t.Errorf("source vhost after a second apply %q", got)
			}
		})
	}
}

// TestEndedStep: the record of a migration whose grace period is over is
// forgotten, deleting nothing.
func TestEndedStep(t *testing.T) {
	r := &Step{Base: reconcile.PrunedBase(Kind, reconcile.Record{ID: "site/a/migrate@web2", Server: "web2", Kind: Kind, Site: "a"})}
	c, err := r.Check(context.Background(), reconcile.CheckInput{})
	if err != nil || c.Action != reconcile.Delete {
		t.Fatalf("check: %+v, %v", c, err)
	}
	if err := r.Apply(context.Background(), nil, &c); err != nil {
		t.Errorf("apply: %v", err)
	}
}

// TestStartTimeline: the mark of a move's start is written once (a
// change, then nothing to do), and not over a marker already there.
func TestStartTimeline(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "sites/a")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC)
	s := NewStart(StartSpec{ID: "site/a/migrate-start@web1", Site: "a", Server: "web1", SiteDir: dir, To: "web2", Now: func() time.Time { return at }})
	h := local.New()
	check := func() reconcile.Change {
		t.Helper()
		obs, err := h.Observe(ctx, s.Observe())
		if err != nil {
			t.Fatal(err)
		}
		in := reconcile.CheckInput{Obs: map[string]host.Observation{}}
		for _, o := range obs {
			in.Obs[o.Path] = o
		}
		c, err := s.Check(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := check()
	if c.Action != reconcile.Update {
		t.Fatalf("first check: %+v", c)
	}
	if err := s.Apply(ctx, h, &c); err != nil {
		t.Fatal(err)
	}
	if m, ok, err := ReadMarker(ctx, h, dir); err != nil || !ok || m.Done || m.To != "web2" || !m.At.Equal(at) {
		t.Errorf("marker: %+v, %v, %v", m, ok, err)
	}
	if c := check(); c.Action != reconcile.None {
		t.Errorf("second check: %+v", c)
	}
	s.now = func() time.Time { return at.Add(time.Hour) }
	if err := s.Apply(ctx, h, &c); err != nil {
		t.Fatal(err)
	}
	if m, _, _ := ReadMarker(ctx, h, dir); !m.At.Equal(at) {
		t.Errorf("the marker was rewritten: %+v", m)
	}
}

// TestStepMovesDataInTheWindow: a moving database is copied, the
// install's marker carried and the update step run in the maintenance
// window, in that order, before the health check; a failure of either
// reverts the move.
func TestStepMovesDataInTheWindow(t *testing.T) {
	for _, tc := range []struct {
		name              string
		copyErr, updErr   error
		wantErr, wantSeen string
	}{
		{name: "moved", wantSeen: "copy-db(503 Retry-After) update(installed) health"},
		{name: "failed copy reverted", copyErr: errors.New("mariadb-dump: access denied"), wantErr: "copy the database: mariadb-dump: access denied",
			wantSeen: "copy-db(503 Retry-After)"},
		{name: "failed update reverted", updErr: errors.New("exit status 1"), wantErr: "update step on web2: exit status 1",
			wantSeen: "copy-db(503 Retry-After) update(installed)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, nil)
			write(t, filepath.Join(w.src, "sites/a/.berth-installed"), "installed\n")
			var seen []string
			w.spec.CopyDB = func(context.Context) error {
				seen = append(seen, "copy-db("+strings.TrimSpace(read(t, filepath.Join(w.src, "conf/a.conf")))+")")
				return tc.copyErr
			}
			w.spec.Carry, w.spec.TargetSiteDir = []string{".berth-installed", ".berth-updated"}, filepath.Join(w.dst, "sites/a")
			w.spec.Update = func(context.Context) error {
				seen = append(seen, "update("+strings.TrimSpace(read(t, filepath.Join(w.dst, "sites/a/.berth-installed")))+")")
				return tc.updErr
			}
			health := w.spec.Health
			w.spec.Health = func(ctx context.Context) error { seen = append(seen, "health"); return health(ctx) }
			err := w.apply(t)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "reverted")) {
				t.Fatalf("apply: %v, want %q", err, tc.wantErr)
			}
			if got := strings.Join(seen, " "); got != tc.wantSeen {
				t.Errorf("ran %q, want %q", got, tc.wantSeen)
			}
			if got := read(t, filepath.Join(w.dst, "sites/a/.berth-updated")); got != "(none)" {
				t.Errorf("a marker the source does not have was carried: %q", got)
			}
			want := "503 disabled\n"
			if tc.wantErr != "" {
				want = "serve a from app\n"
			}
			if got := read(t, filepath.Join(w.src, "conf/a.conf")); got != want {
				t.Errorf("source vhost %q, want %q", got, want)
			}
		})
	}
}

// TestStepCluster: a site leaving web1 and web3 for web2 and web4. Both
// sources show the maintenance page in the window and the disabled page
// after; the files are copied from web1 to both targets; both targets
// are checked. A failing check on web4 reverts both sources and removes
// the new configuration of both targets.
func TestStepCluster(t *testing.T) {
	for _, tc := range []struct {
		name    string
		health4 error
		wantErr string
		src     string // both sources' vhosts after
		dst     string // both targets' vhosts after
	}{
		{name: "moved", src: "503 disabled\n", dst: "serve a from app2\n"},
		{name: "unhealthy second target", health4: errors.New("answered 502"), wantErr: "health check of a on web4: answered 502",
			src: "serve a from app\n", dst: "(none)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, nil)
			d := filepath.Dir(w.src)
			web3, web4 := filepath.Join(d, "web3"), filepath.Join(d, "web4")
			write(t, filepath.Join(web3, "conf/a.conf"), "serve a from app\n")
			write(t, filepath.Join(web3, "sites/a/files/up.txt"), "uploaded\n")
			write(t, filepath.Join(web4, "conf/a.conf"), "serve a from app2\n")
			if err := os.MkdirAll(filepath.Join(web4, "sites/a/files"), 0o755); err != nil {
				t.Fatal(err)
			}
			page := filepath.Join(web3, "sites/a/disabled/index.html")
			vhost := filepath.Join(web3, "conf/a.conf")
			var atHealth string
			w.spec.OtherSources = []Source{{Server: "web3", SiteDir: filepath.Join(web3, "sites/a"),
				Maintenance: Side{PageDir: filepath.Dir(page), Page: File{Path: page, Content: []byte("maintenance\n")}, Vhost: File{Path: vhost, Content: []byte("503 Retry-After\n")}},
				Disabled:    Side{PageDir: filepath.Dir(page), Page: File{Path: page, Content: []byte("disabled\n")}, Vhost: File{Path: vhost, Content: []byte("503 disabled\n")}},
				HTTP:        reconcile.Service{Name: "http", Test: []string{"true"}, Reload: []string{"true"}}}}
			w.spec.OtherTargets = []Target{{Server: "web4", Files: filepath.Join(web4, "sites/a/files"),
				Remove:   []string{filepath.Join(web4, "conf/a.conf")},
				Services: []reconcile.Service{{Name: "http", Test: []string{"true"}, Reload: []string{"true"}}},
				Health: func(context.Context) error {
					atHealth = read(t, vhost)
					return tc.health4
				}}}
			err := w.apply(t)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "served from web1, web3 as before")) {
				t.Fatalf("apply: %v, want %q", err, tc.wantErr)
			}
			if atHealth != "503 Retry-After\n" {
				t.Errorf("web3 during web4's health check: %q, want the maintenance page", atHealth)
			}
			for _, p := range []string{filepath.Join(w.src, "conf/a.conf"), vhost} {
				if got := read(t, p); got != tc.src {
					t.Errorf("source vhost %s: %q, want %q", p, got, tc.src)
				}
			}
			for _, p := range []string{filepath.Join(w.dst, "conf/a.conf"), filepath.Join(web4, "conf/a.conf")} {
				if got := read(t, p); got != tc.dst {
					t.Errorf("target vhost %s: %q, want %q", p, got, tc.dst)
				}
			}
			for _, root := range []string{w.dst, web4} {
				if got := read(t, filepath.Join(root, "sites/a/files/d/x.txt")); got != "x\n" {
					t.Errorf("files on %s: %q, want web1's", root, got)
				}
			}
			if got := read(t, filepath.Join(web3, "sites/a", savedName)); got != "(none)" {
				t.Errorf("web3's kept vhost is left: %q", got)
			}
			if err != nil {
				return
			}
			w.spec.Done = true
			s := New(w.spec)
			if c, _ := s.Check(context.Background(), reconcile.CheckInput{}); c.Action != reconcile.None {
				t.Errorf("check once done: %+v", c)
			}
			write(t, vhost, "503 Retry-After\n")
			if c, _ := s.Check(context.Background(), reconcile.CheckInput{}); c.Action != reconcile.Update || !strings.Contains(c.Reason, "disable it on web3 (") {
				t.Errorf("check once done, web3 not disabled: %+v", c)
			}
		})
	}
}
