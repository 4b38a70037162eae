package run

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/state"
)

// ErrNothingRecorded is wrapped by Prepare's error for an environment
// berth.yaml does not declare and the inventory holds nothing of: there is
// nothing to remove (a misspelt --env, say).
var ErrNothingRecorded = errors.New("berth.yaml does not declare it and berth has recorded no resource of it")

// Recorded returns what the inventory holds of env; false when nothing.
func Recorded(ctx context.Context, store *state.Store, env string) (state.EnvInventory, bool, error) {
	envs, err := store.InventoryEnvs(ctx)
	if err != nil {
		return state.EnvInventory{}, false, err
	}
	i := slices.IndexFunc(envs, func(e state.EnvInventory) bool { return e.Env == env })
	if i < 0 {
		return state.EnvInventory{}, false, nil
	}
	return envs[i], true, nil
}

// Orphans returns the environments the inventory holds resources of that
// are not among declared (the environments of berth.yaml), sorted by name:
// what `berth apply --env X` would remove, X one of them. Nothing removes
// them on its own.
func Orphans(ctx context.Context, store *state.Store, declared []string) ([]state.EnvInventory, error) {
	envs, err := store.InventoryEnvs(ctx)
	if err != nil {
		return nil, err
	}
	var out []state.EnvInventory
	for _, e := range envs {
		if !slices.Contains(declared, e.Env) {
			out = append(out, e)
		}
	}
	return out, nil
}

// OrphanMessage says what an orphaned environment is and how to remove it.
func OrphanMessage(e state.EnvInventory) string {
	return fmt.Sprintf("environment %s is no longer declared in berth.yaml, but berth still has %d resources of it (%d sites) on the servers; "+
		"nothing removes them on its own: `berth plan --env %s` shows their removal, `berth apply --env %s` removes them (each site backed up first)",
		e.Env, e.Resources, e.Sites, e.Env, e.Env)
}

func removedWarning(e state.EnvInventory, revision string) string {
	return fmt.Sprintf("environment %s is not declared in berth.yaml at %s: this plan removes every resource berth recorded for it "+
		"(%d resources of %d sites), each site's data backed up first; no other environment's resources are touched",
		e.Env, reconcile.ShortRevision(revision), e.Resources, e.Sites)
}
