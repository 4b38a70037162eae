package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthhq/berth/desired"
	"github.com/berthhq/berth/kind/files"
	"github.com/berthhq/berth/reconcile"
)

// TestOrphanedEnvironmentIsReported: an environment berth.yaml no longer
// declares but whose resources the inventory holds is listed by Status as
// Orphaned, with how to remove it; the daemon runs nothing for it and
// removes nothing of it.
func TestOrphanedEnvironmentIsReported(t *testing.T) {
	f := newFixture(t, true)
	ctx := context.Background()
	left := filepath.Join(f.state, "sites", "a.example.com.staging.conf")
	if err := os.MkdirAll(filepath.Dir(left), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(left, []byte("server staging;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := desired.StoreInventory(f.store).SaveRecords(ctx, "staging", "rev0", []reconcile.Record{
		{ID: "site/a.example.com.staging/vhost@local", Server: "local", Kind: files.KindFile, Site: "a.example.com.staging", Path: left, Service: "http"},
	}); err != nil {
		t.Fatal(err)
	}
	f.start()
	if s := f.next(); s.Env != "production" || s.Phase != PhaseSynced {
		t.Fatalf("production: %+v", s)
	}
	var orphan *EnvStatus
	st := f.d.Status()
	for i := range st {
		if st[i].Env == "staging" {
			orphan = &st[i]
		}
	}
	if orphan == nil || orphan.Phase != PhaseOrphaned || !strings.Contains(orphan.Message, "berth apply --env staging") {
		t.Fatalf("status: %+v", st)
	}
	if err := f.d.Trigger("staging", ReasonManual); err == nil {
		t.Error("the daemon accepts a run of the orphaned environment")
	}
	if _, err := os.Stat(left); err != nil {
		t.Errorf("staging's vhost: %v", err)
	}
	if recs, err := f.store.Inventory(ctx, "staging"); err != nil || len(recs) != 1 {
		t.Errorf("staging's records: %+v %v", recs, err)
	}
}
