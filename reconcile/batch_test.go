package reconcile_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/reconcile/reconciletest"
)

// rowRes is a reconcile.BatchChecker over an in-memory "catalogue" map, to test the
// engine's batching without a database.
type rowRes struct {
	id, key string
	rows    map[string]bool // the catalogue
	batches *[][]string     // every ObserveBatch call's member IDs
}

func (r *rowRes) ID() string        { return r.id }
func (r *rowRes) Server() string    { return "web" }
func (r *rowRes) Kind() string      { return "row" }
func (r *rowRes) Site() string      { return "" }
func (r *rowRes) Path() string      { return "" }
func (r *rowRes) Deps() []string    { return nil }
func (r *rowRes) Observe() []string { return nil }
func (r *rowRes) BatchKey() string  { return r.key }
func (r *rowRes) ObserveBatch(_ context.Context, _ host.Host, batch []reconcile.Resource) (any, error) {
	var ids []string
	seen := map[string]bool{}
	for _, b := range batch {
		ids = append(ids, b.ID())
		seen[b.ID()] = r.rows[b.ID()]
	}
	*r.batches = append(*r.batches, ids)
	return seen, nil
}
func (r *rowRes) Check(_ context.Context, in reconcile.CheckInput) (reconcile.Change, error) {
	seen, ok := in.Batch.(map[string]bool)
	if !ok {
		return reconcile.Change{}, fmt.Errorf("no batch result")
	}
	if seen[r.id] {
		return reconcile.Change{ID: r.id, Server: "web", Kind: "row"}, nil
	}
	return reconcile.Change{ID: r.id, Server: "web", Kind: "row", Action: reconcile.Create}, nil
}
func (r *rowRes) Apply(context.Context, host.Host, *reconcile.Change) error {
	r.rows[r.id] = true
	return nil
}
func (r *rowRes) Undo(context.Context, host.Host, *reconcile.Change) error { return nil }
func (r *rowRes) Record() reconcile.Record {
	return reconcile.Record{ID: r.id, Server: "web", Kind: "row"}
}

// TestBatchCheckerObservesOncePerKey: however many resources share a batch
// key on a server, ObserveBatch runs once per key per plan, with all of
// them, and each Check sees the result.
func TestBatchCheckerObservesOncePerKey(t *testing.T) {
	h := reconciletest.New(t)
	rows := map[string]bool{"x2": true}
	var batches [][]string
	var rs []reconcile.Resource
	for _, id := range []string{"x3", "x1", "x2", "y1"} {
		rs = append(rs, &rowRes{id: id, key: id[:1], rows: rows, batches: &batches})
	}
	p := h.Plan(h.Desired(5, rs...), reconcile.PlanOptions{})
	if got, want := fmt.Sprint(batches), "[[x1 x2 x3] [y1]]"; got != want {
		t.Fatalf("batches %s, want %s", got, want)
	}
	if got, want := reconciletest.Actions(p), "+x1 +x3 +y1"; got != want {
		t.Fatalf("plan %s, want %s", got, want)
	}
	h.Apply(p)
	batches = nil
	if p = h.Plan(h.Desired(5, rs...), reconcile.PlanOptions{}); len(p.Changes) != 0 || len(batches) != 2 {
		t.Fatalf("second plan %s, %d batches", reconciletest.Actions(p), len(batches))
	}
}
