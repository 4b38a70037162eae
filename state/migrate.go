package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrSchemaTooNew is wrapped by Open's error when the database has a schema
// version this berth does not know: it was written by a newer berth.
var ErrSchemaTooNew = errors.New("state database schema is newer than this berth")

// migrations are the schema, one entry per version: migrations[i] takes the
// database from version i to i+1. Append only; never edit a released entry.
var migrations = [][]string{
	// 1: inventory, runs, environment status, secrets.
	{
		`CREATE TABLE resources (
			env        TEXT    NOT NULL,
			id         TEXT    NOT NULL,
			host       TEXT    NOT NULL,
			kind       TEXT    NOT NULL,
			path       TEXT    NOT NULL,
			hash       TEXT    NOT NULL,
			revision   TEXT    NOT NULL,
			site       TEXT    NOT NULL,
			updated_at INTEGER NOT NULL,
			data       BLOB,
			PRIMARY KEY (env, id)
		) WITHOUT ROWID`,
		`CREATE TABLE runs (
			id       INTEGER PRIMARY KEY AUTOINCREMENT,
			env      TEXT    NOT NULL,
			revision TEXT    NOT NULL,
			trigger  TEXT    NOT NULL,
			started  INTEGER NOT NULL,
			finished INTEGER NOT NULL DEFAULT 0,
			result   TEXT    NOT NULL DEFAULT '',
			error    TEXT    NOT NULL DEFAULT '',
			changes  BLOB,
			log      BLOB,
			pid      INTEGER NOT NULL,
			session  TEXT    NOT NULL
		)`,
		`CREATE INDEX runs_env ON runs (env, id)`,
		`CREATE INDEX runs_unfinished ON runs (result) WHERE result = ''`,
		`CREATE TABLE env_status (
			env          TEXT    PRIMARY KEY,
			phase        TEXT    NOT NULL,
			last_fetched TEXT    NOT NULL,
			last_applied TEXT    NOT NULL,
			problems     BLOB,
			updated      INTEGER NOT NULL
		)`,
		`CREATE TABLE secrets (
			key     TEXT    PRIMARY KEY,
			value   TEXT    NOT NULL,
			created INTEGER NOT NULL
		)`,
	},
	// 2: the policy of the revision last applied to each environment.
	{
		`CREATE TABLE applied_policy (
			env      TEXT    PRIMARY KEY,
			revision TEXT    NOT NULL,
			policy   BLOB    NOT NULL,
			updated  INTEGER NOT NULL
		)`,
	},
	// 3: services of a server whose configuration files a run changed and
	// that were not yet checked and reloaded (a crash in between).
	{
		`CREATE TABLE pending_reloads (
			env     TEXT    NOT NULL,
			host    TEXT    NOT NULL,
			service TEXT    NOT NULL,
			since   INTEGER NOT NULL,
			PRIMARY KEY (env, host, service)
		) WITHOUT ROWID`,
	},
	// 4: ACME accounts, certificates and the orders sent to each CA.
	{
		`CREATE TABLE acme_accounts (
			directory TEXT    NOT NULL,
			email     TEXT    NOT NULL,
			key_pem   TEXT    NOT NULL,
			url       TEXT    NOT NULL DEFAULT '',
			created   INTEGER NOT NULL,
			PRIMARY KEY (directory, email)
		) WITHOUT ROWID`,
		`CREATE TABLE certificates (
			id           TEXT    PRIMARY KEY,
			directory    TEXT    NOT NULL,
			names        TEXT    NOT NULL,
			cert_pem     BLOB,
			key_pem      BLOB,
			not_before   INTEGER NOT NULL DEFAULT 0,
			not_after    INTEGER NOT NULL DEFAULT 0,
			renew_at     INTEGER NOT NULL DEFAULT 0,
			check_at     INTEGER NOT NULL DEFAULT 0,
			failures     INTEGER NOT NULL DEFAULT 0,
			next_attempt INTEGER NOT NULL DEFAULT 0,
			last_error   TEXT    NOT NULL DEFAULT '',
			updated      INTEGER NOT NULL
		)`,
		`CREATE TABLE acme_orders (
			id        INTEGER PRIMARY KEY AUTOINCREMENT,
			directory TEXT    NOT NULL,
			email     TEXT    NOT NULL,
			names     TEXT    NOT NULL,
			at        INTEGER NOT NULL,
			issued    INTEGER NOT NULL
		)`,
		`CREATE INDEX acme_orders_at ON acme_orders (directory, at)`,
	},
	// 5: the dashboard's and API's tokens (tokens.go).
	{
		`CREATE TABLE api_tokens (
			name    TEXT    PRIMARY KEY,
			role    TEXT    NOT NULL,
			client  TEXT    NOT NULL DEFAULT '',
			hash    BLOB    NOT NULL UNIQUE,
			created INTEGER NOT NULL
		)`,
	},
	// 6: sites held where berth rollback-migration moved them back
	// (holds.go).
	{
		`CREATE TABLE holds (
			env           TEXT    NOT NULL,
			site          TEXT    NOT NULL,
			platform      TEXT    NOT NULL,
			db_server     TEXT    NOT NULL DEFAULT '',
			rev_platform  TEXT    NOT NULL,
			rev_db_server TEXT    NOT NULL DEFAULT '',
			by            TEXT    NOT NULL DEFAULT '',
			at            INTEGER NOT NULL,
			PRIMARY KEY (env, site)
		) WITHOUT ROWID`,
	},
}

// SchemaVersion is the schema version this berth writes.
func SchemaVersion() int { return len(migrations) }

// migrate brings db up to len(migrations), one transaction per version. The
// caller holds the state directory's exclusive lock, so no other berth
// migrates at the same time.
func migrate(ctx context.Context, db *sql.DB, path string) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("migrate state database %s: %w", path, err)
	}
	v, err := schemaVersion(ctx, db)
	if err != nil {
		return fmt.Errorf("read schema version of state database %s: %w", path, err)
	}
	if err := checkVersion(v, path); err != nil {
		return err
	}
	for next := v + 1; next <= len(migrations); next++ {
		if err := migrateOne(ctx, db, next); err != nil {
			return fmt.Errorf("migrate state database %s to schema version %d: %w (nothing of this version was applied; the database is at version %d)", path, next, err, next-1)
		}
	}
	return nil
}

func migrateOne(ctx context.Context, db *sql.DB, version int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, stmt := range migrations[version-1] {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, version, time.Now().UnixNano()); err != nil {
		return err
	}
	return tx.Commit()
}

// schemaVersion is the highest applied migration, 0 for an empty database.
func schemaVersion(ctx context.Context, db *sql.DB) (int, error) {
	var exists int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&exists); err != nil {
		return 0, err
	}
	if exists == 0 {
		return 0, nil
	}
	var v sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, err
	}
	return int(v.Int64), nil
}

func checkVersion(v int, path string) error {
	if v > len(migrations) {
		return fmt.Errorf("state database %s has schema version %d, but this berth knows versions up to %d: it was written by a newer berth; upgrade berth, or use another --state-dir: %w", path, v, len(migrations), ErrSchemaTooNew)
	}
	return nil
}
