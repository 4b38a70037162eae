package state

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// PendingReload is a service on a host whose configuration files a run
// changed (or was about to change) and that has not been checked and
// reloaded since: what the host serves may not be what its files say. The
// engine records it before its first write on the host and clears it once
// the service's reload succeeded, so that a crash in between is repaired
// by the next run instead of being forgotten.
type PendingReload struct {
	Env, Host, Service string
	// Since is when the service was first recorded as pending.
	Since time.Time
}

// PendingReloads returns env's pending reloads sorted by host and service;
// none is an empty slice and no error.
//
// PendingReloads honours ctx and is safe for concurrent use.
func (s *Store) PendingReloads(ctx context.Context, env string) ([]PendingReload, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT env, host, service, since FROM pending_reloads WHERE env = ? ORDER BY host, service`, env)
	if err != nil {
		return nil, fmt.Errorf("read pending reloads of %s: %w", envName(env), err)
	}
	defer rows.Close()
	out := []PendingReload{}
	for rows.Next() {
		var p PendingReload
		var since int64
		if err := rows.Scan(&p.Env, &p.Host, &p.Service, &since); err != nil {
			return nil, fmt.Errorf("read pending reloads of %s: %w", envName(env), err)
		}
		p.Since = fromDB(since)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read pending reloads of %s: %w", envName(env), err)
	}
	return out, nil
}

// AddPendingReloads records services of host as pending, in one
// transaction; a service already pending keeps its Since. It returns only
// once the record is durable (the store's commit), so that a crash right
// after cannot lose it.
//
// AddPendingReloads honours ctx and is safe for concurrent use.
func (s *Store) AddPendingReloads(ctx context.Context, env, host string, services []string) error {
	return s.pending(ctx, "record pending reloads", env, host, services,
		`INSERT INTO pending_reloads (env, host, service, since) VALUES (?, ?, ?, ?) ON CONFLICT (env, host, service) DO NOTHING`)
}

// ClearPendingReloads removes services of host from the pending reloads;
// services not pending are ignored.
//
// ClearPendingReloads honours ctx and is safe for concurrent use.
func (s *Store) ClearPendingReloads(ctx context.Context, env, host string, services []string) error {
	return s.pending(ctx, "clear pending reloads", env, host, services,
		`DELETE FROM pending_reloads WHERE env = ? AND host = ? AND service = ? AND ? IS NOT NULL`)
}

func (s *Store) pending(ctx context.Context, what, env, host string, services []string, query string) error {
	if err := s.writable(what); err != nil {
		return err
	}
	if env == "" || host == "" {
		return fmt.Errorf("%s: no environment or host given", what)
	}
	if len(services) == 0 {
		return nil
	}
	now := toDB(time.Now())
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, query)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, svc := range services {
			if _, err := stmt.ExecContext(ctx, env, host, svc, now); err != nil {
				return fmt.Errorf("service %s: %w", svc, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s of %s on %s: %w", what, envName(env), host, err)
	}
	return nil
}
