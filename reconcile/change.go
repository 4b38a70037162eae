package reconcile

import (
	"cmp"
	"fmt"
	"slices"
)

// Action is what a change does to a resource, as Terraform prints it.
type Action rune

const (
	None     Action = 0
	Create   Action = '+'
	Update   Action = '~'
	Delete   Action = '-'
	Conflict Action = '!' // the resource exists but berth did not create it
)

func (a Action) String() string {
	switch a {
	case Create:
		return "create"
	case Update:
		return "update"
	case Delete:
		return "delete"
	case Conflict:
		return "conflict"
	}
	return "none"
}

// MarshalText writes the action as its word, for JSON plans.
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// Change is one step of a plan: what will happen to one resource and why.
// Secrets never reach a Change: the content of a file others may not read
// is not diffed (Sensitive is set instead).
type Change struct {
	ID        string `json:"id"`
	Server    string `json:"server"`
	Kind      string `json:"kind"`
	Site      string `json:"site,omitempty"`
	Path      string `json:"path,omitempty"`
	Action    Action `json:"action"`
	Reason    string `json:"reason,omitempty"`
	Diff      string `json:"diff,omitempty"`
	Sensitive bool   `json:"sensitive,omitempty"`
	// Hidden says, for a plan printed for people, what a Sensitive
	// creation or update hides ("content hidden: the file is not
	// world-readable"); "" for secret values.
	Hidden  string `json:"-"`
	Service string `json:"service,omitempty"` // checked and reloaded when this changes
	// Output is what a command the change ran printed (an install), its
	// secrets redacted; set by Apply.
	Output string `json:"output,omitempty"`
	// Reloaded names what Apply reloaded itself, beside the services the
	// engine reloads (a DNS zone's `rndc reload ZONE`: "bind zone
	// example.com"); set by Apply, listed in Result.Reloads as
	// server/name when the change succeeded.
	Reloaded []string `json:"-"`

	// Found is what the resource's Check learned that its Apply and Undo
	// need (the prior state a failed configuration check puts back, the
	// users a deletion drops): the kind's own type, passed through the
	// plan so that Check never changes the resource. Never printed.
	Found any `json:"-"`

	res    Resource
	record *Record // inventory entry to save when the change succeeds
	before *Record // inventory entry before the run, nil for none
}

// PendingReload is a service of a server whose configuration a run changed
// and did not check and reload (it crashed, or its reload failed): the
// next Apply checks and reloads it even when no file changed.
type PendingReload struct {
	Server  string `json:"server"`
	Service string `json:"service"`
}

func (p PendingReload) String() string {
	return fmt.Sprintf("! %s@%s: check and reload pending from an interrupted run", p.Service, p.Server)
}

// dataPhase reports whether c runs in a run's second phase: a deletion
// that feeds no service (a site's directory, its database, settings
// file, a release), which no configuration check can vouch for and no
// reload needs. Apply runs them only after every configuration check and
// reload of the run succeeded, on every server: a refused run deletes no
// data.
func (c *Change) dataPhase() bool { return c.Action == Delete && c.Service == "" }

// afterChecker is implemented by a resource whose Apply runs only after
// every configuration check of its server passed, right before the
// reloads (a site's install: it runs the platform's code against the
// site's new database and files, which a refused run must not leave
// behind, and it must be done before the reload serves the site).
type afterChecker interface {
	AfterCheck() bool
}

// afterCheck reports whether c runs between its server's checks and
// reloads (see afterChecker); deletions never do.
func (c *Change) afterCheck() bool {
	ac, ok := c.res.(afterChecker)
	return ok && c.Action != Delete && ac.AfterCheck()
}

// afterReloader is implemented by a resource whose Apply runs only once
// its server's reloads succeeded and every other server of the run
// finished its reloads too (the phase-1 reload barrier of Apply): it
// verifies or completes what the reloaded services now serve (a DNS
// secondary that must transfer a zone its primary only now loads). A
// failed check or reload on its own server skips it. Changes on other
// servers do not wait for it (it runs after their reloads).
type afterReloader interface {
	AfterReload() bool
}

// afterReload reports whether c runs after the reloads (see
// afterReloader); deletions never do.
func (c *Change) afterReload() bool {
	ar, ok := c.res.(afterReloader)
	return ok && c.Action != Delete && ar.AfterReload()
}

// Plan is the value `berth plan` prints and `berth apply` runs: every change
// for one environment at one revision, sorted by server and ID.
type Plan struct {
	Env      string   `json:"env"`
	Revision string   `json:"revision"`
	Changes  []Change `json:"changes"`
	// Unchanged counts resources that are already converged.
	Unchanged int `json:"unchanged"`
	// Sites lists every site the environment declares, sorted.
	Sites []string `json:"sites,omitempty"`
	// DeletedSites lists the sites that disappear entirely.
	DeletedSites []string `json:"deleted_sites,omitempty"`
	// Warnings are things the operator should know that block nothing.
	Warnings []string `json:"warnings,omitempty"`
	// OmittedDiffs counts new files whose content the plan does not show
	// (PlanOptions.MaxCreateDiffs).
	OmittedDiffs int `json:"omitted_diffs,omitempty"`
	// Unreachable lists servers that could not be observed; nothing is
	// planned for them.
	Unreachable []ServerError `json:"unreachable,omitempty"`
	// Pending lists services an interrupted run left unchecked and
	// unreloaded; Apply checks and reloads them.
	Pending []PendingReload `json:"pending_reloads,omitempty"`
	// Migrations are the sites moving to other servers (migrate.go).
	Migrations []Migration `json:"migrations,omitempty"`

	planned *planned
}

// Summary counts the changes by action.
type Summary struct {
	Add, Change, Destroy, Conflict int
}

// Summary counts the plan's changes.
func (p *Plan) Summary() Summary {
	var s Summary
	for _, c := range p.Changes {
		switch c.Action {
		case Create:
			s.Add++
		case Update:
			s.Change++
		case Delete:
			s.Destroy++
		case Conflict:
			s.Conflict++
		}
	}
	return s
}

// Empty reports whether applying the plan would change nothing: no change
// and no pending reload.
func (p *Plan) Empty() bool {
	if len(p.Pending) > 0 {
		return false
	}
	for _, c := range p.Changes {
		if c.Action != None && c.Action != Conflict {
			return false
		}
	}
	return true
}

// HasConflicts reports whether some resource exists that berth did not create.
func (p *Plan) HasConflicts() bool {
	return slices.ContainsFunc(p.Changes, func(c Change) bool { return c.Action == Conflict })
}

func sortChanges(cs []Change) {
	slices.SortStableFunc(cs, func(a, b Change) int {
		return cmp.Or(cmp.Compare(a.Server, b.Server), cmp.Compare(a.ID, b.ID))
	})
}
