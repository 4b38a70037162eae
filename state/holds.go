package state

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Hold keeps a site where berth rollback-migration moved it back: on
// Platform (and its database on DBServer) while the revision places it
// where the rolled-back migration took it (RevPlatform, RevDBServer).
// The builder (package desired) applies it; once the revision places the
// site anywhere else (the commit reverted, or another move), the hold has
// ended and the run that applies that revision forgets it.
type Hold struct {
	Env, Site string
	// Platform and DBServer are where the site is held ("" DBServer: its
	// database stays where the revision places it).
	Platform, DBServer string
	// RevPlatform and RevDBServer are where the revision placed the site
	// when the hold was made.
	RevPlatform, RevDBServer string
	// By is who made the hold (the Unix user), At when.
	By string
	At time.Time
}

// Holds returns the holds of env, by site name.
//
// Holds honours ctx and is safe for concurrent use.
func (s *Store) Holds(ctx context.Context, env string) ([]Hold, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT env, site, platform, db_server, rev_platform, rev_db_server, by, at FROM holds WHERE env = ? ORDER BY site`, env)
	if err != nil {
		return nil, fmt.Errorf("read the holds of environment %q: %w", env, err)
	}
	defer rows.Close()
	var out []Hold
	for rows.Next() {
		var h Hold
		var at int64
		if err := rows.Scan(&h.Env, &h.Site, &h.Platform, &h.DBServer, &h.RevPlatform, &h.RevDBServer, &h.By, &at); err != nil {
			return nil, fmt.Errorf("read the holds of environment %q: %w", env, err)
		}
		h.At = fromDB(at)
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the holds of environment %q: %w", env, err)
	}
	return out, nil
}

// PutHold records h (Env, Site, Platform and RevPlatform required),
// replacing a hold of the same site. A zero At is set to the current
// time.
//
// PutHold honours ctx and is safe for concurrent use.
func (s *Store) PutHold(ctx context.Context, h Hold) error {
	if err := s.writable("record a hold"); err != nil {
		return err
	}
	if h.Env == "" || h.Site == "" || h.Platform == "" || h.RevPlatform == "" {
		return errors.New("record a hold: environment, site, platform and the revision's platform are required")
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO holds (env, site, platform, db_server, rev_platform, rev_db_server, by, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (env, site) DO UPDATE SET platform = excluded.platform, db_server = excluded.db_server,
			rev_platform = excluded.rev_platform, rev_db_server = excluded.rev_db_server, by = excluded.by, at = excluded.at`,
		h.Env, h.Site, h.Platform, h.DBServer, h.RevPlatform, h.RevDBServer, h.By, toDB(orNow(h.At)))
	if err != nil {
		return fmt.Errorf("record the hold of site %s in %s: %w", h.Site, h.Env, err)
	}
	return nil
}

// DeleteHold forgets the hold of site in env; ok is false when there was
// none.
//
// DeleteHold honours ctx and is safe for concurrent use.
func (s *Store) DeleteHold(ctx context.Context, env, site string) (ok bool, err error) {
	if err := s.writable("forget a hold"); err != nil {
		return false, err
	}
	r, err := s.w.ExecContext(ctx, `DELETE FROM holds WHERE env = ? AND site = ?`, env, site)
	if err != nil {
		return false, fmt.Errorf("forget the hold of site %s in %s: %w", site, env, err)
	}
	n, err := r.RowsAffected()
	return n > 0, err
}
