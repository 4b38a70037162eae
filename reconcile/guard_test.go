package reconcile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/local"
	"github.com/berthhq/berth/internal/testenv"
)

// stepRes is a guard step that records when it ran and fails on demand.
type stepRes struct {
	site string
	fail error
	mu   sync.Mutex
	ran  []string // files present under the site when it ran
	h    *harness
}

func (s *stepRes) ID() string        { return "site/" + s.site + "/backup@web" }
func (s *stepRes) Server() string    { return "web" }
func (s *stepRes) Kind() string      { return "backup" }
func (s *stepRes) Site() string      { return s.site }
func (s *stepRes) Path() string      { return "" }
func (s *stepRes) Deps() []string    { return nil }
func (s *stepRes) Observe() []string { return nil }
func (s *stepRes) Check(context.Context, CheckInput) (Change, error) {
	return Change{ID: s.ID(), Server: "web", Kind: "backup", Site: s.site, Action: Create, Reason: "before deleting " + s.site}, nil
}
func (s *stepRes) Apply(context.Context, host.Host, *Change) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p := range s.h.fake.Files() {
		if strings.HasPrefix(p, "/srv/www/sites/"+s.site+"/") {
			s.ran = append(s.ran, p)
		}
	}
	sort.Strings(s.ran)
	return s.fail
}
func (s *stepRes) Undo(context.Context, host.Host, *Change) error { return nil }
func (s *stepRes) Record() Record                                 { return Record{} }

// dataSite is a site whose directory is under a web root's sites/.
func dataSite(name string) []Resource {
	dir := NewDir(DirSpec{ID: "site/" + name + "/dir@web", Server: "web", Site: name, Path: "/srv/www/sites/" + name, Mode: 0o750})
	f := NewFile(FileSpec{ID: "site/" + name + "/vhost@web", Server: "web", Site: name, Path: "/srv/www/sites/" + name + "/vhost.conf",
		Content: []byte("server " + name + "\n"), Service: "http"})
	f.deps = []string{dir.ID()}
	return []Resource{dir, f}
}

// TestDeleteSiteBehindGuard: a removed site's guard step runs before any of
// its deletions; when it fails nothing of the site is deleted and the
// run says why; when it succeeds, the site's directory goes with what
// berth did not create in it, and a second run has nothing to do.
func TestDeleteSiteBehindGuard(t *testing.T) {
	h := newHarness(t)
	h.fake.Handle("rm", func(ctx context.Context, argv []string, _ []byte) (host.RunResult, error) {
		dir := argv[len(argv)-1]
		var ps []string
		for p := range h.fake.Files() {
			if strings.HasPrefix(p, dir+"/") {
				ps = append(ps, p)
			}
		}
		for _, p := range ps {
			if err := h.fake.Remove(ctx, p); err != nil {
				return host.RunResult{}, err
			}
		}
		return host.RunResult{}, h.fake.Remove(ctx, dir)
	})
	if err := h.fake.MkdirAll(context.Background(), "/srv/www/sites", 0o755); err != nil {
		t.Fatal(err)
	}
	h.apply(h.plan(h.desired(5, append(dataSite("a"), dataSite("b")...)...), PlanOptions{}))
	if err := h.fake.WriteFile(context.Background(), "/srv/www/sites/b/upload.jpg", []byte("x"), host.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	step := &stepRes{site: "b", fail: errors.New("backup dir not writable"), h: h}
	d := h.desired(5, dataSite("a")...)
	d.BeforeDelete = func(site string, recs []Record) (Resource, error) {
		if site != "b" || len(recs) != 2 {
			t.Errorf("BeforeDelete(%s, %d records)", site, len(recs))
		}
		return step, nil
	}

	p := h.plan(d, PlanOptions{})
	if got, want := actions(p), "+site/b/backup@web -site/b/dir@web -site/b/vhost@web"; got != want {
		t.Fatalf("plan: %s, want %s", got, want)
	}
	if i := slices.IndexFunc(p.Changes, func(c Change) bool { return c.ID == "site/b/dir@web" }); !strings.Contains(p.Changes[i].Reason, "with everything in it") {
		t.Errorf("the guarded site dir is not planned for removal: %q", p.Changes[i].Reason)
	}
	r, err := h.engine.Apply(context.Background(), p)
	if err == nil || !strings.Contains(err.Error(), "backup dir not writable; nothing of site b was deleted") || r.Failed != 3 {
		t.Fatalf("apply with a failing step: %v, %+v", err, r)
	}
	files := h.fake.Files()
	for _, f := range []string{"/srv/www/sites/b/vhost.conf", "/srv/www/sites/b/upload.jpg"} {
		if _, ok := files[f]; !ok {
			t.Errorf("%s was deleted although the step failed", f)
		}
	}
	if recs, _ := h.inv.Records(context.Background(), "test"); len(recs) != 4 {
		t.Errorf("the inventory lost records: %v", recs)
	}

	step.fail = nil
	step.ran = nil
	p = h.plan(d, PlanOptions{})
	h.apply(p)
	if want := []string{"/srv/www/sites/b/upload.jpg", "/srv/www/sites/b/vhost.conf"}; !slices.Equal(step.ran, want) {
		t.Errorf("the step saw %v, want it to run before any deletion: %v", step.ran, want)
	}
	for f := range h.fake.Files() {
		if strings.HasPrefix(f, "/srv/www/sites/b") {
			t.Errorf("%s is still there", f)
		}
	}
	if _, ok := h.fake.Files()["/srv/www/sites/a/vhost.conf"]; !ok {
		t.Error("site a was touched")
	}
	if p := h.plan(d, PlanOptions{}); !p.Empty() {
		t.Errorf("second plan: %s", actions(p))
	}
}

// TestGuardThatCannotBePlanned: when the step of a removed site cannot be
// made (its backup server is gone), the plan shows a conflict, the other
// sites' changes still run and nothing of the removed site is deleted.
func TestGuardThatCannotBePlanned(t *testing.T) {
	h := newHarness(t)
	if err := h.fake.MkdirAll(context.Background(), "/srv/www/sites", 0o755); err != nil {
		t.Fatal(err)
	}
	h.apply(h.plan(h.desired(5, append(dataSite("a"), dataSite("b")...)...), PlanOptions{}))
	d := h.desired(5, append(dataSite("a"), NewFile(FileSpec{ID: "site/a/extra@web", Server: "web", Site: "a",
		Path: "/srv/www/sites/a/extra.conf", Content: []byte("x\n")}))...)
	d.BeforeDelete = func(string, []Record) (Resource, error) { return nil, errors.New("its backup server is not declared") }
	p := h.plan(d, PlanOptions{})
	if got, want := actions(p), "+site/a/extra@web !site/b/backup@web -site/b/dir@web -site/b/vhost@web"; got != want {
		t.Fatalf("plan: %s, want %s", got, want)
	}
	_, err := h.engine.Apply(context.Background(), p)
	if err == nil || !strings.Contains(err.Error(), "cannot back it up first, so it deletes nothing of it: its backup server is not declared") {
		t.Fatalf("apply: %v", err)
	}
	files := h.fake.Files()
	if _, ok := files["/srv/www/sites/b/vhost.conf"]; !ok {
		t.Error("b's vhost was deleted without a backup")
	}
	if _, ok := files["/srv/www/sites/a/extra.conf"]; !ok {
		t.Error("a's change did not run")
	}
}

func TestInSiteDir(t *testing.T) {
	for p, want := range map[string]bool{
		"/var/www/sites/a.example.com":       true,
		"/var/www/sites/a.example.com/files": true,
		"/var/www/sites":                     false,
		"/var/www/sites/b.example.com":       false,
		"/sites/a.example.com":               false,
		"/var/www/sites/a.example.com/../x":  false,
		"var/www/sites/a.example.com":        false,
		"/var/www/platforms/a.example.com":   false,
	} {
		if got := inSiteDir(p, "a.example.com"); got != want {
			t.Errorf("inSiteDir(%s) = %v, want %v", p, got, want)
		}
	}
}

// TestDBGone: the guard of a removed site leaves out a database an
// interrupted run already deleted (its backup was taken by that run), so
// the rerun can finish the site's deletion; a database still there is
// backed up. Real MariaDB and PostgreSQL; SQLite on the local host.
func TestDBGone(t *testing.T) {
	ctx := context.Background()
	m := testenv.MariaDB(t)
	pg := testenv.Postgres(t)
	lite := filepath.Join(t.TempDir(), "site.sqlite")
	if err := os.WriteFile(lite, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	hosts := fakeHosts{"db": local.New()}
	for _, tc := range []struct {
		name string
		db   *SiteDB
		drop func()
	}{
		{"mariadb", &SiteDB{Type: "mariadb", Server: "db", Name: "gone_mariadb", admin: mariadbSite(m, "x", "x", "").admin},
			func() { m.SQL(t, "DROP DATABASE gone_mariadb") }},
		{"postgresql", &SiteDB{Type: "postgresql", Server: "db", Name: "gone_pg", admin: postgresSite(pg, "x", "x", "").admin},
			func() { pg.SQL(t, "DROP DATABASE gone_pg") }},
		{"sqlite", &SiteDB{Type: "sqlite", Server: "db", Name: "site", Path: lite},
			func() { os.Remove(lite) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			switch tc.name {
			case "mariadb":
				m.SQL(t, "CREATE DATABASE gone_mariadb")
			case "postgresql":
				pg.SQL(t, "CREATE DATABASE gone_pg")
			}
			if gone, err := dbGone(ctx, hosts, tc.db); err != nil || gone {
				t.Fatalf("an existing database: gone %v, %v", gone, err)
			}
			tc.drop()
			if gone, err := dbGone(ctx, hosts, tc.db); err != nil || !gone {
				t.Fatalf("a dropped database: gone %v, %v", gone, err)
			}
		})
	}
}
