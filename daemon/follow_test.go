package daemon

import (
	"strings"
	"testing"
)

// TestEnvironmentsFollowBerthYAML: an environment added to berth.yaml on
// the config branch starts without a restart, one removed stops (its
// resources stay, Status lists it as Orphaned), and a deleted branch makes
// its environment Stalled, not Synced.
func TestEnvironmentsFollowBerthYAML(t *testing.T) {
	f := newFixture(t, true)
	f.start()
	if s := f.next(); s.Env != "production" || s.Phase != PhaseSynced {
		t.Fatalf("production: %+v", s)
	}
	status := func(env string) (EnvStatus, bool) {
		for _, s := range f.d.Status() {
			if s.Env == env {
				return s, true
			}
		}
		return EnvStatus{}, false
	}
	// nextOf waits for the next pass of env's loop, skipping others'.
	nextOf := func(env string) EnvStatus {
		t.Helper()
		for {
			if s := f.next(); s.Env == env {
				return s
			}
		}
	}

	f.write("berth.yaml", "environments:\n  production: { branch: main }\n  staging: { branch: staging, domain_suffix: .staging.example.com }\n")
	if n := f.d.TriggerBranch("main", ReasonWebhook); n != 1 {
		t.Errorf("a push to main triggered %d environments, want 1 (production)", n)
	}
	if s := nextOf("staging"); s.Phase != PhaseSynced {
		t.Fatalf("staging, added to berth.yaml while the daemon runs: %+v", s)
	}
	if runs, err := f.store.Runs(t.Context(), "staging", 1); err != nil || len(runs) != 1 || !strings.Contains(runs[0].Trigger, ReasonConfig) {
		t.Errorf("staging's first run: %+v %v, want one triggered by %q", runs, err, ReasonConfig)
	}

	// The staging branch deleted: Stalled, with what to do.
	f.src.missing.Store("staging", true)
	f.d.TriggerBranch("staging", ReasonWebhook)
	if s := nextOf("staging"); s.Phase != PhaseStalled || !strings.Contains(s.Message, "branch staging not found") {
		t.Errorf("staging with its branch deleted: %+v", s)
	}
	f.src.missing.Delete("staging")

	// staging removed from berth.yaml: its worker stops, its sites stay
	// and it shows as Orphaned.
	f.write("berth.yaml", "environments:\n  production: { branch: main }\n")
	f.d.TriggerBranch("main", ReasonWebhook)
	if s := nextOf("production"); s.Phase != PhaseSynced {
		t.Fatalf("production after staging's removal: %+v", s)
	}
	for {
		// The config loop stops staging's worker after production's run
		// was triggered; Status says Orphaned once it has.
		if s, ok := status("staging"); ok && s.Phase == PhaseOrphaned {
			if !strings.Contains(s.Message, "berth apply --env staging") {
				t.Errorf("orphaned staging's message: %q", s.Message)
			}
			break
		}
		f.d.TriggerBranch("main", ReasonWebhook)
		nextOf("production")
	}
	if err := f.d.Trigger("staging", ReasonManual); err == nil {
		t.Error("the daemon still runs staging after berth.yaml dropped it")
	}
}
