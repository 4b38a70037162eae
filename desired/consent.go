package desired

import (
	"context"
	"fmt"
	"slices"

	"github.com/berthhq/berth/spec"
)

// DataConsent says whether environment from gives its data to
// environment to (a clone from another environment, data_from): nil
// when it does, else why not and what to do. The revision asking for the
// data must not be what answers: a branch could give itself another
// environment's data. The caller reads the answer from a trusted place
// (ConfigConsent: berth.yaml on the config branch).
type DataConsent func(ctx context.Context, from, to string) error

// OperatorConsent gives any environment's data: for berth sync-data, an
// operator's command run with the state directory and the servers' keys.
func OperatorConsent(context.Context, string, string) error { return nil }

// ConfigConsent is the consent of berth.yaml read by load (that of the
// config branch, where: "branch main"): from's data_to must name to.
func ConfigConsent(where string, load func(ctx context.Context) (*spec.Config, error)) DataConsent {
	return func(ctx context.Context, from, to string) error {
		cfg, err := load(ctx)
		if err != nil {
			return fmt.Errorf("read which environments may copy %s's data (berth.yaml on %s): %w", from, where, err)
		}
		if e := cfg.Environments[from]; e != nil && slices.Contains(e.DataTo, to) {
			return nil
		}
		return fmt.Errorf("environment %s does not give its data to %s: add %s to environments.%s.data_to in berth.yaml on %s (the revision asking for the data cannot consent for %s)",
			from, to, to, from, where, from)
	}
}

// allowData asks consent (nil: refused) whether from gives its data to
// to; an environment's own data needs none.
func allowData(ctx context.Context, consent DataConsent, from, to string) error {
	switch {
	case from == to:
		return nil
	case consent == nil:
		return fmt.Errorf("environment %s's data cannot be copied into %s: berth was given no way to read environments.%s.data_to from the config branch", from, to, from)
	}
	return consent(ctx, from, to)
}
