// Package database holds the kinds of a site's database: a MariaDB or
// MySQL database with its user and grant (MySQLDB, kind "mysql-db"), a
// PostgreSQL database owned by its login role (PostgresDB,
// "postgres-db"), and a SQLite file on the web server (SQLiteDB,
// "sqlite-db"). Each registers itself with the engine from init.
//
// Their state is not files: MySQLDB and PostgresDB implement
// reconcile.BatchChecker, so a server's catalogue is read in one query
// however many sites it holds. Admin runs the server's own client on the
// database server through host.Run (SQL on standard input, the
// administrator's password never on a command line); the backup
// operation uses it too (Exists, Dump, Load), and its restore test a
// scratch database (CreateScratch, PlainDump, LoadScratch, TableRows,
// DropScratch); a clone's sanitize SQL file runs with ExecConfined, as a
// user (MariaDB, through mariadb --sandbox) or role (PostgreSQL, through
// psql -c, a member of the database's owning role only) made for it.
//
// Passwords come from the builder (the state store's generated secrets,
// or PendingSecret when a read-only plan cannot generate one); they never
// reach a Change, a log line or an error. Data is dropped only when its
// whole site is removed, after the site's backup (CheckInput.Guarded).
//
// The package imports spec for the resolved db service (how berth reaches
// the server as administrator) and the database user's naming rule.
package database
