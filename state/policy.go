package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// AppliedPolicy is the safety policy of the revision last applied to an
// environment. A revision cannot lift its own limits: the engine enforces
// the stricter of this and the new revision's policy, so a raised limit
// takes effect from the revision after the one that raised it.
type AppliedPolicy struct {
	Env      string
	Revision string
	// Policy is opaque to state: the engine's policy, typically JSON.
	Policy  []byte
	Updated time.Time
}

// AppliedPolicy returns the policy recorded for env; ok is false when
// none was recorded yet (nothing applied since this berth records them).
//
// AppliedPolicy honours ctx and is safe for concurrent use.
func (s *Store) AppliedPolicy(ctx context.Context, env string) (p AppliedPolicy, ok bool, err error) {
	var updated int64
	err = s.r.QueryRowContext(ctx, `SELECT env, revision, policy, updated FROM applied_policy WHERE env = ?`, env).
		Scan(&p.Env, &p.Revision, &p.Policy, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return AppliedPolicy{}, false, nil
	}
	if err != nil {
		return AppliedPolicy{}, false, fmt.Errorf("read the applied policy of environment %q: %w", env, err)
	}
	p.Updated = fromDB(updated)
	return p, true, nil
}

// SetAppliedPolicy records p as the policy last applied to p.Env
// (required), replacing the previous one. A zero Updated is set to the
// current time.
//
// SetAppliedPolicy honours ctx and is safe for concurrent use.
func (s *Store) SetAppliedPolicy(ctx context.Context, p AppliedPolicy) error {
	if err := s.writable("record the applied policy"); err != nil {
		return err
	}
	if p.Env == "" {
		return errors.New("record the applied policy: no environment given")
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO applied_policy (env, revision, policy, updated) VALUES (?, ?, ?, ?)
		ON CONFLICT (env) DO UPDATE SET revision = excluded.revision, policy = excluded.policy, updated = excluded.updated`,
		p.Env, p.Revision, p.Policy, toDB(orNow(p.Updated)))
	if err != nil {
		return fmt.Errorf("record the applied policy of environment %q: %w", p.Env, err)
	}
	return nil
}
