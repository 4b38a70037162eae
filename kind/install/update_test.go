package install

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/hosttest"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/reconcile/reconciletest"
)

// TestUpdateTimeline: a site installed in this run only records its
// build; a new build runs the update step once, after a backup; a failed
// backup or update records nothing and is retried; the recorded build
// plans nothing; pruning forgets the marker.
func TestUpdateTimeline(t *testing.T) {
	fake := hosttest.New("web")
	ctx := context.Background()
	const dir = "/srv/sites/a.example.com"
	if err := fake.MkdirAll(ctx, dir, 0o750); err != nil {
		t.Fatal(err)
	}
	var runs [][]string
	var fail error
	fake.Handle("runuser", func(_ context.Context, argv []string, _ []byte) (host.RunResult, error) {
		runs = append(runs, argv)
		if fail != nil {
			return host.RunResult{ExitCode: 1, Stderr: []byte("SQLSTATE[42S01]: table exists\n")}, nil
		}
		return host.RunResult{Stdout: []byte("schema 1 -> 2\n")}, nil
	})
	var backups int
	var backupErr error
	inv := reconciletest.NewMemInventory()
	e := &reconcile.Engine{Hosts: reconciletest.Hosts{"web": fake}, Inventory: inv}
	update := func(build string) *Update {
		return NewUpdate(UpdateSpec{ID: "site/a.example.com/update@web", Server: "web", Site: "a.example.com",
			Marker: dir + "/" + UpdateMarker, Build: build, Installed: dir + "/" + InstallMarker,
			Argv: []string{"php", "update.php"}, Dir: "/srv/platforms/app/current", User: "www-data",
			Backup: func(context.Context) error { backups++; return backupErr }})
	}
	plan := func(rs ...reconcile.Resource) *reconcile.Plan {
		t.Helper()
		p, err := e.Plan(ctx, &reconcile.Desired{Env: "test", Revision: "r", MaxDeletions: 5, Resources: rs,
			Service: func(string, string) (reconcile.Service, error) { return reconcile.Service{}, nil }}, reconcile.PlanOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	apply := func(p *reconcile.Plan) error {
		t.Helper()
		_, err := e.Apply(ctx, p)
		return err
	}
	marker := func() string { return string(fake.Files()[dir+"/"+UpdateMarker]) }

	// Not installed yet: installed with build 1, which is only recorded.
	p := plan(update("b1"))
	if got := reconciletest.Actions(p); got != "+site/a.example.com/update@web" || !strings.Contains(p.Changes[0].Reason, "installed with build b1") {
		t.Fatalf("first plan: %s %q", got, p.Changes[0].Reason)
	}
	if err := apply(p); err != nil {
		t.Fatal(err)
	}
	if len(runs) != 0 || backups != 0 || marker() != "build b1\n" {
		t.Fatalf("a new site's update: %d runs, %d backups, marker %q", len(runs), backups, marker())
	}
	if err := fake.WriteFile(ctx, dir+"/"+InstallMarker, []byte("installed\n"), host.WriteOptions{Mode: 0o640}); err != nil {
		t.Fatal(err)
	}
	if p := plan(update("b1")); len(p.Changes) != 0 {
		t.Fatalf("plan of the same build: %s", reconciletest.Actions(p))
	}

	// Build 2: the backup fails, nothing runs; the update fails, nothing
	// is recorded; then it works, once.
	p = plan(update("b2"))
	if got := reconciletest.Actions(p); got != "~site/a.example.com/update@web" || !strings.Contains(p.Changes[0].Reason, "run its update step: php update.php") {
		t.Fatalf("plan of build 2: %s %q", got, p.Changes[0].Reason)
	}
	backupErr = errors.New("disk full")
	if err := apply(p); err == nil || !strings.Contains(err.Error(), "nothing was updated") || len(runs) != 0 {
		t.Fatalf("update after a failed backup: %v, %d runs", err, len(runs))
	}
	backupErr, fail = nil, errors.New("fail")
	if err := apply(plan(update("b2"))); err == nil || !strings.Contains(err.Error(), "table exists") || marker() != "build b1\n" {
		t.Fatalf("failed update: %v, marker %q", err, marker())
	}
	fail = nil
	p = plan(update("b2"))
	if err := apply(p); err != nil {
		t.Fatal(err)
	}
	want := []string{"runuser", "-u", "www-data", "--", "php", "update.php"}
	if len(runs) != 2 || !slices.Equal(runs[1], want) || backups != 3 || marker() != "build b2\n" || !strings.Contains(p.Changes[0].Output, "schema 1 -> 2") {
		t.Fatalf("update: runs %q, %d backups, marker %q, output %q", runs, backups, marker(), p.Changes[0].Output)
	}
	if p := plan(update("b2")); len(p.Changes) != 0 || p.Unchanged != 1 {
		t.Fatalf("plan after the update: %s", reconciletest.Actions(p))
	}
	if err := apply(plan(update("b2"))); err != nil || len(runs) != 2 {
		t.Fatalf("converged apply: %v, %d runs", err, len(runs))
	}

	// The site is gone: the marker is forgotten.
	p = plan()
	if got := reconciletest.Actions(p); got != "-site/a.example.com/update@web" {
		t.Fatalf("prune plan: %s", got)
	}
	if err := apply(p); err != nil {
		t.Fatal(err)
	}
	if _, ok := fake.Files()[dir+"/"+UpdateMarker]; ok {
		t.Fatal("the marker is still there")
	}
}
