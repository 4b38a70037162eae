package daemon

import (
	"context"
	"errors"
	"io/fs"
	"testing"

	"github.com/berthhq/berth/state"
)

// TestPlanIsTheNextRunsPlan: Daemon.Plan shows, without Run, what the next
// run changes, records no run and changes no host; after the run it
// applied, Plan finds nothing left. An environment the daemon does not
// know is fs.ErrNotExist.
func TestPlanIsTheNextRunsPlan(t *testing.T) {
	f := newFixture(t, true)
	ctx := context.Background()
	p, err := f.d.Plan(ctx, "production")
	if err != nil {
		t.Fatal(err)
	}
	if p.Empty() || p.Env != "production" || len(p.Sites) != 1 {
		t.Fatalf("plan of a fresh environment: %+v", p)
	}
	if runs, err := f.store.Runs(ctx, "production", 10); err != nil || len(runs) != 0 {
		t.Fatalf("Plan recorded runs: %+v %v", runs, err)
	}
	// Plan changed nothing: a second one is the same.
	again, err := f.d.Plan(ctx, "production")
	if err != nil || len(again.Changes) != len(p.Changes) {
		t.Fatalf("second plan: %d changes (%v), first %d", len(again.Changes), err, len(p.Changes))
	}

	f.start()
	if s := f.next(); s.Phase != PhaseSynced {
		t.Fatalf("run: %+v", s)
	}
	f.stop()
	if r := f.lastRun(); r.Result != state.ResultSucceeded {
		t.Fatalf("run record: %+v", r)
	}
	after, err := f.d.Plan(ctx, "production")
	if err != nil || !after.Empty() {
		t.Fatalf("plan after the run: %+v %v", after, err)
	}
	if _, err := f.d.Plan(ctx, "nowhere"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("plan of an unknown environment: %v", err)
	}
}
