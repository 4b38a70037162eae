package reconcile_test

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/kind/files"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/reconcile/reconciletest"
)

// stepRes is a guard step that records when it ran and fails on demand.
type stepRes struct {
	site string
	fail error
	mu   sync.Mutex
	ran  []string // files present under the site when it ran
	h    *reconciletest.Harness
}

func (s *stepRes) ID() string        { return "site/" + s.site + "/backup@web" }
func (s *stepRes) Server() string    { return "web" }
func (s *stepRes) Kind() string      { return "backup" }
func (s *stepRes) Site() string      { return s.site }
func (s *stepRes) Path() string      { return "" }
func (s *stepRes) Deps() []string    { return nil }
func (s *stepRes) Observe() []string { return nil }
func (s *stepRes) Check(context.Context, reconcile.CheckInput) (reconcile.Change, error) {
	return reconcile.Change{ID: s.ID(), Server: "web", Kind: "backup", Site: s.site, Action: reconcile.Create, Reason: "before deleting " + s.site}, nil
}
func (s *stepRes) Apply(context.Context, host.Host, *reconcile.Change) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p := range s.h.Fake.Files() {
		if strings.HasPrefix(p, "/srv/www/sites/"+s.site+"/") {
			s.ran = append(s.ran, p)
		}
	}
	sort.Strings(s.ran)
	return s.fail
}
func (s *stepRes) Undo(context.Context, host.Host, *reconcile.Change) error { return nil }
func (s *stepRes) Record() reconcile.Record                                 { return reconcile.Record{} }

// dataSite is a site whose directory is under a web root's sites/.
func dataSite(name string) []reconcile.Resource {
	dir := files.NewDir(files.DirSpec{ID: "site/" + name + "/dir@web", Server: "web", Site: name, Path: "/srv/www/sites/" + name, Mode: 0o750})
	f := files.NewFile(files.FileSpec{ID: "site/" + name + "/vhost@web", Server: "web", Site: name, Path: "/srv/www/sites/" + name + "/vhost.conf",
		Content: []byte("server " + name + "\n"), Service: "http"})
	f.AddDeps(dir.ID())
	return []reconcile.Resource{dir, f}
}

// TestDeleteSiteBehindGuard: a removed site's guard step runs before any of
// its deletions; when it fails nothing of the site is deleted and the
// run says why; when it succeeds, the site's directory goes with what
// berth did not create in it, and a second run has nothing to do.
func TestDeleteSiteBehindGuard(t *testing.T) {
	h := reconciletest.New(t)
	h.Fake.Handle("rm", func(ctx context.Context, argv []string, _ []byte) (host.RunResult, error) {
		dir := argv[len(argv)-1]
		var ps []string
		for p := range h.Fake.Files() {
			if strings.HasPrefix(p, dir+"/") {
				ps = append(ps, p)
			}
		}
		for _, p := range ps {
			if err := h.Fake.Remove(ctx, p); err != nil {
				return host.RunResult{}, err
			}
		}
		return host.RunResult{}, h.Fake.Remove(ctx, dir)
	})
	if err := h.Fake.MkdirAll(context.Background(), "/srv/www/sites", 0o755); err != nil {
		t.Fatal(err)
	}
	h.Apply(h.Plan(h.Desired(5, append(dataSite("a"), dataSite("b")...)...), reconcile.PlanOptions{}))
	if err := h.Fake.WriteFile(context.Background(), "/srv/www/sites/b/upload.jpg", []byte("x"), host.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	step := &stepRes{site: "b", fail: errors.New("backup dir not writable"), h: h}
	d := h.Desired(5, dataSite("a")...)
	d.BeforeDelete = func(site string, recs []reconcile.Record) (reconcile.Resource, error) {
		if site != "b" || len(recs) != 2 {
			t.Errorf("BeforeDelete(%s, %d records)", site, len(recs))
		}
		return step, nil
	}

	p := h.Plan(d, reconcile.PlanOptions{})
	if got, want := reconciletest.Actions(p), "+site/b/backup@web -site/b/dir@web -site/b/vhost@web"; got != want {
		t.Fatalf("plan: %s, want %s", got, want)
	}
	if i := slices.IndexFunc(p.Changes, func(c reconcile.Change) bool { return c.ID == "site/b/dir@web" }); !strings.Contains(p.Changes[i].Reason, "with everything in it") {
		t.Errorf("the guarded site dir is not planned for removal: %q", p.Changes[i].Reason)
	}
	r, err := h.Engine.Apply(context.Background(), p)
	if err == nil || !strings.Contains(err.Error(), "backup dir not writable; nothing of site b was deleted") || r.Failed != 3 {
		t.Fatalf("apply with a failing step: %v, %+v", err, r)
	}
	files := h.Fake.Files()
	for _, f := range []string{"/srv/www/sites/b/vhost.conf", "/srv/www/sites/b/upload.jpg"} {
		if _, ok := files[f]; !ok {
			t.Errorf("%s was deleted although the step failed", f)
		}
	}
	if recs, _ := h.Inv.Records(context.Background(), "test"); len(recs) != 4 {
		t.Errorf("the inventory lost records: %v", recs)
	}

	step.fail = nil
	step.ran = nil
	p = h.Plan(d, reconcile.PlanOptions{})
	h.Apply(p)
	if want := []string{"/srv/www/sites/b/upload.jpg", "/srv/www/sites/b/vhost.conf"}; !slices.Equal(step.ran, want) {
		t.Errorf("the step saw %v, want it to run before any deletion: %v", step.ran, want)
	}
	for f := range h.Fake.Files() {
		if strings.HasPrefix(f, "/srv/www/sites/b") {
			t.Errorf("%s is still there", f)
		}
	}
	if _, ok := h.Fake.Files()["/srv/www/sites/a/vhost.conf"]; !ok {
		t.Error("site a was touched")
	}
	if p := h.Plan(d, reconcile.PlanOptions{}); !p.Empty() {
		t.Errorf("second plan: %s", reconciletest.Actions(p))
	}
}

// TestGuardThatCannotBePlanned: when the step of a removed site cannot be
// made (its backup server is gone), the plan shows a conflict, the other
// sites' changes still run and nothing of the removed site is deleted.
func TestGuardThatCannotBePlanned(t *testing.T) {
	h := reconciletest.New(t)
	if err := h.Fake.MkdirAll(context.Background(), "/srv/www/sites", 0o755); err != nil {
		t.Fatal(err)
	}
	h.Apply(h.Plan(h.Desired(5, append(dataSite("a"), dataSite("b")...)...), reconcile.PlanOptions{}))
	d := h.Desired(5, append(dataSite("a"), files.NewFile(files.FileSpec{ID: "site/a/extra@web", Server: "web", Site: "a",
		Path: "/srv/www/sites/a/extra.conf", Content: []byte("x\n")}))...)
	d.BeforeDelete = func(site string, _ []reconcile.Record) (reconcile.Resource, error) {
		return nil, &reconcile.GuardError{ID: "site/" + site + "/backup@web", Server: "web", Err: errors.New("its backup server is not declared")}
	}
	p := h.Plan(d, reconcile.PlanOptions{})
	if got, want := reconciletest.Actions(p), "+site/a/extra@web !site/b/backup@web -site/b/dir@web -site/b/vhost@web"; got != want {
		t.Fatalf("plan: %s, want %s", got, want)
	}
	_, err := h.Engine.Apply(context.Background(), p)
	if err == nil || !strings.Contains(err.Error(), "cannot back it up first, so it deletes nothing of it: its backup server is not declared") {
		t.Fatalf("apply: %v", err)
	}
	files := h.Fake.Files()
	if _, ok := files["/srv/www/sites/b/vhost.conf"]; !ok {
		t.Error("b's vhost was deleted without a backup")
	}
	if _, ok := files["/srv/www/sites/a/extra.conf"]; !ok {
		t.Error("a's change did not run")
	}
}
