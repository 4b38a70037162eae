package desired

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/berthhq/berth/host/hosttest"
	"github.com/berthhq/berth/kind/lb"
	"github.com/berthhq/berth/kind/release"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/source"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

// prepareCluster prepares platform app on web1 and web2 behind lb1, with
// web2 drained or not.
func prepareCluster(t *testing.T, drain bool) *reconcile.Desired {
	t.Helper()
	base := t.TempDir()
	repo := filepath.Join(base, "repo")
	node := func(i int, drain bool) string {
		return fmt.Sprintf("kind: Server\nname: web%d\naddress: 192.0.2.1%d\ndrain: %t\nservices:\n  http: { type: nginx }\n  php: { type: php-fpm }\n", i, i, drain)
	}
	writeFiles(t, repo, map[string]string{
		"berth.yaml":         "environments:\n  production: { branch: main }\n",
		"servers/lb.yaml":    "kind: Server\nname: lb1\naddress: 192.0.2.5\nservices:\n  lb: { type: nginx }\n---\n" + node(1, false) + "---\n" + node(2, drain),
		"platforms/app.yaml": "kind: Platform\nname: app\ntype: php\nsource: { path: code }\nservers: [web1, web2]\nlb: lb1\n",
		"code/index.php":     "<?php\n",
		"sites/a.yaml":       "kind: Site\nname: a.example.com\nplatform: app\n",
	})
	fsys, err := source.OpenDirFS(repo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsys.Close() })
	loaded, err := spec.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	res, err := spec.Resolve(loaded, "production")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	store, err := state.Open(ctx, filepath.Join(base, "state"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	_, d, err := Prepare(ctx, Input{Resolved: res, Revision: "rev1", Repo: fsys, StateDir: filepath.Join(base, "state"),
		Store: store, Hosts: oneHost{hosttest.New("web")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Prepare adds one configuration per platform on its load balancer and
// orders it against the web servers: with web2 drained, it runs first and
// every resource of web2 (and none of web1) waits for it; undrained, it
// runs after the reloads and waits for the platform's vhosts and
// releases on both servers.
func TestPrepareBuildsLoadBalancers(t *testing.T) {
	id := LBConfigID("app", "lb1")
	for _, drain := range []bool{true, false} {
		d := prepareCluster(t, drain)
		var cfg *lb.Config
		waiting := map[string]int{}
		total := map[string]int{}
		for _, r := range d.Resources {
			if c, ok := r.(*lb.Config); ok {
				cfg = c
			}
			total[r.Server()]++
			if slices.Contains(r.Deps(), id) {
				waiting[r.Server()]++
			}
		}
		if cfg == nil || cfg.ID() != id || cfg.Server() != "lb1" || cfg.Path() != "/etc/nginx/conf.d/berth-production-app.conf" {
			t.Fatalf("drain %v: load balancer configuration %+v", drain, cfg)
		}
		if cfg.AfterReload() == drain {
			t.Errorf("drain %v: AfterReload %v", drain, cfg.AfterReload())
		}
		vhosts := []string{SiteID("a.example.com", "vhost", "web1"), SiteID("a.example.com", "vhost", "web2"), ReleaseID("app", "web1"), ReleaseID("app", "web2")}
		for _, v := range vhosts {
			if got := slices.Contains(cfg.Deps(), v); got == drain {
				t.Errorf("drain %v: the configuration depends on %s: %v", drain, v, got)
			}
		}
		if drain && (waiting["web2"] != total["web2"] || waiting["web1"] != 0 || total["web2"] < 5) {
			t.Errorf("drained: %d of web2's %d resources and %d of web1's wait for the load balancer, want all and none", waiting["web2"], total["web2"], waiting["web1"])
		}
		if !drain && len(waiting) != 0 {
			t.Errorf("undrained: resources wait for the load balancer: %v", waiting)
		}
		if svc, err := d.Service("lb1", "lb"); err != nil || !slices.Equal(svc.Test, []string{"nginx", "-t"}) || svc.PIDFile != "/run/nginx.pid" {
			t.Errorf("lb of lb1: %+v %v", svc, err)
		}
	}
}

// A platform with two web servers in its load balancer's rotation gets a
// roll on the load balancer, after its releases and vhosts on both and
// before the load balancer's own change; with web2 drained (one server
// left in rotation) its releases switch at once, as without a load
// balancer.
func TestPrepareBuildsRoll(t *testing.T) {
	for _, drain := range []bool{false, true} {
		d := prepareCluster(t, drain)
		var roll *release.Roll
		var cfg *lb.Config
		for _, r := range d.Resources {
			switch r := r.(type) {
			case *release.Roll:
				roll = r
			case *lb.Config:
				cfg = r
			}
		}
		if drain {
			if roll != nil {
				t.Errorf("drained: a roll over one server: %s", roll.ID())
			}
			continue
		}
		if roll == nil || roll.ID() != RollID("app", "lb1") || roll.Server() != "lb1" || !roll.AfterReload() {
			t.Fatalf("roll %+v", roll)
		}
		for _, dep := range []string{ReleaseID("app", "web1"), ReleaseID("app", "web2"), SiteID("a.example.com", "vhost", "web1"), SiteID("a.example.com", "vhost", "web2")} {
			if !slices.Contains(roll.Deps(), dep) {
				t.Errorf("the roll does not depend on %s: %v", dep, roll.Deps())
			}
		}
		if !slices.Contains(cfg.Deps(), roll.ID()) {
			t.Errorf("the load balancer's configuration does not wait for the roll: %v", cfg.Deps())
		}
	}
}
