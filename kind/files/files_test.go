package files

import (
	"context"
	"strings"
	"testing"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/reconcile/reconciletest"
)

// site is a site's directory and its vhost, which the directory holds.
func site(name string) []reconcile.Resource {
	dir := NewDir(DirSpec{ID: "site/" + name + "/dir@web", Server: "web", Site: name, Path: "/srv/" + name, Mode: 0o750})
	f := NewFile(FileSpec{ID: "site/" + name + "/vhost@web", Server: "web", Site: name, Path: "/srv/" + name + "/vhost.conf",
		Content: []byte("server " + name + "\n"), Service: "http", Deps: []string{dir.ID()}})
	return []reconcile.Resource{dir, f}
}

// TestFileAndDirIdempotent is the timeline every kind must pass: apply,
// check it converged, apply again and see that nothing ran.
func TestFileAndDirIdempotent(t *testing.T) {
	h := reconciletest.New(t)
	d := h.Desired(5, site("a")...)
	p := h.Plan(d, reconcile.PlanOptions{})
	if got, want := reconciletest.Actions(p), "+site/a/dir@web +site/a/vhost@web"; got != want {
		t.Fatalf("first plan: %s, want %s", got, want)
	}
	r := h.Apply(p)
	if r.Applied != 2 || len(r.Reloads) != 1 {
		t.Fatalf("first apply: %+v", r)
	}
	if got := string(h.Fake.Files()["/srv/a/vhost.conf"]); got != "server a\n" {
		t.Fatalf("vhost content %q", got)
	}
	obs, _ := h.Fake.Observe(context.Background(), []string{"/srv/a"})
	if obs[0].Mode.Perm() != 0o750 {
		t.Errorf("dir mode %v, want 0750", obs[0].Mode.Perm())
	}
	writes, runs := h.Count("write", ""), h.Count("run", "")

	p = h.Plan(d, reconcile.PlanOptions{})
	if !p.Empty() || len(p.Changes) != 0 || p.Unchanged != 2 {
		t.Fatalf("second plan not empty: %s (unchanged %d)", reconciletest.Actions(p), p.Unchanged)
	}
	r = h.Apply(p)
	if r.Applied != 0 || len(r.Reloads) != 0 || h.Count("write", "") != writes || h.Count("run", "") != runs {
		t.Errorf("second apply did work: %+v, writes %d->%d, runs %d->%d", r, writes, h.Count("write", ""), runs, h.Count("run", ""))
	}
}

func TestDriftIsRepaired(t *testing.T) {
	h := reconciletest.New(t)
	d := h.Desired(5, site("a")...)
	h.Apply(h.Plan(d, reconcile.PlanOptions{}))
	if err := h.Fake.WriteFile(context.Background(), "/srv/a/vhost.conf", []byte("edited by hand\n"), host.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	p := h.Plan(d, reconcile.PlanOptions{})
	if got := reconciletest.Actions(p); got != "~site/a/vhost@web" {
		t.Fatalf("plan after drift: %s", got)
	}
	if !strings.Contains(p.Changes[0].Diff, "-edited by hand") || !strings.Contains(p.Changes[0].Diff, "+server a") {
		t.Errorf("diff does not show the change:\n%s", p.Changes[0].Diff)
	}
	h.Apply(p)
	if got := string(h.Fake.Files()["/srv/a/vhost.conf"]); got != "server a\n" {
		t.Errorf("not repaired: %q", got)
	}
}

func TestConflictNeedsAdopt(t *testing.T) {
	h := reconciletest.New(t)
	ctx := context.Background()
	if err := h.Fake.MkdirAll(ctx, "/srv/a", 0o750); err != nil {
		t.Fatal(err)
	}
	if err := h.Fake.WriteFile(ctx, "/srv/a/vhost.conf", []byte("hand-made\n"), host.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	d := h.Desired(5, site("a")...)
	p := h.Plan(d, reconcile.PlanOptions{})
	if got := reconciletest.Actions(p); got != "!site/a/vhost@web" || !p.HasConflicts() {
		t.Fatalf("plan: %s", got)
	}
	h.Apply(p)
	if got := string(h.Fake.Files()["/srv/a/vhost.conf"]); got != "hand-made\n" {
		t.Fatalf("a conflict was overwritten: %q", got)
	}
	p = h.Plan(d, reconcile.PlanOptions{Adopt: true})
	if got := reconciletest.Actions(p); got != "~site/a/vhost@web" {
		t.Fatalf("adopt plan: %s", got)
	}
	h.Apply(p)
	if got := string(h.Fake.Files()["/srv/a/vhost.conf"]); got != "server a\n" {
		t.Errorf("adopt did not take over: %q", got)
	}
}

// TestImportedKeptAsFound: a hand-made file berth import recorded
// (Adopted, Imported, AsFound, the hash of berth's rendering at import) keeps its
// bytes while the desired content is that rendering; the first change of
// the desired content takes it over; and it is never deleted.
func TestImportedKeptAsFound(t *testing.T) {
	h := reconciletest.New(t)
	ctx := context.Background()
	if err := h.Fake.MkdirAll(ctx, "/srv/a", 0o750); err != nil {
		t.Fatal(err)
	}
	if err := h.Fake.WriteFile(ctx, "/srv/a/vhost.conf", []byte("hand-made\n"), host.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	rs := site("a")
	rec := rs[1].Record()
	rec.Adopted, rec.Imported, rec.AsFound = true, true, true
	if err := h.Inv.SaveRecords(ctx, "test", "import", []reconcile.Record{rec}); err != nil {
		t.Fatal(err)
	}
	d := h.Desired(5, rs...)
	for i := range 2 { // the first apply changes nothing on it, the next neither
		p := h.Plan(d, reconcile.PlanOptions{})
		if got := reconciletest.Actions(p); strings.Contains(got, "vhost") {
			t.Fatalf("plan %d touches the imported file: %s", i, got)
		}
		h.Apply(p)
		if got := string(h.Fake.Files()["/srv/a/vhost.conf"]); got != "hand-made\n" {
			t.Fatalf("apply %d changed the imported file: %q", i, got)
		}
	}

	// The repo changes the site: berth takes the file over.
	f := NewFile(FileSpec{ID: "site/a/vhost@web", Server: "web", Site: "a", Path: "/srv/a/vhost.conf",
		Content: []byte("server a new.example\n"), Service: "http", Deps: []string{rs[0].ID()}})
	d = h.Desired(5, rs[0], f)
	p := h.Plan(d, reconcile.PlanOptions{})
	if got := reconciletest.Actions(p); got != "~site/a/vhost@web" {
		t.Fatalf("plan after the repo's change: %s", got)
	}
	h.Apply(p)
	if got := string(h.Fake.Files()["/srv/a/vhost.conf"]); got != "server a new.example\n" {
		t.Fatalf("not taken over: %q", got)
	}
	// Drift is repaired from now on, like any file of berth's.
	if err := h.Fake.WriteFile(ctx, "/srv/a/vhost.conf", []byte("edited by hand\n"), host.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := reconciletest.Actions(h.Plan(d, reconcile.PlanOptions{})); got != "~site/a/vhost@web" {
		t.Fatalf("drift after the takeover: %s", got)
	}
	h.Apply(h.Plan(d, reconcile.PlanOptions{}))

	// Removed from the repo: what import adopted stays.
	p = h.Plan(h.Desired(5), reconcile.PlanOptions{AllowDeletions: 1})
	for _, c := range p.Changes {
		if c.ID == "site/a/vhost@web" && c.Action == reconcile.Delete {
			t.Fatalf("the imported file is deleted: %s", reconciletest.Actions(p))
		}
	}
	h.Apply(p)
	if _, ok := h.Fake.Files()["/srv/a/vhost.conf"]; !ok {
		t.Error("the imported file was deleted with its site")
	}
}
