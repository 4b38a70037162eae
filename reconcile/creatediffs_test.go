package reconcile_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/berthhq/berth/host/hosttest"
	"github.com/berthhq/berth/kind/files"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/reconcile/reconciletest"
)

// TestMaxCreateDiffs: a plan keeps the diffs of the first MaxCreateDiffs
// new files in (server, ID) order, over all servers, and counts the others
// in OmittedDiffs — also now that each server drops its surplus while it
// is checked.
func TestMaxCreateDiffs(t *testing.T) {
	for _, tt := range []struct {
		max  int
		want string // changes that keep their diff
	}{
		{0, "a1 a2 a3 b1 b2 b3"},
		{1, "a1"},
		{3, "a1 a2 a3"},
		{4, "a1 a2 a3 b1"},
		{10, "a1 a2 a3 b1 b2 b3"},
	} {
		t.Run(fmt.Sprint(tt.max), func(t *testing.T) {
			h := reconciletest.New(t)
			web2 := hosttest.New("web2")
			if err := web2.MkdirAll(context.Background(), "/srv", 0o755); err != nil {
				t.Fatal(err)
			}
			h.Engine.Hosts = reconciletest.Hosts{"web": h.Fake, "web2": web2}
			var rs []reconcile.Resource
			// Declared out of order: the plan's order is (server, ID).
			for _, s := range []struct{ server, name string }{{"web2", "b3"}, {"web", "a2"}, {"web2", "b1"}, {"web", "a3"}, {"web", "a1"}, {"web2", "b2"}} {
				rs = append(rs, files.NewFile(files.FileSpec{ID: s.name, Server: s.server, Path: "/srv/" + s.name, Content: []byte(s.name + "\n")}))
			}
			p := h.Plan(h.Desired(5, rs...), reconcile.PlanOptions{MaxCreateDiffs: tt.max})
			var kept []string
			for _, c := range p.Changes {
				if c.Action != reconcile.Create {
					t.Fatalf("change %s: %v, want a creation", c.ID, c.Action)
				}
				if c.Diff != "" {
					kept = append(kept, c.ID)
				}
			}
			if got := strings.Join(kept, " "); got != tt.want {
				t.Errorf("diffs kept: %q, want %q", got, tt.want)
			}
			if want := 6 - len(kept); p.OmittedDiffs != want {
				t.Errorf("OmittedDiffs = %d, want %d", p.OmittedDiffs, want)
			}
		})
	}
}
