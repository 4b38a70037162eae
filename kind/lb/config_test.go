package lb

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/reconcile/reconciletest"
)

// lbHarness is the reconciletest harness with the load balancer's check
// (lb-test, which fails while failTest is set) and reload (lb-reload)
// recorded in order.
type lbHarness struct {
	*reconciletest.Harness
	mu         sync.Mutex
	ran        []string
	failTest   bool
	failReload bool
}

func newLBHarness(t *testing.T) *lbHarness {
	h := &lbHarness{Harness: reconciletest.New(t)}
	record := func(name string) hostHandler {
		return func(context.Context, []string, []byte) (host.RunResult, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.ran = append(h.ran, name)
			if name == "lb-test" && h.failTest {
				return host.RunResult{Stderr: []byte("nginx: [emerg] unexpected end of file")}, &host.ExitError{Code: 1}
			}
			if name == "lb-reload" && h.failReload {
				return host.RunResult{Stderr: []byte("nginx: [error] no master")}, &host.ExitError{Code: 1}
			}
			return host.RunResult{}, nil
		}
	}
	h.Fake.Handle("lb-test", record("lb-test"))
	h.Fake.Handle("lb-reload", record("lb-reload"))
	return h
}

type hostHandler = func(context.Context, []string, []byte) (host.RunResult, error)

func (h *lbHarness) commands() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ran)
}

func config(content string, draining bool) *Config {
	return NewConfig(ConfigSpec{ID: "lb/app@web", Server: "web", Path: "/srv/berth-production-app.conf",
		Content: []byte(content), Test: []string{"lb-test"}, Reload: []string{"lb-reload"}, Draining: draining})
}

// The timeline of every kind: apply (written, checked, reloaded by its
// own Apply), converged, apply again and nothing runs.
func TestConfigIdempotent(t *testing.T) {
	for _, draining := range []bool{false, true} {
		h := newLBHarness(t)
		d := h.Desired(5, config("upstream a {}\n", draining))
		p := h.Plan(d, reconcile.PlanOptions{})
		if got := reconciletest.Actions(p); got != "+lb/app@web" {
			t.Fatalf("draining %v: first plan %s", draining, got)
		}
		if !strings.Contains(p.Changes[0].Diff, "+upstream a {}") {
			t.Errorf("draining %v: the plan's diff does not show the file:\n%s", draining, p.Changes[0].Diff)
		}
		r := h.Apply(p)
		if r.Applied != 1 || !slices.Equal(r.Reloads, []string{"web/lb /srv/berth-production-app.conf"}) {
			t.Errorf("draining %v: first apply %+v", draining, r)
		}
		if got := h.commands(); !slices.Equal(got, []string{"lb-test", "lb-reload"}) {
			t.Errorf("draining %v: ran %v, want the check then the reload", draining, got)
		}
		if got := string(h.Fake.Files()["/srv/berth-production-app.conf"]); got != "upstream a {}\n" {
			t.Errorf("draining %v: file holds %q", draining, got)
		}
		p = h.Plan(d, reconcile.PlanOptions{})
		if !p.Empty() {
			t.Fatalf("draining %v: second plan %s", draining, reconciletest.Actions(p))
		}
		h.Apply(p)
		if got := h.commands(); len(got) != 2 {
			t.Errorf("draining %v: the second apply ran %v", draining, got[2:])
		}
	}
}

// A configuration the load balancer's check refuses is put back: the old
// file stays, nothing is reloaded, the change fails with the check's
// output.
func TestConfigRefusedKeepsTheOld(t *testing.T) {
	h := newLBHarness(t)
	h.Apply(h.Plan(h.Desired(5, config("upstream a {}\n", false)), reconcile.PlanOptions{}))
	h.failTest = true
	p := h.Plan(h.Desired(5, config("upstream a {\n", true)), reconcile.PlanOptions{})
	if got := reconciletest.Actions(p); got != "~lb/app@web" {
		t.Fatalf("plan %s", got)
	}
	r, err := h.Engine.Apply(context.Background(), p)
	if err == nil || r.Failed != 1 || !strings.Contains(err.Error(), "load balancer configuration check failed, the old configuration is kept") ||
		!strings.Contains(err.Error(), "unexpected end of file") {
		t.Fatalf("apply of a refused configuration: %+v, %v", r, err)
	}
	if got := string(h.Fake.Files()["/srv/berth-production-app.conf"]); got != "upstream a {}\n" {
		t.Errorf("after the refused check the file holds %q, want the old one", got)
	}
	if got := h.commands(); !slices.Equal(got, []string{"lb-test", "lb-reload", "lb-test"}) {
		t.Errorf("ran %v: the refused configuration was reloaded", got)
	}
	var kept *reconcile.KeptError
	if errors.As(err, &kept) {
		t.Errorf("a refused configuration is a failure, not a warning")
	}
}

// A configuration the load balancer could not reload is put back too, so
// the next run writes and reloads it again.
func TestConfigReloadFailedTriesAgain(t *testing.T) {
	h := newLBHarness(t)
	h.Apply(h.Plan(h.Desired(5, config("upstream a {}\n", false)), reconcile.PlanOptions{}))
	h.failReload = true
	d := h.Desired(5, config("upstream b {}\n", false))
	_, err := h.Engine.Apply(context.Background(), h.Plan(d, reconcile.PlanOptions{}))
	if err == nil || !strings.Contains(err.Error(), "load balancer reload failed, the old file is put back and the next run tries again") {
		t.Fatalf("apply with a failing reload: %v", err)
	}
	if got := string(h.Fake.Files()["/srv/berth-production-app.conf"]); got != "upstream a {}\n" {
		t.Errorf("after the failed reload the file holds %q, want the old one", got)
	}
	h.failReload = false
	if got := reconciletest.Actions(h.Plan(d, reconcile.PlanOptions{})); got != "~lb/app@web" {
		t.Errorf("the next plan is %q, want the change again", got)
	}
}

// Only a configuration without a drained server runs after the reloads.
func TestConfigStage(t *testing.T) {
	if !config("", false).AfterReload() || config("", true).AfterReload() {
		t.Error("AfterReload: want true without a drained server, false with one")
	}
}
