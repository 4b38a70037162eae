package state

import (
	"context"
	"fmt"
	"time"
)

// Phases of an environment, after Flux's conditions. Callers may record
// other phases too.
const (
	PhaseSynced      = "Synced"
	PhaseOutOfSync   = "OutOfSync"
	PhaseProgressing = "Progressing"
	// PhaseStalled: the newest revision is invalid; berth waits for a new
	// commit and keeps the last good revision applied.
	PhaseStalled = "Stalled"
)

// EnvStatus is the last known status of one environment.
type EnvStatus struct {
	Env   string
	Phase string
	// LastFetched is the newest revision fetched from the environment's
	// branch; LastApplied the newest one applied to the hosts.
	LastFetched string
	LastApplied string
	// Problems is opaque to state: typically the JSON list of validation
	// problems (file:line: message) that stalled the environment.
	Problems []byte
	// Updated is when the status was recorded.
	Updated time.Time
}

// SetEnvStatus records st as the status of st.Env (required), replacing the
// previous one. A zero Updated is set to the current time.
//
// SetEnvStatus honours ctx and is safe for concurrent use.
func (s *Store) SetEnvStatus(ctx context.Context, st EnvStatus) error {
	if err := s.writable("set environment status"); err != nil {
		return err
	}
	if st.Env == "" {
		return fmt.Errorf("set environment status: no environment given")
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO env_status (env, phase, last_fetched, last_applied, problems, updated)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (env) DO UPDATE SET phase = excluded.phase, last_fetched = excluded.last_fetched,
			last_applied = excluded.last_applied, problems = excluded.problems, updated = excluded.updated`,
		st.Env, st.Phase, st.LastFetched, st.LastApplied, st.Problems, toDB(orNow(st.Updated)))
	if err != nil {
		return fmt.Errorf("set status of environment %q: %w", st.Env, err)
	}
	return nil
}

// EnvStatuses returns the recorded status of every environment, sorted by
// Env; none recorded yields an empty slice and no error.
//
// EnvStatuses honours ctx and is safe for concurrent use.
func (s *Store) EnvStatuses(ctx context.Context) ([]EnvStatus, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT env, phase, last_fetched, last_applied, problems, updated FROM env_status ORDER BY env`)
	if err != nil {
		return nil, fmt.Errorf("read environment status: %w", err)
	}
	defer rows.Close()
	out := []EnvStatus{}
	for rows.Next() {
		var st EnvStatus
		var updated int64
		if err := rows.Scan(&st.Env, &st.Phase, &st.LastFetched, &st.LastApplied, &st.Problems, &updated); err != nil {
			return nil, fmt.Errorf("read environment status: %w", err)
		}
		st.Updated = fromDB(updated)
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read environment status: %w", err)
	}
	return out, nil
}
