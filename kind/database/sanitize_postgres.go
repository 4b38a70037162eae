package database

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/berthhq/berth/host"
)

// A sanitize SQL file against PostgreSQL. psql has no sandbox like
// mariadb's: a script it reads (standard input, -f) goes through its own
// parser, where a backslash starts a client command (\! runs a shell
// command, \o and \copy write and read files) and :name interpolates its
// variables. A string given with -c that does not start with a backslash
// is not parsed: psql sends it as it is, as one query string (several
// statements, run in one implicit transaction unless the script says
// otherwise), and no client command exists in it. So the script goes to
// psql as one argument, after a comment line so that it never starts
// with a backslash. PostgreSQL 15.14's \restrict would let a script
// through the parser with client commands off, but only on clients that
// recent; -c works on every version.
//
// One argument is at most MAX_ARG_STRLEN (128 KiB with its NUL), so the
// script is sent on standard input and a small sh wrapper makes it the
// argument on the database server: the SSH command line never carries it.
//
// On the server, the script runs over a login as a role made for it,
// which holds no right of its own (NOSUPERUSER NOCREATEDB NOCREATEROLE
// NOREPLICATION NOBYPASSRLS) and inherits the rights of the role owning
// the clone's database and tables, its only membership: it may change
// what that role may, in that database. No file or program of the server
// (COPY TO/FROM a file or PROGRAM, lo_import, pg_read_file) is open to
// it: those need a superuser or the pg_read_server_files,
// pg_write_server_files, pg_execute_server_program roles, so the owning
// role must be a member of no role at all and hold no such attribute,
// which is checked first. SET ROLE reaches the owning role only, SET
// SESSION AUTHORIZATION needs a superuser's session, CREATE EXTENSION
// only the trusted extensions the owning role could make itself. What
// the owning role could change about itself (its password, its settings,
// its database's settings) is read before and after: changed, it is put
// back (the password) or reset (the settings) and the step fails.

// pgScriptPrefix precedes a sanitize script given to psql -c: the
// argument then never starts with a backslash.
const pgScriptPrefix = "-- berth sanitize step\n"

// MaxPostgresSanitizeSQL is the largest sanitize SQL file ExecConfined
// runs against PostgreSQL: one argument of psql, at most 128 KiB with
// pgScriptPrefix and its terminating NUL.
const MaxPostgresSanitizeSQL = 128<<10 - 1 - len(pgScriptPrefix)

// scramVerifier returns a SCRAM-SHA-256 verifier of pw, as PostgreSQL
// stores one: the role is created with it, so the password itself never
// reaches the server (nor its log).
func scramVerifier(pw string) (string, error) {
	var salt [16]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return "", err
	}
	const iter = 4096
	salted, err := pbkdf2.Key(sha256.New, pw, salt[:], iter, sha256.Size)
	if err != nil {
		return "", err
	}
	mac := func(msg string) []byte {
		m := hmac.New(sha256.New, salted)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	stored := sha256.Sum256(mac("Client Key"))
	b64 := base64.StdEncoding.EncodeToString
	return "SCRAM-SHA-256$" + strconv.Itoa(iter) + ":" + b64(salt[:]) + "$" + b64(stored[:]) + ":" + b64(mac("Server Key")), nil
}

// pgOwnerState is what the sanitize step's role could change about the
// owning role: a hash of its password verifier, and one of its settings
// and of its database's.
const pgOwnerState = "md5(coalesce(r.rolpassword, '')), md5(coalesce((SELECT string_agg(s.setrole || '@' || s.setdatabase || ':' || array_to_string(s.setconfig, ','), ';' ORDER BY s.setrole, s.setdatabase) " +
	"FROM pg_db_role_setting s WHERE s.setrole = r.oid OR s.setrole = 0 AND s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())), ''))"

// pgDropSanitizeRole drops the sanitize step's role in the database the
// admin is connected to: its sessions ended, what it made given to
// owner, its grants gone.
func pgDropSanitizeRole(role, owner string) string {
	r, o := pgString(role), pgString(owner)
	return "SELECT 'kill', pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = " + r + ";\n" +
		"SELECT format('REASSIGN OWNED BY %I TO %I', " + r + ", " + o + ") WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = " + r + ") AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = " + o + ")\\gexec\n" +
		"SELECT format('DROP OWNED BY %I', " + r + ") WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = " + r + ")\\gexec\n" +
		"DROP ROLE IF EXISTS " + pgIdent(role) + ";\n"
}

// execConfinedPostgres is ExecConfined on PostgreSQL: script runs in
// database name as a role that is a member of owner only.
func (a *Admin) execConfinedPostgres(ctx context.Context, h host.Host, name, owner string, script []byte) (err error) {
	if owner == "" {
		return fmt.Errorf("sanitize the PostgreSQL database %s: berth needs the role that owns it", name)
	}
	if err := a.CheckScript(script); err != nil {
		return err
	}
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	// Named after the database, its password random and never stored: a
	// run killed between creating and dropping it leaves a role nobody
	// can log in as, which the next sanitize step of the database drops
	// first.
	role, pw := SanitizeUser(name), hex.EncodeToString(b[:])
	verifier, err := scramVerifier(pw)
	if err != nil {
		return err
	}
	admin := psqlArgv(a.svc)
	admin[len(admin)-1] = name // -d: in the clone's database

	// The owning role: no right beyond its database, and its state.
	out, err := a.run(ctx, h, admin, "PGPASSWORD", pgDropSanitizeRole(role, owner)+
		"SELECT 'owner', r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls, (SELECT count(*) FROM pg_auth_members m WHERE m.member = r.oid), "+
		pgOwnerState+", coalesce(r.rolpassword, '') FROM pg_authid r WHERE r.rolname = "+pgString(owner)+";\n")
	if err != nil {
		return fmt.Errorf("read the role %s that owns database %s: %w", owner, name, err)
	}
	var before []string
	for _, row := range rows(out) {
		if len(row) == 10 && row[0] == "owner" {
			before = row
		}
	}
	if before == nil {
		return fmt.Errorf("the role %s that should own database %s does not exist; converge the site's database first", owner, name)
	}
	savedPW := before[9]
	for i, attr := range []string{"SUPERUSER", "CREATEROLE", "CREATEDB", "REPLICATION", "BYPASSRLS"} {
		if before[1+i] == "t" {
			return fmt.Errorf("role %s (owner of database %s) has %s: the sanitize step's role would get it too; ALTER ROLE %s NO%s", owner, name, attr, pgIdent(owner), attr)
		}
	}
	if before[6] != "0" {
		return fmt.Errorf("role %s (owner of database %s) is a member of %s other role(s) (SELECT roleid::regrole FROM pg_auth_members WHERE member = %s::regrole): the sanitize step's role would get their rights too; REVOKE them from it",
			owner, name, before[6], pgString(owner))
	}

	defer func() {
		derr := a.dropSanitizeRole(context.WithoutCancel(ctx), h, admin, name, role, owner, before[7:9], savedPW)
		if derr != nil && err == nil {
			err = derr
		}
	}()
	create := "CREATE ROLE " + pgIdent(role) + " LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT CONNECTION LIMIT 1 PASSWORD " + pgString(verifier) +
		" IN ROLE " + pgIdent(owner) + ";\n" +
		// What the script creates belongs to the owning role, as if the
		// site had made it.
		"ALTER ROLE " + pgIdent(role) + " SET role = " + pgString(owner) + ";\n"
	if _, err := a.run(ctx, h, admin, "PGPASSWORD", create, verifier); err != nil {
		return fmt.Errorf("create the sanitize step's role %s: %w", role, err)
	}

	argv := []string{"sh", "-c", `IFS= read -r p || exit 125; PGPASSWORD=$p; export PGPASSWORD; q=$(cat) || exit 125; exec "$@" -c "$q" </dev/null`, "berth-db",
		a.svc.Client, "-X", "-q", "-w", "-v", "ON_ERROR_STOP=1", "-h", cmp.Or(a.svc.Host, "127.0.0.1"), "-p", strconv.Itoa(a.svc.Port), "-U", role, "-d", name}
	stdin := io.MultiReader(strings.NewReader(pw+"\n"+pgScriptPrefix), strings.NewReader(string(script)))
	var stderr strings.Builder
	if _, err := h.Run(ctx, argv, host.RunOptions{Stdin: stdin, Stdout: io.Discard, Stderr: &stderr}); err != nil {
		msg := strings.ReplaceAll(strings.TrimSpace(stderr.String()), pw, "********")
		if strings.Contains(msg, "authentication failed") || strings.Contains(msg, "pg_hba.conf") {
			msg += " (the sanitize step logs in over TCP at " + cmp.Or(a.svc.Host, "127.0.0.1") + " with a password, as the site's role does: pg_hba.conf must let role " + role + " in, e.g. host all all 127.0.0.1/32 scram-sha-256)"
		}
		var ee *host.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("the SQL failed in database %s as role %s on %s (nothing of it is kept): %s", name, role, h.Name(), msg)
		}
		return fmt.Errorf("%s on %s: %w", a.svc.Client, h.Name(), err)
	}
	return nil
}

// dropSanitizeRole drops the sanitize step's role, then checks that the
// owning role's password and settings and its database's settings are
// what they were (state: pgOwnerState before the step); it puts the
// password back (savedPW, the verifier) and resets the settings when they
// are not, and says so.
func (a *Admin) dropSanitizeRole(ctx context.Context, h host.Host, admin []string, name, role, owner string, state []string, savedPW string) error {
	out, err := a.run(ctx, h, admin, "PGPASSWORD", pgDropSanitizeRole(role, owner)+
		"SELECT 'owner', "+pgOwnerState+" FROM pg_authid r WHERE r.rolname = "+pgString(owner)+";\n")
	if err != nil {
		return fmt.Errorf("drop the sanitize step's role %s (drop it by hand: REASSIGN OWNED BY %s TO %s; DROP OWNED BY %s; DROP ROLE %s in database %s): %w",
			role, pgIdent(role), pgIdent(owner), pgIdent(role), pgIdent(role), name, err)
	}
	var after []string
	for _, row := range rows(out) {
		if len(row) == 3 && row[0] == "owner" {
			after = row[1:]
		}
	}
	if after == nil {
		return fmt.Errorf("the role %s that owned database %s is gone after the sanitize step", owner, name)
	}
	var fix, changed []string
	if after[0] != state[0] {
		sum := md5.Sum([]byte(savedPW))
		if hex.EncodeToString(sum[:]) != state[0] {
			return fmt.Errorf("the password of role %s changed during the sanitize step; this is a bug in berth", owner)
		}
		pwSQL := "NULL"
		if savedPW != "" {
			pwSQL = pgString(savedPW)
		}
		fix = append(fix, "ALTER ROLE "+pgIdent(owner)+" PASSWORD "+pwSQL+";\n")
		changed = append(changed, "its password (put back)")
	}
	if after[1] != state[1] {
		o := pgString(owner)
		fix = append(fix, "SELECT format('ALTER ROLE %I IN DATABASE %I RESET ALL', "+o+", d.datname) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE s.setrole = "+o+"::regrole\\gexec\n",
			"ALTER ROLE "+pgIdent(owner)+" RESET ALL;\n", "ALTER DATABASE "+pgIdent(name)+" RESET ALL;\n")
		changed = append(changed, "its or its database's settings (reset: ALTER ROLE ... RESET ALL, ALTER DATABASE ... RESET ALL)")
	}
	if fix == nil {
		return nil
	}
	if _, err := a.run(ctx, h, admin, "PGPASSWORD", strings.Join(fix, ""), savedPW); err != nil {
		return fmt.Errorf("the sanitize SQL changed role %s: %s, and putting it back failed (do it by hand): %w", owner, strings.Join(changed, ", "), err)
	}
	return fmt.Errorf("the sanitize SQL changed role %s: %s; a sanitize step may change the database's data only", owner, strings.Join(changed, ", "))
}
