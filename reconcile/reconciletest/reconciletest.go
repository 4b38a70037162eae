// Package reconciletest holds what the tests of the engine, the kinds,
// the builder and the operations share: an in-memory Inventory, fake
// Hosts and a harness of one fake server "web" with an engine. Tests
// only.
package reconciletest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/hosttest"
	"github.com/berthhq/berth/reconcile"
)

// MemInventory is an in-memory reconcile.Inventory.
type MemInventory struct {
	mu       sync.Mutex
	recs     map[string]map[string]reconcile.Record
	policies map[string]reconcile.Policy
	pending  map[string]map[reconcile.PendingReload]bool // env -> pending reloads
}

// NewMemInventory returns an empty inventory.
func NewMemInventory() *MemInventory {
	return &MemInventory{recs: map[string]map[string]reconcile.Record{}, policies: map[string]reconcile.Policy{}, pending: map[string]map[reconcile.PendingReload]bool{}}
}

func (m *MemInventory) AppliedPolicy(_ context.Context, env string) (reconcile.Policy, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.policies[env]
	return p, ok, nil
}

func (m *MemInventory) SaveAppliedPolicy(_ context.Context, env, _ string, p reconcile.Policy) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.policies[env] = p
	return nil
}

func (m *MemInventory) PendingReloads(_ context.Context, env string) ([]reconcile.PendingReload, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []reconcile.PendingReload
	for p := range m.pending[env] {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b reconcile.PendingReload) int {
		return strings.Compare(a.Server+"/"+a.Service, b.Server+"/"+b.Service)
	})
	return out, nil
}

func (m *MemInventory) AddPendingReloads(_ context.Context, env, server string, services []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pending[env] == nil {
		m.pending[env] = map[reconcile.PendingReload]bool{}
	}
	for _, s := range services {
		m.pending[env][reconcile.PendingReload{Server: server, Service: s}] = true
	}
	return nil
}

func (m *MemInventory) ClearPendingReloads(_ context.Context, env, server string, services []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range services {
		delete(m.pending[env], reconcile.PendingReload{Server: server, Service: s})
	}
	return nil
}

func (m *MemInventory) Records(_ context.Context, env string) ([]reconcile.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []reconcile.Record
	for _, r := range m.recs[env] {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b reconcile.Record) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (m *MemInventory) SaveRecords(_ context.Context, env, _ string, recs []reconcile.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.recs[env] == nil {
		m.recs[env] = map[string]reconcile.Record{}
	}
	for _, r := range recs {
		m.recs[env][r.ID] = r
	}
	return nil
}

func (m *MemInventory) DeleteRecords(_ context.Context, env string, ids []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		delete(m.recs[env], id)
	}
	return nil
}

// Hosts connects to hosts by server name.
type Hosts map[string]host.Host

func (f Hosts) Host(_ context.Context, server string) (host.Host, error) {
	h, ok := f[server]
	if !ok {
		return nil, fmt.Errorf("no host %s", server)
	}
	return h, nil
}

// Harness is one fake server "web" (with /srv) with an engine and an
// inventory. Its services' checks and reloads are the programs svc-test
// and svc-reload, which succeed.
type Harness struct {
	T      *testing.T
	Fake   *hosttest.Fake
	Engine *reconcile.Engine
	Inv    *MemInventory
}

// New returns a harness.
func New(t *testing.T) *Harness {
	fake := hosttest.New("web")
	fake.Handle("svc-test", func(context.Context, []string, []byte) (host.RunResult, error) { return host.RunResult{}, nil })
	fake.Handle("svc-reload", func(context.Context, []string, []byte) (host.RunResult, error) { return host.RunResult{}, nil })
	if err := fake.MkdirAll(context.Background(), "/srv", 0o755); err != nil {
		t.Fatal(err)
	}
	inv := NewMemInventory()
	return &Harness{T: t, Fake: fake, Inv: inv, Engine: &reconcile.Engine{Hosts: Hosts{"web": fake}, Inventory: inv}}
}

// Desired returns the desired state of environment "test" at revision
// r1 with rs, and services whose check and reload are svc-test and
// svc-reload.
func (h *Harness) Desired(maxDel int, rs ...reconcile.Resource) *reconcile.Desired {
	return &reconcile.Desired{Env: "test", Revision: "r1", MaxDeletions: maxDel, Resources: rs,
		Service: func(server, name string) (reconcile.Service, error) {
			return reconcile.Service{Name: name, Test: []string{"svc-test", name}, Reload: []string{"svc-reload", name}}, nil
		}}
}

// Plan plans d; an error fails the test.
func (h *Harness) Plan(d *reconcile.Desired, opts reconcile.PlanOptions) *reconcile.Plan {
	h.T.Helper()
	p, err := h.Engine.Plan(context.Background(), d, opts)
	if err != nil {
		h.T.Fatalf("plan: %v", err)
	}
	return p
}

// Apply applies p; an error fails the test.
func (h *Harness) Apply(p *reconcile.Plan) *reconcile.Result {
	h.T.Helper()
	r, err := h.Engine.Apply(context.Background(), p)
	if err != nil {
		h.T.Fatalf("apply: %v", err)
	}
	return r
}

// Count returns how many recorded calls have op (and, for runs, program).
func (h *Harness) Count(op, program string) int {
	n := 0
	for _, c := range h.Fake.Calls() {
		if c.Op == op && (program == "" || len(c.Argv) > 0 && c.Argv[0] == program) {
			n++
		}
	}
	return n
}

// Actions is a plan's changes as "+ID ~ID -ID !ID".
func Actions(p *reconcile.Plan) string {
	var s []string
	for _, c := range p.Changes {
		s = append(s, string(rune(c.Action))+c.ID)
	}
	return strings.Join(s, " ")
}
