package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/kind/files"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/reconcile/reconciletest"
)

func site(name string) []reconcile.Resource {
	dir := files.NewDir(files.DirSpec{ID: "site/" + name + "/dir@web", Server: "web", Site: name, Path: "/srv/" + name, Mode: 0o750})
	f := files.NewFile(files.FileSpec{ID: "site/" + name + "/vhost@web", Server: "web", Site: name, Path: "/srv/" + name + "/vhost.conf",
		Content: []byte("server " + name + "\n"), Service: "http"})
	f.AddDeps(dir.ID())
	return []reconcile.Resource{dir, f}
}

func TestPruneOnlyWhatBerthCreated(t *testing.T) {
	h := reconciletest.New(t)
	h.Apply(h.Plan(h.Desired(5, append(site("a"), site("b")...)...), reconcile.PlanOptions{}))
	// A file berth never created, next to b's.
	if err := h.Fake.WriteFile(context.Background(), "/srv/b/user-upload.jpg", []byte("x"), host.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	p := h.Plan(h.Desired(5, site("a")...), reconcile.PlanOptions{})
	if got, want := reconciletest.Actions(p), "-site/b/dir@web -site/b/vhost@web"; got != want {
		t.Fatalf("prune plan: %s, want %s", got, want)
	}
	if !slices.Equal(p.DeletedSites, []string{"b"}) {
		t.Errorf("deleted sites %v", p.DeletedSites)
	}
	r, err := h.Engine.Apply(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	files := h.Fake.Files()
	if _, ok := files["/srv/b/vhost.conf"]; ok {
		t.Error("b's vhost was not deleted")
	}
	if _, ok := files["/srv/b/user-upload.jpg"]; !ok {
		t.Error("a file berth did not create was deleted")
	}
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "not empty") {
		t.Errorf("want a warning that the non-empty dir was kept, got %v", r.Warnings)
	}
	if _, ok := files["/srv/a/vhost.conf"]; !ok {
		t.Error("a was touched")
	}
}

func TestMaxDeletionsPolicy(t *testing.T) {
	h := reconciletest.New(t)
	var all []reconcile.Resource
	for _, s := range []string{"a", "b", "c"} {
		all = append(all, site(s)...)
	}
	h.Apply(h.Plan(h.Desired(1, all...), reconcile.PlanOptions{}))
	writes := h.Count("write", "")

	_, err := h.Engine.Plan(context.Background(), h.Desired(1), reconcile.PlanOptions{})
	if !errors.Is(err, reconcile.ErrPolicy) || !strings.Contains(err.Error(), "--allow-deletions=3") {
		t.Fatalf("want a policy refusal naming the override, got %v", err)
	}
	if h.Count("write", "") != writes || h.Count("remove", "") != 0 {
		t.Error("a refused plan changed the host")
	}
	p := h.Plan(h.Desired(1), reconcile.PlanOptions{AllowDeletions: 3})
	if len(p.DeletedSites) != 3 {
		t.Errorf("override: deleted sites %v", p.DeletedSites)
	}
}

func TestFailedCheckRestoresFiles(t *testing.T) {
	h := reconciletest.New(t)
	d := h.Desired(5, site("a")...)
	h.Apply(h.Plan(d, reconcile.PlanOptions{}))
	before, _ := h.Inv.Records(context.Background(), "test")

	broken := site("a")
	broken[1] = files.NewFile(files.FileSpec{ID: "site/a/vhost@web", Server: "web", Site: "a", Path: "/srv/a/vhost.conf", Content: []byte("server a { broken\n"), Service: "http"})
	h.Fake.Handle("svc-test", func(context.Context, []string, []byte) (host.RunResult, error) {
		return host.RunResult{ExitCode: 1, Stderr: []byte("nginx: [emerg] unexpected end of file")}, &host.ExitError{Code: 1}
	})
	reloads := h.Count("run", "svc-reload")
	_, err := h.Engine.Apply(context.Background(), h.Plan(h.Desired(5, broken...), reconcile.PlanOptions{}))
	if err == nil || !strings.Contains(err.Error(), "unexpected end of file") {
		t.Fatalf("want the check's message in the error, got %v", err)
	}
	if got := string(h.Fake.Files()["/srv/a/vhost.conf"]); got != "server a\n" {
		t.Errorf("old file not restored: %q", got)
	}
	if h.Count("run", "svc-reload") != reloads {
		t.Error("reloaded after a failed check")
	}
	after, _ := h.Inv.Records(context.Background(), "test")
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("inventory changed by a restored apply:\n%v\n%v", before, after)
	}
}

func TestOneCheckAndReloadPerService(t *testing.T) {
	h := reconciletest.New(t)
	var rs []reconcile.Resource
	for i := range 5 {
		rs = append(rs, site(fmt.Sprint("s", i))...)
	}
	h.Apply(h.Plan(h.Desired(5, rs...), reconcile.PlanOptions{}))
	if h.Count("run", "svc-test") != 1 || h.Count("run", "svc-reload") != 1 {
		t.Errorf("checks %d, reloads %d; want one each", h.Count("run", "svc-test"), h.Count("run", "svc-reload"))
	}
}

func TestObserveOncePerServer(t *testing.T) {
	h := reconciletest.New(t)
	var rs []reconcile.Resource
	for i := range 20 {
		rs = append(rs, site(fmt.Sprint("s", i))...)
	}
	h.Plan(h.Desired(5, rs...), reconcile.PlanOptions{})
	if n := h.Count("observe", ""); n != 1 {
		t.Errorf("%d observations of one server, want 1", n)
	}
}

// cancelHook cancels the apply's context after the first change.
type cancelHook struct {
	reconcile.NopHook
	cancel context.CancelFunc
	once   sync.Once
}

func (c *cancelHook) Applied(*reconcile.Change, error) { c.once.Do(c.cancel) }

// unbatched hides a resource's optional interfaces (BatchWriter,
// ContentReader): the engine Applies it one by one, as any kind that does
// not batch its writes.
type unbatched struct{ reconcile.Resource }

// TestCancelledApplyFinishesWhatItStarted: SIGTERM stops new changes, but
// what was written is still checked, reloaded and recorded: one change
// applied alone, or a whole batch of files, then nothing more.
func TestCancelledApplyFinishesWhatItStarted(t *testing.T) {
	for _, tc := range []struct {
		name    string
		batched int // files written in one batch before the cancel; else one by one
	}{
		{"one by one", 0},
		{"batched", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := reconciletest.New(t)
			var rs []reconcile.Resource
			for i := range 3 {
				var f reconcile.Resource = files.NewFile(files.FileSpec{ID: fmt.Sprint("f", i), Server: "web", Path: fmt.Sprint("/srv/f", i), Content: []byte("x"), Service: "http"})
				if tc.batched == 0 {
					f = unbatched{f}
				}
				rs = append(rs, f)
			}
			want := 1
			if tc.batched > 0 {
				// A change that waits for the batch: the cancel stops it.
				last := files.NewFile(files.FileSpec{ID: "g", Server: "web", Path: "/srv/g", Content: []byte("y"), Service: "http", Deps: []string{"f0"}})
				rs = append(rs, unbatched{last})
				want = tc.batched
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			h.Engine.Workers = 1
			h.Engine.Hook = &cancelHook{cancel: cancel}
			p := h.Plan(h.Desired(5, rs...), reconcile.PlanOptions{})
			res, err := h.Engine.Apply(ctx, p)
			if err == nil || res.Applied != want {
				t.Fatalf("want %d change(s) applied and an error for the rest, got %+v, %v", want, res, err)
			}
			if h.Count("run", "svc-test") != 1 || h.Count("run", "svc-reload") != 1 {
				t.Errorf("the applied change was not checked and reloaded after the cancel")
			}
			recs, _ := h.Inv.Records(context.Background(), "test")
			if len(recs) != want {
				t.Errorf("inventory holds %d records, want the %d applied", len(recs), want)
			}
			// The next run converges the rest.
			h.Engine.Hook = nil
			h.Apply(h.Plan(h.Desired(5, rs...), reconcile.PlanOptions{}))
			if len(h.Fake.Files()) < len(rs) {
				t.Errorf("the next run did not converge: %v", h.Fake.Files())
			}
		})
	}
}
