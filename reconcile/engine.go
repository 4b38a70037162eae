package reconcile

import (
	"context"
	"errors"
	"time"

	"github.com/berthhq/berth/host"
)

// Hosts connects the engine to servers.
type Hosts interface {
	// Host returns a connection to the named server. The engine does not
	// close it; the caller owns it. It must be safe for concurrent use and
	// honour ctx while connecting.
	Host(ctx context.Context, server string) (host.Host, error)
}

// Inventory is the engine's record of what berth created, per environment.
// Implementations must be safe for concurrent use and honour ctx.
type Inventory interface {
	// Records returns every record of env; none is not an error.
	Records(ctx context.Context, env string) ([]Record, error)
	// SaveRecords inserts or replaces records, all or none.
	SaveRecords(ctx context.Context, env, revision string, recs []Record) error
	// DeleteRecords removes records by ID; unknown IDs are ignored.
	DeleteRecords(ctx context.Context, env string, ids []string) error
	// AppliedPolicy returns the policy of the revision last applied to
	// env (see Policy); ok is false when none was recorded.
	AppliedPolicy(ctx context.Context, env string) (p Policy, ok bool, err error)
	// SaveAppliedPolicy records p, the own policy of revision, as the
	// policy last applied to env.
	SaveAppliedPolicy(ctx context.Context, env, revision string, p Policy) error
	// PendingReloads returns the services of env recorded as pending check
	// and reload; none is not an error.
	PendingReloads(ctx context.Context, env string) ([]PendingReload, error)
	// AddPendingReloads records services of server as pending. It returns
	// once the record survives a crash.
	AddPendingReloads(ctx context.Context, env, server string, services []string) error
	// ClearPendingReloads removes services of server from the pending
	// reloads; services not pending are ignored.
	ClearPendingReloads(ctx context.Context, env, server string, services []string) error
}

// Service is something on a server that checks and reloads its
// configuration, such as nginx or one PHP version's FPM.
type Service struct {
	Name   string
	Test   []string // run once after files changed; failure restores them
	Reload []string // run once after a successful test
	Dir    string   // working directory of the commands, "" for the default
	// PIDFile, when set, is the service's master PID file: the reload is
	// then `kill -HUP PID` (nginx -s reload parses the whole configuration
	// once more before it sends that signal), and Reload only when the
	// file cannot be read or holds no PID.
	PIDFile string
}

// Desired is what one environment should look like: its resources and how
// to check and reload the services they feed.
type Desired struct {
	Env          string
	Revision     string
	MaxDeletions int
	Resources    []Resource
	// Warnings are carried into the plan.
	Warnings []string
	// Service returns the service called name on server (as named by a
	// Change's Service field).
	Service func(server, name string) (Service, error)
	// BeforeDelete, when set, returns for a site the revision removes
	// entirely (recs: its inventory records) the step that must succeed
	// before any deletion of that site runs, such as a backup; nil for
	// none. See guard.go.
	BeforeDelete func(site string, recs []Record) (Resource, error)
	// Prune, when set, makes the resource that deletes rec when the
	// builder knows more than the kind's registered pruner (how to reach
	// a database server as administrator); false: the registered pruner.
	Prune func(rec Record) (Resource, bool)
	// Migrations are the sites moving to other servers (migrate.go):
	// their records on the servers they leave are kept (Migration.Hold)
	// or, after the grace period, pruned behind BeforeDelete's step.
	Migrations []Migration
}

// Engine plans and applies. Its zero value is not usable: set Hosts and
// Inventory. An Engine is safe for concurrent use on different environments.
type Engine struct {
	Hosts     Hosts
	Inventory Inventory
	Hook      Hook // nil: no progress reported
	// Workers is how many changes run at once on one server (default 4).
	Workers int
}

// PlanOptions change what a plan may do.
type PlanOptions struct {
	// Adopt lets berth take over files it did not create.
	Adopt bool
	// AllowDeletions raises policy.max_deletions for this plan only.
	AllowDeletions int
	// Allow names the kinds' own safety rules this plan may override
	// (the CLI's --allow-dns-changes: "dns-changes"); each Check finds
	// them in CheckInput.Allow. A kind that refuses a change returns an
	// error wrapping ErrPolicy from Check, which refuses the whole plan.
	Allow []string
	// MaxCreateDiffs keeps the diffs (the whole content) of only the
	// first N new files; 0 keeps all. A first converge of thousands of
	// sites is otherwise mostly copies of their config in the plan.
	MaxCreateDiffs int
	// Sites limits the plan to the resources of these sites (by domain)
	// and what they depend on (shared directories, their platform's
	// release): nothing else is checked, changed or pruned, and of the
	// inventory only these sites' records are read. Empty: the whole
	// environment. This is `berth verify`.
	Sites []string
}

// finishTimeout bounds the service checks, reloads and inventory writes
// that finish an apply after it was cancelled.
const finishTimeout = 5 * time.Minute

// ErrPolicy is wrapped by the error of a plan that policy refuses.
var ErrPolicy = errors.New("refused by policy")

func (e *Engine) hook() Hook {
	if e.Hook == nil {
		return NopHook{}
	}
	return e.Hook
}
