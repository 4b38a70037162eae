package desired

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/state"
)

// TestCachedInventory: the records kept in memory are returned while the
// store shows no write since, and read again after any write, through the
// cached inventory or any other user of the store; callers get copies.
func TestCachedInventory(t *testing.T) {
	ctx := context.Background()
	rec := func(id, hash string) reconcile.Record {
		return reconcile.Record{ID: id, Server: "web", Kind: "file", Path: "/srv/" + id, Hash: hash}
	}
	for _, tt := range []struct {
		name string
		// write changes the inventory between the two reads (through ci or
		// another inventory of the same store), or not at all.
		write func(t *testing.T, ci, other reconcile.Inventory)
		want  []reconcile.Record
	}{
		{"no write: the same records", func(*testing.T, reconcile.Inventory, reconcile.Inventory) {},
			[]reconcile.Record{rec("a", "h1"), rec("b", "h1")}},
		{"saved through it", func(t *testing.T, ci, _ reconcile.Inventory) {
			must(t, ci.SaveRecords(ctx, "prod", "r2", []reconcile.Record{rec("a", "h2")}))
		}, []reconcile.Record{rec("a", "h2"), rec("b", "h1")}},
		{"saved through another inventory of the store", func(t *testing.T, _, other reconcile.Inventory) {
			must(t, other.SaveRecords(ctx, "prod", "r2", []reconcile.Record{rec("c", "h1")}))
		}, []reconcile.Record{rec("a", "h1"), rec("b", "h1"), rec("c", "h1")}},
		{"deleted through another inventory", func(t *testing.T, _, other reconcile.Inventory) {
			must(t, other.DeleteRecords(ctx, "prod", []string{"a"}))
		}, []reconcile.Record{rec("b", "h1")}},
		{"the copy a caller changed", nil, []reconcile.Record{rec("a", "h1"), rec("b", "h1")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			store, err := state.Open(ctx, filepath.Join(t.TempDir(), "state"), state.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			other := StoreInventory(store)
			must(t, other.SaveRecords(ctx, "prod", "r1", []reconcile.Record{rec("a", "h1"), rec("b", "h1")}))
			ci := CachedInventory(store)
			first, err := ci.Records(ctx, "prod")
			if err != nil {
				t.Fatal(err)
			}
			if tt.write != nil {
				tt.write(t, ci, other)
			} else {
				first[0].Hash = "changed by the caller"
			}
			got, err := ci.Records(ctx, "prod")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("records\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
