// Package kind is the home of berth's resource kinds, one package per
// family, each kind one file. A kind implements reconcile.Resource
// (embedding reconcile.Base for its identity) and registers itself from
// init with reconcile.RegisterKind, like caddy's modules: the engine
// knows no kind in particular, and importing the family's package is what
// lets the engine prune its resources. Kinds import the engine, host and
// render (and spec for the resolved types render works on); never the
// state store nor the builder. They receive their IDs from the builder
// (package desired), which spells every ID in one file.
//
// Families, and where the next ones go:
//
//   - kind/files: a file with berth-rendered content, a directory;
//   - kind/release: a platform's deployed code (builds and `current`);
//   - kind/database: MariaDB/MySQL and PostgreSQL databases with their
//     users, SQLite files;
//   - kind/install: a site's one-time install;
//   - kind/account: the Unix user an isolated PHP site runs as (observed
//     per server in one getent, reconcile.BatchChecker);
//   - kind/dns: DNS zones served by BIND (their records, observed per
//     server in one batch, reconcile.BatchChecker), the check that a
//     zone's secondaries serve its serial, named's include and key files;
//   - kind/filesync: a cluster site's files copied from its platform's
//     primary to the other web servers, and the check that a shared
//     files path is one file system on every server;
//   - kind/certificate (coming): TLS certificates and their renewal;
//   - kind/upstream (coming): load-balancer upstreams and their members.
//
// A new kind: a file in its family's package (or a new family package
// here) with its Spec, New function, Check (which never changes the
// resource: what Apply or Undo needs goes in Change.Found), Apply, Undo
// and Record; its registration in init; its ID constructor in
// desired/ids.go and its building in package desired; and its
// idempotency timeline test (apply, converged, apply again: nothing ran).
package kind
