package install

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/hosttest"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/reconcile/reconciletest"
)

// TestInstallTimeline: an install runs once, guarded by its marker; a
// failed install leaves no marker and is retried; its output reaches the
// change with the secret redacted, never the error or the plan; removing
// the marker runs it again; pruning forgets the marker.
func TestInstallTimeline(t *testing.T) {
	const secret = "s3cret-admin-pw"
	fake := hosttest.New("web")
	ctx := context.Background()
	if err := fake.MkdirAll(ctx, "/srv/sites/a.example.com", 0o750); err != nil {
		t.Fatal(err)
	}
	fail := true
	var runs [][]string
	var stdins []string
	fake.Handle("runuser", func(_ context.Context, argv []string, stdin []byte) (host.RunResult, error) {
		runs = append(runs, argv)
		stdins = append(stdins, string(stdin))
		if fail {
			return host.RunResult{ExitCode: 1, Stderr: []byte("cannot reach the database as admin/" + secret + "\n")}, nil
		}
		return host.RunResult{Stdout: []byte("installed with " + secret + "\nberth-install: ok\n")}, nil
	})
	inv := reconciletest.NewMemInventory()
	e := &reconcile.Engine{Hosts: reconciletest.Hosts{"web": fake}, Inventory: inv}
	inst := New(InstallSpec{ID: "site/a.example.com/install@web", Server: "web", Site: "a.example.com",
		Marker: "/srv/sites/a.example.com/" + InstallMarker, Owner: "root", Group: "root",
		Argv: []string{"php", "install.php"}, Dir: "/srv/platforms/p/current", User: "www-data",
		Env: []string{"BERTH_SETTINGS=/srv/sites/a.example.com/.env"}, Success: "berth-install: ok",
		Input: func(context.Context) ([]byte, []string, error) {
			return []byte(`{"password":"` + secret + `"}`), []string{secret}, nil
		}})
	plan := func(rs ...reconcile.Resource) *reconcile.Plan {
		t.Helper()
		p, err := e.Plan(ctx, &reconcile.Desired{Env: "test", Revision: "r", MaxDeletions: 5, Resources: rs,
			Service: func(string, string) (reconcile.Service, error) { return reconcile.Service{}, nil }}, reconcile.PlanOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	p := plan(inst)
	if got := reconciletest.Actions(p); got != "+site/a.example.com/install@web" {
		t.Fatalf("first plan: %s", got)
	}
	if r := p.Changes[0].Reason; !strings.Contains(r, "php install.php") || strings.Contains(r, secret) {
		t.Errorf("reason %q", r)
	}
	_, err := e.Apply(ctx, p)
	if err == nil || !strings.Contains(err.Error(), "next run tries again") || !strings.Contains(err.Error(), "[redacted]") {
		t.Fatalf("failed install: %v", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("the error holds the secret: %v", err)
	}
	want := []string{"runuser", "-u", "www-data", "--", "env", "BERTH_SETTINGS=/srv/sites/a.example.com/.env", "php", "install.php"}
	if len(runs) != 1 || !slices.Equal(runs[0], want) || !strings.Contains(stdins[0], secret) {
		t.Fatalf("ran %q with %q, want %q", runs, stdins, want)
	}
	if _, ok := fake.Files()[inst.marker()]; ok {
		t.Fatal("a failed install left its marker")
	}

	// Retried; this time it works.
	fail = false
	p = plan(inst)
	if got := reconciletest.Actions(p); got != "+site/a.example.com/install@web" {
		t.Fatalf("plan after the failure: %s", got)
	}
	if _, err := e.Apply(ctx, p); err != nil {
		t.Fatal(err)
	}
	if out := p.Changes[0].Output; !strings.Contains(out, "installed with [redacted]") || strings.Contains(out, secret) {
		t.Errorf("output %q", out)
	}
	if _, ok := fake.Files()[inst.marker()]; !ok {
		t.Fatal("no marker after the install")
	}

	// Installed: nothing runs.
	p = plan(inst)
	if len(p.Changes) != 0 || p.Unchanged != 1 {
		t.Fatalf("second plan: %s", reconciletest.Actions(p))
	}
	if _, err := e.Apply(ctx, p); err != nil || len(runs) != 2 {
		t.Fatalf("converged apply: %v, %d runs", err, len(runs))
	}

	// The marker removed by hand: installed again.
	if err := fake.Remove(ctx, inst.marker()); err != nil {
		t.Fatal(err)
	}
	p = plan(inst)
	if got := reconciletest.Actions(p); got != "+site/a.example.com/install@web" {
		t.Fatalf("plan without the marker: %s", got)
	}
	if _, err := e.Apply(ctx, p); err != nil || len(runs) != 3 {
		t.Fatalf("reinstall: %v, %d runs", err, len(runs))
	}

	// Success must be reported: exit 0 without the line is a failure.
	fake.Handle("runuser", func(context.Context, []string, []byte) (host.RunResult, error) {
		return host.RunResult{Stdout: []byte("Error establishing a database connection")}, nil
	})
	fake.Remove(ctx, inst.marker())
	if _, err := e.Apply(ctx, plan(inst)); err == nil || !strings.Contains(err.Error(), "did not report success") {
		t.Fatalf("an install without its success line: %v", err)
	}
	fake.Handle("runuser", func(context.Context, []string, []byte) (host.RunResult, error) {
		return host.RunResult{Stdout: []byte("berth-install: ok\n")}, nil
	})
	if _, err := e.Apply(ctx, plan(inst)); err != nil {
		t.Fatal(err)
	}

	// The site is gone: the marker is forgotten, nothing runs.
	p = plan()
	if got := reconciletest.Actions(p); got != "-site/a.example.com/install@web" {
		t.Fatalf("prune plan: %s", got)
	}
	if _, err := e.Apply(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, ok := fake.Files()[inst.marker()]; ok {
		t.Fatal("the marker is still there")
	}
	if p = plan(); len(p.Changes) != 0 {
		t.Fatalf("plan after the prune: %s", reconciletest.Actions(p))
	}
}
