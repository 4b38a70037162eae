package reconcile_test

import (
	"context"
	"testing"

	"github.com/berthhq/berth/kind/files"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/reconcile/reconciletest"
)

// envSite is site name of environment env under the shared /srv/sites, the
// way Build declares a site below a directory that environments share.
func envSite(env, name string) []reconcile.Resource {
	shared := files.NewDir(files.DirSpec{ID: "dir:/srv/sites@web", Server: "web", Path: "/srv/sites"})
	dir := files.NewDir(files.DirSpec{ID: "site/" + name + "/dir@web", Server: "web", Site: name, Path: "/srv/sites/" + name, Mode: 0o750})
	dir.AddDeps(shared.ID())
	f := files.NewFile(files.FileSpec{ID: "site/" + name + "/vhost@web", Server: "web", Site: name, Path: "/srv/sites/" + name + "/vhost.conf",
		Content: []byte("server " + name + " (" + env + ")\n"), Service: "http"})
	f.AddDeps(dir.ID())
	return []reconcile.Resource{shared, dir, f}
}

// Two environments record the directory they share; the one that stops
// declaring it neither deletes it from under the other nor keeps planning
// its deletion.
func TestSharedDirectoryBetweenEnvironments(t *testing.T) {
	ctx := context.Background()
	h := reconciletest.New(t)
	env := func(name string, rs ...reconcile.Resource) *reconcile.Desired {
		d := h.Desired(5, rs...)
		d.Env = name
		return d
	}
	// Production creates the shared directory; staging finds it there.
	h.Apply(h.Plan(env("production", envSite("production", "a")...), reconcile.PlanOptions{}))
	h.Apply(h.Plan(env("staging", envSite("staging", "a.staging")...), reconcile.PlanOptions{}))

	// Production goes: staging's site keeps the shared directory.
	p := h.Plan(env("production"), reconcile.PlanOptions{})
	if got, want := reconciletest.Actions(p), "-dir:/srv/sites@web -site/a/dir@web -site/a/vhost@web"; got != want {
		t.Fatalf("production's prune plan: %s, want %s", got, want)
	}
	r := h.Apply(p)
	if len(r.Warnings) != 0 {
		t.Errorf("warnings: %v", r.Warnings)
	}
	files := h.Fake.Files()
	if got := string(files["/srv/sites/a.staging/vhost.conf"]); got != "server a.staging (staging)\n" {
		t.Errorf("staging's vhost: %q", got)
	}
	if _, ok := files["/srv/sites/a/vhost.conf"]; ok {
		t.Error("production's vhost is still there")
	}
	if p := h.Plan(env("production"), reconcile.PlanOptions{}); len(p.Changes) != 0 {
		t.Errorf("production plans its deletion again: %s", reconciletest.Actions(p))
	}
	if recs, _ := h.Inv.Records(ctx, "production"); len(recs) != 0 {
		t.Errorf("production still records %+v", recs)
	}
	if p := h.Plan(env("staging", envSite("staging", "a.staging")...), reconcile.PlanOptions{}); len(p.Changes) != 0 {
		t.Errorf("staging plans after production's prune: %s", reconciletest.Actions(p))
	}
}
