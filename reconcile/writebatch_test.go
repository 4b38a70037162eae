package reconcile_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/kind/files"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/reconcile/reconciletest"
)

// sites returns n phpSites s0..s(n-1), with contents of version v.
func sites(n int, v string) []reconcile.Resource {
	var rs []reconcile.Resource
	for i := range n {
		name := fmt.Sprint("s", i)
		for _, r := range phpSite(name) {
			if f, ok := r.(*files.File); ok && v != "" && strings.HasSuffix(f.ID(), "/vhost@web") {
				r = files.NewFile(files.FileSpec{ID: f.ID(), Server: "web", Site: name, Path: f.Path(), Content: []byte("server " + name + " " + v + "\n"),
					Service: "http", Deps: f.Deps()})
			}
			rs = append(rs, r)
		}
	}
	return rs
}

// calls counts the fake's calls with op since the mark-th.
type calls struct {
	h    *reconciletest.Harness
	mark int
}

// since starts counting the calls made from now on.
func since(h *reconciletest.Harness) calls { return calls{h, len(h.Fake.Calls())} }

func (c calls) count(ops ...string) int {
	n := 0
	for _, call := range c.h.Fake.Calls()[c.mark:] {
		for _, op := range ops {
			if call.Op == op {
				n++
			}
		}
	}
	return n
}

// singles counts the calls that write one path each.
func (c calls) singles() int { return c.count("write", "ensuredir", "remove", "mkdir") }

// TestWritesAreOneBatchPerServer: a first converge of many sites writes
// every directory and file of the server in one WriteBatch; an update of
// every vhost reads their old contents in one ReadFiles and writes them
// in one batch; removing half the sites takes one batch per phase (the
// service files, then the data).
func TestWritesAreOneBatchPerServer(t *testing.T) {
	const n = 200
	h := reconciletest.New(t)
	h.Apply(h.Plan(h.Desired(n, sites(n, "")...), reconcile.PlanOptions{}))
	if b, w := h.Count("batch", ""), since(h).singles(); b != 1 || w != 0 {
		t.Errorf("first converge of %d sites: %d batches and %d single writes, want 1 and 0", n, b, w)
	}
	if s := h.Count("sweep", ""); s != 0 {
		t.Errorf("first converge swept %d times: no run was ever cut off here", s)
	}
	if got := len(h.Fake.Files()); got != 3*n {
		t.Errorf("first converge left %d files, want %d", got, 3*n)
	}
	for _, c := range h.Fake.Calls() {
		if c.Op == "batch" && len(c.Paths) != 4*n {
			t.Errorf("the batch holds %d ops, want %d", len(c.Paths), 4*n)
		}
	}

	for _, step := range []struct {
		name               string
		rs                 []reconcile.Resource
		batches, readFiles int
		files              int
	}{
		{"update every vhost", sites(n, "v2"), 1, 1, 3 * n},
		{"remove half the sites", sites(n/2, "v2"), 2, 1, 3 * n / 2},
	} {
		t.Run(step.name, func(t *testing.T) {
			c := since(h)
			p := h.Plan(h.Desired(n, step.rs...), reconcile.PlanOptions{})
			if r := c.count("readfiles"); r != step.readFiles || c.count("read") != 0 {
				t.Errorf("plan: %d ReadFiles and %d single reads, want %d and 0", r, c.count("read"), step.readFiles)
			}
			for _, c := range p.Changes {
				if c.Action == reconcile.Update && !strings.Contains(c.Diff, "+server") {
					t.Errorf("%s: no diff from the batched read: %q", c.ID, c.Diff)
				}
			}
			h.Apply(p)
			if b, w := c.count("batch"), c.singles(); b != step.batches || w != 0 {
				t.Errorf("%d batches and %d single writes, want %d and 0", b, w, step.batches)
			}
			fs := h.Fake.Files()
			if len(fs) != step.files {
				t.Errorf("%d files left, want %d", len(fs), step.files)
			}
			for i := range n {
				name := fmt.Sprint("s", i)
				_, there := fs["/srv/"+name+"/settings"]
				if want := i < len(step.rs)/4; there != want {
					t.Errorf("/srv/%s/settings there: %v, want %v", name, there, want)
				}
				if i < len(step.rs)/4 && string(fs["/srv/"+name+"/vhost.conf"]) != "server "+name+" v2\n" {
					t.Errorf("%s's vhost holds %q", name, fs["/srv/"+name+"/vhost.conf"])
				}
			}
		})
	}
}

// TestRestoreIsOneBatch: a failed check undoes every file and directory of
// the run in one batch, from the old contents read by the plan.
func TestRestoreIsOneBatch(t *testing.T) {
	h := reconciletest.New(t)
	h.Apply(h.Plan(h.Desired(5, sites(20, "")...), reconcile.PlanOptions{}))
	before := h.Fake.Files()
	h.Fake.Handle("svc-test", func(context.Context, []string, []byte) (host.RunResult, error) {
		return host.RunResult{ExitCode: 1, Stderr: []byte("bad")}, nil
	})
	c := since(h)
	p := h.Plan(h.Desired(5, sites(40, "v2")...), reconcile.PlanOptions{})
	res, err := h.Engine.Apply(context.Background(), p)
	// 20 vhosts updated, 20 new sites of 4 paths each: all put back.
	if err == nil || res.Restored != 20+20*4 || res.Applied != 0 {
		t.Fatalf("apply: %+v, %v; want every change restored", res, err)
	}
	if b, w, r := c.count("batch"), c.singles(), c.count("read"); b != 2 || w != 0 || r != 0 {
		t.Errorf("%d batches, %d single writes, %d single reads: want 2 (the run, its undo), 0, 0", b, w, r)
	}
	after := h.Fake.Files()
	for p, data := range before {
		if string(after[p]) != string(data) {
			t.Errorf("%s not restored: %q, want %q", p, after[p], data)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s left by the refused run", p)
		}
	}
}

// TestBatchDependencyOrder: a change of a kind that does not batch,
// between two that do, splits the server's writes in two batches, each
// change after what it depends on; a file whose write fails fails with
// its own dependents only.
func TestBatchDependencyOrder(t *testing.T) {
	h := reconciletest.New(t)
	a := files.NewDir(files.DirSpec{ID: "a", Server: "web", Path: "/srv/a"})
	b := files.NewDir(files.DirSpec{ID: "b", Server: "web", Path: "/srv/a/b", Deps: []string{"a"}})
	c := files.NewFile(files.FileSpec{ID: "c", Server: "web", Path: "/srv/a/b/c", Content: []byte("c"), Deps: []string{"b"}})
	full := files.NewFile(files.FileSpec{ID: "full", Server: "web", Path: "/srv/small/f", Content: []byte("too big"), Deps: []string{"small"}})
	small := files.NewDir(files.DirSpec{ID: "small", Server: "web", Path: "/srv/small"})
	after := files.NewFile(files.FileSpec{ID: "after", Server: "web", Path: "/srv/after", Content: []byte("x"), Deps: []string{"full"}})
	other := files.NewFile(files.FileSpec{ID: "other", Server: "web", Path: "/srv/other", Content: []byte("o")})
	h.Fake.LimitSpace("/srv/small", 3)
	p := h.Plan(h.Desired(5, a, unbatched{b}, c, small, full, unbatched{after}, other), reconcile.PlanOptions{})
	res, err := h.Engine.Apply(context.Background(), p)
	if err == nil || res.Failed != 2 || res.Applied != 5 {
		t.Fatalf("apply: %+v, %v; want full and after failed, the 5 others applied", res, err)
	}
	if !strings.Contains(strings.Join(res.Errors, "\n"), "after: skipped: full failed") {
		t.Errorf("errors: %v", res.Errors)
	}
	var batches [][]string
	for _, call := range h.Fake.Calls() {
		if call.Op == "batch" {
			batches = append(batches, call.Paths)
		}
	}
	if len(batches) != 2 || !strings.Contains(strings.Join(batches[1], " "), "/srv/a/b/c") {
		t.Errorf("batches %v: want two, c in the second (after b)", batches)
	}
	if got := h.Fake.Files()["/srv/a/b/c"]; string(got) != "c" {
		t.Errorf("c holds %q", got)
	}
	recs, _ := h.Inv.Records(context.Background(), "test")
	for _, r := range recs {
		if r.ID == "full" || r.ID == "after" || r.Pending {
			t.Errorf("record %+v after the run", r)
		}
	}
}

// TestInterruptedBatchConverges: a batch cut off half way (the host's side
// killed) leaves every file whole and the records of what it was writing
// Pending; the rerun sweeps the temporary files and converges.
func TestInterruptedBatchConverges(t *testing.T) {
	const n = 30
	h := reconciletest.New(t)
	h.Fake.InterruptBatch(7)
	_, err := h.Engine.Apply(context.Background(), h.Plan(h.Desired(n, sites(n, "")...), reconcile.PlanOptions{}))
	if err == nil || !strings.Contains(err.Error(), "batch cut off") {
		t.Fatalf("the interrupted apply returned %v, want the cut-off batch's error", err)
	}
	temps := 0
	for p, data := range h.Fake.Files() {
		if strings.Contains(p, host.TempPrefix) {
			temps++
		} else if strings.HasSuffix(p, ".conf") && !strings.HasPrefix(string(data), "pool ") && !strings.HasPrefix(string(data), "server ") {
			t.Errorf("%s holds %q: not whole", p, data)
		}
	}
	if temps == 0 {
		t.Fatal("the interrupted batch left no temporary file: nothing for the rerun to sweep")
	}
	recs, _ := h.Inv.Records(context.Background(), "test")
	pending := 0
	for _, r := range recs {
		if r.Pending {
			pending++
		}
	}
	if pending == 0 {
		t.Errorf("no record kept Pending after the cut-off batch: %d records", len(recs))
	}

	c := since(h)
	p := h.Plan(h.Desired(n, sites(n, "")...), reconcile.PlanOptions{})
	if p.HasConflicts() {
		t.Fatalf("the rerun takes berth's own files for someone else's: %s", reconciletest.Actions(p))
	}
	h.Apply(p)
	if c.count("sweep") != 1 || c.count("batch") != 1 {
		t.Errorf("rerun: %d sweeps and %d batches, want 1 and 1", c.count("sweep"), c.count("batch"))
	}
	for p := range h.Fake.Files() {
		if strings.Contains(p, host.TempPrefix) {
			t.Errorf("temporary file left: %s", p)
		}
	}
	if p := h.Plan(h.Desired(n, sites(n, "")...), reconcile.PlanOptions{}); !p.Empty() {
		t.Errorf("not converged after the rerun: %s", reconciletest.Actions(p))
	}
	recs, _ = h.Inv.Records(context.Background(), "test")
	if len(recs) != 4*n {
		t.Errorf("%d records, want %d", len(recs), 4*n)
	}
	for _, r := range recs {
		if r.Pending || r.Adopted {
			t.Errorf("record %+v", r)
		}
	}
}
