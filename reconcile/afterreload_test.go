package reconcile_test

import (
	"context"
	"strings"
	"testing"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/reconcile/reconciletest"
)

// afterReload is a change of site "a" that runs after its server's
// reloads, recording that it ran.
type afterReload struct{ ran *[]string }

func (a afterReload) ID() string        { return "site/a/after@web" }
func (a afterReload) Server() string    { return "web" }
func (a afterReload) Kind() string      { return "after" }
func (a afterReload) Site() string      { return "a" }
func (a afterReload) Path() string      { return "" }
func (a afterReload) Deps() []string    { return []string{"site/a/vhost@web"} }
func (a afterReload) Observe() []string { return nil }
func (a afterReload) AfterReload() bool { return true }
func (a afterReload) Check(context.Context, reconcile.CheckInput) (reconcile.Change, error) {
	return reconcile.Change{ID: a.ID(), Server: "web", Kind: "after", Site: "a", Action: reconcile.Update}, nil
}
func (a afterReload) Apply(context.Context, host.Host, *reconcile.Change) error {
	*a.ran = append(*a.ran, "after")
	return nil
}
func (a afterReload) Undo(context.Context, host.Host, *reconcile.Change) error { return nil }
func (a afterReload) Record() reconcile.Record {
	return reconcile.Record{ID: a.ID(), Server: "web", Kind: "after", Site: "a"}
}

// TestAfterReload: a change of an afterReloader runs after its server's
// check and reload, and not at all when the check or the reload failed.
func TestAfterReload(t *testing.T) {
	for _, tc := range []struct {
		name, fails string // the command that fails, "" for none
		want        string
	}{
		{"accepted", "", "svc-test http; svc-reload http; after"},
		{"check fails", "svc-test", "svc-test http"},
		{"reload fails", "svc-reload", "svc-test http; svc-reload http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := reconciletest.New(t)
			var order []string
			record := func(_ context.Context, argv []string, _ []byte) (host.RunResult, error) {
				order = append(order, strings.Join(argv, " "))
				if argv[0] == tc.fails {
					return host.RunResult{ExitCode: 1, Stderr: []byte("refused")}, nil
				}
				return host.RunResult{}, nil
			}
			h.Fake.Handle("svc-test", record)
			h.Fake.Handle("svc-reload", record)
			// Listed first: the order of the resources does not decide.
			rs := append([]reconcile.Resource{afterReload{ran: &order}}, site("a")...)
			res, err := h.Engine.Apply(context.Background(), h.Plan(h.Desired(5, rs...), reconcile.PlanOptions{}))
			if got := strings.Join(order, "; "); got != tc.want {
				t.Errorf("ran %q, want %q", got, tc.want)
			}
			if tc.fails == "" {
				if err != nil || res.Applied != 3 {
					t.Errorf("apply: %v, applied %d, want 3", err, res.Applied)
				}
				return
			}
			if err == nil || res.Failed == 0 {
				t.Errorf("a failed %s left the run succeeded (err %v, failed %d)", tc.fails, err, res.Failed)
			}
		})
	}
}
