package daemon

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/berthhq/berth/reconcile"
	berthrun "github.com/berthhq/berth/run"
)

// TestWaitingRunRunsAgain: a run whose change waits (reconcile.WaitError:
// a migration waiting for the DNS caches) leaves the environment
// OutOfSync saying until when and why, keeps the revision to be tried
// again, and triggers the environment's next run at that time.
func TestWaitingRunRunsAgain(t *testing.T) {
	f := newFixture(t, true)
	w := f.d.worker(envConfig{name: "production", branch: "main"}, func() {})
	until := time.Now().Add(-time.Second) // already due: the trigger fires at once
	out := &berthrun.Outcome{Plan: &reconcile.Plan{}, Result: &reconcile.Result{Waiting: []reconcile.Waiting{
		{Server: "web2", ID: "site/a.example.com/migrate@web2", Site: "a.example.com", Until: until, Reason: "the DNS caches expire"}}}}
	w.finish(zerolog.Nop(), "rev1", out, time.Second)
	s := w.snapshot()
	if s.Phase != PhaseOutOfSync || !strings.Contains(s.Message, "waiting until "+until.UTC().Format(time.RFC3339)) || !strings.Contains(s.Message, "a.example.com: the DNS caches expire") {
		t.Errorf("status %+v, want OutOfSync saying what waits", s)
	}
	select {
	case <-w.wake:
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting environment was not triggered again")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.pending[ReasonWait] || !w.retry {
		t.Errorf("pending %v, retry %v; want a run for %q of the same revision", w.pending, w.retry, ReasonWait)
	}
}

// TestMovesAreNotWarm: the desired state of a revision with a move is
// built anew at every run, never reused: the move's state (started,
// switched, its grace period over) is read from its source at each
// build, and a kept one would point its DNS and load balancers back at
// the source after the switch.
func TestMovesAreNotWarm(t *testing.T) {
	f := newFixture(t, true)
	w := f.d.worker(envConfig{name: "production", branch: "main"}, func() {})
	ws := &warmState{rev: "rev1", prepared: &berthrun.Prepared{Desired: &reconcile.Desired{
		Migrations: []reconcile.Migration{{Site: "a.example.com", From: "web1/app", To: "web2/app2", State: "planned"}}}}}
	if ok, _ := w.reusable(context.Background(), ws, "rev1"); ok {
		t.Error("a desired state with a move is reused")
	}
}
