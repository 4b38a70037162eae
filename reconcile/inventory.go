package reconcile

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/berthhq/berth/state"
)

// StoreInventory is the engine's Inventory kept in berth's state store.
func StoreInventory(s *state.Store) Inventory { return storeInventory{s} }

type storeInventory struct{ s *state.Store }

// recordData is the part of a Record the store keeps as opaque data.
type recordData struct {
	Service string `json:"service,omitempty"`
	Adopted bool   `json:"adopted,omitempty"`
	Pending bool   `json:"pending,omitempty"`
}

func (si storeInventory) Records(ctx context.Context, env string) ([]Record, error) {
	rs, err := si.s.Inventory(ctx, env)
	if err != nil {
		return nil, err
	}
	out := make([]Record, len(rs))
	for i, r := range rs {
		var d recordData
		if len(r.Data) > 0 {
			if err := json.Unmarshal(r.Data, &d); err != nil {
				return nil, fmt.Errorf("inventory record %s: %w", r.ID, err)
			}
		}
		out[i] = Record{ID: r.ID, Server: r.Host, Kind: r.Kind, Site: r.Site, Path: r.Path, Hash: r.Hash, Service: d.Service, Adopted: d.Adopted, Pending: d.Pending}
	}
	return out, nil
}

func (si storeInventory) SaveRecords(ctx context.Context, env, revision string, recs []Record) error {
	rs := make([]state.Resource, len(recs))
	for i, r := range recs {
		var data []byte
		if r.Service != "" || r.Adopted || r.Pending {
			data, _ = json.Marshal(recordData{Service: r.Service, Adopted: r.Adopted, Pending: r.Pending})
		}
		rs[i] = state.Resource{ID: r.ID, Env: env, Host: r.Server, Kind: r.Kind, Path: r.Path, Hash: r.Hash, Revision: revision, Site: r.Site, Data: data}
	}
	return si.s.SaveResources(ctx, env, rs)
}

func (si storeInventory) DeleteRecords(ctx context.Context, env string, ids []string) error {
	return si.s.DeleteResources(ctx, env, ids)
}

func (si storeInventory) AppliedPolicy(ctx context.Context, env string) (Policy, bool, error) {
	ap, ok, err := si.s.AppliedPolicy(ctx, env)
	if err != nil || !ok {
		return Policy{}, false, err
	}
	var p Policy
	if err := json.Unmarshal(ap.Policy, &p); err != nil {
		// Unreadable: the strictest policy (no deletion) until the next
		// successful apply records a readable one.
		return Policy{}, true, nil
	}
	return p, true, nil
}

func (si storeInventory) SaveAppliedPolicy(ctx context.Context, env, revision string, p Policy) error {
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return si.s.SetAppliedPolicy(ctx, state.AppliedPolicy{Env: env, Revision: revision, Policy: data})

}

func (si storeInventory) PendingReloads(ctx context.Context, env string) ([]PendingReload, error) {
	ps, err := si.s.PendingReloads(ctx, env)
	if err != nil {
		return nil, err
	}
	out := make([]PendingReload, len(ps))
	for i, p := range ps {
		out[i] = PendingReload{Server: p.Host, Service: p.Service}
	}
	return out, nil
}

func (si storeInventory) AddPendingReloads(ctx context.Context, env, server string, services []string) error {
	return si.s.AddPendingReloads(ctx, env, server, services)
}

func (si storeInventory) ClearPendingReloads(ctx context.Context, env, server string, services []string) error {
	return si.s.ClearPendingReloads(ctx, env, server, services)
}

// Unsynced compares the desired state with the inventory alone, without
// touching any host, and returns for each site ("" for shared resources)
// whose resources differ the first difference found. A site berth still
// has records of but no longer declares is listed too, and so is a record
// an interrupted run saved before its write (Record.Pending); pending
// reloads are listed under "".
func Unsynced(d *Desired, recs []Record, pending []PendingReload) map[string]string {
	byID := make(map[string]Record, len(recs))
	for _, r := range recs {
		byID[r.ID] = r
	}
	why := map[string]string{}
	note := func(site, reason string) {
		if _, ok := why[site]; !ok {
			why[site] = reason
		}
	}
	for _, r := range d.Resources {
		want := r.Record()
		have, ok := byID[want.ID]
		delete(byID, want.ID)
		switch {
		case !ok:
			note(r.Site(), "+ "+want.ID)
		case have.Hash != want.Hash || have.Path != want.Path || have.Service != want.Service:
			note(r.Site(), "~ "+want.ID)
		case have.Pending:
			note(r.Site(), "~ "+want.ID+" (written by an interrupted run)")
		}
	}
	for _, r := range recs { // sorted by ID: the first reason is stable
		if _, left := byID[r.ID]; left && !r.Adopted {
			note(r.Site, "- "+r.ID)
		}
	}
	for _, p := range pending {
		note("", p.String())
	}
	return why
}
