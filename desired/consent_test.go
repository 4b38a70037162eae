package desired

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/berthhq/berth/spec"
)

// TestDataConsent: an environment's data goes to another only when
// berth.yaml of the config branch names it in data_to; its own data
// needs no consent; without a way to read the config, nothing is given.
func TestDataConsent(t *testing.T) {
	cfg := &spec.Config{Environments: map[string]*spec.Environment{
		"production": {Branch: "main", DataTo: []string{"staging"}},
		"staging":    {Branch: "staging"},
	}}
	consent := ConfigConsent("branch main", func(context.Context) (*spec.Config, error) { return cfg, nil })
	broken := ConfigConsent("branch main", func(context.Context) (*spec.Config, error) { return nil, errors.New("no such branch") })
	for _, tc := range []struct {
		name     string
		consent  DataConsent
		from, to string
		want     string
	}{
		{"named in data_to", consent, "production", "staging", ""},
		{"its own data", nil, "staging", "staging", ""},
		{"not named", consent, "production", "dev", "environment production does not give its data to dev: add dev to environments.production.data_to in berth.yaml on branch main"},
		{"upwards", consent, "staging", "production", "environment staging does not give its data to production"},
		{"unknown source", consent, "qa", "staging", "environment qa does not give its data to staging"},
		{"config unreadable", broken, "production", "staging", "read which environments may copy production's data (berth.yaml on branch main): no such branch"},
		{"no way to ask", nil, "production", "staging", "berth was given no way to read environments.production.data_to"},
		{"an operator's command", OperatorConsent, "production", "dev", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := allowData(context.Background(), tc.consent, tc.from, tc.to)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("allowData: %v, want %q", err, tc.want)
			}
		})
	}
}
