package reconcile_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/hosttest"
	"github.com/berthhq/berth/kind/files"
	"github.com/berthhq/berth/kind/install"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/reconcile/reconciletest"
)

// phpSite is a site with a directory, a vhost (service http) and a pool
// file (service php) under /srv/NAME.
func phpSite(name string) []reconcile.Resource {
	rs := site(name)
	pool := files.NewFile(files.FileSpec{ID: "site/" + name + "/pool@web", Server: "web", Site: name, Path: "/srv/" + name + "/pool.conf",
		Content: []byte("pool " + name + "\n"), Service: "php"})
	pool.AddDeps(rs[0].ID())
	settings := files.NewFile(files.FileSpec{ID: "site/" + name + "/settings@web", Server: "web", Site: name, Path: "/srv/" + name + "/settings",
		Content: []byte("db " + name + "\n"), Mode: 0o640})
	settings.AddDeps(rs[0].ID())
	return append(rs, pool, settings)
}

// TestRunPhases: a run that removes site "old" and adds site "new" whose
// php check fails restores every change on the server (the vhost that
// passed its own check too), removes the new directory, reloads nothing,
// deletes none of old's files (not even its settings, which feed no
// service) and leaves no record of new; the same run with passing checks
// deletes old's data only after both reloads.
func TestRunPhases(t *testing.T) {
	for _, tc := range []struct {
		name     string
		phpFails bool
	}{
		{"refused", true},
		{"accepted", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := reconciletest.New(t)
			var order []string
			record := func(_ context.Context, argv []string, _ []byte) (host.RunResult, error) {
				order = append(order, strings.Join(argv, " "))
				if tc.phpFails && argv[0] == "svc-test" && argv[1] == "php" && len(h.Fake.Files()["/srv/new/pool.conf"]) > 0 {
					return host.RunResult{ExitCode: 1, Stderr: []byte("bad pool")}, nil
				}
				return host.RunResult{}, nil
			}
			h.Fake.Handle("svc-test", record)
			h.Fake.Handle("svc-reload", record)
			h.Apply(h.Plan(h.Desired(5, phpSite("old")...), reconcile.PlanOptions{}))
			before := h.Fake.Files()
			order = nil

			p := h.Plan(h.Desired(5, phpSite("new")...), reconcile.PlanOptions{})
			res, err := h.Engine.Apply(context.Background(), p)
			files := h.Fake.Files()
			recs, _ := h.Inv.Records(context.Background(), "test")
			pending, _ := h.Inv.PendingReloads(context.Background(), "test")
			if len(pending) != 0 {
				t.Errorf("pending reloads left: %v", pending)
			}
			if tc.phpFails {
				if err == nil || !strings.Contains(err.Error(), "deletion(s) of data not run") {
					t.Fatalf("refused run: %v", err)
				}
				if got := strings.Join(order, "; "); got != "svc-test http; svc-test php" {
					t.Errorf("refused run ran %q, want both checks and no reload", got)
				}
				for p, data := range before {
					if string(files[p]) != string(data) {
						t.Errorf("refused run changed or deleted %s", p)
					}
				}
				for p := range files {
					if _, ok := before[p]; !ok {
						t.Errorf("refused run left %s behind", p)
					}
				}
				for _, r := range recs {
					if r.Site != "old" || r.Pending {
						t.Errorf("refused run left record %+v", r)
					}
				}
				if exists(t, h, "/srv/new") || !exists(t, h, "/srv/old") {
					t.Errorf("after the refused run: /srv/new exists %v, /srv/old exists %v", exists(t, h, "/srv/new"), exists(t, h, "/srv/old"))
				}
				if res.Restored == 0 {
					t.Errorf("nothing restored: %+v", res)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := "svc-test http; svc-test php; svc-reload http; svc-reload php"
			if got := strings.Join(order, "; "); got != want {
				t.Errorf("accepted run ran %q, want %q", got, want)
			}
			for p := range files {
				if strings.HasPrefix(p, "/srv/old") {
					t.Errorf("accepted run kept %s", p)
				}
			}
			if exists(t, h, "/srv/old") {
				t.Error("accepted run kept /srv/old")
			}
			for _, r := range recs {
				if r.Site != "new" || r.Pending {
					t.Errorf("accepted run left record %+v", r)
				}
			}
		})
	}
}

// TestPendingReload: a service an interrupted run left pending is in the
// plan, makes it non-empty, and is checked and reloaded by the next
// apply, which clears it, even with no file to write.
func TestPendingReload(t *testing.T) {
	h := reconciletest.New(t)
	d := h.Desired(5, site("a")...)
	h.Apply(h.Plan(d, reconcile.PlanOptions{}))
	ctx := context.Background()
	if err := h.Inv.AddPendingReloads(ctx, "test", "web", []string{"http"}); err != nil {
		t.Fatal(err)
	}
	p := h.Plan(d, reconcile.PlanOptions{})
	if p.Empty() || len(p.Pending) != 1 || len(p.Changes) != 0 {
		t.Fatalf("plan with a pending reload: empty %v, pending %v, changes %s", p.Empty(), p.Pending, reconciletest.Actions(p))
	}
	var text strings.Builder
	p.WriteText(&text, reconcile.TextOptions{})
	if !strings.Contains(text.String(), "! http@web: check and reload pending from an interrupted run") {
		t.Errorf("plan text does not show the pending reload:\n%s", text.String())
	}
	tests, reloads := h.Count("run", "svc-test"), h.Count("run", "svc-reload")
	res := h.Apply(p)
	if h.Count("run", "svc-test") != tests+1 || h.Count("run", "svc-reload") != reloads+1 || len(res.Reloads) != 1 {
		t.Errorf("apply of a pending reload: %+v", res)
	}
	if pending, _ := h.Inv.PendingReloads(ctx, "test"); len(pending) != 0 {
		t.Errorf("still pending: %v", pending)
	}
	if p := h.Plan(d, reconcile.PlanOptions{}); !p.Empty() {
		t.Errorf("plan after the reload is not empty: %v", p.Pending)
	}
}

// TestInterruptedWriteLeftovers: a temp file an interrupted write left is
// swept by the next run that writes on the server, and a record an
// interrupted run saved as Pending is berth's, not adopted.
func TestInterruptedWriteLeftovers(t *testing.T) {
	h := reconciletest.New(t)
	ctx := context.Background()
	if err := h.Fake.MkdirAll(ctx, "/srv/a", 0o755); err != nil {
		t.Fatal(err)
	}
	// The crashed run wrote the vhost and saved its record as an intent.
	if err := h.Fake.WriteFile(ctx, "/srv/a/vhost.conf", []byte("server a\n"), host.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := h.Fake.WriteFile(ctx, "/srv/a/"+host.TempPrefix+"x", []byte("half"), host.WriteOptions{Mode: 0o600}); err != nil {
		t.Fatal(err)
	}
	rs := site("a")
	var intents []reconcile.Record
	for _, r := range rs {
		rec := r.Record()
		rec.Pending = true
		intents = append(intents, rec)
	}
	h.Inv.SaveRecords(ctx, "test", "r0", intents)
	h.Apply(h.Plan(h.Desired(5, rs...), reconcile.PlanOptions{}))
	if _, left := h.Fake.Files()["/srv/a/"+host.TempPrefix+"x"]; left {
		t.Error("the temp file was not swept")
	}
	recs, _ := h.Inv.Records(ctx, "test")
	for _, r := range recs {
		if r.Adopted || r.Pending {
			t.Errorf("record %+v: adopted or still pending", r)
		}
	}
	// Removing the site deletes the vhost: it was berth's.
	h.Apply(h.Plan(h.Desired(5), reconcile.PlanOptions{}))
	if _, left := h.Fake.Files()["/srv/a/vhost.conf"]; left {
		t.Error("the vhost berth wrote before the crash was kept as someone else's")
	}
}

// TestPendingReloadOfUndeclaredService: a service left pending whose
// server no longer declares it is forgotten with a warning instead of
// refusing every later run.
func TestPendingReloadOfUndeclaredService(t *testing.T) {
	h := reconciletest.New(t)
	d := h.Desired(5, site("a")...)
	d.Service = func(server, name string) (reconcile.Service, error) {
		if name != "http" {
			return reconcile.Service{}, errors.New("server web has no service " + name)
		}
		return reconcile.Service{Name: name, Test: []string{"svc-test", name}, Reload: []string{"svc-reload", name}}, nil
	}
	ctx := context.Background()
	if err := h.Inv.AddPendingReloads(ctx, "test", "web", []string{"php7.4"}); err != nil {
		t.Fatal(err)
	}
	res := h.Apply(h.Plan(d, reconcile.PlanOptions{}))
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "php7.4") || len(res.Reloads) != 1 {
		t.Errorf("apply: %+v", res)
	}
	if pending, _ := h.Inv.PendingReloads(ctx, "test"); len(pending) != 0 {
		t.Errorf("still pending: %v", pending)
	}
}

// failingChange is a configuration change of a site that always fails.
type failingChange struct{ site string }

func (f failingChange) ID() string        { return "site/" + f.site + "/broken@web" }
func (f failingChange) Server() string    { return "web" }
func (f failingChange) Kind() string      { return "broken" }
func (f failingChange) Site() string      { return f.site }
func (f failingChange) Path() string      { return "" }
func (f failingChange) Deps() []string    { return nil }
func (f failingChange) Observe() []string { return nil }
func (f failingChange) Check(context.Context, reconcile.CheckInput) (reconcile.Change, error) {
	return reconcile.Change{ID: f.ID(), Server: "web", Kind: "broken", Site: f.site, Action: reconcile.Update, Service: "http"}, nil
}
func (f failingChange) Apply(context.Context, host.Host, *reconcile.Change) error {
	return errors.New("cannot write")
}
func (f failingChange) Undo(context.Context, host.Host, *reconcile.Change) error { return nil }
func (f failingChange) Record() reconcile.Record {
	return reconcile.Record{ID: f.ID(), Server: "web", Kind: "broken", Site: f.site}
}

// TestDataPhasePerSite: a failed configuration change of one removed site
// keeps that site's data for the next run; another removed site's data
// goes in the same run.
func TestDataPhasePerSite(t *testing.T) {
	h := reconciletest.New(t)
	h.Apply(h.Plan(h.Desired(5, append(site("x"), site("y")...)...), reconcile.PlanOptions{}))
	p := h.Plan(h.Desired(5, failingChange{"x"}), reconcile.PlanOptions{})
	_, err := h.Engine.Apply(context.Background(), p)
	if err == nil || !strings.Contains(err.Error(), "1 deletion(s) of data not run, because a configuration change of the site failed") {
		t.Fatalf("apply: %v", err)
	}
	if !exists(t, h, "/srv/x") {
		t.Error("x's directory was deleted although a change of x failed")
	}
	if exists(t, h, "/srv/y") {
		t.Error("y's directory was kept although nothing of y failed")
	}
}

func exists(t *testing.T, h *reconciletest.Harness, p string) bool {
	t.Helper()
	obs, err := h.Fake.Observe(context.Background(), []string{p})
	if err != nil {
		t.Fatal(err)
	}
	return obs[0].Exists
}

// TestPendingReloadOfRemovedServer: a pending reload of a server the
// environment no longer declares is shown, then forgotten with a warning
// by Apply; it neither blocks the run nor stays forever.
func TestPendingReloadOfRemovedServer(t *testing.T) {
	h := reconciletest.New(t)
	d := h.Desired(5, site("a")...)
	inner := d.Service
	d.Service = func(server, name string) (reconcile.Service, error) {
		if server != "web" {
			return reconcile.Service{}, errors.New("server " + server + " is no longer in environment test")
		}
		return inner(server, name)
	}
	ctx := context.Background()
	if err := h.Inv.AddPendingReloads(ctx, "test", "old", []string{"http"}); err != nil {
		t.Fatal(err)
	}
	p := h.Plan(d, reconcile.PlanOptions{})
	if len(p.Pending) != 1 || len(p.Unreachable) != 0 {
		t.Fatalf("plan: pending %v, unreachable %v", p.Pending, p.Unreachable)
	}
	res, err := h.Engine.Apply(ctx, p)
	if err != nil || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "no longer declares it") {
		t.Fatalf("apply: %+v %v", res, err)
	}
	if p := h.Plan(d, reconcile.PlanOptions{}); len(p.Pending) != 0 {
		t.Errorf("still pending: %v", p.Pending)
	}
}

// TestBarrierAcrossServers: a check that fails on one server stops the
// data deletions on every server; the other server's configuration
// changes stand and are reloaded.
func TestBarrierAcrossServers(t *testing.T) {
	ctx := context.Background()
	hosts := reconciletest.Hosts{}
	fakes := map[string]*hosttest.Fake{}
	for _, name := range []string{"a", "b"} {
		f := hosttest.New(name)
		f.Handle("svc-reload", func(context.Context, []string, []byte) (host.RunResult, error) { return host.RunResult{}, nil })
		if err := f.MkdirAll(ctx, "/srv", 0o755); err != nil {
			t.Fatal(err)
		}
		hosts[name], fakes[name] = f, f
	}
	refuse := false
	fakes["a"].Handle("svc-test", func(context.Context, []string, []byte) (host.RunResult, error) { return host.RunResult{}, nil })
	fakes["b"].Handle("svc-test", func(context.Context, []string, []byte) (host.RunResult, error) {
		if refuse {
			return host.RunResult{ExitCode: 1, Stderr: []byte("refused")}, nil
		}
		return host.RunResult{}, nil
	})
	inv := reconciletest.NewMemInventory()
	e := &reconcile.Engine{Hosts: hosts, Inventory: inv}
	on := func(server, name string) []reconcile.Resource {
		dir := files.NewDir(files.DirSpec{ID: "site/" + name + "/dir@" + server, Server: server, Site: name, Path: "/srv/" + name})
		f := files.NewFile(files.FileSpec{ID: "site/" + name + "/vhost@" + server, Server: server, Site: name, Path: "/srv/" + name + "/vhost.conf",
			Content: []byte("server " + name + "\n"), Service: "http"})
		f.AddDeps(dir.ID())
		return []reconcile.Resource{dir, f}
	}
	desired := func(rs ...reconcile.Resource) *reconcile.Desired {
		return &reconcile.Desired{Env: "test", Revision: "r", MaxDeletions: 5, Resources: rs,
			Service: func(server, name string) (reconcile.Service, error) {
				return reconcile.Service{Name: name, Test: []string{"svc-test"}, Reload: []string{"svc-reload"}}, nil
			}}
	}
	apply := func(d *reconcile.Desired) (*reconcile.Result, error) {
		p, err := e.Plan(ctx, d, reconcile.PlanOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return e.Apply(ctx, p)
	}
	if _, err := apply(desired(on("a", "old")...)); err != nil {
		t.Fatal(err)
	}
	// old goes from a, new comes to a and to b, where it is refused.
	refuse = true
	res, err := apply(desired(append(on("a", "new"), on("b", "new2")...)...))
	if err == nil || !strings.Contains(err.Error(), "deletion(s) of data not run") {
		t.Fatalf("apply: %v", err)
	}
	dirA, _ := fakes["a"].Observe(ctx, []string{"/srv/old", "/srv/new/vhost.conf", "/srv/old/vhost.conf"})
	dirB, _ := fakes["b"].Observe(ctx, []string{"/srv/new2"})
	if !dirA[0].Exists {
		t.Error("the data phase ran on a although the check failed on b")
	}
	if !dirA[1].Exists || dirA[2].Exists {
		t.Errorf("a's configuration changes did not stand: new vhost %v, old vhost %v", dirA[1].Exists, dirA[2].Exists)
	}
	if dirB[0].Exists {
		t.Error("b kept the refused site's directory")
	}
	if len(res.Reloads) != 1 || res.Reloads[0] != "a/http" {
		t.Errorf("reloads %v, want only a/http", res.Reloads)
	}
}

// TestInstallAfterCheck: a site's install runs after every check of its
// server passed and before the reloads, so a refused run installs nothing
// (and leaves no marker or record of it), and an accepted one installs the
// site before the reload serves it; a second run runs nothing.
func TestInstallAfterCheck(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fails bool
		want  string
	}{
		{"refused", true, "svc-test http"},
		{"accepted", false, "svc-test http; runuser; svc-reload http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := reconciletest.New(t)
			var order []string
			record := func(_ context.Context, argv []string, _ []byte) (host.RunResult, error) {
				order = append(order, strings.Join(argv, " "))
				if tc.fails && argv[0] == "svc-test" {
					return host.RunResult{ExitCode: 1, Stderr: []byte("bad vhost")}, nil
				}
				return host.RunResult{}, nil
			}
			h.Fake.Handle("svc-test", record)
			h.Fake.Handle("svc-reload", record)
			h.Fake.Handle("runuser", func(_ context.Context, argv []string, _ []byte) (host.RunResult, error) {
				order = append(order, "runuser")
				return host.RunResult{Stdout: []byte("installed\n")}, nil
			})
			rs := site("new")
			marker := "/srv/new/" + install.InstallMarker
			rs = append(rs, install.New(install.InstallSpec{ID: "site/new/install@web", Server: "web", Site: "new",
				Marker: marker, Owner: "root", Group: "root", Argv: []string{"php", "install.php"}, Dir: "/srv",
				User: "www-data", Deps: []string{rs[0].ID(), rs[1].ID()}}))
			d := h.Desired(5, rs...)
			res, err := h.Engine.Apply(context.Background(), h.Plan(d, reconcile.PlanOptions{}))
			if got := strings.Join(order, "; "); got != tc.want {
				t.Errorf("ran %q, want %q", got, tc.want)
			}
			_, installed := h.Fake.Files()[marker]
			recs, _ := h.Inv.Records(context.Background(), "test")
			if tc.fails {
				if err == nil {
					t.Fatal("a refused run succeeded")
				}
				if installed || len(recs) != 0 {
					t.Errorf("a refused run left the marker (%v) or records %v", installed, recs)
				}
				// The refusal is the server's, structured for status.
				if len(res.Failures) == 0 || res.Failures[0].Server != "web" || res.Failures[0].ID != "" || res.Failures[0].Site != "" {
					t.Errorf("failures %+v, want the server web's failure first", res.Failures)
				}
				return
			}
			if err != nil || !installed || len(recs) != 3 {
				t.Fatalf("accepted run: %v, marker %v, records %v", err, installed, recs)
			}
			if got := reconciletest.Actions(h.Plan(d, reconcile.PlanOptions{})); got != "" {
				t.Errorf("second plan: %s", got)
			}
		})
	}
}
