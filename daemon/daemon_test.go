package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/local"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

// dirSource is a plain directory as a Source (every branch is its
// content); gate, when set, blocks Fetch until it is closed.
type dirSource struct {
	dir     string
	fetches atomic.Int64
	loads   atomic.Int64  // calls of FS: revisions read to be loaded
	gate    chan struct{} // when set, Fetch signals entered and waits for gate to close
	entered chan struct{}
	missing sync.Map // branch name → true: Head says the branch does not exist
}

func (s *dirSource) Fetch(ctx context.Context) error {
	s.fetches.Add(1)
	if s.gate != nil {
		s.entered <- struct{}{}
		select {
		case <-s.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (s *dirSource) Head(branch string) (string, error) {
	if _, gone := s.missing.Load(branch); gone {
		return "", fmt.Errorf("branch %s: %w", branch, fs.ErrNotExist)
	}
	h := sha256.New()
	err := filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		fmt.Fprintf(h, "%s\x00", p)
		h.Write(data)
		return err
	})
	return "dir:" + hex.EncodeToString(h.Sum(nil))[:12], err
}

func (s *dirSource) FS(string) (fs.FS, error) {
	return &countingFS{FS: os.DirFS(s.dir), loads: &s.loads}, nil
}

// countingFS counts itself in loads once a file other than berth.yaml is
// opened: a revision read to be loaded, not the config loop's look at
// the environments.
type countingFS struct {
	fs.FS
	loads   *atomic.Int64
	counted atomic.Bool
}

func (c *countingFS) Open(name string) (fs.File, error) {
	if name != spec.ConfigFile && !c.counted.Swap(true) {
		c.loads.Add(1)
	}
	return c.FS.Open(name)
}

type localHosts struct{ h host.Host }

func (l localHosts) Host(context.Context, string) (host.Host, error) { return l.h, nil }

type fixture struct {
	t       *testing.T
	repo    string
	state   string
	src     *dirSource
	store   *state.Store
	d       *Daemon
	runs    chan EnvStatus
	cancel  context.CancelFunc
	done    chan struct{}
	metrics *Metrics
	first   EnvStatus // the status after the first run, for tests that keep it
	code    *fakeCode // resolves git platforms, when a test set it
}

func (f *fixture) write(name, data string) {
	f.t.Helper()
	p := filepath.Join(f.repo, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func newFixture(t *testing.T, selfHeal bool) *fixture {
	t.Helper()
	base := t.TempDir()
	f := &fixture{t: t, repo: filepath.Join(base, "repo"), state: filepath.Join(base, "state"), runs: make(chan EnvStatus, 100)}
	f.write("berth.yaml", "environments:\n  production: { branch: main }\n")
	f.write("servers/local.yaml", "kind: Server\nname: local\naddress: local\nservices:\n  http:\n    type: nginx\n    conf_dir: sites\n    web_root: www\n    user: root\n    test: [\"true\"]\n    reload: [\"true\"]\n")
	f.write("platforms/static.yaml", "kind: Platform\nname: static\ntype: static\nsource: { path: code }\nservers: [local]\n")
	f.write("code/index.html", "hello\n")
	f.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: static\n")
	f.src = &dirSource{dir: f.repo}
	var err error
	f.store, err = state.Open(context.Background(), f.state, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.store.Close() })
	f.metrics = NewMetrics()
	h := local.New()
	f.d, err = New(Config{
		Source: f.src, Store: f.store, StateDir: f.state, SelfHeal: selfHeal, Metrics: f.metrics,
		Hosts:    func(*spec.Resolved) (reconcile.Hosts, func()) { return localHosts{h}, func() {} },
		Logger:   zerolog.New(io.Discard),
		AfterRun: func(s EnvStatus) { f.runs <- s },
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) start() {
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel, f.done = cancel, make(chan struct{})
	go func() { defer close(f.done); f.d.Run(ctx) }()
	f.t.Cleanup(f.stop)
}

func (f *fixture) stop() {
	if f.cancel != nil {
		f.cancel()
		<-f.done
		f.cancel = nil
	}
}

// next waits for the next pass of the environment's loop.
func (f *fixture) next() EnvStatus {
	f.t.Helper()
	select {
	case s := <-f.runs:
		return s
	case <-time.After(30 * time.Second):
		f.t.Fatal("no run within 30s")
	}
	return EnvStatus{}
}

func (f *fixture) lastRun() state.Run {
	f.t.Helper()
	runs, err := f.store.Runs(context.Background(), "production", 1)
	if err != nil || len(runs) == 0 {
		f.t.Fatalf("runs: %v %v", runs, err)
	}
	return runs[0]
}

func TestConvergeStallRecover(t *testing.T) {
	f := newFixture(t, true)
	f.start()
	s := f.next()
	if s.Phase != PhaseSynced || len(s.Sites) != 1 || s.Sites[0].Sync != "Synced" {
		t.Fatalf("after start-up: %+v", s)
	}
	vhost := filepath.Join(f.state, "sites", "a.example.com.conf")
	good, err := os.ReadFile(vhost)
	if err != nil {
		t.Fatal(err)
	}

	// An invalid revision: Stalled with file:line, nothing changed.
	f.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: statik\nweb: { headers: { X-New: yes } }\n")
	f.d.TriggerAll(ReasonWatch)
	s = f.next()
	if s.Phase != PhaseStalled || len(s.Problems) != 1 || s.Problems[0].String() != `sites/a.yaml:3:11: site "a.example.com": platform "statik" does not exist (did you mean "static"?)` {
		t.Fatalf("invalid revision: %+v", s)
	}
	if now, _ := os.ReadFile(vhost); string(now) != string(good) {
		t.Error("an invalid revision changed a host file")
	}
	if r := f.lastRun(); r.Result != state.ResultFailed || r.Trigger != "watch" {
		t.Errorf("stalled run record: %+v", r)
	}

	// The fix recovers by itself.
	f.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: static\nweb: { headers: { X-New: \"yes\" } }\n")
	f.d.TriggerAll(ReasonWatch)
	s = f.next()
	if s.Phase != PhaseSynced || len(s.Problems) != 0 {
		t.Fatalf("after the fix: %+v", s)
	}
	if now, _ := os.ReadFile(vhost); !strings.Contains(string(now), "X-New") {
		t.Error("the fix was not applied")
	}
}

func TestDriftRepairedAndRecorded(t *testing.T) {
	f := newFixture(t, true)
	f.start()
	f.next()
	vhost := filepath.Join(f.state, "sites", "a.example.com.conf")
	good, _ := os.ReadFile(vhost)
	if err := os.WriteFile(vhost, []byte("# edited by hand\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.d.TriggerAll(ReasonDrift)
	f.next()
	if now, _ := os.ReadFile(vhost); string(now) != string(good) {
		t.Errorf("drift not repaired:\n%s", now)
	}
	if r := f.lastRun(); r.Trigger != "drift" || r.Result != state.ResultSucceeded {
		t.Errorf("drift run record: %+v", r)
	}
}

func TestDriftReportedWithoutSelfHeal(t *testing.T) {
	f := newFixture(t, false)
	f.start()
	f.next()
	vhost := filepath.Join(f.state, "sites", "a.example.com.conf")
	os.WriteFile(vhost, []byte("# edited by hand\n"), 0o644)
	f.d.TriggerAll(ReasonDrift)
	s := f.next()
	if s.Phase != PhaseOutOfSync || !strings.Contains(s.Message, "drift") {
		t.Errorf("status: %+v", s)
	}
	if now, _ := os.ReadFile(vhost); string(now) != "# edited by hand\n" {
		t.Error("drift was repaired although self-heal is off")
	}
	if r := f.lastRun(); r.Result != "drift-detected" {
		t.Errorf("run record: %+v", r)
	}
}

// TestTriggersCoalesce: 100 triggers while a run is in flight make exactly
// one more pass, not 100.
func TestTriggersCoalesce(t *testing.T) {
	f := newFixture(t, true)
	f.start()
	f.next()
	f.src.gate, f.src.entered = make(chan struct{}), make(chan struct{}, 10)
	before := f.src.fetches.Load()
	f.d.TriggerAll(ReasonWebhook) // starts a pass that blocks in Fetch
	<-f.src.entered
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() { f.d.TriggerBranch("main", ReasonWebhook) })
	}
	wg.Wait()
	close(f.src.gate)
	<-f.src.entered // the queued pass
	f.next()        // the one in flight
	f.next()        // the one queued
	select {
	case s := <-f.runs:
		t.Fatalf("a third pass ran: %+v", s)
	default:
	}
	if n := f.src.fetches.Load() - before; n != 2 {
		t.Errorf("%d passes for 101 triggers, want 2", n)
	}
}

func TestAPI(t *testing.T) {
	f := newFixture(t, true)
	f.start()
	f.next()
	var access Access
	access.Set([]byte("operator-token-1"), []byte("read-token-22"), false)
	srv := httptest.NewServer(f.d.Handler(&access))
	defer srv.Close()

	do := func(method, path, token string, v any) int {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if v != nil {
			json.NewDecoder(resp.Body).Decode(v)
		}
		return resp.StatusCode
	}
	var st struct{ Environments []EnvStatus }
	if code := do("GET", "/api/v1/status", "read-token-22", &st); code != 200 || len(st.Environments) != 1 || st.Environments[0].Phase != PhaseSynced || st.Environments[0].LastRun == nil {
		t.Fatalf("status: %d %+v", code, st)
	}
	var runs struct{ Runs []runJSON }
	if code := do("GET", "/api/v1/runs?env=production", "read-token-22", &runs); code != 200 || len(runs.Runs) == 0 {
		t.Fatalf("runs: %d %+v", code, runs)
	}
	var run runJSON
	if code := do("GET", fmt.Sprintf("/api/v1/runs/%d", runs.Runs[0].ID), "operator-token-1", &run); code != 200 || len(run.Plan) == 0 || run.Trigger != "startup" {
		t.Fatalf("run: %d %+v", code, run)
	}
	if code := do("GET", "/api/v1/runs/999999", "read-token-22", nil); code != 404 {
		t.Errorf("missing run: %d", code)
	}

	// Every endpoint with no token, a wrong one, the read token and the
	// operator token.
	runPath := fmt.Sprintf("/api/v1/runs/%d", runs.Runs[0].ID)
	tokens := []struct{ name, token string }{{"no token", ""}, {"wrong token", "read-token-2"}, {"read token", "read-token-22"}, {"operator token", "operator-token-1"}}
	endpoints := []struct {
		method, path string
		want         [4]int // by tokens' order
	}{
		{"GET", "/api/v1/status", [4]int{401, 401, 200, 200}},
		{"GET", "/api/v1/runs", [4]int{401, 401, 200, 200}},
		{"GET", "/api/v1/runs?env=production&limit=1", [4]int{401, 401, 200, 200}},
		{"GET", runPath, [4]int{401, 401, 200, 200}},
		{"GET", "/metrics", [4]int{401, 401, 200, 200}},
		{"GET", "/healthz", [4]int{200, 200, 200, 200}},
		{"GET", "/readyz", [4]int{200, 200, 200, 200}},
		{"POST", "/api/v1/environments/production/reconcile", [4]int{401, 401, 403, 202}},
	}
	for _, e := range endpoints {
		for i, tk := range tokens {
			if e.method == "POST" && i == 3 {
				continue // below, where the run it starts is waited for
			}
			if code := do(e.method, e.path, tk.token, nil); code != e.want[i] {
				t.Errorf("%s %s with %s: %d, want %d", e.method, e.path, tk.name, code, e.want[i])
			}
		}
	}
	// The read token started no run: the last run is still the startup one.
	if r := f.lastRun(); r.Trigger != "startup" {
		t.Errorf("a request without the operator token started a run: %+v", r)
	}

	// /metrics opened explicitly.
	access.Set([]byte("operator-token-1"), []byte("read-token-22"), true)
	if code := do("GET", "/metrics", "", nil); code != 200 {
		t.Errorf("public metrics without a token: %d, want 200", code)
	}
	if code := do("GET", "/api/v1/status", "", nil); code != 401 {
		t.Errorf("--metrics-public opened /api/v1/status: %d", code)
	}

	// No token configured: reading and runs are closed, health stays open.
	access.Set(nil, nil, false)
	for _, path := range []string{"/api/v1/status", "/api/v1/runs", "/metrics"} {
		if code := do("GET", path, "x", nil); code != http.StatusForbidden {
			t.Errorf("%s without configured tokens: %d, want 403", path, code)
		}
	}
	if code := do("POST", "/api/v1/environments/production/reconcile", "x", nil); code != http.StatusForbidden {
		t.Errorf("manual run without a configured token: %d, want 403", code)
	}
	if code := do("GET", "/healthz", "", nil); code != 200 {
		t.Errorf("healthz: %d", code)
	}

	access.Set([]byte("operator-token-1"), nil, false)
	if code := do("POST", "/api/v1/environments/production/reconcile", "operator-token-1", nil); code != http.StatusAccepted {
		t.Errorf("operator token: %d, want 202", code)
	}
	f.next()
	if r := f.lastRun(); r.Trigger != "manual" {
		t.Errorf("manual run record: %+v", r)
	}
}
