package database

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/berthhq/berth/host/local"
	"github.com/berthhq/berth/internal/testenv"
	"github.com/berthhq/berth/spec"
)

// TestExecConfinedPostgres: on a real PostgreSQL, a sanitize script
// changes its own database as a role made for the step, whose objects end
// up the owning role's; psql's client commands (\!, \o, \copy) never run,
// even first in the file; the server's files and programs (COPY, lo_import,
// pg_read_file), another database, an untrusted extension, the superuser's
// session and the predefined roles stay out of reach; a change to the
// owning role (its password, settings) is put back and fails the step; a
// role left by a killed run is dropped first and not reused; the step's
// role is gone after every run; an owning role with more rights than its
// database's, an unknown one and a script over psql's argument limit are
// refused.
func TestExecConfinedPostgres(t *testing.T) {
	ctx := context.Background()
	h := local.New()
	pg := testenv.Postgres(t)
	a := NewAdmin(spec.ResolvedDBService{Type: "postgresql", Socket: pg.SocketDir, Port: pg.Port, AdminUser: pg.User, RunAs: "postgres",
		Client: filepath.Join(testenv.PostgresBin, "psql")})
	// As the PostgreSQL kind makes them: each database owned by its
	// login role, CONNECT revoked from PUBLIC.
	for _, db := range []string{"clone", "prod"} {
		pg.SQL(t, "CREATE ROLE "+db+"_r LOGIN PASSWORD 'pw-"+db+"'")
		pg.SQL(t, "CREATE DATABASE "+db+" OWNER "+db+"_r")
		pg.SQL(t, "REVOKE ALL ON DATABASE "+db+" FROM PUBLIC")
	}
	in := func(db, sql string) string {
		t.Helper()
		out, err := exec.Command(filepath.Join(testenv.PostgresBin, "psql"), "-X", "-h", pg.SocketDir, "-p", strconv.Itoa(pg.Port), "-U", pg.User,
			"-d", db, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql).CombinedOutput()
		if err != nil {
			t.Fatalf("psql %s: %v\n%s", sql, err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return lines[len(lines)-1] // the last statement's answer
	}
	in("clone", "SET ROLE clone_r; CREATE TABLE users (id int PRIMARY KEY, mail text); INSERT INTO users VALUES (1, 'ann@customer.example')")
	in("prod", "SET ROLE prod_r; CREATE TABLE secrets (k text); INSERT INTO secrets VALUES ('s3cret')")
	verifier := in("postgres", "SELECT rolpassword FROM pg_authid WHERE rolname = 'clone_r'")

	// A role left behind by a run killed in its step, granted more than
	// the step's (production's role) and owning a table of the clone: the
	// next run gives its table to the owning role, drops it, and makes its
	// own.
	left := SanitizeUser("clone")
	pg.SQL(t, "CREATE ROLE "+left+" LOGIN PASSWORD 'old' IN ROLE prod_r, clone_r")
	in("clone", "SET ROLE "+left+"; CREATE TABLE left_behind (x int)")

	planted := filepath.Join(t.TempDir(), "planted")
	if err := os.Chmod(filepath.Dir(planted), 0o777); err != nil { // the server (user postgres) could write there
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, sql, wantErr string
	}{
		{name: "a leftover role's membership", sql: "SET ROLE prod_r;\n", wantErr: "permission denied"},
		{name: "own database", sql: "UPDATE users SET mail = 'x@example.invalid';\nCREATE TABLE made (x int);\n"},
		{name: "client command first", sql: `\! touch ` + planted + "\n", wantErr: "syntax error"},
		{name: "client commands", sql: "UPDATE users SET mail = 'system';\n\\! touch " + planted + "\n\\o " + planted + "\nSELECT 1;\n\\copy users TO '" + planted + "'\n", wantErr: "syntax error"},
		{name: "program of the server", sql: "COPY users TO PROGRAM 'touch " + planted + "';\n", wantErr: "pg_execute_server_program"},
		{name: "write a file of the server", sql: "COPY users TO '" + planted + "';\n", wantErr: "pg_write_server_files"},
		{name: "read a file of the server", sql: "COPY users (mail) FROM '/etc/hostname';\n", wantErr: "pg_read_server_files"},
		{name: "read a file with a function", sql: "INSERT INTO users VALUES (2, pg_read_file('/etc/hostname'));\n", wantErr: "permission denied"},
		{name: "large object of the server", sql: "SELECT lo_import('/etc/hostname');\n", wantErr: "permission denied"},
		{name: "another database", sql: "INSERT INTO users SELECT 2, k FROM prod.public.secrets;\n", wantErr: "cross-database"},
		{name: "untrusted extension", sql: "CREATE EXTENSION dblink;\n", wantErr: "permission denied"},
		{name: "superuser's session", sql: "SET SESSION AUTHORIZATION postgres;\n", wantErr: "permission denied"},
		{name: "predefined role", sql: "GRANT pg_execute_server_program TO clone_r;\n", wantErr: "admin option"},
		{name: "its own rights", sql: "RESET ROLE; ALTER ROLE CURRENT_USER CREATEROLE;\n", wantErr: "permission denied"},
		{name: "the owning role's password", sql: "ALTER ROLE clone_r PASSWORD 'taken';\n", wantErr: "changed role clone_r: its password (put back)"},
		{name: "the database's settings", sql: "ALTER DATABASE clone SET search_path = evil, pg_catalog;\nALTER ROLE clone_r SET work_mem = '1MB';\n", wantErr: "settings (reset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := a.ExecConfined(ctx, h, "clone", "clone_r", strings.NewReader(tc.sql))
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("ExecConfined: %v, want %q", err, tc.wantErr)
			}
			if _, err := os.Stat(planted); err == nil {
				t.Errorf("the script wrote %s", planted)
			}
			if got := pg.SQL(t, "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'berth_sanitize_%'"); strings.TrimSpace(got) != "0" {
				t.Errorf("%s sanitize roles left", strings.TrimSpace(got))
			}
			if got := in("clone", "SELECT string_agg(mail, ',') FROM users"); strings.Contains(got, "s3cret") || strings.Contains(got, "system") || strings.Contains(got, "\n") {
				t.Errorf("the clone holds %q", got)
			}
		})
	}
	if got := in("clone", "SELECT string_agg(mail, ',') FROM users"); got != "x@example.invalid" {
		t.Errorf("the sanitized mail: %q", got)
	}
	if got := in("clone", "SELECT string_agg(relname || '=' || pg_get_userbyid(relowner), ',' ORDER BY relname) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'"); got != "left_behind=clone_r,made=clone_r,users=clone_r" {
		t.Errorf("owners of the clone's tables: %q", got)
	}
	if got := in("postgres", "SELECT rolpassword FROM pg_authid WHERE rolname = 'clone_r'"); got != verifier {
		t.Error("the owning role's password was not put back")
	}
	if got := in("postgres", "SELECT count(*) FROM pg_db_role_setting"); got != "0" {
		t.Errorf("%s settings left", got)
	}

	// The largest script psql takes as one argument runs; a longer one is
	// refused before anything is made.
	script := "UPDATE users SET mail = 'y@example.invalid';\n--"
	script += strings.Repeat("x", MaxPostgresSanitizeSQL-len(script))
	if err := a.ExecConfined(ctx, h, "clone", "clone_r", strings.NewReader(script)); err != nil {
		t.Fatalf("a script of %d bytes: %v", len(script), err)
	}
	if got := in("clone", "SELECT mail FROM users"); got != "y@example.invalid" {
		t.Errorf("after the largest script: %q", got)
	}
	if err := a.ExecConfined(ctx, h, "clone", "clone_r", strings.NewReader(script+"x")); err == nil || !strings.Contains(err.Error(), "128 KiB") {
		t.Errorf("a script over the limit: %v", err)
	}
	if err := a.CheckScript([]byte("SELECT 1;\x00")); err == nil {
		t.Error("a script with a NUL byte passed")
	}

	// An owning role with more than its database's rights is refused: the
	// step's role would have them too.
	for _, grant := range []struct{ do, undo, wantErr string }{
		{"ALTER ROLE clone_r SUPERUSER", "ALTER ROLE clone_r NOSUPERUSER", "has SUPERUSER"},
		{"ALTER ROLE clone_r CREATEROLE", "ALTER ROLE clone_r NOCREATEROLE", "has CREATEROLE"},
		{"GRANT pg_read_server_files TO clone_r", "REVOKE pg_read_server_files FROM clone_r", "member of 1 other role"},
	} {
		pg.SQL(t, grant.do)
		err := a.ExecConfined(ctx, h, "clone", "clone_r", strings.NewReader("SELECT 1;"))
		pg.SQL(t, grant.undo)
		if err == nil || !strings.Contains(err.Error(), grant.wantErr) {
			t.Errorf("after %s: %v, want %q", grant.do, err, grant.wantErr)
		}
	}
	for _, owner := range []string{"", "nobody_r"} {
		if err := a.ExecConfined(ctx, h, "clone", owner, strings.NewReader("SELECT 1;")); err == nil {
			t.Errorf("owner %q: no error", owner)
		}
	}
	if got := pg.SQL(t, "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'berth_sanitize_%'"); strings.TrimSpace(got) != "0" {
		t.Errorf("%s sanitize roles left after the refusals", strings.TrimSpace(got))
	}
}
