// Package reconcile turns the desired state of one environment into changes
// on hosts: it builds resources from a resolved spec, observes them on every
// host in one round trip per host, diffs, plans, and applies.
//
// Prepare (build_desired.go) is the only way from a resolved revision to a
// Desired and its Engine: it resolves the git platforms' code, builds the
// sites' files, directories and the platforms' releases (build.go), adds
// databases and settings files (build_db.go), installs (install.go) and
// the backup before a removed site's deletion (guard.go), each step
// unexported. berth plan, apply, verify and the daemon fill an Input and
// call it, so what the CLI plans is what the daemon converges. It lives
// here, next to the steps it runs, until the builder gets a package of
// its own; it moves with them, and they stay unexported there.
//
// The engine knows no resource kind in particular. A Resource has a stable
// ID, a server, dependencies and the paths it needs observed; Check turns an
// observation into a Change, Apply converges, Undo reverses a successful
// Apply. Kinds live one per file (file.go, dir.go) and register a pruner so
// that a resource found only in the inventory can be deleted.
//
// A kind whose state is not files (databases and users of a database
// server) implements BatchChecker: the engine calls its ObserveBatch once
// per server and batch key with every resource of that key, before any
// Check, so a server's catalogue is read in one query however many sites
// it holds; Check then reads the result from CheckInput.Batch. Kinds:
// db_mysql.go (MariaDB/MySQL database, user and grant), db_postgres.go
// (PostgreSQL database and role), db_sqlite.go (a SQLite file). Their
// passwords come from Secrets (the state store) through addDatabases, which
// adds every site's database and settings file to what buildDesired made; they
// never reach a Change, a log line or an error.
//
// A platform's code is a release (release.go), one per platform and web
// server: the code (a git commit resolved through Code before the build, or a
// path in the sites repo named by a content hash) is built once on the
// controller (artifact.go, under <state dir>/builds/), shipped to every
// server as one gzipped tar stream into <platform dir>/builds/<id>, a
// marker written last, and only then is `current` switched (ln -s + mv -T).
// A release supersedes what older berths copied into `current` file by
// file: those inventory records are forgotten, not pruned through the link.
//
// A site's install (install.go) runs the platform's install command once,
// after the site's directory, settings, database and release, between its
// server's configuration checks and reloads (afterChecker); the marker
// it writes in the site's directory, observed like any path, is its only
// memory. PlanOptions.Sites limits a plan to some sites and their
// dependencies without pruning anything else (berth verify).
//
// Backups (backup.go) are taken, listed, verified, pruned and restored
// outside the engine, by berth backup, backups and restore: a database
// dump and a tarball of the site's files, gzipped and SHA-256 summed on
// the way to the backup server, with a manifest written last. A site the
// revision removes entirely is backed up before any of its deletions
// (guard.go): Desired.BeforeDelete gives the engine that step, Apply runs
// it first, and a failed backup blocks every deletion of the site. Only
// then may the data kinds delete data: databases and users are dropped,
// the SQLite file and the site's directory removed (CheckInput.Guarded).
//
// Safety rules the engine enforces, whatever the kind:
//   - prune comes only from the inventory: berth deletes what it recorded as
//     created, when the current (valid) revision no longer declares it;
//   - a plan deleting more sites than policy.max_deletions is refused; the
//     limit in force is the stricter of the last applied revision's and the
//     new one's (policy.go), so a revision cannot lift its own limit;
//   - a site's data (database, files) is deleted only when the whole site
//     is removed, after its backup succeeded in the same run;
//   - a path berth did not create is never overwritten without Adopt: it
//     shows in the plan as a conflict;
//   - a run has two phases with a barrier across all servers (Apply).
//     Phase 1, configuration: every change except the deletions that feed
//     no service; then each service whose files changed is checked once
//     per host (nginx -t), and only when every check on the host passed
//     is each reloaded once. A failed check restores every change of the
//     run on that host, of every service and kind (files written or
//     deleted, directories and empty SQLite files created: a refused run
//     leaves nothing new), and reloads nothing there. Phase 2, data: the
//     deletions that feed no service (a removed site's directory,
//     database, settings, release) run only when phase 1 succeeded on
//     every host; they need no reload, their service files went in
//     phase 1. A refused run deletes no data;
//   - crash consistency: before its first write on a host, a run removes
//     the temporary files an interrupted write left in berth's
//     directories (Host.SweepTemp), records the services it changes as
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
// after-record-intent, after-write:KIND|ROLE|SERVICE (after each change),
// mid-write (host/local, inside a write), before-check, before-reload,
// after-reload, before-inventory, before-data, mid-delete (after each data
// deletion). cmd/berth's crash test kills apply at each one.
//
// The engine never prints: progress goes through a Hook, so the CLI draws it
// and the daemon logs it from the same code.
package reconcile
