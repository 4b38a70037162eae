package lb

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/reconcile/reconciletest"
)

// A roll's rotation: each drain and undrain is written, checked and
// reloaded; a refused drain puts the old file back; until Settle the
// file differs from the desired one, so a run cut off between an
// undrain's write and its reload leaves the next run a change of the
// configuration (written and reloaded again), and after Settle there is
// none, with no reload.
func TestRotation(t *testing.T) {
	ctx := context.Background()
	h := newLBHarness(t)
	in := "upstream app { server web1; server web2; }\n"
	d := h.Desired(5, config(in, false))
	h.Apply(h.Plan(d, reconcile.PlanOptions{}))
	const path = "/srv/berth-production-app.conf"
	r := NewRotation(RotationSpec{Path: path, In: []byte(in),
		Out:  map[string][]byte{"web1": []byte("upstream app { server web1 down; server web2; }\n")},
		Test: []string{"lb-test"}, Reload: []string{"lb-reload"}})
	file := func() string { return string(h.Fake.Files()[path]) }
	ran := len(h.commands())

	if err := r.Drain(ctx, h.Fake, "web1"); err != nil {
		t.Fatal(err)
	}
	if got := file(); !strings.Contains(got, "web1 down") {
		t.Errorf("drained file %q", got)
	}
	if got := h.commands()[ran:]; !slices.Equal(got, []string{"lb-test", "lb-reload"}) {
		t.Errorf("drain ran %v, want the check then the reload", got)
	}
	if err := r.Undrain(ctx, h.Fake, "web1"); err != nil {
		t.Fatal(err)
	}
	if got := file(); !strings.HasPrefix(got, in) || got == in {
		t.Errorf("undrained file %q, want the desired one and a comment", got)
	}
	if got := reconciletest.Actions(h.Plan(d, reconcile.PlanOptions{})); got != "~lb/app@web" {
		t.Errorf("plan after an undrain not settled (a run cut off before its reload): %q, want the configuration written again", got)
	}
	ran = len(h.commands())
	if err := r.Settle(ctx, h.Fake); err != nil {
		t.Fatal(err)
	}
	if file() != in || len(h.commands()) != ran {
		t.Errorf("settle: file %q, ran %v; want the desired file and no command", file(), h.commands()[ran:])
	}
	if p := h.Plan(d, reconcile.PlanOptions{}); !p.Empty() {
		t.Errorf("plan after the roll settled: %s", reconciletest.Actions(p))
	}

	h.failTest = true
	if err := r.Drain(ctx, h.Fake, "web1"); err == nil || !strings.Contains(err.Error(), "unexpected end of file") {
		t.Fatalf("refused drain: %v", err)
	}
	if file() != in {
		t.Errorf("after a refused drain the file holds %q, want the old one", file())
	}
	if err := r.Drain(ctx, h.Fake, "web9"); err == nil {
		t.Error("a drain of a server not in the upstream succeeded")
	}
}
