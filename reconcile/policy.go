package reconcile

import (
	"context"
	"fmt"
)

// Policy is the set of safety limits a run is held to. A revision cannot
// lift its own limits: a plan is held to the stricter of the policy of the
// revision last applied to the environment (kept by the Inventory) and
// the new revision's own, so a limit raised in a commit takes effect from
// the next revision on, or for one run with an explicit override
// (PlanOptions.AllowDeletions). A limit lowered takes effect at once.
//
// A new limit (the DNS change threshold, say) is a field here and a line
// in Stricter; nothing else changes.
type Policy struct {
	// MaxDeletions is how many sites one plan may delete.
	MaxDeletions int `json:"max_deletions"`
}

// Stricter returns, limit by limit, the stricter of p and q.
func (p Policy) Stricter(q Policy) Policy {
	return Policy{MaxDeletions: min(p.MaxDeletions, q.MaxDeletions)}
}

// policy is the revision's own policy.
func (d *Desired) policy() Policy { return Policy{MaxDeletions: d.MaxDeletions} }

// policyInForce returns the policy a plan of d is held to, and warnings
// for limits d raises that are not in force yet.
func (e *Engine) policyInForce(ctx context.Context, d *Desired) (Policy, []string, error) {
	mine := d.policy()
	last, ok, err := e.Inventory.AppliedPolicy(ctx, d.Env)
	if err != nil {
		return Policy{}, nil, fmt.Errorf("read the policy last applied to %s: %w", d.Env, err)
	}
	if !ok {
		return mine, nil, nil
	}
	var warnings []string
	if mine.MaxDeletions > last.MaxDeletions {
		warnings = append(warnings, fmt.Sprintf("policy.max_deletions is raised from %d to %d by this revision: "+
			"it takes effect from the next revision on (this run is held to %d; --allow-deletions=N overrides it for one run)",
			last.MaxDeletions, mine.MaxDeletions, last.MaxDeletions))
	}
	return mine.Stricter(last), warnings, nil
}
