// Package state is berth's memory: the inventory of every resource berth
// created on a host, the history of runs (what was applied, when, with which
// result and log), the status of each environment, and the secrets berth
// generated (database passwords and the like), and the ACME accounts,
// certificates and orders of package acme (schema version 4; account and
// certificate keys are secrets, registered with package redact whenever
// they are read or stored).
//
// Everything lives in one embedded SQLite database, berth.db, in a state
// directory (modernc.org/sqlite: pure Go, no cgo, so berth stays one static
// binary). The directory is created 0700 and the database file is kept 0600
// because it holds secrets: Open refuses a database file it cannot make
// private.
//
// The inventory is what makes prune safe: berth deletes only what the
// inventory says it created and a valid revision no longer declares, so the
// inventory must be saved in the same run that created the resources.
//
// # One writer per state directory
//
// A Store opened for writing holds an exclusive flock(2) on berth.lock in the
// state directory for as long as it is open, and records in it who holds it
// (pid, command, since when, and for berth serve the address of its API). A
// second berth process that opens the same directory for writing waits at
// most Options.Wait for the holder to close its Store or exit, then fails
// with a *LockedError that names the holder ("state dir /var/lib/berth is in
// use by berth (pid 1234, "berth serve", since ..., API on 127.0.0.1:8080)").
// There is no unbounded wait: berth serve holds the directory for as long as
// it runs. The kernel drops the lock when a process dies, so a killed berth
// never leaves a stale lock behind.
//
// A Store opened with Options.ReadOnly takes no lock: SQLite's write-ahead
// log gives readers a consistent snapshot while a writer commits, so
// `berth status` and `berth plan` can read while `berth serve` or
// `berth apply` writes, and never make them wait or fail.
//
// # Schema
//
// The schema is versioned by the schema_migrations table. Open applies the
// missing migrations in order, each in its own transaction, and refuses with
// ErrSchemaTooNew a database written by a newer berth rather than guess at
// its meaning.
//
// # Interrupted runs
//
// A run that was started but never finished, because its process was killed
// or the machine lost power, reads as ResultInterrupted once its process is
// gone: a writing Open marks every unfinished run interrupted (holding the
// exclusive lock proves no other writer is alive), and a read-only Store
// reports an unfinished run as interrupted when the process recorded in
// berth.lock as holding the lock is no longer alive or is not the one that
// started it.
//
// What such a run left on the hosts is repaired by the next one from two
// records it wrote before its first write on each host (schema version 2):
// the services whose files it changes, as pending reloads (PendingReload,
// cleared after each one's reload), and the inventory records of what it
// writes, marked pending in their opaque Data by the engine.
package state
