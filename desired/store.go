package desired

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/state"
)

// StoreInventory is the engine's Inventory kept in berth's state store.
func StoreInventory(s *state.Store) reconcile.Inventory { return storeInventory{s} }

type storeInventory struct{ s *state.Store }

// recordData is the part of a reconcile.Record the store keeps as opaque data.
type recordData struct {
	Service string `json:"service,omitempty"`
	Adopted bool   `json:"adopted,omitempty"`
	Pending bool   `json:"pending,omitempty"`
	// Imported and AsFound: see reconcile.Record.
	Imported bool `json:"imported,omitempty"`
	AsFound  bool `json:"as_found,omitempty"`
}

func (si storeInventory) Records(ctx context.Context, env string) ([]reconcile.Record, error) {
	rs, err := si.s.Inventory(ctx, env)
	if err != nil {
		return nil, err
	}
	out := make([]reconcile.Record, len(rs))
	decoded := map[string]recordData{} // a few distinct values among thousands of records
	for i, r := range rs {
		var d recordData
		if len(r.Data) > 0 {
			var ok bool
			if d, ok = decoded[string(r.Data)]; !ok {
				if err := json.Unmarshal(r.Data, &d); err != nil {
					return nil, fmt.Errorf("inventory record %s: %w", r.ID, err)
				}
				decoded[string(r.Data)] = d
			}
		}
		out[i] = reconcile.Record{ID: r.ID, Server: r.Host, Kind: r.Kind, Site: r.Site, Path: r.Path, Hash: r.Hash, Service: d.Service, Adopted: d.Adopted, Pending: d.Pending, Imported: d.Imported, AsFound: d.AsFound}
	}
	return out, nil
}

func (si storeInventory) SaveRecords(ctx context.Context, env, revision string, recs []reconcile.Record) error {
	rs := make([]state.Resource, len(recs))
	encoded := map[recordData][]byte{} // a few distinct values among thousands of records
	for i, r := range recs {
		var data []byte
		if r.Service != "" || r.Adopted || r.Pending || r.Imported || r.AsFound {
			d := recordData{Service: r.Service, Adopted: r.Adopted, Pending: r.Pending, Imported: r.Imported, AsFound: r.AsFound}
			if data = encoded[d]; data == nil {
				data, _ = json.Marshal(d)
				encoded[d] = data
			}
		}
		rs[i] = state.Resource{ID: r.ID, Env: env, Host: r.Server, Kind: r.Kind, Path: r.Path, Hash: r.Hash, Revision: revision, Site: r.Site, Data: data}
	}
	return si.s.SaveResources(ctx, env, rs)
}

func (si storeInventory) DeleteRecords(ctx context.Context, env string, ids []string) error {
	return si.s.DeleteResources(ctx, env, ids)
}

func (si storeInventory) AppliedPolicy(ctx context.Context, env string) (reconcile.Policy, bool, error) {
	ap, ok, err := si.s.AppliedPolicy(ctx, env)
	if err != nil || !ok {
		return reconcile.Policy{}, false, err
	}
	var p reconcile.Policy
	if err := json.Unmarshal(ap.Policy, &p); err != nil {
		// Unreadable: the strictest policy (no deletion) until the next
		// successful apply records a readable one.
		return reconcile.Policy{}, true, nil
	}
	return p, true, nil
}

func (si storeInventory) SaveAppliedPolicy(ctx context.Context, env, revision string, p reconcile.Policy) error {
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return si.s.SetAppliedPolicy(ctx, state.AppliedPolicy{Env: env, Revision: revision, Policy: data})

}

func (si storeInventory) PendingReloads(ctx context.Context, env string) ([]reconcile.PendingReload, error) {
	ps, err := si.s.PendingReloads(ctx, env)
	if err != nil {
		return nil, err
	}
	out := make([]reconcile.PendingReload, len(ps))
	for i, p := range ps {
		out[i] = reconcile.PendingReload{Server: p.Host, Service: p.Service}
	}
	return out, nil
}

func (si storeInventory) AddPendingReloads(ctx context.Context, env, server string, services []string) error {
	return si.s.AddPendingReloads(ctx, env, server, services)
}

func (si storeInventory) ClearPendingReloads(ctx context.Context, env, server string, services []string) error {
	return si.s.ClearPendingReloads(ctx, env, server, services)
}

// CachedInventory is StoreInventory keeping the records it read in memory
// and returning them again, without reading the store, while the store
// shows no inventory write since (state.Store.InventoryGeneration): berth
// serve's drift checks of an unchanged revision plan against the same
// records every time. Any save or deletion, by this Inventory or any other
// user of the same Store, makes the next read go to the store. A
// read-only store is read every time (another process may write it).
// Each caller gets its own copy of the records.
func CachedInventory(s *state.Store) reconcile.Inventory {
	return &cachedInventory{storeInventory: storeInventory{s}, envs: map[string]cachedRecords{}}
}

type cachedInventory struct {
	storeInventory
	mu   sync.Mutex
	envs map[string]cachedRecords
}

// cachedRecords are the records of an environment as the store held them
// at inventory generation gen.
type cachedRecords struct {
	gen  uint64
	recs []reconcile.Record
}

func (ci *cachedInventory) Records(ctx context.Context, env string) ([]reconcile.Record, error) {
	if ci.s.ReadOnly() {
		return ci.storeInventory.Records(ctx, env)
	}
	gen := ci.s.InventoryGeneration() // before the read: a write during it makes the next read go to the store
	ci.mu.Lock()
	c, ok := ci.envs[env]
	ci.mu.Unlock()
	if ok && c.gen == gen {
		return slices.Clone(c.recs), nil
	}
	recs, err := ci.storeInventory.Records(ctx, env)
	if err != nil {
		return nil, err
	}
	ci.mu.Lock()
	ci.envs[env] = cachedRecords{gen: gen, recs: slices.Clone(recs)}
	ci.mu.Unlock()
	return recs, nil
}
