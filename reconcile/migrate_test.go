package reconcile_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/hosttest"
	"github.com/berthhq/berth/kind/files"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/reconcile/reconciletest"
)

// moveStep is a migration step on web2: it runs after the reloads and
// records which vhosts existed when it ran.
type moveStep struct {
	fail    error
	mu      sync.Mutex
	sawSrc  bool // the source's vhost was still there
	sawDest bool // the target's vhost was already there
	src     *hosttest.Fake
	dst     *hosttest.Fake
}

func (s *moveStep) ID() string        { return "site/a/migrate@web2" }
func (s *moveStep) Server() string    { return "web2" }
func (s *moveStep) Kind() string      { return "migrate-test" }
func (s *moveStep) Site() string      { return "a" }
func (s *moveStep) Path() string      { return "" }
func (s *moveStep) Deps() []string    { return []string{"site/a/vhost@web2"} }
func (s *moveStep) Observe() []string { return nil }
func (s *moveStep) AfterReload() bool { return true }
func (s *moveStep) Check(context.Context, reconcile.CheckInput) (reconcile.Change, error) {
	return reconcile.Change{ID: s.ID(), Server: "web2", Kind: s.Kind(), Site: "a", Action: reconcile.Update, Reason: "move a: web → web2"}, nil
}
func (s *moveStep) Apply(context.Context, host.Host, *reconcile.Change) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, s.sawSrc = s.src.Files()["/srv/www/sites/a/vhost.conf"]
	_, s.sawDest = s.dst.Files()["/srv/www/sites/a/vhost.conf"]
	return s.fail
}
func (s *moveStep) Undo(context.Context, host.Host, *reconcile.Change) error { return nil }
func (s *moveStep) Record() reconcile.Record {
	return reconcile.Record{ID: s.ID(), Server: "web2", Kind: "migrate-test", Site: "a"}
}

// endedStep is a moveStep's record pruned: it deletes nothing.
type endedStep struct{ reconcile.Base }

func (s *endedStep) Observe() []string { return nil }
func (s *endedStep) Check(context.Context, reconcile.CheckInput) (reconcile.Change, error) {
	return s.NewChange(reconcile.Delete, "the migration is over"), nil
}
func (s *endedStep) Apply(context.Context, host.Host, *reconcile.Change) error { return nil }
func (s *endedStep) Undo(context.Context, host.Host, *reconcile.Change) error  { return nil }
func (s *endedStep) Record() reconcile.Record                                  { return s.NewRecord() }

func init() {
	reconcile.RegisterKind(reconcile.Kind{Name: "migrate-test", Prune: func(rec reconcile.Record) reconcile.Resource {
		return &endedStep{reconcile.PrunedBase("migrate-test", rec)}
	}})
}

// siteOn is site a (its directory and vhost) on server, with a file of
// the platform that serves it there (no site: a release).
func siteOn(server string) []reconcile.Resource {
	dir := files.NewDir(files.DirSpec{ID: "site/a/dir@" + server, Server: server, Site: "a", Path: "/srv/www/sites/a", Mode: 0o750})
	f := files.NewFile(files.FileSpec{ID: "site/a/vhost@" + server, Server: server, Site: "a", Path: "/srv/www/sites/a/vhost.conf",
		Content: []byte("server a on " + server + "\n"), Service: "http"})
	f.AddDeps(dir.ID())
	rel := files.NewFile(files.FileSpec{ID: "platform/app/release@" + server, Server: server, Path: "/srv/www/app.php", Content: []byte("<?php\n")})
	return []reconcile.Resource{dir, f, rel}
}

// TestMigrationHoldsTheSource: a site the revision moves from web to web2
// is one migration in the plan; while it runs (and fails) and during its
// grace period nothing of the site, nor the platform serving it, is
// pruned on web; the step runs after web2's vhost is in place; once the
// grace period is over the source is pruned after the site's backup.
func TestMigrationHoldsTheSource(t *testing.T) {
	ctx := context.Background()
	h := reconciletest.New(t)
	web2 := hosttest.New("web2")
	web2.Handle("svc-test", func(context.Context, []string, []byte) (host.RunResult, error) { return host.RunResult{}, nil })
	web2.Handle("svc-reload", func(context.Context, []string, []byte) (host.RunResult, error) { return host.RunResult{}, nil })
	rm := func(f *hosttest.Fake) func(ctx context.Context, argv []string, _ []byte) (host.RunResult, error) {
		return func(ctx context.Context, argv []string, _ []byte) (host.RunResult, error) {
			dir := argv[len(argv)-1]
			for p := range f.Files() {
				if strings.HasPrefix(p, dir+"/") {
					if err := f.Remove(ctx, p); err != nil {
						return host.RunResult{}, err
					}
				}
			}
			return host.RunResult{}, f.Remove(ctx, dir)
		}
	}
	h.Fake.Handle("rm", rm(h.Fake))
	h.Engine.Hosts = reconciletest.Hosts{"web": h.Fake, "web2": web2}
	for _, f := range []*hosttest.Fake{h.Fake, web2} {
		if err := f.MkdirAll(ctx, "/srv/www/sites", 0o755); err != nil {
			t.Fatal(err)
		}
	}
	h.Apply(h.Plan(h.Desired(5, siteOn("web")...), reconcile.PlanOptions{}))
	if err := h.Fake.WriteFile(ctx, "/srv/www/sites/a/upload.jpg", []byte("x"), host.WriteOptions{}); err != nil {
		t.Fatal(err)
	}

	// Without a migration the move is deletions on web.
	plain := h.Plan(h.Desired(5, siteOn("web2")...), reconcile.PlanOptions{})
	if got := reconciletest.Actions(plain); !strings.Contains(got, "-site/a/vhost@web") {
		t.Fatalf("plain plan: %s", got)
	}

	step := &moveStep{fail: errors.New("health check: 500"), src: h.Fake, dst: web2}
	moving := func(m reconcile.Migration, rs ...reconcile.Resource) *reconcile.Desired {
		d := h.Desired(5, append(siteOn("web2"), rs...)...)
		d.Migrations = []reconcile.Migration{m}
		d.BeforeDelete = func(site string, recs []reconcile.Record) (reconcile.Resource, error) {
			if site != "a" || len(recs) != 3 {
				t.Errorf("BeforeDelete(%s, %v)", site, recs)
			}
			return &stepRes{site: "a", h: h}, nil
		}
		return d
	}
	held := reconcile.Migration{Site: "a", From: "web/app", To: "web2/app", Steps: []string{"copy", "switch"}, State: "planned",
		Hold: []string{"web"}, Keep: []string{"platform/app/release@web"}}

	p := h.Plan(moving(held, step), reconcile.PlanOptions{})
	if got, want := reconciletest.Actions(p), "+platform/app/release@web2 +site/a/dir@web2 ~site/a/migrate@web2 +site/a/vhost@web2"; got != want {
		t.Fatalf("plan: %s, want %s", got, want)
	}
	var text bytes.Buffer
	p.WriteText(&text, reconcile.TextOptions{})
	if !strings.Contains(text.String(), "» a: web/app → web2/app  (planned)\n      1. copy\n      2. switch\n") {
		t.Errorf("the plan does not show the migration with its steps:\n%s", text.String())
	}
	text.Reset()
	p.WriteMarkdown(&text)
	if !strings.Contains(text.String(), "- `» a: web/app → web2/app` (planned)") {
		t.Errorf("the markdown plan does not show the migration:\n%s", text.String())
	}
	if _, err := h.Engine.Apply(ctx, p); err == nil || !strings.Contains(err.Error(), "health check: 500") {
		t.Fatalf("apply with a failing step: %v", err)
	}
	if !step.sawSrc || !step.sawDest {
		t.Errorf("the step ran with the source's vhost %v and the target's %v, want both there", step.sawSrc, step.sawDest)
	}
	for _, f := range []string{"/srv/www/sites/a/vhost.conf", "/srv/www/sites/a/upload.jpg", "/srv/www/app.php"} {
		if _, ok := h.Fake.Files()[f]; !ok {
			t.Errorf("%s was deleted on the source during the migration", f)
		}
	}

	// The step succeeds; during the grace period the plan is empty and
	// the source is still kept.
	step.fail = nil
	h.Apply(h.Plan(moving(held, step), reconcile.PlanOptions{}))
	if recs, _ := h.Inv.Records(ctx, "test"); len(recs) != 7 {
		t.Errorf("records after the migration: %d, want web's 3, web2's 3 and the step's: %v", len(recs), recs)
	}

	// The grace period is over: backup first, then the source goes.
	retire := reconcile.Migration{Site: "a", From: "web/app", To: "web2/app", State: "done", Retire: true}
	p = h.Plan(moving(retire), reconcile.PlanOptions{})
	if got, want := reconciletest.Actions(p), "-platform/app/release@web +site/a/backup@web -site/a/dir@web -site/a/vhost@web -site/a/migrate@web2"; got != want {
		t.Fatalf("plan after the grace period: %s, want %s", got, want)
	}
	h.Apply(p)
	for f := range h.Fake.Files() {
		if strings.HasPrefix(f, "/srv/www/sites/a") {
			t.Errorf("%s is still on the source", f)
		}
	}
	if _, ok := web2.Files()["/srv/www/sites/a/vhost.conf"]; !ok {
		t.Error("the target's vhost is gone")
	}
}
