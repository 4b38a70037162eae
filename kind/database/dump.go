package database

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/spec"
)

// What the backup operation asks of a database server, through its
// administrator: whether a database exists, its dump, and loading a dump
// back. The tools are the server's own (mariadb-dump or mysqldump
// --single-transaction, pg_dump -Fc, pg_restore), run like the client.

// Exists reports whether the database name exists on the server, read
// from its catalogue as the kinds' ObserveBatch reads it.
func (a *Admin) Exists(ctx context.Context, h host.Host, name string) (bool, error) {
	if a.svc.Type == "postgresql" {
		r := &PostgresDB{name: name, role: spec.DatabaseUser(name), admin: a}
		cat, err := r.ObserveBatch(ctx, h, []reconcile.Resource{r})
		if err != nil {
			return false, err
		}
		_, ok := cat.(*pgCatalogue).dbs[name]
		return ok, nil
	}
	r := &MySQLDB{name: name, user: spec.DatabaseUser(name), admin: a}
	cat, err := r.ObserveBatch(ctx, h, []reconcile.Resource{r})
	if err != nil {
		return false, err
	}
	return cat.(*mysqlCatalogue).dbs[name], nil
}

// DumpExt is the extension of a dump of the server: pgdump (pg_dump's
// custom format) or sql.
func (a *Admin) DumpExt() string {
	if a.svc.Type == "postgresql" {
		return "pgdump"
	}
	return "sql"
}

// tool returns the program next to the administrator's client: a dump
// tool of the same installation.
func (a *Admin) tool(name string) string {
	c := a.svc.Client
	if strings.Contains(c, "/") {
		return path.Join(path.Dir(c), name)
	}
	return name
}

func (a *Admin) dumpTool() string {
	if a.svc.Type == "postgresql" {
		return a.tool("pg_dump")
	}
	if path.Base(a.svc.Client) == "mariadb" {
		return a.tool("mariadb-dump")
	}
	return a.tool("mysqldump")
}

// mysqlConn is the connection part of the admin client's argv.
func mysqlConn(svc spec.ResolvedDBService) []string {
	if svc.Host != "" {
		return []string{"--protocol=TCP", "--host=" + svc.Host, "--port=" + strconv.Itoa(svc.Port), "--user=" + svc.AdminUser}
	}
	return []string{"--protocol=SOCKET", "--socket=" + svc.Socket, "--user=" + svc.AdminUser}
}

func pgConn(svc spec.ResolvedDBService) []string {
	h := cmp.Or(svc.Host, svc.Socket)
	return []string{"-h", h, "-p", strconv.Itoa(svc.Port), "-U", svc.AdminUser}
}

// Dump writes the dump of database name to w.
func (a *Admin) Dump(ctx context.Context, h host.Host, name string, w io.Writer) error {
	if a.svc.Type == "postgresql" {
		argv := append([]string{a.dumpTool(), "-Fc", "--no-password"}, pgConn(a.svc)...)
		return a.stream(ctx, h, append(argv, name), "PGPASSWORD", nil, w)
	}
	argv := append([]string{a.dumpTool()}, mysqlConn(a.svc)...)
	argv = append(argv, "--single-transaction", "--routines", "--triggers", "--events", name)
	return a.stream(ctx, h, argv, "MYSQL_PWD", nil, w)
}

// Load replaces the content of database name with the dump read from r.
func (a *Admin) Load(ctx context.Context, h host.Host, name string, r io.Reader) error {
	return a.LoadAs(ctx, h, name, "", r)
}

// EmptyAs empties database name: on MariaDB and MySQL it is made again,
// empty; on PostgreSQL what owner (required) owns in it is dropped —
// every object LoadAs made (the database itself stays, owned by it).
func (a *Admin) EmptyAs(ctx context.Context, h host.Host, name, owner string) error {
	if a.svc.Type != "postgresql" {
		return a.Load(ctx, h, name, strings.NewReader(""))
	}
	if owner == "" {
		return fmt.Errorf("empty the PostgreSQL database %s: berth needs its owner role", name)
	}
	argv := psqlArgv(a.svc)
	argv[len(argv)-1] = name // -d: in that database
	_, err := a.run(ctx, h, argv, "PGPASSWORD", "DROP OWNED BY "+pgIdent(owner)+";\n")
	return err
}

// LoadAs is Load; on PostgreSQL, with owner set, every object of the
// dump is created by owner and owned by it, whoever owned it where the
// dump was taken (a clone's, a renamed site's: the source's role), and
// the dump's grants are left out: the site's role owns its database's
// content, as when the site made it. MariaDB and MySQL have no owners.
func (a *Admin) LoadAs(ctx context.Context, h host.Host, name, owner string, r io.Reader) error {
	if a.svc.Type == "postgresql" {
		argv := append([]string{a.tool("pg_restore"), "--no-password", "--clean", "--if-exists", "--single-transaction", "--exit-on-error"}, pgConn(a.svc)...)
		if owner != "" {
			argv = append(argv, "--no-owner", "--no-privileges", "--role="+owner)
		}
		return a.stream(ctx, h, append(argv, "-d", name), "PGPASSWORD", r, io.Discard)
	}
	q := "`" + strings.ReplaceAll(name, "`", "``") + "`"
	if _, err := a.run(ctx, h, mysqlArgv(a.svc), "MYSQL_PWD", "DROP DATABASE IF EXISTS "+q+"; CREATE DATABASE "+q+" CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\n"); err != nil {
		return err
	}
	argv := append([]string{a.svc.Client}, mysqlConn(a.svc)...)
	return a.stream(ctx, h, append(argv, name), "MYSQL_PWD", r, io.Discard)
}
