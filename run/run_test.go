package run

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth/desired"
	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/hosttest"
	"github.com/berthhq/berth/kind/files"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/source"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

// fakeHosts are the servers of a unit test, by name.
type fakeHosts map[string]*hosttest.Fake

func (h fakeHosts) Host(_ context.Context, server string) (host.Host, error) {
	f, ok := h[server]
	if !ok {
		return nil, fmt.Errorf("no server %s", server)
	}
	return f, nil
}

func openStore(t *testing.T) *state.Store {
	t.Helper()
	s, err := state.Open(context.Background(), t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// countingLock counts how often it was held.
type countingLock struct {
	sync.Mutex
	n int
}

func (l *countingLock) Lock() { l.Mutex.Lock(); l.n++ }

// prepared is site a's vhost on server web as a revision's desired state;
// test is the http service's check.
func prepared(store *state.Store, web *hosttest.Fake, test string) *Prepared {
	vhost := files.NewFile(files.FileSpec{ID: "site/a/vhost@web", Server: "web", Site: "a",
		Path: "/etc/nginx/a.conf", Content: []byte("server a;\n"), Service: "http"})
	d := &reconcile.Desired{Env: "production", Revision: "rev1", MaxDeletions: 5, Resources: []reconcile.Resource{vhost},
		Service: func(server, name string) (reconcile.Service, error) {
			return reconcile.Service{Name: name, Test: []string{test}, Reload: []string{"true"}}, nil
		}}
	e := &reconcile.Engine{Hosts: fakeHosts{"web": web}, Inventory: desired.StoreInventory(store)}
	return &Prepared{Engine: e, Desired: d, Env: "production", Revision: "rev1", store: store}
}

// TestConverge: one run's life cycle — its record from start to end, what
// it applied and the status it derives — for every way a run ends.
func TestConverge(t *testing.T) {
	declined := errors.New("apply cancelled; nothing was changed")
	for _, tt := range []struct {
		name       string
		test       string // the http service's check
		applyFirst bool   // converge once before
		opts       Options
		result     string
		err        error // want errors.Is
		written    bool  // the vhost is on the server after the run
		sync       string
		health     string
		site       SiteStatus
		locked     int
	}{
		{name: "approved", test: "true", result: state.ResultSucceeded, written: true, locked: 1,
			sync: Synced, health: HealthHealthy, site: SiteStatus{Site: "a", Sync: Synced, Health: HealthHealthy}},
		{name: "nothing to do", test: "true", applyFirst: true, result: state.ResultNoOp, written: true, locked: 1,
			sync: Synced, health: HealthHealthy, site: SiteStatus{Site: "a", Sync: Synced, Health: HealthHealthy}},
		{name: "declined", test: "true", opts: Options{Approve: func(*reconcile.Plan) error { return declined }},
			result: ResultCancelled, err: declined,
			sync: OutOfSync, site: SiteStatus{Site: "a", Sync: OutOfSync, Message: "+ site/a/vhost@web"}},
		{name: "report only", test: "true", opts: Options{ReportOnly: true}, result: ResultDrift,
			sync: OutOfSync, site: SiteStatus{Site: "a", Sync: OutOfSync, Message: "+ site/a/vhost@web"}},
		{name: "configuration check fails", test: "false", result: state.ResultFailed, locked: 1,
			sync: OutOfSync, health: HealthDegraded, site: SiteStatus{Site: "a", Sync: OutOfSync, Health: HealthDegraded}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			store := openStore(t)
			web := hosttest.New("web")
			if err := web.MkdirAll(ctx, "/etc/nginx", 0o755); err != nil {
				t.Fatal(err)
			}
			if tt.applyFirst {
				if _, err := prepared(store, web, "true").Converge(ctx, Options{Trigger: "first"}); err != nil {
					t.Fatal(err)
				}
			}
			var started int64
			lock := &countingLock{}
			opts := tt.opts
			opts.Trigger, opts.Serialize = "test", lock
			opts.Started = func(id int64) { started = id }
			opts.Log = func() []byte { return []byte("the run's log\n") }

			out, err := prepared(store, web, tt.test).Converge(ctx, opts)
			if tt.err != nil && !errors.Is(err, tt.err) || tt.err == nil && tt.result != state.ResultFailed && err != nil {
				t.Fatalf("Converge: %v", err)
			}
			if tt.result == state.ResultFailed && err == nil {
				t.Fatal("Converge of a refused configuration returned no error")
			}
			if out.Run == 0 || started != out.Run {
				t.Errorf("run %d, Started called with %d", out.Run, started)
			}
			if lock.n != tt.locked {
				t.Errorf("Serialize held %d times, want %d", lock.n, tt.locked)
			}
			rec, err := store.Run(ctx, out.Run)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Result != tt.result || rec.Trigger != "test" || rec.Revision != "rev1" || string(rec.Log) != "the run's log\n" || len(rec.Changes) == 0 {
				t.Errorf("recorded run: result %q trigger %q revision %q log %q changes %d bytes; want result %q",
					rec.Result, rec.Trigger, rec.Revision, rec.Log, len(rec.Changes), tt.result)
			}
			if (tt.err != nil || tt.result == state.ResultFailed) && rec.Error == "" {
				t.Error("the run's error is not recorded")
			}
			if _, ok := web.Files()["/etc/nginx/a.conf"]; ok != tt.written {
				t.Errorf("vhost on the server: %v, want %v", ok, tt.written)
			}
			st := out.Status
			if st.Sync != tt.sync || st.Health != tt.health || len(st.Sites) != 1 {
				t.Fatalf("status %+v, want sync %s health %q", st, tt.sync, tt.health)
			}
			got := st.Sites[0]
			if tt.site.Health == HealthDegraded {
				if got.Health != HealthDegraded || got.Sync != OutOfSync || !strings.Contains(got.Message, "web") {
					t.Errorf("site %+v, want degraded with web's failure", got)
				}
			} else if !reflect.DeepEqual(got, tt.site) {
				t.Errorf("site %+v, want %+v", got, tt.site)
			}
		})
	}
}

// TestFromPlan: a site's status after a plan and its apply. A site is
// Degraded when its own change failed or when a server it had changes on
// failed as a whole, never because its name is part of another site's
// (a.com in ba.com) or of a message.
func TestFromPlan(t *testing.T) {
	plan := &reconcile.Plan{
		Sites: []string{"a.com", "ba.com", "c.com", "d.com"},
		Changes: []reconcile.Change{
			{ID: "site/a.com/vhost@web1", Server: "web1", Site: "a.com", Action: reconcile.Update},
			{ID: "site/ba.com/vhost@web1", Server: "web1", Site: "ba.com", Action: reconcile.Update},
			{ID: "site/c.com/vhost@web2", Server: "web2", Site: "c.com", Action: reconcile.Create},
			{ID: "site/gone.com/vhost@web2", Server: "web2", Site: "gone.com", Action: reconcile.Delete},
			{ID: "site/d.com/vhost@web3", Server: "web3", Site: "d.com", Action: reconcile.Conflict},
		},
	}
	for _, tt := range []struct {
		name     string
		res      *reconcile.Result
		outOf    map[string]bool
		degraded map[string]bool
		health   string
	}{
		{name: "planned, not applied", outOf: map[string]bool{"a.com": true, "ba.com": true, "c.com": true, "d.com": true, "gone.com": true}},
		{name: "applied", res: &reconcile.Result{}, outOf: map[string]bool{"d.com": true}, degraded: map[string]bool{}, health: HealthHealthy},
		{name: "a change of ba.com failed", res: &reconcile.Result{Failures: []reconcile.Failure{
			{Server: "web1", ID: "site/ba.com/vhost@web1", Site: "ba.com", Error: "disk full, a.com was fine"},
		}}, outOf: map[string]bool{"ba.com": true, "d.com": true}, degraded: map[string]bool{"ba.com": true}, health: HealthDegraded},
		{name: "web2's check failed", res: &reconcile.Result{Failures: []reconcile.Failure{
			{Server: "web2", Error: "http: configuration check failed"},
		}}, outOf: map[string]bool{"c.com": true, "d.com": true, "gone.com": true}, degraded: map[string]bool{"c.com": true, "gone.com": true}, health: HealthDegraded},
		{name: "a DNS secondary lags", res: &reconcile.Result{Degraded: []reconcile.Failure{
			{Server: "ns1", ID: "zonesync/example.com/ns2@ns1", Error: "zone example.com on secondary ns2 lags (Degraded): no answer"},
		}}, outOf: map[string]bool{"d.com": true}, degraded: map[string]bool{}, health: HealthDegraded},
		{name: "a.com's move waits for the DNS caches", res: &reconcile.Result{Waiting: []reconcile.Waiting{
			{Server: "web1", ID: "site/a.com/migrate@web1", Site: "a.com", Until: time.Date(2026, 12, 2, 13, 0, 0, 0, time.UTC), Reason: "TTL"},
		}}, outOf: map[string]bool{"a.com": true, "d.com": true}, degraded: map[string]bool{}, health: HealthHealthy},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := FromPlan(plan, tt.res)
			if st.Sync != OutOfSync || st.Health != tt.health {
				t.Errorf("environment: sync %s health %q, want OutOfSync %q", st.Sync, st.Health, tt.health)
			}
			seen := map[string]bool{}
			for _, s := range st.Sites {
				seen[s.Site] = true
				if got := s.Sync == OutOfSync; got != tt.outOf[s.Site] {
					t.Errorf("%s: %s (%s), want out of sync %v", s.Site, s.Sync, s.Message, tt.outOf[s.Site])
				}
				if got := s.Health == HealthDegraded; got != tt.degraded[s.Site] {
					t.Errorf("%s: health %s (%s), want degraded %v", s.Site, s.Health, s.Message, tt.degraded[s.Site])
				}
				if want := s.Site == "gone.com"; (s.State == StateDeleted) != want {
					t.Errorf("%s: state %q", s.Site, s.State)
				}
				var wait *Wait
				if tt.res != nil {
					for _, w := range tt.res.Waiting {
						if w.Site == s.Site {
							wait = &Wait{ID: w.ID, Until: w.Until, Reason: w.Reason}
						}
					}
				}
				if !reflect.DeepEqual(s.Waiting, wait) {
					t.Errorf("%s: waiting %+v, want %+v", s.Site, s.Waiting, wait)
				}
			}
			for _, site := range plan.Sites {
				if !seen[site] {
					t.Errorf("%s is not listed: %+v", site, st.Sites)
				}
			}
			if seen["gone.com"] != tt.outOf["gone.com"] {
				t.Errorf("the deleted site listed %v, want %v: %+v", seen["gone.com"], tt.outOf["gone.com"], st.Sites)
			}
		})
	}
}

// TestFromDifferences: berth status's derivation from the inventory's
// differences: declared sites in order, a deleted site listed, the
// environment's own reason kept apart.
func TestFromDifferences(t *testing.T) {
	for _, tt := range []struct {
		name   string
		why    map[string]string
		sync   string
		envWhy string
		sites  string
	}{
		{name: "in sync", why: map[string]string{}, sync: Synced, sites: "a:Synced b:Synced"},
		{name: "a differs", why: map[string]string{"a": "~ site/a/vhost@web"}, sync: OutOfSync, sites: "a:OutOfSync b:Synced"},
		{name: "a site left behind", why: map[string]string{"old": "- site/old/vhost@web"}, sync: OutOfSync, sites: "a:Synced b:Synced old:OutOfSync:deleted"},
		{name: "pending reload", why: map[string]string{"": "! http@web: check and reload pending"}, sync: OutOfSync,
			envWhy: "! http@web: check and reload pending", sites: "a:Synced b:Synced"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := FromDifferences([]string{"a", "b"}, tt.why)
			var sites []string
			for _, s := range st.Sites {
				x := s.Site + ":" + s.Sync
				if s.State != "" {
					x += ":" + s.State
				}
				if s.Health != "" {
					t.Errorf("%s: health %q without an apply", s.Site, s.Health)
				}
				sites = append(sites, x)
			}
			if st.Sync != tt.sync || st.Why != tt.envWhy || strings.Join(sites, " ") != tt.sites {
				t.Errorf("got %s %q [%s], want %s %q [%s]", st.Sync, st.Why, strings.Join(sites, " "), tt.sync, tt.envWhy, tt.sites)
			}
		})
	}
}

// removedRepo is a repo that declares production only, with server web;
// the store holds production's and staging's vhosts (as they were when
// staging was declared), which are on web.
func removedRepo(t *testing.T) (*spec.Repo, *state.Store, *hosttest.Fake) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	for name, data := range map[string]string{
		"berth.yaml":       "environments:\n  production: { branch: main }\npolicy: { max_deletions: 3 }\n",
		"servers/web.yaml": "kind: Server\nname: web\naddress: 192.0.2.1\nservices:\n  http: { type: nginx, conf_dir: /etc/nginx/sites, web_root: /srv/www, test: [\"true\"], reload: [\"true\"] }\n",
	} {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fsys, err := source.OpenDirFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsys.Close() })
	repo, err := spec.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	store := openStore(t)
	web := hosttest.New("web")
	if err := web.MkdirAll(ctx, "/etc/nginx/sites", 0o755); err != nil {
		t.Fatal(err)
	}
	for env, sites := range map[string][]string{"production": {"a.com", "b.com"}, "staging": {"a.com.staging", "b.com.staging"}} {
		var recs []reconcile.Record
		for _, site := range sites {
			content := []byte("server " + site + ";\n")
			p := "/etc/nginx/sites/" + site + ".conf"
			if err := web.WriteFile(ctx, p, content, host.WriteOptions{Mode: 0o644}); err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(content)
			recs = append(recs, reconcile.Record{ID: "site/" + site + "/vhost@web", Server: "web", Kind: files.KindFile,
				Site: site, Path: p, Hash: hex.EncodeToString(sum[:]), Service: "http"})
		}
		// The vhost directory was there before the environment: adopted,
		// never deleted.
		recs = append(recs, reconcile.Record{ID: "dir:/etc/nginx/sites@web", Server: "web", Kind: files.KindDir, Path: "/etc/nginx/sites", Adopted: true})
		if err := desired.StoreInventory(store).SaveRecords(ctx, env, "rev0", recs); err != nil {
			t.Fatal(err)
		}
	}
	return repo, store, web
}

// TestRemovedEnvironment: an environment berth.yaml no longer declares is
// planned through Prepare as an empty desired state: its plan deletes its
// own records and nothing of another environment's, says why, is held to
// the stricter of the environment's last applied policy and the repo's,
// and an environment nothing was recorded of is refused.
func TestRemovedEnvironment(t *testing.T) {
	for _, tt := range []struct {
		name    string
		env     string
		applied string // staging's last applied policy, JSON; "" none
		allow   int
		wantErr string
		removed bool
	}{
		{name: "staging removed", env: "staging", removed: true},
		{name: "staging's own policy is stricter", env: "staging", applied: `{"max_deletions":1}`, wantErr: "max_deletions"},
		{name: "and --allow-deletions overrides it", env: "staging", applied: `{"max_deletions":1}`, allow: 2, removed: true},
		{name: "nothing recorded", env: "qa", wantErr: ErrNothingRecorded.Error()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			repo, store, web := removedRepo(t)
			if tt.applied != "" {
				if err := store.SetAppliedPolicy(ctx, state.AppliedPolicy{Env: tt.env, Revision: "rev0", Policy: []byte(tt.applied)}); err != nil {
					t.Fatal(err)
				}
			}
			if orphans, err := Orphans(ctx, store, []string{"production"}); err != nil || len(orphans) != 1 || orphans[0] != (state.EnvInventory{Env: "staging", Resources: 3, Sites: 2}) {
				t.Fatalf("orphans: %+v %v", orphans, err)
			}
			res, err := spec.ResolveRemoved(repo, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Prepare(ctx, Input{Input: desired.Input{Resolved: res, Revision: "rev1", Store: store, StateDir: t.TempDir(),
				Hosts: fakeHosts{"web": web}}, Removed: true})
			if err == nil {
				var out *Outcome
				out, err = p.Converge(ctx, Options{Trigger: "test", Plan: reconcile.PlanOptions{AllowDeletions: tt.allow}})
				if err == nil && !strings.Contains(strings.Join(out.Plan.Warnings, "\n"), "not declared in berth.yaml") {
					t.Errorf("the plan does not say the environment is removed: %v", out.Plan.Warnings)
				}
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			files := web.Files()
			for _, site := range []string{"a.com", "b.com"} {
				if _, ok := files["/etc/nginx/sites/"+site+".conf"]; !ok {
					t.Errorf("production's %s is gone", site)
				}
				if _, ok := files["/etc/nginx/sites/"+site+".staging.conf"]; ok == tt.removed {
					t.Errorf("staging's %s on the server: %v, removed %v", site, ok, tt.removed)
				}
			}
			if obs, err := web.Observe(ctx, []string{"/etc/nginx/sites"}); err != nil || !obs[0].Exists {
				t.Errorf("the directory berth found in place: %+v %v", obs, err)
			}
			if prod, _ := store.Inventory(ctx, "production"); len(prod) != 3 {
				t.Errorf("production's records: %+v", prod)
			}
			orphans, _ := Orphans(ctx, store, []string{"production"})
			if (len(orphans) == 0) != tt.removed {
				t.Errorf("orphans after the run: %+v", orphans)
			}
		})
	}
}

// TestFailed: a run that failed before its plan is recorded as failed,
// with its cause, trigger and revision.
func TestFailed(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	id, err := Failed(ctx, store, "production", "rev9", "poll", errors.New("sites/a.yaml:3:1: unknown field"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := store.Run(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Result != state.ResultFailed || r.Env != "production" || r.Revision != "rev9" || r.Trigger != "poll" || !strings.Contains(r.Error, "unknown field") {
		t.Errorf("recorded run: %+v", r)
	}
}

// TestLastHealth: the health berth status shows is that of the newest run
// that applied or failed; a succeeded run that recorded an error (a
// Degraded result) is Degraded.
func TestLastHealth(t *testing.T) {
	for _, tt := range []struct {
		name   string
		runs   []state.Run
		health string
		why    string
	}{
		{"no run", nil, HealthUnknown, ""},
		{"only a report", []state.Run{{Result: ResultDrift}}, HealthUnknown, ""},
		{"succeeded", []state.Run{{Result: state.ResultSucceeded}}, HealthHealthy, ""},
		{"no-op after a failure", []state.Run{{Result: state.ResultNoOp}, {Result: state.ResultFailed, Error: "boom"}}, HealthHealthy, ""},
		{"failed behind a cancelled run", []state.Run{{Result: ResultCancelled, Error: "no"}, {Result: state.ResultFailed, Error: "boom"}}, HealthDegraded, "boom"},
		{"succeeded, degraded", []state.Run{{Result: state.ResultSucceeded, Error: "Degraded: ns1: zonesync/example.com/ns2@ns1: zone example.com on secondary ns2 lags (Degraded)"}},
			HealthDegraded, "Degraded: ns1: zonesync/example.com/ns2@ns1: zone example.com on secondary ns2 lags (Degraded)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if h, why := LastHealth(tt.runs); h != tt.health || why != tt.why {
				t.Errorf("LastHealth: %q %q, want %q %q", h, why, tt.health, tt.why)
			}
		})
	}
}
