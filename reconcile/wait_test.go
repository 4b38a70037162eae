package reconcile_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/hosttest"
	"github.com/berthhq/berth/kind/files"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/reconcile/reconciletest"
)

// late is an after-reload change of site "a" on server, recording when
// it ran and returning err.
type late struct {
	id, server string
	deps       []string
	err        error
	note       func(string)
}

func (a late) ID() string        { return a.id }
func (a late) Server() string    { return a.server }
func (a late) Kind() string      { return "late" }
func (a late) Site() string      { return "a" }
func (a late) Path() string      { return "" }
func (a late) Deps() []string    { return a.deps }
func (a late) Observe() []string { return nil }
func (a late) AfterReload() bool { return true }
func (a late) Check(context.Context, reconcile.CheckInput) (reconcile.Change, error) {
	return reconcile.Change{ID: a.id, Server: a.server, Kind: "late", Site: "a", Action: reconcile.Update}, nil
}
func (a late) Apply(context.Context, host.Host, *reconcile.Change) error {
	a.note(a.id)
	return a.err
}
func (a late) Undo(context.Context, host.Host, *reconcile.Change) error { return nil }
func (a late) Record() reconcile.Record {
	return reconcile.Record{ID: a.id, Server: a.server, Kind: "late", Site: "a"}
}

// TestWaitError: a change that returns a WaitError is neither failed nor
// applied: the run succeeds, lists it in Waiting with its time (RetryAt),
// and what depends on it waits too (not run).
func TestWaitError(t *testing.T) {
	h := reconciletest.New(t)
	until := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var ran []string
	note := func(s string) { ran = append(ran, s) }
	waits := late{id: "site/a/step@web", server: "web", err: &reconcile.WaitError{Until: until, Reason: "DNS caches"}, note: note}
	after := late{id: "site/a/after@web", server: "web", deps: []string{waits.id}, note: note}
	res, err := h.Engine.Apply(context.Background(), h.Plan(h.Desired(5, waits, after), reconcile.PlanOptions{}))
	if err != nil {
		t.Fatalf("apply: %v, want no error for a waiting change", err)
	}
	if res.Failed != 0 || res.Applied != 0 || len(res.Errors) != 0 {
		t.Errorf("failed %d, applied %d, errors %v; want 0, 0, none", res.Failed, res.Applied, res.Errors)
	}
	if len(res.Waiting) != 2 || res.Waiting[1].ID != waits.id || res.Waiting[1].Site != "a" || res.Waiting[1].Reason != "DNS caches" {
		t.Errorf("waiting %+v, want the step's and its dependent's", res.Waiting)
	}
	if !res.RetryAt().Equal(until) {
		t.Errorf("RetryAt %v, want %v", res.RetryAt(), until)
	}
	if strings.Join(ran, " ") != waits.id {
		t.Errorf("ran %v, want only the waiting change (its dependent skipped)", ran)
	}
	var w *reconcile.WaitError
	if !errors.As(error(waits.err), &w) || !strings.Contains(w.Error(), "2026-01-02T03:04:05Z") {
		t.Errorf("WaitError reads %q", w)
	}
}

// TestAfterReloadWaitsAcrossServers: an after-reload change waits for an
// after-reload change of another server it depends on (a migration's
// switch for the load balancer's configuration of the run), and is
// skipped when that one failed.
func TestAfterReloadWaitsAcrossServers(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail error
		want string
	}{
		{"waits", nil, "lb/conf@lb site/a/step@web"},
		{"skipped", errors.New("refused"), "lb/conf@lb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			web, lbh := hosttest.New("web"), hosttest.New("lb")
			var mu sync.Mutex
			var order []string
			note := func(s string) {
				mu.Lock()
				defer mu.Unlock()
				order = append(order, s)
			}
			lbConf := late{id: "lb/conf@lb", server: "lb", err: tc.fail, note: note}
			step := late{id: "site/a/step@web", server: "web", deps: []string{lbConf.id}, note: note}
			e := &reconcile.Engine{Hosts: reconciletest.Hosts{"web": web, "lb": lbh}, Inventory: reconciletest.NewMemInventory()}
			d := &reconcile.Desired{Env: "test", Revision: "r1", MaxDeletions: 5, Resources: []reconcile.Resource{step, lbConf}}
			p, err := e.Plan(context.Background(), d, reconcile.PlanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.Apply(context.Background(), p)
			if got := strings.Join(order, " "); got != tc.want {
				t.Errorf("ran %q, want %q", got, tc.want)
			}
			if (err != nil) != (tc.fail != nil) {
				t.Errorf("apply: %v", err)
			}
		})
	}
}

// TestApplyNow converges one resource outside a run: the first call
// writes it, the second finds it converged and does nothing.
func TestApplyNow(t *testing.T) {
	ctx := context.Background()
	h := hosttest.New("web")
	if err := h.MkdirAll(ctx, "/srv", 0o755); err != nil {
		t.Fatal(err)
	}
	f := files.NewFile(files.FileSpec{ID: "site/a/f@web", Server: "web", Site: "a", Path: "/srv/f", Content: []byte("new\n"), Mode: 0o644})
	c, err := reconcile.ApplyNow(ctx, h, f, nil)
	if err != nil || c.Action != reconcile.Create {
		t.Fatalf("first: %v, %v; want a creation", c.Action, err)
	}
	if data, _ := h.ReadFile(ctx, "/srv/f"); string(data) != "new\n" {
		t.Fatalf("file holds %q", data)
	}
	writes := len(h.Calls())
	c, err = reconcile.ApplyNow(ctx, h, f, nil)
	if err != nil || c.Action != reconcile.None {
		t.Fatalf("second: %v, %v; want converged", c.Action, err)
	}
	for _, call := range h.Calls()[writes:] {
		if call.Op != "observe" && call.Op != "read" {
			t.Errorf("the converged resource ran %s", call.Op)
		}
	}
}
