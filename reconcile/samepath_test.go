package reconcile_test

import (
	"strings"
	"testing"

	"github.com/berthhq/berth/kind/files"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/reconcile/reconciletest"
)

// TestRecordAtADesiredPathIsNotPruned: a record the revision no longer
// declares, at the path a desired resource of its server now owns (an ID
// that changed while the path stayed), is never deleted: deleting it
// would delete what the desired resource serves.
func TestRecordAtADesiredPathIsNotPruned(t *testing.T) {
	h := reconciletest.New(t)
	h.Apply(h.Plan(h.Desired(5, site("a")...), reconcile.PlanOptions{}))

	dir := files.NewDir(files.DirSpec{ID: "site/a/dir@web", Server: "web", Site: "a", Path: "/srv/a", Mode: 0o750})
	renamed := files.NewFile(files.FileSpec{ID: "site/a/nginx@web", Server: "web", Site: "a", Path: "/srv/a/vhost.conf",
		Content: []byte("server a\n"), Service: "http"})
	renamed.AddDeps(dir.ID())
	want := h.Desired(5, dir, renamed)
	p := h.Plan(want, reconcile.PlanOptions{})
	if got := reconciletest.Actions(p); strings.Contains(got, "-site/a/vhost@web") {
		t.Fatalf("plan %s deletes the record at the path site/a/nginx@web owns", got)
	}
	h.Apply(p)
	if again := h.Plan(want, reconcile.PlanOptions{}); !again.Empty() {
		t.Errorf("second plan not empty: %s", reconciletest.Actions(again))
	}
	if got := string(h.Fake.Files()["/srv/a/vhost.conf"]); got != "server a\n" {
		t.Fatalf("/srv/a/vhost.conf = %q after the run, want it kept", got)
	}
}
