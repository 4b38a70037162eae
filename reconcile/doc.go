// Package reconcile is the engine: it turns the desired state of one
// environment into changes on hosts. It observes every resource on each
// host in one round trip per host, diffs, plans and applies, and knows no
// resource kind in particular. It imports host (and the failpoint leaf),
// never spec, render nor state: the builder (package desired) makes the
// Desired, the kinds (kind/...) implement Resource, and the state store
// is reached through the Inventory interface, declared here with its own
// record types (Record, PendingReload, Policy) and adapted to the store
// by desired.StoreInventory.
//
// A Resource has a stable ID, a server, dependencies and the paths it
// needs observed; Check turns an observation into a Change, Apply
// converges, Undo reverses a successful Apply. Check never changes the
// resource: what Apply and Undo need from it travels in Change.Found.
// Neither do Apply, Undo nor the engine: the daemon plans the same
// resources again on every drift check of a revision, so a resource keeps
// no state from one run to the next.
// Kinds embed Base for their identity and register with RegisterKind, so
// that a resource found only in the inventory can be pruned.
//
// Round trips are per server, not per resource. A kind whose Apply only
// writes files and directories (kind/files) implements BatchWriter: the
// engine sends the ops of every such change of a server that is ready in
// one Host.WriteBatch (over SSH one session), and the undo after a failed
// check in one more; a change of another kind that depends on one of them
// waits for its batch, and what depends on that change goes in a later
// one, so a server takes as many batches as such alternations (one for a
// first converge of files and directories; the release of a platform is
// Applied on its own, before or after the batch as its dependencies say).
// A batch cut off as a whole (the host unreachable) leaves the records of
// the changes not known done Pending. A kind whose Check needs old
// contents (a file's diff, what Undo puts back) implements ContentReader:
// the engine reads every such path of a server in one Host.ReadFiles.
//
// A kind whose state is not files (databases and users of a database
// server) implements BatchChecker: the engine calls its ObserveBatch once
// per server and batch key with every resource of that key, before any
// Check, so a server's catalogue is read in one query however many sites
// it holds; Check then reads the result from CheckInput.Batch. A kind
// that must run between its server's configuration checks and reloads (a
// site's install) implements AfterCheck; one that must run only once its
// server's reloads succeeded and every server of the run finished its
// reloads (a DNS secondary's transfer of a zone its primary only now
// serves) implements AfterReload (only an after-reload change of another
// server may wait for such a change: a migration's switch for the load
// balancer's configuration); one whose Apply reloads something itself (a zone's
// rndc reload) says so in Change.Reloaded, listed in Result.Reloads; one
// that takes over paths older resources managed (a release) implements
// Supersedes. A kind whose change follows from the changes planned for
// its dependencies on other servers (a platform's roll over its web
// servers, from their releases' changes) implements Follower
// (follow.go): the engine completes its change once every server was
// checked.
//
// Where things are: engine.go (the Engine, Desired, Inventory and Hosts
// contracts), resource.go and base.go (Resource, Record, kinds), change.go
// and format.go (Change, Plan and their printing), plan.go and prune.go
// (observing, checking, and the inventory records no longer declared),
// apply_batch.go (BatchWriter, ContentReader and the batch round trips),
// guard.go (the step before a removed site's deletions), migrate.go (a
// site moving to other servers: its source's records kept until the
// grace period is over, Plan.Migrations), apply.go (the
// two phases and their barrier), apply_config.go, apply_intent.go,
// apply_restore.go, apply_data.go and apply_dag.go (one server's phases,
// crash-consistency records, undo after a failed check, dependency
// order), policy.go, inventory.go (Unsynced), hook.go, crossdeps.go,
// follow.go (Follower), wait.go (WaitError: a change that waits until a
// time, neither failed nor converged, Result.Waiting; ApplyNow: one
// resource converged outside a run, by a kind's step).
//
// A removed site is backed up before any of its deletions: the builder's
// Desired.BeforeDelete gives the engine that step (guard.go), Apply runs
// it first, and a failed step blocks every deletion of the site. Only
// then may the data kinds delete data (CheckInput.Guarded).
// PlanOptions.Sites limits a plan to some sites and their dependencies
// without pruning anything else (berth verify).
//
// Safety rules the engine enforces, whatever the kind:
//   - prune comes only from the inventory: berth deletes what it recorded as
//     created, when the current (valid) revision no longer declares it;
//   - a plan deleting more sites than policy.max_deletions is refused; the
//     limit in force is the stricter of the last applied revision's and the
//     new one's (policy.go), so a revision cannot lift its own limit;
//   - a kind's own safety rule (the DNS threshold) refuses the whole plan
//     the same way: its Check returns an error wrapping ErrPolicy, and
//     PlanOptions.Allow, which reaches Check as CheckInput.Allow, is the
//     one-run override the CLI's flags set;
//   - a site's data (database, files) is deleted only when the whole site
//     is removed, after its backup succeeded in the same run;
//   - a path berth did not create is never overwritten without Adopt: it
//     shows in the plan as a conflict; what berth import adopted
//     (Record.Imported) is never deleted, and a hand-made file it recorded
//     as found (Record.AsFound) keeps its bytes until the repo changes
//     what berth renders for it;
//   - a run has two phases with a barrier across all servers (Apply).
//     Phase 1, configuration: every change except the deletions that feed
//     no service; then each service whose files changed is checked once
//     per host (nginx -t), and only when every check on the host passed
//     is each reloaded once (Service.PIDFile: by SIGHUP to its master). A
//     failed check restores every change of the run on that host, of every service and kind (files written or
//     deleted, directories and empty SQLite files created: a refused run
//     leaves nothing new), and reloads nothing there. Phase 2, data: the
//     deletions that feed no service (a removed site's directory,
//     database, settings, release) run only when phase 1 succeeded on
//     every host; they need no reload, their service files went in
//     phase 1. A refused run deletes no data;
//   - crash consistency: before its first write on a host, a run removes
//     the temporary files an interrupted write left in berth's
//     directories (Host.SweepTemp; only where an earlier run was cut off,
//     as its Pending records or pending reloads show), records the services it changes as
//     pending check and reload in the state store (cleared after each
//     one's reload; the next plan lists them, the next apply checks and
//     reloads them even with nothing to write, status is OutOfSync until
//     then), and saves the records of what it will write marked Pending
//     (confirmed after, or the previous record put back), so a rerun never
//     takes berth's own files for someone else's. A record whose resource
//     is already gone (an interrupted deletion) is planned as a deletion
//     that forgets it; data deletions forget their record one by one.
//
// Failpoints (internal/failpoint, BERTH_FAILPOINT) name the step
// boundaries of a run, in order: after-sweep, after-record-pending,
// after-record-intent, after-write:KIND|ROLE|SERVICE (after each change;
// for batched changes, after their batch, one hit per change), mid-write
// (host/local, inside a write), mid-batch (host/local WriteBatch, before
// each rename of a file into place), before-check, before-reload,
// after-reload, before-inventory, before-data, mid-delete (after each data
// deletion), and mid-roll (kind/release: a server of a roll drained and
// switched, before its health check). cmd/berth's crash test kills apply
// at each one of the engine's; the roll's test at mid-roll; the
// migration's (kind/migrate) at mid-migrate:copied, :maintenance and
// :switched.
//
// The engine never prints: progress goes through a Hook, so the CLI draws it
// and the daemon logs it from the same code.
package reconcile
