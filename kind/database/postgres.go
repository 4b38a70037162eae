package database

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/spec"
)

// KindPostgres is a PostgreSQL database owned by its own login role.
const KindPostgres = "postgres-db"

func init() {
	reconcile.RegisterKind(reconcile.Kind{Name: KindPostgres, Prune: func(rec reconcile.Record) reconcile.Resource {
		return PrunedPostgresDB(rec, NameOfID(rec.ID), nil)
	}})
}

// PrunedPostgresDB returns the resource that drops what rec describes:
// database name and its role, through admin (nil when the server no
// longer declares its db service: the plan then says to drop it by hand).
func PrunedPostgresDB(rec reconcile.Record, name string, admin *Admin) *PostgresDB {
	rec.Path = ""
	return &PostgresDB{Base: reconcile.PrunedBase(KindPostgres, rec), name: name, role: spec.DatabaseUser(name), admin: admin}
}

// PostgresDB is one site's database on a PostgreSQL server: a login role
// with the site's password, the database owned by it, and CONNECT revoked
// from PUBLIC so that no other role reaches it. From which hosts the role
// may log in is pg_hba.conf's business, which berth does not manage.
// Deleting it is refused until berth can back a database up first.
type PostgresDB struct {
	reconcile.Base
	name, role string
	from       []string
	password   string
	admin      *Admin
}

// PostgresSpec describes a PostgreSQL database to converge.
type PostgresSpec struct {
	ID, Server, Site string
	Name, Role       string
	From             []string // shown in the plan only
	Password         string
	Service          spec.ResolvedDBService
}

// NewPostgresDB returns the resource for a site's PostgreSQL database.
func NewPostgresDB(s PostgresSpec) *PostgresDB {
	return &PostgresDB{Base: reconcile.NewBase(reconcile.BaseSpec{Kind: KindPostgres, ID: s.ID, Server: s.Server, Site: s.Site}), name: s.Name, role: s.Role,
		from: slices.Sorted(slices.Values(s.From)), password: s.Password, admin: &Admin{svc: s.Service}}
}

func (p *PostgresDB) Observe() []string { return nil }
func (p *PostgresDB) BatchKey() string  { return KindPostgres }

type pgDB struct {
	owner      string
	publicConn bool
}

type pgRole struct {
	login    bool
	password string // the SCRAM verifier
}

type pgCatalogue struct {
	dbs   map[string]pgDB
	roles map[string]pgRole
}

func psqlArgv(svc spec.ResolvedDBService) []string {
	h := svc.Host
	if h == "" {
		h = svc.Socket
	}
	return []string{svc.Client, "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
		"-h", h, "-p", strconv.Itoa(svc.Port), "-U", svc.AdminUser, "-d", "postgres"}
}

// pgString quotes a string literal (standard_conforming_strings is on).
func pgString(s string) string { return sqlString(s, false) }

// pgIdent quotes an identifier.
func pgIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// ObserveBatch reads every database and role of the batch in one psql run.
func (p *PostgresDB) ObserveBatch(ctx context.Context, h host.Host, batch []reconcile.Resource) (any, error) {
	var dbs, roles []string
	var admin *Admin
	for _, r := range batch {
		x := r.(*PostgresDB)
		dbs = append(dbs, pgString(x.name))
		roles = append(roles, pgString(x.role))
		if admin == nil {
			admin = x.admin
		}
	}
	if admin == nil {
		return nil, fmt.Errorf("the inventory holds databases on this server, which no longer declares a postgresql db service; drop them by hand, then remove the server's records")
	}
	sql := "SELECT 'db', datname, pg_get_userbyid(datdba), has_database_privilege('public', datname, 'CONNECT') FROM pg_database WHERE datname IN (" + strings.Join(dbs, ",") + ");\n" +
		"SELECT 'role', rolname, rolcanlogin, coalesce(rolpassword, '') FROM pg_authid WHERE rolname IN (" + strings.Join(roles, ",") + ");\n"
	out, err := admin.run(ctx, h, psqlArgv(admin.svc), "PGPASSWORD", sql)
	if err != nil {
		return nil, fmt.Errorf("read the databases and roles of postgresql: %w", err)
	}
	cat := &pgCatalogue{dbs: map[string]pgDB{}, roles: map[string]pgRole{}}
	for _, row := range rows(out) {
		if len(row) < 4 {
			continue
		}
		switch row[0] {
		case "db":
			cat.dbs[row[1]] = pgDB{owner: row[2], publicConn: row[3] == "t"}
		case "role":
			cat.roles[row[1]] = pgRole{login: row[2] == "t", password: row[3]}
		}
	}
	return cat, nil
}

// scramMatches reports whether a SCRAM-SHA-256 verifier,
// SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>, is that of pw.
func scramMatches(verifier, pw string) bool {
	rest, ok := strings.CutPrefix(verifier, "SCRAM-SHA-256$")
	if !ok {
		return false
	}
	iterSalt, keys, ok := strings.Cut(rest, "$")
	if !ok {
		return false
	}
	iterS, saltB64, _ := strings.Cut(iterSalt, ":")
	storedB64, serverB64, _ := strings.Cut(keys, ":")
	iter, err := strconv.Atoi(iterS)
	salt, err2 := base64.StdEncoding.DecodeString(saltB64)
	stored, err3 := base64.StdEncoding.DecodeString(storedB64)
	server, err4 := base64.StdEncoding.DecodeString(serverB64)
	if err != nil || err2 != nil || err3 != nil || err4 != nil || iter <= 0 || iter > 1<<24 {
		return false
	}
	salted, err := pbkdf2.Key(sha256.New, pw, salt, iter, sha256.Size)
	if err != nil {
		return false
	}
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	sk := sha256.Sum256(clientKey)
	return hmac.Equal(sk[:], stored) && hmac.Equal(mac(salted, "Server Key"), server)
}

func (p *PostgresDB) change(a reconcile.Action, reason string) reconcile.Change {
	c := p.NewChange(a, reason)
	c.Sensitive = true
	return c
}

func (p *PostgresDB) Check(ctx context.Context, in reconcile.CheckInput) (reconcile.Change, error) {
	cat, _ := in.Batch.(*pgCatalogue)
	if cat == nil {
		return reconcile.Change{}, fmt.Errorf("%s: the server's catalogue was not observed; this is a bug in berth", p.ID())
	}
	if p.Absent() {
		_, db := cat.dbs[p.name]
		_, role := cat.roles[p.role]
		if !db && !role {
			return p.change(reconcile.Delete, "database "+p.name+" and role "+p.role+" are already gone; forgotten"), nil
		}
		if in.Record != nil && in.Record.Adopted {
			return p.change(reconcile.None, "kept: it existed before berth managed it"), nil
		}
		if !in.Guarded || p.admin == nil {
			return p.change(reconcile.Conflict, "blocked: dropping database "+p.name+" and role "+p.role+" needs a backup first, which berth takes only when the whole site is removed; "+
				"back it up and drop them by hand (DROP DATABASE \""+p.name+"\"; DROP ROLE \""+p.role+"\"), and the next run forgets them"), nil
		}
		return p.change(reconcile.Delete, "drop database "+p.name+" and role "+p.role+" after the site's backup"), nil
	}
	desc := dbReason("database", p.name, p.role, p.from, "postgresql", p.Server())
	var reasons []string
	db, dbOK := cat.dbs[p.name]
	role, roleOK := cat.roles[p.role]
	switch {
	case !dbOK:
		reasons = append(reasons, "database missing")
	case db.owner != p.role:
		reasons = append(reasons, "owner "+db.owner+" -> "+p.role)
	}
	if dbOK && db.publicConn {
		reasons = append(reasons, "PUBLIC may connect")
	}
	switch {
	case !roleOK:
		reasons = append(reasons, "role missing")
	case !role.login:
		reasons = append(reasons, "role cannot log in")
	case p.password == PendingSecret:
		reasons = append(reasons, "password is generated at apply")
	case !scramMatches(role.password, p.password):
		reasons = append(reasons, "password differs")
	}
	if len(reasons) == 0 {
		return p.change(reconcile.None, ""), nil
	}
	if (dbOK || roleOK) && in.Record == nil && !in.Adopt {
		return p.change(reconcile.Conflict, desc+": exists and was not created by berth ("+strings.Join(reasons, ", ")+"); run with --adopt to let berth take it over"), nil
	}
	if !dbOK && !roleOK {
		return p.change(reconcile.Create, desc), nil
	}
	return p.change(reconcile.Update, desc+": "+strings.Join(reasons, ", ")), nil
}

func (p *PostgresDB) Apply(ctx context.Context, h host.Host, c *reconcile.Change) error {
	if c.Action == reconcile.Delete && p.Absent() && p.admin != nil {
		sql := "DROP DATABASE IF EXISTS " + pgIdent(p.name) + " WITH (FORCE);\nDROP ROLE IF EXISTS " + pgIdent(p.role) + ";\n"
		if _, err := p.admin.run(ctx, h, psqlArgv(p.admin.svc), "PGPASSWORD", sql); err != nil {
			return fmt.Errorf("drop database %s and role %s: %w", p.name, p.role, err)
		}
		return nil
	}
	if c.Action != reconcile.Create && c.Action != reconcile.Update {
		return nil // reconcile.Delete: already gone, only the record goes
	}
	if p.password == PendingSecret || p.password == "" {
		return fmt.Errorf("%s: no password for role %s; plan with a writable state store", p.ID(), p.role)
	}
	role, db := pgIdent(p.role), pgIdent(p.name)
	// CREATE DATABASE cannot run in a transaction block nor say IF NOT
	// EXISTS: \gexec runs it only when the catalogue lacks it.
	sql := "SELECT 'CREATE ROLE " + strings.ReplaceAll(role, "'", "''") + " LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = " + pgString(p.role) + ")\\gexec\n" +
		"ALTER ROLE " + role + " LOGIN PASSWORD " + pgString(p.password) + ";\n" +
		"SELECT 'CREATE DATABASE " + strings.ReplaceAll(db, "'", "''") + " OWNER " + strings.ReplaceAll(role, "'", "''") + " ENCODING ''UTF8'' TEMPLATE template0' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = " + pgString(p.name) + ")\\gexec\n" +
		"ALTER DATABASE " + db + " OWNER TO " + role + ";\n" +
		"REVOKE ALL ON DATABASE " + db + " FROM PUBLIC;\n" +
		"GRANT ALL ON DATABASE " + db + " TO " + role + ";\n"
	if _, err := p.admin.run(ctx, h, psqlArgv(p.admin.svc), "PGPASSWORD", sql, p.password); err != nil {
		return fmt.Errorf("create database %s and role %s: %w", p.name, p.role, err)
	}
	return nil
}

// Undo is never needed: a database has no service check to fail.
func (p *PostgresDB) Undo(context.Context, host.Host, *reconcile.Change) error { return nil }

func (p *PostgresDB) Record() reconcile.Record {
	r := p.NewRecord()
	r.Hash = dbHash(p.name, p.role, p.from)
	return r
}
