package state

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Resource is one thing berth created on a host and may later have to change
// or delete: a file, a database, a zone record. Together the resources of an
// environment are its inventory, the only source of what prune may delete.
type Resource struct {
	// ID is the resource's stable identity, e.g. "site/example.com/vhost@web1".
	// It is unique within an environment.
	ID string
	// Env is the environment the resource belongs to.
	Env string
	// Host is the name of the server the resource lives on.
	Host string
	// Kind names the resource kind, e.g. "nginx-vhost".
	Kind string
	// Path is where the resource lives on Host, when it is a file.
	Path string
	// Hash is the SHA-256 (hex) of the content berth last wrote.
	Hash string
	// Revision is the sites-repo revision that last wrote the resource.
	Revision string
	// Site is the site the resource serves, "" for shared resources.
	Site string
	// UpdatedAt is when berth last wrote the resource.
	UpdatedAt time.Time
	// Data is opaque to state: whatever the engine needs to delete the
	// resource later, typically JSON.
	Data []byte
}

const resourceColumns = `id, env, host, kind, path, hash, revision, site, updated_at, data`

// Inventory returns the resources recorded for env, sorted by ID (byte-wise,
// as sort.Strings sorts). An environment with no resources yields an empty
// slice and no error. env "" returns the resources of every environment,
// sorted by ID then Env.
//
// Inventory honours ctx and is safe for concurrent use; it sees every
// SaveResources and DeleteResources that returned before it was called.
func (s *Store) Inventory(ctx context.Context, env string) ([]Resource, error) {
	var (
		rows *sql.Rows
		err  error
	)
	if env == "" {
		rows, err = s.r.QueryContext(ctx, `SELECT `+resourceColumns+` FROM resources ORDER BY id, env`)
	} else {
		rows, err = s.r.QueryContext(ctx, `SELECT `+resourceColumns+` FROM resources WHERE env = ? ORDER BY id`, env)
	}
	if err != nil {
		return nil, fmt.Errorf("read inventory of %s: %w", envName(env), err)
	}
	defer rows.Close()
	out := []Resource{}
	for rows.Next() {
		var r Resource
		var updated int64
		if err := rows.Scan(&r.ID, &r.Env, &r.Host, &r.Kind, &r.Path, &r.Hash, &r.Revision, &r.Site, &updated, &r.Data); err != nil {
			return nil, fmt.Errorf("read inventory of %s: %w", envName(env), err)
		}
		r.UpdatedAt = fromDB(updated)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read inventory of %s: %w", envName(env), err)
	}
	return out, nil
}

// InventoryGeneration changes after every SaveResources and
// DeleteResources of this Store that went to the database, whether it
// changed anything or not (one refused for its arguments does not). An
// Inventory read after InventoryGeneration returned g holds every write
// that ended before; while it still returns g, nothing was written since
// through this Store — and, the Store being the state directory's only
// writer while it holds the lock, through no other either. A read-only
// Store takes no lock: another process may write meanwhile.
func (s *Store) InventoryGeneration() uint64 { return s.invGen.Load() }

// SaveResources records rs in env's inventory, replacing the records with
// the same IDs and leaving the others alone, all in one transaction: either
// every resource is saved or, on error, none is. Each resource's Env is set
// to env (a resource naming another environment is refused); a zero
// UpdatedAt is set to the current time; an empty ID is refused. A resource
// recorded with the same fields, UpdatedAt aside, is left as it is, keeping
// its UpdatedAt: saving an unchanged inventory writes nothing.
//
// SaveResources honours ctx (a cancelled save saves nothing) and is safe for
// concurrent use; concurrent writes are applied one after the other.
func (s *Store) SaveResources(ctx context.Context, env string, rs []Resource) error {
	if err := s.writable("save inventory"); err != nil {
		return err
	}
	if env == "" {
		return fmt.Errorf("save inventory: no environment given")
	}
	for i := range rs {
		if rs[i].ID == "" {
			return fmt.Errorf("save inventory of environment %q: resource %d has no ID", env, i)
		}
		if rs[i].Env != "" && rs[i].Env != env {
			return fmt.Errorf("save inventory of environment %q: resource %s belongs to environment %q", env, rs[i].ID, rs[i].Env)
		}
	}
	now := time.Now()
	defer s.invGen.Add(1) // after the commit: see InventoryGeneration
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO resources (`+resourceColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (env, id) DO UPDATE SET
				host = excluded.host, kind = excluded.kind, path = excluded.path,
				hash = excluded.hash, revision = excluded.revision, site = excluded.site,
				updated_at = excluded.updated_at, data = excluded.data
			WHERE host IS NOT excluded.host OR kind IS NOT excluded.kind OR path IS NOT excluded.path
				OR hash IS NOT excluded.hash OR revision IS NOT excluded.revision OR site IS NOT excluded.site
				OR data IS NOT excluded.data`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, r := range rs {
			updated := r.UpdatedAt
			if updated.IsZero() {
				updated = now
			}
			if _, err := stmt.ExecContext(ctx, r.ID, env, r.Host, r.Kind, r.Path, r.Hash, r.Revision, r.Site, toDB(updated), r.Data); err != nil {
				return fmt.Errorf("resource %s: %w", r.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save inventory of environment %q (nothing saved): %w", env, err)
	}
	return nil
}

// DeleteResources removes the resources with the given IDs from env's
// inventory, in one transaction. IDs that are not recorded are ignored, so
// repeating a delete is harmless.
//
// DeleteResources honours ctx (a cancelled delete deletes nothing) and is
// safe for concurrent use.
func (s *Store) DeleteResources(ctx context.Context, env string, ids []string) error {
	if err := s.writable("delete from inventory"); err != nil {
		return err
	}
	if env == "" {
		return fmt.Errorf("delete from inventory: no environment given")
	}
	defer s.invGen.Add(1) // after the commit: see InventoryGeneration
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `DELETE FROM resources WHERE env = ? AND id = ?`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, id := range ids {
			if _, err := stmt.ExecContext(ctx, env, id); err != nil {
				return fmt.Errorf("resource %s: %w", id, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete from inventory of environment %q (nothing deleted): %w", env, err)
	}
	return nil
}

// inTx runs fn in a write transaction on the single writer connection and
// commits it when fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func envName(env string) string {
	if env == "" {
		return "all environments"
	}
	return fmt.Sprintf("environment %q", env)
}
