package reconcile_test

import (
	"context"
	"strings"
	"testing"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/kind/files"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/reconcile/reconciletest"
)

// TestPlanSites: a plan limited to one site (berth verify) checks that
// site and what it depends on, fixes its drift, and neither changes nor
// prunes anything of another site.
func TestPlanSites(t *testing.T) {
	h := reconciletest.New(t)
	shared := files.NewDir(files.DirSpec{ID: "dir:/srv/shared@web", Server: "web", Path: "/srv/shared"})
	a, b := site("a"), site("b")
	a[0].(*files.Dir).AddDeps(shared.ID())
	all := append(append([]reconcile.Resource{shared}, a...), b...)

	p := h.Plan(h.Desired(5, all...), reconcile.PlanOptions{Sites: []string{"a"}})
	if got, want := reconciletest.Actions(p), "+dir:/srv/shared@web +site/a/dir@web +site/a/vhost@web"; got != want {
		t.Fatalf("plan of site a: %s, want %s", got, want)
	}
	h.Apply(p)
	if got := reconciletest.Actions(h.Plan(h.Desired(5, all...), reconcile.PlanOptions{})); got != "+site/b/dir@web +site/b/vhost@web" {
		t.Fatalf("plan of the environment: %s", got)
	}
	h.Apply(h.Plan(h.Desired(5, all...), reconcile.PlanOptions{}))

	// Drift in a; b no longer declared. Verifying a fixes a and leaves b.
	if err := h.Fake.WriteFile(context.Background(), "/srv/a/vhost.conf", []byte("edited by hand\n"), host.WriteOptions{Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	onlyA := append([]reconcile.Resource{shared}, a...)
	p = h.Plan(h.Desired(5, onlyA...), reconcile.PlanOptions{Sites: []string{"a"}})
	if got := reconciletest.Actions(p); got != "~site/a/vhost@web" {
		t.Fatalf("verify of a: %s", got)
	}
	h.Apply(p)
	if got := string(h.Fake.Files()["/srv/a/vhost.conf"]); got != "server a\n" {
		t.Errorf("a's vhost after verify: %q", got)
	}
	if _, ok := h.Fake.Files()["/srv/b/vhost.conf"]; !ok {
		t.Error("verify of a pruned b")
	}

	if _, err := h.Engine.Plan(context.Background(), h.Desired(5, all...), reconcile.PlanOptions{Sites: []string{"c"}}); err == nil || !strings.Contains(err.Error(), "no site c") {
		t.Errorf("plan of an unknown site: %v", err)
	}
}
