package release

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/berthhq/berth/host/hosttest"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/reconcile/reconciletest"
)

// A release recorded at the current link every environment shared before
// moves to its environment's own platform directory: the plan says so and
// the old tree is superseded (forgotten), never deleted.
func TestReleaseMovesToItsEnvironment(t *testing.T) {
	legacy := "/var/www/platforms/app/current"
	r := New(ReleaseSpec{ID: "platform/app/release@web", Server: "web", Platform: "app",
		Current: "/var/www/platforms/app/production/current", Keep: 2, Legacy: legacy},
		&Artifact{platform: "app", id: "0123456789ab", source: "path code"})
	c, err := r.Check(context.Background(), reconcile.CheckInput{Obs: nil, Record: &reconcile.Record{ID: r.ID(), Server: "web", Kind: KindRelease, Path: legacy, Hash: "ba9876543210"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Action != reconcile.Create || !strings.Contains(c.Reason, "moves from "+legacy) || !strings.Contains(c.Reason, "left alone") {
		t.Errorf("change: %v %q", c.Action, c.Reason)
	}
	if got := r.Supersedes(); len(got) != 2 || got[1] != legacy {
		t.Errorf("supersedes %v, want the new current and %s", got, legacy)
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
	env := newReleaseEnv(t, reconciletest.Hosts{"web1": web1}, "/srv")
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
	moved.Resources[0] = New(ReleaseSpec{ID: r.ID(), Server: "web1", Platform: "app", Current: own, Keep: 3, Legacy: shared}, r.art)
	p := env.apply(moved)
	if len(p.Changes) != 1 || p.Changes[0].Action != reconcile.Create || !strings.Contains(p.Changes[0].Reason, "moves from "+shared) {
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
		t.Errorf("production's plan after the move: %s", reconciletest.Actions(p))
	}
	if recs, _ := env.inv.Records(ctx, "staging"); len(recs) != 1 || recs[0].Path != shared {
		t.Errorf("staging's records: %+v", recs)
	}
}
