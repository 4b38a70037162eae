package database

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/spec"
)

// KindMySQL is a MariaDB or MySQL database with its user and grant.
const KindMySQL = "mysql-db"

func init() {
	reconcile.RegisterKind(reconcile.Kind{Name: KindMySQL, Prune: func(rec reconcile.Record) reconcile.Resource {
		return PrunedMySQLDB(rec, NameOfID(rec.ID), nil)
	}})
}

// PrunedMySQLDB returns the resource that drops what rec describes:
// database name, its user, through admin (nil when the server no longer
// declares its db service: the plan then says to drop it by hand).
func PrunedMySQLDB(rec reconcile.Record, name string, admin *Admin) *MySQLDB {
	rec.Path = ""
	return &MySQLDB{Base: reconcile.PrunedBase(KindMySQL, rec), name: name, user: spec.DatabaseUser(name), admin: admin}
}

// MySQLDB is one site's database on a MariaDB or MySQL server: the
// database, a user per host it may connect from, with the site's password,
// and ALL PRIVILEGES on that database only. It is dropped only when its
// whole site is removed, after the site's backup (reconcile.CheckInput.Guarded).
type MySQLDB struct {
	reconcile.Base
	name, user string
	from       []string
	password   string
	admin      *Admin
}

// MySQLSpec describes a MariaDB/MySQL database to converge.
type MySQLSpec struct {
	ID, Server, Site string
	Name, User       string
	From             []string // hosts the user connects from, as the server sees them
	Password         string
	Service          spec.ResolvedDBService // how berth reaches the server as admin
}

// NewMySQLDB returns the resource for a site's database on a MariaDB or
// MySQL server.
func NewMySQLDB(s MySQLSpec) *MySQLDB {
	return &MySQLDB{Base: reconcile.NewBase(reconcile.BaseSpec{Kind: KindMySQL, ID: s.ID, Server: s.Server, Site: s.Site}), name: s.Name, user: s.User,
		from: slices.Sorted(slices.Values(s.From)), password: s.Password, admin: &Admin{svc: s.Service}}
}

func (m *MySQLDB) Observe() []string { return nil }
func (m *MySQLDB) BatchKey() string  { return KindMySQL }

// mysqlCatalogue is what one query read from a server: databases, users
// by host with their authentication string, and database grants.
type mysqlCatalogue struct {
	dbs    map[string]bool
	users  map[string]string // user@host -> authentication_string
	grants map[string]bool   // user@host/db -> every privilege granted
}

// mysqlPrivs are the database privileges GRANT ALL gives, as columns of
// mysql.db.
var mysqlPrivs = []string{"Select_priv", "Insert_priv", "Update_priv", "Delete_priv", "Create_priv", "Drop_priv",
	"References_priv", "Index_priv", "Alter_priv", "Create_tmp_table_priv", "Lock_tables_priv",
	"Create_view_priv", "Show_view_priv", "Create_routine_priv", "Alter_routine_priv", "Execute_priv", "Event_priv", "Trigger_priv"}

// ObserveBatch reads every database, user and grant of the batch in one
// client run.
func (m *MySQLDB) ObserveBatch(ctx context.Context, h host.Host, batch []reconcile.Resource) (any, error) {
	var dbs, users []string
	var admin *Admin
	for _, r := range batch {
		x := r.(*MySQLDB)
		dbs = append(dbs, sqlString(x.name, true))
		users = append(users, sqlString(x.user, true))
		if admin == nil {
			admin = x.admin
		}
	}
	cat := &mysqlCatalogue{dbs: map[string]bool{}, users: map[string]string{}, grants: map[string]bool{}}
	if admin == nil {
		// Only pruned records: their server is no longer declared.
		return nil, fmt.Errorf("the inventory holds databases on this server, which no longer declares a mariadb or mysql db service; drop them by hand, then remove the server's records")
	}
	in, us := strings.Join(dbs, ","), strings.Join(users, ",")
	all := make([]string, len(mysqlPrivs))
	for i, p := range mysqlPrivs {
		all[i] = p + "='Y'"
	}
	sql := "SELECT 'db', SCHEMA_NAME, '', '' FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN (" + in + ");\n" +
		"SELECT 'user', User, Host, authentication_string FROM mysql.user WHERE User IN (" + us + ");\n" +
		"SELECT 'grant', User, Host, Db FROM mysql.db WHERE Db IN (" + in + ") AND " + strings.Join(all, " AND ") + ";\n"
	out, err := admin.run(ctx, h, mysqlArgv(admin.svc), "MYSQL_PWD", sql)
	if err != nil {
		return nil, fmt.Errorf("read the databases and users of %s: %w", admin.svc.Type, err)
	}
	for _, row := range rows(out) {
		if len(row) < 4 {
			continue
		}
		switch row[0] {
		case "db":
			cat.dbs[row[1]] = true
		case "user":
			cat.users[row[1]+"@"+row[2]] = row[3]
		case "grant":
			cat.grants[row[1]+"@"+row[2]+"/"+row[3]] = true
		}
	}
	return cat, nil
}

// mysqlArgv is the client's command line: connection and output options,
// never a password.
func mysqlArgv(svc spec.ResolvedDBService) []string {
	argv := []string{svc.Client, "--batch", "--skip-column-names", "--default-character-set=utf8mb4"}
	if svc.Host != "" {
		argv = append(argv, "--protocol=TCP", "--host="+svc.Host, "--port="+strconv.Itoa(svc.Port))
	} else {
		argv = append(argv, "--protocol=SOCKET", "--socket="+svc.Socket)
	}
	return append(argv, "--user="+svc.AdminUser)
}

// nativePassword is MariaDB's mysql_native_password hash of pw.
func nativePassword(pw string) string {
	a := sha1.Sum([]byte(pw))
	b := sha1.Sum(a[:])
	return "*" + strings.ToUpper(hex.EncodeToString(b[:]))
}

func (m *MySQLDB) engine() string {
	if m.admin != nil {
		return m.admin.svc.Type
	}
	return "mariadb/mysql"
}

func (m *MySQLDB) change(a reconcile.Action, reason string) reconcile.Change {
	c := m.NewChange(a, reason)
	c.Sensitive = true
	return c
}

func (m *MySQLDB) Check(ctx context.Context, in reconcile.CheckInput) (reconcile.Change, error) {
	cat, _ := in.Batch.(*mysqlCatalogue)
	if cat == nil {
		return reconcile.Change{}, fmt.Errorf("%s: the server's catalogue was not observed; this is a bug in berth", m.ID())
	}
	desc := dbReason("database", m.name, m.user, m.from, m.engine(), m.Server())
	if m.Absent() {
		var hosts []string
		for k := range cat.users {
			if u, h, _ := strings.Cut(k, "@"); u == m.user {
				hosts = append(hosts, h)
			}
		}
		if !cat.dbs[m.name] && len(hosts) == 0 {
			return m.change(reconcile.Delete, "database "+m.name+" and user "+m.user+" are already gone; forgotten"), nil
		}
		if in.Record != nil && in.Record.Adopted {
			return m.change(reconcile.None, "kept: it existed before berth managed it"), nil
		}
		if !in.Guarded || m.admin == nil {
			return m.change(reconcile.Conflict, "blocked: dropping database "+m.name+" and user "+m.user+" needs a backup first, which berth takes only when the whole site is removed; "+
				"back it up and drop them by hand (DROP DATABASE `"+m.name+"`; DROP USER for each host of "+m.user+"), and the next run forgets them"), nil
		}
		slices.Sort(hosts)
		c := m.change(reconcile.Delete, "drop database "+m.name+" and user "+m.user+" after the site's backup")
		c.Found = dropHosts(hosts)
		return c, nil
	}
	var reasons []string
	exists := cat.dbs[m.name]
	if !exists {
		reasons = append(reasons, "database missing")
	}
	anyUser := false
	for _, f := range m.from {
		auth, ok := cat.users[m.user+"@"+f]
		anyUser = anyUser || ok
		switch {
		case !ok:
			reasons = append(reasons, "user "+m.user+"@"+f+" missing")
		case m.password == PendingSecret:
			reasons = append(reasons, "password of "+m.user+"@"+f+" is generated at apply")
		case strings.HasPrefix(auth, "*") && auth != nativePassword(m.password):
			reasons = append(reasons, "password of "+m.user+"@"+f+" differs")
		}
		if ok && !cat.grants[m.user+"@"+f+"/"+m.name] {
			reasons = append(reasons, "privileges of "+m.user+"@"+f+" on "+m.name+" missing")
		}
	}
	if len(reasons) == 0 {
		return m.change(reconcile.None, ""), nil
	}
	if (exists || anyUser) && in.Record == nil && !in.Adopt {
		return m.change(reconcile.Conflict, desc+": exists and was not created by berth ("+strings.Join(reasons, ", ")+"); run with --adopt to let berth take it over"), nil
	}
	if !exists && !anyUser {
		return m.change(reconcile.Create, desc), nil
	}
	if exists && in.Record != nil && in.Record.Imported {
		return m.change(reconcile.Update, desc+": adopted by berth import; berth adds the site's own user and its grant, the database and its data stay as they are ("+strings.Join(reasons, ", ")+")"), nil
	}
	return m.change(reconcile.Update, desc+": "+strings.Join(reasons, ", ")), nil
}

func (m *MySQLDB) Apply(ctx context.Context, h host.Host, c *reconcile.Change) error {
	switch c.Action {
	case reconcile.Delete:
		if m.admin == nil {
			return nil // already gone: only the inventory record goes
		}
		ident := "`" + strings.ReplaceAll(m.name, "`", "``") + "`"
		sql := "DROP DATABASE IF EXISTS " + ident + ";\n"
		hosts, _ := c.Found.(dropHosts)
		for _, f := range hosts {
			sql += "DROP USER IF EXISTS " + sqlString(m.user, true) + "@" + sqlString(f, true) + ";\n"
		}
		if _, err := m.admin.run(ctx, h, mysqlArgv(m.admin.svc), "MYSQL_PWD", sql); err != nil {
			return fmt.Errorf("drop database %s and user %s: %w", m.name, m.user, err)
		}
		return nil
	case reconcile.Create, reconcile.Update:
	default:
		return nil
	}
	if m.password == PendingSecret || m.password == "" {
		return fmt.Errorf("%s: no password for user %s; plan with a writable state store", m.ID(), m.user)
	}
	ident := func(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE DATABASE IF NOT EXISTS %s CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\n", ident(m.name))
	pw := sqlString(m.password, true)
	for _, f := range m.from {
		acct := sqlString(m.user, true) + "@" + sqlString(f, true)
		if m.admin.svc.Type == "mariadb" {
			fmt.Fprintf(&b, "CREATE USER IF NOT EXISTS %s IDENTIFIED VIA mysql_native_password USING PASSWORD(%s);\n", acct, pw)
			fmt.Fprintf(&b, "ALTER USER %s IDENTIFIED VIA mysql_native_password USING PASSWORD(%s);\n", acct, pw)
		} else {
			fmt.Fprintf(&b, "CREATE USER IF NOT EXISTS %s IDENTIFIED BY %s;\n", acct, pw)
			fmt.Fprintf(&b, "ALTER USER %s IDENTIFIED BY %s;\n", acct, pw)
		}
		fmt.Fprintf(&b, "GRANT ALL PRIVILEGES ON %s.* TO %s;\n", ident(m.name), acct)
	}
	if _, err := m.admin.run(ctx, h, mysqlArgv(m.admin.svc), "MYSQL_PWD", b.String(), m.password); err != nil {
		return fmt.Errorf("create database %s and user %s: %w", m.name, m.user, err)
	}
	return nil
}

// dropHosts are the hosts of the user of a database to drop, as Check
// found them (Change.Found).
type dropHosts []string

// Undo is never needed: a database has no service check to fail.
func (m *MySQLDB) Undo(context.Context, host.Host, *reconcile.Change) error { return nil }

func (m *MySQLDB) Record() reconcile.Record {
	r := m.NewRecord()
	r.Hash = dbHash(m.name, m.user, m.from)
	return r
}

// dbHash identifies what berth declared for a database (never its
// password), for the inventory.
func dbHash(name, user string, from []string) string {
	sum := sha256.Sum256([]byte(name + "\x00" + user + "\x00" + strings.Join(from, "\x00")))
	return hex.EncodeToString(sum[:])
}
