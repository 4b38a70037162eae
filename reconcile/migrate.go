package reconcile

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// Moving a site to other servers (a migration), safely. The builder
// recognises it — the inventory holds the site's resources on a server
// the revision no longer places it on, while the revision places the same
// site elsewhere — and describes it in Desired.Migrations. The engine then:
//
//  1. keeps the source's records (Migration.Hold): nothing of the site is
//     pruned on its old servers while the move is planned, running, or in
//     its grace period; the builder's migration step (a resource of the
//     target, in Desired.Resources) moves the data and switches;
//  2. shows the migration in the plan as one operation, with its steps
//     (Plan.Migrations: `» example.com: web1/app → web2/app2`);
//  3. once the grace period is over (Migration.Retire), prunes the
//     source's records like a removed site's: after the deletion guard's
//     backup (Desired.BeforeDelete), its data deleted only when that
//     succeeded (CheckInput.Guarded).
//
// The engine knows nothing of how the data moves: that is the step's.

// Migration is one site moving to other servers, as the plan shows it.
type Migration struct {
	Site string `json:"site"`
	// From and To are "SERVER/PLATFORM" of the source and the target
	// (several servers joined by ",").
	From string `json:"from"`
	To   string `json:"to"`
	// Steps are what the migration does, in order.
	Steps []string `json:"steps,omitempty"`
	// State says where the migration stands: "planned", or "done" with
	// when the source's copy is removed.
	State string `json:"state"`
	// SourceSite is the site's former name when the migration renames
	// it (renamed_from): its records are the source's.
	SourceSite string `json:"source_site,omitempty"`
	// Hold lists the servers whose records of Site (or SourceSite) are
	// kept, not pruned.
	Hold []string `json:"-"`
	// Keep lists IDs of other records kept, not pruned, while the
	// migration runs or its grace period lasts (the source's platform
	// release, which serves the site there).
	Keep []string `json:"-"`
	// Retire: the grace period is over; the source's records are pruned
	// after the site's backup.
	Retire bool `json:"retire,omitempty"`
}

// String is the migration's line in a plan.
func (m Migration) String() string {
	if m.SourceSite != "" {
		return fmt.Sprintf("» %s (renamed from %s): %s → %s", m.Site, m.SourceSite, m.From, m.To)
	}
	return fmt.Sprintf("» %s: %s → %s", m.Site, m.From, m.To)
}

// held reports whether rec is kept by a migration of d.
func held(d *Desired, rec Record) bool {
	for _, m := range d.Migrations {
		ofSite := m.Site == rec.Site || m.SourceSite != "" && m.SourceSite == rec.Site
		if ofSite && slices.Contains(m.Hold, rec.Server) || slices.Contains(m.Keep, rec.ID) {
			return true
		}
	}
	return false
}

// retired returns the sites whose source copy a migration removes now.
func retired(d *Desired) map[string]bool {
	out := map[string]bool{}
	for _, m := range d.Migrations {
		if m.Retire {
			out[m.Site] = true
		}
	}
	return out
}

// writeMigrations prints the plan's migrations, each with its steps.
func writeMigrations(w io.Writer, ms []Migration) {
	if len(ms) == 0 {
		return
	}
	fmt.Fprintf(w, "\nmigrations:\n")
	for _, m := range ms {
		fmt.Fprintf(w, "  %s  (%s)\n", m, m.State)
		for i, s := range m.Steps {
			fmt.Fprintf(w, "      %d. %s\n", i+1, strings.TrimSpace(s))
		}
	}
}
