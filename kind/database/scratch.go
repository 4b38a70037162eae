package database

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/berthhq/berth/host"
)

// ScratchPrefix starts the name of every scratch database berth makes (a
// backup's verification loads its dump into one): never a site's, never
// adopted.
const ScratchPrefix = "berth_verify_"

// What the backup verification asks of a database server: a scratch
// database it creates, loads a dump into, counts the rows of and drops.
// The scratch database is named by the caller (a name berth owns, never
// a site's); nothing here touches roles, users or grants.

// CreateScratch creates the empty database name, dropping one of that
// name first (left by an interrupted verification). PostgreSQL's is
// closed to PUBLIC: no site's role may connect to it while a dump that
// site wrote is loaded into it by the administrator.
func (a *Admin) CreateScratch(ctx context.Context, h host.Host, name string) error {
	if a.svc.Type == "postgresql" {
		q := pgIdent(name)
		_, err := a.run(ctx, h, psqlArgv(a.svc), "PGPASSWORD", "DROP DATABASE IF EXISTS "+q+" WITH (FORCE);\nCREATE DATABASE "+q+";\nREVOKE ALL ON DATABASE "+q+" FROM PUBLIC;\n")
		return err
	}
	q := mysqlIdent(name)
	_, err := a.run(ctx, h, mysqlArgv(a.svc), "MYSQL_PWD", "DROP DATABASE IF EXISTS "+q+"; CREATE DATABASE "+q+" CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\n")
	return err
}

// DropScratch drops the database name if it exists.
func (a *Admin) DropScratch(ctx context.Context, h host.Host, name string) error {
	if a.svc.Type == "postgresql" {
		_, err := a.run(ctx, h, psqlArgv(a.svc), "PGPASSWORD", "DROP DATABASE IF EXISTS "+pgIdent(name)+" WITH (FORCE);\n")
		return err
	}
	_, err := a.run(ctx, h, mysqlArgv(a.svc), "MYSQL_PWD", "DROP DATABASE IF EXISTS "+mysqlIdent(name)+";\n")
	return err
}

// PlainDump writes the dump read from r as SQL to w: PostgreSQL's custom
// format through pg_restore -f - (no connection, no owners, no grants);
// the SQL dumps of MariaDB and MySQL as they are.
func (a *Admin) PlainDump(ctx context.Context, h host.Host, r io.Reader, w io.Writer) error {
	if a.svc.Type != "postgresql" {
		_, err := io.Copy(w, r)
		return err
	}
	argv := []string{a.tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", "-f", "-"}
	if a.svc.RunAs != "" {
		argv = append([]string{"runuser", "-u", a.svc.RunAs, "--"}, argv...)
	}
	var stderr strings.Builder
	if _, err := h.Run(ctx, argv, host.RunOptions{Stdin: r, Stdout: w, Stderr: &stderr}); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" && !strings.Contains(err.Error(), msg) {
			return fmt.Errorf("pg_restore on %s: %s: %w", h.Name(), msg, err)
		}
		return fmt.Errorf("pg_restore on %s: %w", h.Name(), err)
	}
	return nil
}

// LoadScratch loads the SQL read from r (PlainDump's output) into the
// database name, stopping at the first error; PostgreSQL's in one
// transaction.
func (a *Admin) LoadScratch(ctx context.Context, h host.Host, name string, r io.Reader) error {
	if a.svc.Type == "postgresql" {
		argv := slices.Clone(psqlArgv(a.svc))
		argv[len(argv)-1] = name
		return a.stream(ctx, h, append(argv, "--single-transaction"), "PGPASSWORD", r, io.Discard)
	}
	argv := append(mysqlArgv(a.svc), name)
	return a.stream(ctx, h, argv, "MYSQL_PWD", r, io.Discard)
}

// TableRows returns every table of the database name with its number of
// rows: MariaDB/MySQL's base tables by name, PostgreSQL's as
// schema.table outside the system schemas.
func (a *Admin) TableRows(ctx context.Context, h host.Host, name string) (map[string]int64, error) {
	var argv []string
	var pwEnv, list string
	var count func(table string) string
	if a.svc.Type == "postgresql" {
		argv = slices.Clone(psqlArgv(a.svc))
		argv[len(argv)-1] = name
		pwEnv = "PGPASSWORD"
		list = "SELECT schemaname || '.' || tablename, schemaname, tablename FROM pg_catalog.pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1;\n"
		count = func(t string) string {
			schema, table, _ := strings.Cut(t, "\t")
			return "SELECT " + pgString(schema+"."+table) + ", count(*) FROM " + pgIdent(schema) + "." + pgIdent(table)
		}
	} else {
		argv = mysqlArgv(a.svc)
		pwEnv = "MYSQL_PWD"
		list = "SELECT TABLE_NAME, TABLE_NAME, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = " + sqlString(name, true) + " AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1;\n"
		count = func(t string) string {
			_, table, _ := strings.Cut(t, "\t")
			return "SELECT " + sqlString(table, true) + ", COUNT(*) FROM " + mysqlIdent(name) + "." + mysqlIdent(table)
		}
	}
	out, err := a.run(ctx, h, argv, pwEnv, list)
	if err != nil {
		return nil, err
	}
	var counts []string
	for _, r := range rows(out) {
		if len(r) == 3 {
			counts = append(counts, count(r[1]+"\t"+r[2]))
		}
	}
	tables := map[string]int64{}
	if len(counts) == 0 {
		return tables, nil
	}
	if out, err = a.run(ctx, h, argv, pwEnv, strings.Join(counts, "\nUNION ALL\n")+";\n"); err != nil {
		return nil, err
	}
	for _, r := range rows(out) {
		if len(r) != 2 {
			continue
		}
		n, err := strconv.ParseInt(r[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("the row count of table %s of %s on %s is %q", r[0], name, h.Name(), r[1])
		}
		tables[r[0]] = n
	}
	return tables, nil
}

// mysqlIdent quotes a MariaDB/MySQL identifier.
func mysqlIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }
