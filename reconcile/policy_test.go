package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/berthhq/berth/host"
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

// guardedRes is a resource whose own safety rule refuses its change unless
// the plan allows "risky".
type guardedRes struct {
	reconcile.Base
	allowed *[]string
}

func (g *guardedRes) Observe() []string { return nil }
func (g *guardedRes) Check(_ context.Context, in reconcile.CheckInput) (reconcile.Change, error) {
	*g.allowed = in.Allow
	c := g.NewChange(reconcile.Update, "risky")
	for _, a := range in.Allow {
		if a == "risky" {
			return c, nil
		}
	}
	return c, fmt.Errorf("%s: too much at once: %w; run again allowing risky", g.ID(), reconcile.ErrPolicy)
}
func (g *guardedRes) Apply(context.Context, host.Host, *reconcile.Change) error { return nil }
func (g *guardedRes) Undo(context.Context, host.Host, *reconcile.Change) error  { return nil }
func (g *guardedRes) Record() reconcile.Record                                  { return g.NewRecord() }

// TestKindPolicyRefusesThePlan: a Check error wrapping ErrPolicy (a
// kind's safety rule, such as the DNS threshold) refuses the whole plan,
// as max_deletions does, instead of making the server unobservable;
// PlanOptions.Allow reaches Check and lets the change through.
func TestKindPolicyRefusesThePlan(t *testing.T) {
	tests := []struct {
		name    string
		allow   []string
		wantErr string
	}{
		{"refused", nil, "check zone/a@web: zone/a@web: too much at once: refused by policy"},
		{"another override", []string{"other"}, "too much at once"},
		{"allowed for the run", []string{"risky"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := reconciletest.New(t)
			var seen []string
			g := &guardedRes{Base: reconcile.NewBase(reconcile.BaseSpec{Kind: "guarded", ID: "zone/a@web", Server: "web"}), allowed: &seen}
			d := h.Desired(1, g)
			p, err := h.Engine.Plan(context.Background(), d, reconcile.PlanOptions{Allow: tt.allow})
			if tt.wantErr != "" {
				if !errors.Is(err, reconcile.ErrPolicy) || !strings.Contains(err.Error(), tt.wantErr) || p != nil {
					t.Fatalf("plan: %v, %v; want a refusal %q", p, err, tt.wantErr)
				}
				return
			}
			if err != nil || len(p.Unreachable) > 0 || reconciletest.Actions(p) != "~zone/a@web" {
				t.Fatalf("plan: %v %+v", err, p)
			}
			if strings.Join(seen, ",") != "risky" {
				t.Errorf("Check saw Allow %q", seen)
			}
		})
	}
}
