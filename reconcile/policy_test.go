package reconcile_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/reconcile/reconciletest"
)

// TestRevisionCannotLiftItsOwnLimit: a commit that raises
// policy.max_deletions and deletes more sites than the old limit is held
// to the old limit; the raise counts from the next revision on, and the
// one-run override still works. A lowered limit counts at once.
func TestRevisionCannotLiftItsOwnLimit(t *testing.T) {
	var all []reconcile.Resource
	for _, s := range []string{"a", "b", "c", "d"} {
		all = append(all, site(s)...)
	}
	keep := site("a")
	tests := []struct {
		name string
		// steps: each plans (and applies when wantErr is "") a revision
		// with the given limit and sites.
		steps []step
	}{
		{"raise and delete in one revision is refused", []step{
			{limit: 1, rs: all},
			{limit: 100, rs: keep, wantErr: "max_deletions = 1 allows (this revision raises it to 100"},
		}},
		{"raise first, delete in the next revision", []step{
			{limit: 1, rs: all},
			{limit: 100, rs: all, wantWarning: "raised from 1 to 100"},
			{limit: 100, rs: keep},
		}},
		{"the override allows one run", []step{
			{limit: 1, rs: all},
			{limit: 100, rs: keep, allow: 3, wantWarning: "raised from 1 to 100"},
		}},
		{"a lowered limit counts at once", []step{
			{limit: 5, rs: all},
			{limit: 1, rs: keep, wantErr: "max_deletions = 1 allows: "},
		}},
		{"no applied revision yet: the revision's own limit", []step{
			{limit: 3, rs: all},
			{limit: 3, rs: keep},
		}},
		{"a refused run records nothing", []step{
			{limit: 1, rs: all},
			{limit: 100, rs: keep, wantErr: "refused by policy"},
			{limit: 100, rs: keep, wantErr: "refused by policy"},
		}},
		{"a scoped plan (verify) records nothing", []step{
			{limit: 1, rs: all},
			{limit: 100, rs: all, sites: []string{"a"}, wantWarning: "raised from 1 to 100"},
			{limit: 100, rs: keep, wantErr: "refused by policy"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := reconciletest.New(t)
			for i, s := range tt.steps {
				p, err := h.Engine.Plan(context.Background(), h.Desired(s.limit, s.rs...), reconcile.PlanOptions{AllowDeletions: s.allow, Sites: s.sites})
				if s.wantErr != "" {
					if !errors.Is(err, reconcile.ErrPolicy) || !strings.Contains(err.Error(), s.wantErr) {
						t.Fatalf("step %d: want a policy refusal with %q, got %v", i, s.wantErr, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if got := strings.Join(p.Warnings, "\n"); (s.wantWarning == "") != (got == "") || !strings.Contains(got, s.wantWarning) {
					t.Errorf("step %d: warnings %q, want %q", i, got, s.wantWarning)
				}
				h.Apply(p)
			}
		})
	}
}

type step struct {
	limit, allow int
	rs           []reconcile.Resource
	sites        []string
	wantErr      string
	wantWarning  string
}
