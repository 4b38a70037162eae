package reconcile_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/reconcile/reconciletest"
)

// TestReloadByPIDFile: a service with a PID file is reloaded by SIGHUP to
// the PID it holds, after its one check; without a readable PID, by its
// Reload command.
func TestReloadByPIDFile(t *testing.T) {
	for _, tc := range []struct {
		name, pid string // "" for no PID file
		want      string
	}{
		{"pid", "4242\n", "kill -HUP 4242"},
		{"no pid file", "", "svc-reload http"},
		{"garbage", "nginx\n", "svc-reload http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := reconciletest.New(t)
			h.Fake.Handle("kill", func(context.Context, []string, []byte) (host.RunResult, error) { return host.RunResult{}, nil })
			if tc.pid != "" {
				if err := h.Fake.WriteFile(context.Background(), "/srv/nginx.pid", []byte(tc.pid), host.WriteOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			d := h.Desired(5, site("a")...)
			d.Service = func(_, name string) (reconcile.Service, error) {
				return reconcile.Service{Name: name, Test: []string{"svc-test", name}, Reload: []string{"svc-reload", name}, PIDFile: "/srv/nginx.pid"}, nil
			}
			h.Apply(h.Plan(d, reconcile.PlanOptions{}))
			var cmds []string
			for _, argv := range h.Fake.Commands() {
				cmds = append(cmds, strings.Join(argv, " "))
			}
			if want := []string{"svc-test http", tc.want}; !slices.Equal(cmds, want) {
				t.Errorf("commands %q, want %q", cmds, want)
			}
		})
	}
}
