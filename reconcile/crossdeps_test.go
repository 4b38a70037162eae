package reconcile_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/hosttest"
	"github.com/berthhq/berth/kind/files"
	"github.com/berthhq/berth/kind/install"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/reconcile/reconciletest"
)

// TestCrossServerDependencies: a change waits for the change it depends
// on when that one runs on another server in the same run (a site's
// install on its web server and the database on the database server);
// when that one fails, the dependent is skipped, not run against
// something missing. Servers still run in parallel otherwise.
func TestCrossServerDependencies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		dbFail bool
	}{
		{"waits for it", false},
		{"skipped when it failed", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			web, db := hosttest.New("web"), hosttest.New("db")
			var mu sync.Mutex
			var order []string
			note := func(s string) {
				mu.Lock()
				defer mu.Unlock()
				order = append(order, s)
			}
			// The database's creation is held until the web server has
			// checked its configuration: without the wait, the web
			// server's install would run first.
			gate := make(chan struct{})
			ok := host.RunResult{Stdout: []byte("done\n")}
			web.Handle("svc-test", func(context.Context, []string, []byte) (host.RunResult, error) {
				close(gate)
				return host.RunResult{}, nil
			})
			web.Handle("svc-reload", func(context.Context, []string, []byte) (host.RunResult, error) { return host.RunResult{}, nil })
			db.Handle("runuser", func(context.Context, []string, []byte) (host.RunResult, error) {
				<-gate
				note("db")
				if tc.dbFail {
					return host.RunResult{ExitCode: 1, Stderr: []byte("no space")}, &host.ExitError{Code: 1}
				}
				return ok, nil
			})
			web.Handle("runuser", func(context.Context, []string, []byte) (host.RunResult, error) {
				note("install")
				return ok, nil
			})
			for _, f := range []*hosttest.Fake{web, db} {
				if err := f.MkdirAll(ctx, "/srv/new", 0o755); err != nil {
					t.Fatal(err)
				}
			}
			database := install.New(install.InstallSpec{ID: "site/new/db@db", Server: "db", Site: "new", Marker: "/srv/new/db-made",
				Owner: "root", Group: "root", Argv: []string{"make-db"}, Dir: "/srv", User: "mysql"})
			vhost := files.NewFile(files.FileSpec{ID: "site/new/vhost@web", Server: "web", Site: "new", Path: "/srv/new/vhost.conf",
				Content: []byte("server new\n"), Service: "http"})
			inst := install.New(install.InstallSpec{ID: "site/new/install@web", Server: "web", Site: "new", Marker: "/srv/new/" + install.InstallMarker,
				Owner: "root", Group: "root", Argv: []string{"install"}, Dir: "/srv", User: "www-data",
				Deps: []string{vhost.ID(), database.ID()}})
			inv := reconciletest.NewMemInventory()
			e := &reconcile.Engine{Hosts: reconciletest.Hosts{"web": web, "db": db}, Inventory: inv}
			d := &reconcile.Desired{Env: "test", Revision: "r1", MaxDeletions: 5, Resources: []reconcile.Resource{database, vhost, inst},
				Service: func(_, name string) (reconcile.Service, error) {
					return reconcile.Service{Name: name, Test: []string{"svc-test"}, Reload: []string{"svc-reload"}}, nil
				}}
			p, err := e.Plan(ctx, d, reconcile.PlanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			res, err := e.Apply(ctx, p)
			got := strings.Join(order, " ")
			if tc.dbFail {
				if err == nil || !strings.Contains(err.Error(), "skipped: site/new/db@db failed") || got != "db" {
					t.Fatalf("apply: %v; ran %q, want the install skipped", err, got)
				}
				// Both failures are the site's, each with its resource.
				for _, f := range res.Failures {
					if f.Site != "new" || f.ID == "" {
						t.Errorf("failure %+v, want one of site new with its resource", f)
					}
				}
				if len(res.Failures) != 2 {
					t.Errorf("failures %+v, want the database's and the install's", res.Failures)
				}
				return
			}
			if err != nil || got != "db install" {
				t.Fatalf("apply: %v; ran %q, want the database first", err, got)
			}
		})
	}
}
