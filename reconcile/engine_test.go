package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/hosttest"
)

// memInventory is an in-memory Inventory for unit tests of the engine.
type memInventory struct {
	mu       sync.Mutex
	recs     map[string]map[string]Record
	policies map[string]Policy
	pending  map[string]map[PendingReload]bool // env -> pending reloads
}

func newMemInventory() *memInventory {
	return &memInventory{recs: map[string]map[string]Record{}, policies: map[string]Policy{}, pending: map[string]map[PendingReload]bool{}}
}

func (m *memInventory) AppliedPolicy(_ context.Context, env string) (Policy, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.policies[env]
	return p, ok, nil
}

func (m *memInventory) SaveAppliedPolicy(_ context.Context, env, _ string, p Policy) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.policies[env] = p
	return nil
}

func (m *memInventory) PendingReloads(_ context.Context, env string) ([]PendingReload, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []PendingReload
	for p := range m.pending[env] {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b PendingReload) int { return strings.Compare(a.Server+"/"+a.Service, b.Server+"/"+b.Service) })
	return out, nil
}

func (m *memInventory) AddPendingReloads(_ context.Context, env, server string, services []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pending[env] == nil {
		m.pending[env] = map[PendingReload]bool{}
	}
	for _, s := range services {
		m.pending[env][PendingReload{Server: server, Service: s}] = true
	}
	return nil
}

func (m *memInventory) ClearPendingReloads(_ context.Context, env, server string, services []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range services {
		delete(m.pending[env], PendingReload{Server: server, Service: s})
	}
	return nil
}

func (m *memInventory) Records(_ context.Context, env string) ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Record
	for _, r := range m.recs[env] {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Record) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (m *memInventory) SaveRecords(_ context.Context, env, _ string, recs []Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.recs[env] == nil {
		m.recs[env] = map[string]Record{}
	}
	for _, r := range recs {
		m.recs[env][r.ID] = r
	}
	return nil
}

func (m *memInventory) DeleteRecords(_ context.Context, env string, ids []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		delete(m.recs[env], id)
	}
	return nil
}

type fakeHosts map[string]host.Host

func (f fakeHosts) Host(_ context.Context, server string) (host.Host, error) {
	h, ok := f[server]
	if !ok {
		return nil, fmt.Errorf("no host %s", server)
	}
	return h, nil
}

// harness is one fake server "web" with an engine and an inventory.
type harness struct {
	t      *testing.T
	fake   *hosttest.Fake
	engine *Engine
	inv    *memInventory
}

func newHarness(t *testing.T) *harness {
	fake := hosttest.New("web")
	fake.Handle("svc-test", func(context.Context, []string, []byte) (host.RunResult, error) { return host.RunResult{}, nil })
	fake.Handle("svc-reload", func(context.Context, []string, []byte) (host.RunResult, error) { return host.RunResult{}, nil })
	if err := fake.MkdirAll(context.Background(), "/srv", 0o755); err != nil {
		t.Fatal(err)
	}
	inv := newMemInventory()
	return &harness{t: t, fake: fake, inv: inv, engine: &Engine{Hosts: fakeHosts{"web": fake}, Inventory: inv}}
}

func (h *harness) desired(maxDel int, rs ...Resource) *Desired {
	return &Desired{Env: "test", Revision: "r1", MaxDeletions: maxDel, Resources: rs,
		Service: func(server, name string) (Service, error) {
			return Service{Name: name, Test: []string{"svc-test", name}, Reload: []string{"svc-reload", name}}, nil
		}}
}

func (h *harness) plan(d *Desired, opts PlanOptions) *Plan {
	h.t.Helper()
	p, err := h.engine.Plan(context.Background(), d, opts)
	if err != nil {
		h.t.Fatalf("plan: %v", err)
	}
	return p
}

func (h *harness) apply(p *Plan) *Result {
	h.t.Helper()
	r, err := h.engine.Apply(context.Background(), p)
	if err != nil {
		h.t.Fatalf("apply: %v", err)
	}
	return r
}

// count returns how many recorded calls have op (and, for runs, program).
func (h *harness) count(op, program string) int {
	n := 0
	for _, c := range h.fake.Calls() {
		if c.Op == op && (program == "" || len(c.Argv) > 0 && c.Argv[0] == program) {
			n++
		}
	}
	return n
}

func actions(p *Plan) string {
	var s []string
	for _, c := range p.Changes {
		s = append(s, string(rune(c.Action))+c.ID)
	}
	return strings.Join(s, " ")
}

func site(name string) []Resource {
	dir := NewDir(DirSpec{ID: "site/" + name + "/dir@web", Server: "web", Site: name, Path: "/srv/" + name, Mode: 0o750})
	f := NewFile(FileSpec{ID: "site/" + name + "/vhost@web", Server: "web", Site: name, Path: "/srv/" + name + "/vhost.conf",
		Content: []byte("server " + name + "\n"), Service: "http"})
	f.deps = []string{dir.ID()}
	return []Resource{dir, f}
}

// TestFileAndDirIdempotent is the timeline every kind must pass: apply,
// check it converged, apply again and see that nothing ran.
func TestFileAndDirIdempotent(t *testing.T) {
	h := newHarness(t)
	d := h.desired(5, site("a")...)
	p := h.plan(d, PlanOptions{})
	if got, want := actions(p), "+site/a/dir@web +site/a/vhost@web"; got != want {
		t.Fatalf("first plan: %s, want %s", got, want)
	}
	r := h.apply(p)
	if r.Applied != 2 || len(r.Reloads) != 1 {
		t.Fatalf("first apply: %+v", r)
	}
	if got := string(h.fake.Files()["/srv/a/vhost.conf"]); got != "server a\n" {
		t.Fatalf("vhost content %q", got)
	}
	obs, _ := h.fake.Observe(context.Background(), []string{"/srv/a"})
	if obs[0].Mode.Perm() != 0o750 {
		t.Errorf("dir mode %v, want 0750", obs[0].Mode.Perm())
	}
	writes, runs := h.count("write", ""), h.count("run", "")

	p = h.plan(d, PlanOptions{})
	if !p.Empty() || len(p.Changes) != 0 || p.Unchanged != 2 {
		t.Fatalf("second plan not empty: %s (unchanged %d)", actions(p), p.Unchanged)
	}
	r = h.apply(p)
	if r.Applied != 0 || len(r.Reloads) != 0 || h.count("write", "") != writes || h.count("run", "") != runs {
		t.Errorf("second apply did work: %+v, writes %d->%d, runs %d->%d", r, writes, h.count("write", ""), runs, h.count("run", ""))
	}
}

func TestDriftIsRepaired(t *testing.T) {
	h := newHarness(t)
	d := h.desired(5, site("a")...)
	h.apply(h.plan(d, PlanOptions{}))
	if err := h.fake.WriteFile(context.Background(), "/srv/a/vhost.conf", []byte("edited by hand\n"), host.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	p := h.plan(d, PlanOptions{})
	if got := actions(p); got != "~site/a/vhost@web" {
		t.Fatalf("plan after drift: %s", got)
	}
	if !strings.Contains(p.Changes[0].Diff, "-edited by hand") || !strings.Contains(p.Changes[0].Diff, "+server a") {
		t.Errorf("diff does not show the change:\n%s", p.Changes[0].Diff)
	}
	h.apply(p)
	if got := string(h.fake.Files()["/srv/a/vhost.conf"]); got != "server a\n" {
		t.Errorf("not repaired: %q", got)
	}
}

func TestPruneOnlyWhatBerthCreated(t *testing.T) {
	h := newHarness(t)
	h.apply(h.plan(h.desired(5, append(site("a"), site("b")...)...), PlanOptions{}))
	// A file berth never created, next to b's.
	if err := h.fake.WriteFile(context.Background(), "/srv/b/user-upload.jpg", []byte("x"), host.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	p := h.plan(h.desired(5, site("a")...), PlanOptions{})
	if got, want := actions(p), "-site/b/dir@web -site/b/vhost@web"; got != want {
		t.Fatalf("prune plan: %s, want %s", got, want)
	}
	if !slices.Equal(p.DeletedSites, []string{"b"}) {
		t.Errorf("deleted sites %v", p.DeletedSites)
	}
	r, err := h.engine.Apply(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	files := h.fake.Files()
	if _, ok := files["/srv/b/vhost.conf"]; ok {
		t.Error("b's vhost was not deleted")
	}
	if _, ok := files["/srv/b/user-upload.jpg"]; !ok {
		t.Error("a file berth did not create was deleted")
	}
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "not empty") {
		t.Errorf("want a warning that the non-empty dir was kept, got %v", r.Warnings)
	}
	if _, ok := files["/srv/a/vhost.conf"]; !ok {
		t.Error("a was touched")
	}
}

func TestMaxDeletionsPolicy(t *testing.T) {
	h := newHarness(t)
	var all []Resource
	for _, s := range []string{"a", "b", "c"} {
		all = append(all, site(s)...)
	}
	h.apply(h.plan(h.desired(1, all...), PlanOptions{}))
	writes := h.count("write", "")

	_, err := h.engine.Plan(context.Background(), h.desired(1), PlanOptions{})
	if !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), "--allow-deletions=3") {
		t.Fatalf("want a policy refusal naming the override, got %v", err)
	}
	if h.count("write", "") != writes || h.count("remove", "") != 0 {
		t.Error("a refused plan changed the host")
	}
	p := h.plan(h.desired(1), PlanOptions{AllowDeletions: 3})
	if len(p.DeletedSites) != 3 {
		t.Errorf("override: deleted sites %v", p.DeletedSites)
	}
}

func TestConflictNeedsAdopt(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if err := h.fake.MkdirAll(ctx, "/srv/a", 0o750); err != nil {
		t.Fatal(err)
	}
	if err := h.fake.WriteFile(ctx, "/srv/a/vhost.conf", []byte("hand-made\n"), host.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	d := h.desired(5, site("a")...)
	p := h.plan(d, PlanOptions{})
	if got := actions(p); got != "!site/a/vhost@web" || !p.HasConflicts() {
		t.Fatalf("plan: %s", got)
	}
	h.apply(p)
	if got := string(h.fake.Files()["/srv/a/vhost.conf"]); got != "hand-made\n" {
		t.Fatalf("a conflict was overwritten: %q", got)
	}
	p = h.plan(d, PlanOptions{Adopt: true})
	if got := actions(p); got != "~site/a/vhost@web" {
		t.Fatalf("adopt plan: %s", got)
	}
	h.apply(p)
	if got := string(h.fake.Files()["/srv/a/vhost.conf"]); got != "server a\n" {
		t.Errorf("adopt did not take over: %q", got)
	}
}

func TestFailedCheckRestoresFiles(t *testing.T) {
	h := newHarness(t)
	d := h.desired(5, site("a")...)
	h.apply(h.plan(d, PlanOptions{}))
	before, _ := h.inv.Records(context.Background(), "test")

	broken := site("a")
	broken[1] = NewFile(FileSpec{ID: "site/a/vhost@web", Server: "web", Site: "a", Path: "/srv/a/vhost.conf", Content: []byte("server a { broken\n"), Service: "http"})
	h.fake.Handle("svc-test", func(context.Context, []string, []byte) (host.RunResult, error) {
		return host.RunResult{ExitCode: 1, Stderr: []byte("nginx: [emerg] unexpected end of file")}, &host.ExitError{Code: 1}
	})
	reloads := h.count("run", "svc-reload")
	_, err := h.engine.Apply(context.Background(), h.plan(h.desired(5, broken...), PlanOptions{}))
	if err == nil || !strings.Contains(err.Error(), "unexpected end of file") {
		t.Fatalf("want the check's message in the error, got %v", err)
	}
	if got := string(h.fake.Files()["/srv/a/vhost.conf"]); got != "server a\n" {
		t.Errorf("old file not restored: %q", got)
	}
	if h.count("run", "svc-reload") != reloads {
		t.Error("reloaded after a failed check")
	}
	after, _ := h.inv.Records(context.Background(), "test")
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("inventory changed by a restored apply:\n%v\n%v", before, after)
	}
}

func TestOneCheckAndReloadPerService(t *testing.T) {
	h := newHarness(t)
	var rs []Resource
	for i := range 5 {
		rs = append(rs, site(fmt.Sprint("s", i))...)
	}
	h.apply(h.plan(h.desired(5, rs...), PlanOptions{}))
	if h.count("run", "svc-test") != 1 || h.count("run", "svc-reload") != 1 {
		t.Errorf("checks %d, reloads %d; want one each", h.count("run", "svc-test"), h.count("run", "svc-reload"))
	}
}

func TestObserveOncePerServer(t *testing.T) {
	h := newHarness(t)
	var rs []Resource
	for i := range 20 {
		rs = append(rs, site(fmt.Sprint("s", i))...)
	}
	h.plan(h.desired(5, rs...), PlanOptions{})
	if n := h.count("observe", ""); n != 1 {
		t.Errorf("%d observations of one server, want 1", n)
	}
}

// cancelHook cancels the apply's context after the first change.
type cancelHook struct {
	NopHook
	cancel context.CancelFunc
	once   sync.Once
}

func (c *cancelHook) Applied(*Change, error) { c.once.Do(c.cancel) }

// TestCancelledApplyFinishesWhatItStarted: SIGTERM stops new changes, but
// what was written is still checked, reloaded and recorded.
func TestCancelledApplyFinishesWhatItStarted(t *testing.T) {
	h := newHarness(t)
	var rs []Resource
	for i := range 3 {
		f := NewFile(FileSpec{ID: fmt.Sprint("f", i), Server: "web", Path: fmt.Sprint("/srv/f", i), Content: []byte("x"), Service: "http"})
		rs = append(rs, f)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h.engine.Workers = 1
	h.engine.Hook = &cancelHook{cancel: cancel}
	p := h.plan(h.desired(5, rs...), PlanOptions{})
	res, err := h.engine.Apply(ctx, p)
	if err == nil || res.Applied != 1 {
		t.Fatalf("want one change applied and an error for the rest, got %+v, %v", res, err)
	}
	if h.count("run", "svc-test") != 1 || h.count("run", "svc-reload") != 1 {
		t.Errorf("the applied change was not checked and reloaded after the cancel")
	}
	recs, _ := h.inv.Records(context.Background(), "test")
	if len(recs) != 1 {
		t.Errorf("inventory holds %d records, want the 1 applied", len(recs))
	}
	// The next run converges the rest.
	h.engine.Hook = nil
	h.apply(h.plan(h.desired(5, rs...), PlanOptions{}))
	if len(h.fake.Files()) < 3 {
		t.Errorf("the next run did not converge: %v", h.fake.Files())
	}
}
