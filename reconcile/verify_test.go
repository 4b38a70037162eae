package reconcile

import (
	"context"
	"strings"
	"testing"

	"github.com/berthhq/berth/host"
)

// TestPlanSites: a plan limited to one site (berth verify) checks that
// site and what it depends on, fixes its drift, and neither changes nor
// prunes anything of another site.
func TestPlanSites(t *testing.T) {
	h := newHarness(t)
	shared := NewDir(DirSpec{ID: "dir:/srv/shared@web", Server: "web", Path: "/srv/shared"})
	a, b := site("a"), site("b")
	a[0].(*Dir).deps = []string{shared.ID()}
	all := append(append([]Resource{shared}, a...), b...)

	p := h.plan(h.desired(5, all...), PlanOptions{Sites: []string{"a"}})
	if got, want := actions(p), "+dir:/srv/shared@web +site/a/dir@web +site/a/vhost@web"; got != want {
		t.Fatalf("plan of site a: %s, want %s", got, want)
	}
	h.apply(p)
	if got := actions(h.plan(h.desired(5, all...), PlanOptions{})); got != "+site/b/dir@web +site/b/vhost@web" {
		t.Fatalf("plan of the environment: %s", got)
	}
	h.apply(h.plan(h.desired(5, all...), PlanOptions{}))

	// Drift in a; b no longer declared. Verifying a fixes a and leaves b.
	if err := h.fake.WriteFile(context.Background(), "/srv/a/vhost.conf", []byte("edited by hand\n"), host.WriteOptions{Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	onlyA := append([]Resource{shared}, a...)
	p = h.plan(h.desired(5, onlyA...), PlanOptions{Sites: []string{"a"}})
	if got := actions(p); got != "~site/a/vhost@web" {
		t.Fatalf("verify of a: %s", got)
	}
	h.apply(p)
	if got := string(h.fake.Files()["/srv/a/vhost.conf"]); got != "server a\n" {
		t.Errorf("a's vhost after verify: %q", got)
	}
	if _, ok := h.fake.Files()["/srv/b/vhost.conf"]; !ok {
		t.Error("verify of a pruned b")
	}

	if _, err := h.engine.Plan(context.Background(), h.desired(5, all...), PlanOptions{Sites: []string{"c"}}); err == nil || !strings.Contains(err.Error(), "no site c") {
		t.Errorf("plan of an unknown site: %v", err)
	}
}
