package reconcile

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/berthhq/berth/host/hosttest"
	"github.com/berthhq/berth/spec"
)

// envSite is site name of environment env under the shared /srv/sites, the
// way Build declares a site below a directory that environments share.
func envSite(env, name string) []Resource {
	shared := NewDir(DirSpec{ID: "dir:/srv/sites@web", Server: "web", Path: "/srv/sites"})
	dir := NewDir(DirSpec{ID: "site/" + name + "/dir@web", Server: "web", Site: name, Path: "/srv/sites/" + name, Mode: 0o750})
	dir.deps = []string{shared.ID()}
	f := NewFile(FileSpec{ID: "site/" + name + "/vhost@web", Server: "web", Site: name, Path: "/srv/sites/" + name + "/vhost.conf",
		Content: []byte("server " + name + " (" + env + ")\n"), Service: "http"})
	f.deps = []string{dir.ID()}
	return []Resource{shared, dir, f}
}

// Two environments record the directory they share; the one that stops
// declaring it neither deletes it from under the other nor keeps planning
// its deletion.
func TestSharedDirectoryBetweenEnvironments(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	env := func(name string, rs ...Resource) *Desired {
		d := h.desired(5, rs...)
		d.Env = name
		return d
	}
	// Production creates the shared directory; staging finds it there.
	h.apply(h.plan(env("production", envSite("production", "a")...), PlanOptions{}))
	h.apply(h.plan(env("staging", envSite("staging", "a.staging")...), PlanOptions{}))

	// Production goes: staging's site keeps the shared directory.
	p := h.plan(env("production"), PlanOptions{})
	if got, want := actions(p), "-dir:/srv/sites@web -site/a/dir@web -site/a/vhost@web"; got != want {
		t.Fatalf("production's prune plan: %s, want %s", got, want)
	}
	r := h.apply(p)
	if len(r.Warnings) != 0 {
		t.Errorf("warnings: %v", r.Warnings)
	}
	files := h.fake.Files()
	if got := string(files["/srv/sites/a.staging/vhost.conf"]); got != "server a.staging (staging)\n" {
		t.Errorf("staging's vhost: %q", got)
	}
	if _, ok := files["/srv/sites/a/vhost.conf"]; ok {
		t.Error("production's vhost is still there")
	}
	if p := h.plan(env("production"), PlanOptions{}); len(p.Changes) != 0 {
		t.Errorf("production plans its deletion again: %s", actions(p))
	}
	if recs, _ := h.inv.Records(ctx, "production"); len(recs) != 0 {
		t.Errorf("production still records %+v", recs)
	}
	if p := h.plan(env("staging", envSite("staging", "a.staging")...), PlanOptions{}); len(p.Changes) != 0 {
		t.Errorf("staging plans after production's prune: %s", actions(p))
	}
}

// A release recorded at the current link every environment shared before
// moves to its environment's own platform directory: the plan says so and
// the old tree is superseded (forgotten), never deleted.
func TestReleaseMovesToItsEnvironment(t *testing.T) {
	legacy := "/var/www/platforms/app/current"
	r := newRelease(ReleaseSpec{ID: ReleaseID("app", "web"), Server: "web", Platform: "app",
		Current: "/var/www/platforms/app/production/current", Keep: 2, Legacy: legacy},
		&artifact{platform: "app", id: "0123456789ab", source: "path code"})
	c, err := r.Check(context.Background(), CheckInput{Obs: nil, Record: &Record{ID: r.ID(), Server: "web", Kind: KindRelease, Path: legacy, Hash: "ba9876543210"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Action != Create || !strings.Contains(c.Reason, "moves from "+legacy) || !strings.Contains(c.Reason, "left alone") {
		t.Errorf("change: %v %q", c.Action, c.Reason)
	}
	if got := r.Supersedes(); len(got) != 2 || got[1] != legacy {
		t.Errorf("supersedes %v, want the new current and %s", got, legacy)
	}
}

// The names the older layout uses inside a platform's directory are no
// environment's.
func TestBuildRefusesReservedEnvironment(t *testing.T) {
	for _, env := range []string{"builds", "current"} {
		res := &spec.Resolved{Environment: env, Platforms: []spec.ResolvedPlatform{{Name: "app", Servers: []string{"web"}}}}
		if _, err := buildDesired(res, "r1", nil, t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "rename it") {
			t.Errorf("%s: %v", env, err)
		}
	}
}

// Production and staging both recorded the current link they shared
// before environments were kept apart. Production moves to its own
// platform directory: the shared link and its builds stay as they are
// (staging still serves them), and production's next plan is empty.
func TestReleaseMigrationLeavesSharedTree(t *testing.T) {
	ctx := context.Background()
	web1 := hosttest.New("web1")
	newFakeShell(web1)
	env := newReleaseEnv(t, fakeHosts{"web1": web1}, "/srv")
	if err := web1.MkdirAll(ctx, "/srv/web1/app", 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"index.php": "<?php echo 1;\n"}
	old := env.desired(files, 3, nil, "web1")
	for _, name := range []string{"production", "staging"} {
		old.Env = name
		env.apply(old)
	}
	shared := env.current("web1")
	before, err := web1.Observe(ctx, []string{shared})
	if err != nil || before[0].LinkTarget == "" {
		t.Fatalf("the shared layout was not deployed: %+v %v", before, err)
	}
	sharedFiles := web1.Files()

	moved := env.desired(files, 3, nil, "web1")
	moved.Env = "production"
	r := moved.Resources[0].(*Release)
	own := "/srv/web1/app/production/current"
	moved.Resources[0] = newRelease(ReleaseSpec{ID: r.id, Server: "web1", Platform: "app", Current: own, Keep: 3, Legacy: shared}, r.art)
	p := env.apply(moved)
	if len(p.Changes) != 1 || p.Changes[0].Action != Create || !strings.Contains(p.Changes[0].Reason, "moves from "+shared) {
		t.Fatalf("the move: %+v", p.Changes)
	}
	after, _ := web1.Observe(ctx, []string{shared, own})
	if after[0].LinkTarget != before[0].LinkTarget {
		t.Errorf("the shared link moved: %s -> %s", before[0].LinkTarget, after[0].LinkTarget)
	}
	if after[1].LinkTarget != "builds/"+r.buildID {
		t.Errorf("production's own current -> %q", after[1].LinkTarget)
	}
	now := web1.Files()
	for p, data := range sharedFiles {
		if !bytes.Equal(now[p], data) {
			t.Errorf("%s changed or went", p)
		}
	}
	if p := env.plan(moved); !p.Empty() {
		t.Errorf("production's plan after the move: %s", actions(p))
	}
	if recs, _ := env.inv.Records(ctx, "staging"); len(recs) != 1 || recs[0].Path != shared {
		t.Errorf("staging's records: %+v", recs)
	}
}
