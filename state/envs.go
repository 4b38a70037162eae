package state

import (
	"context"
	"fmt"
)

// EnvInventory is what the inventory holds of one environment.
type EnvInventory struct {
	Env string
	// Resources is how many resources are recorded, Sites how many
	// distinct sites they serve (shared resources count for none).
	Resources, Sites int
}

// InventoryEnvs returns every environment with at least one resource in
// the inventory, sorted by name, in one query. An environment berth.yaml
// no longer declares but listed here still has resources on the servers
// (see berth apply --env of a removed environment).
//
// InventoryEnvs honours ctx and is safe for concurrent use.
func (s *Store) InventoryEnvs(ctx context.Context) ([]EnvInventory, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT env, COUNT(*), COUNT(DISTINCT NULLIF(site, '')) FROM resources GROUP BY env ORDER BY env`)
	if err != nil {
		return nil, fmt.Errorf("read the inventory's environments: %w", err)
	}
	defer rows.Close()
	var out []EnvInventory
	for rows.Next() {
		var e EnvInventory
		if err := rows.Scan(&e.Env, &e.Resources, &e.Sites); err != nil {
			return nil, fmt.Errorf("read the inventory's environments: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the inventory's environments: %w", err)
	}
	return out, nil
}
