package database

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/berthhq/berth/host"
)

// What a clone's sanitize step asks of a database server: run the
// repo's SQL file against the clone's database with no more rights than
// that database's (the repo is not trusted with the administrator's).

// Confinable says why ExecConfined cannot run on the server, nil when it
// can: MariaDB through its client mariadb, or PostgreSQL.
func (a *Admin) Confinable() error {
	if a.svc.Type != "postgresql" && path.Base(a.svc.Client) != "mariadb" {
		return fmt.Errorf("a sanitize SQL file runs only against MariaDB through its client mariadb (its --sandbox keeps the SQL file from running client commands) or PostgreSQL; this server's is %s with %s: sanitize with command: [ARGV] instead", a.svc.Type, a.svc.Client)
	}
	return nil
}

// CheckScript says why ExecConfined cannot run script on the server, nil
// when it can: on PostgreSQL the script travels as one argument of psql
// (see execConfinedPostgres), so it is at most MaxPostgresSanitizeSQL
// bytes, without a NUL byte.
func (a *Admin) CheckScript(script []byte) error {
	if err := a.Confinable(); err != nil {
		return err
	}
	if a.svc.Type != "postgresql" {
		return nil
	}
	if len(script) > MaxPostgresSanitizeSQL {
		return fmt.Errorf("the sanitize SQL file is %d bytes; against PostgreSQL berth sends it as one argument of psql -c (so psql never interprets it), which Linux limits to 128 KiB: at most %d bytes; make it shorter (one UPDATE per table), or sanitize with command: [ARGV]", len(script), MaxPostgresSanitizeSQL)
	}
	if bytes.IndexByte(script, 0) >= 0 {
		return fmt.Errorf("the sanitize SQL file holds a NUL byte, which no argument of psql can carry; remove it")
	}
	return nil
}

// SanitizeUser is the name of the user ExecConfined makes for database
// name: berth_sanitize_ and 12 hex digits of the name's SHA-256.
func SanitizeUser(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "berth_sanitize_" + hex.EncodeToString(sum[:6])
}

// ExecConfined runs the SQL script read from r in database name as a
// role or user made for it and dropped after: it may change that
// database only. On MariaDB the user is granted that database (no FILE
// privilege, no other database) and the client runs in its --sandbox, so
// the script cannot run client commands (system, source, tee) on the
// server. On PostgreSQL (execConfinedPostgres) the role is a member of
// owner, the role that owns the database's content, and psql sends the
// script to the server as one query string, never through its own
// command parser. MySQL's client has no sandbox: refused.
func (a *Admin) ExecConfined(ctx context.Context, h host.Host, name, owner string, r io.Reader) (err error) {
	if err := a.Confinable(); err != nil {
		return err
	}
	if a.svc.Type == "postgresql" {
		script, err := io.ReadAll(io.LimitReader(r, int64(MaxPostgresSanitizeSQL)+1))
		if err != nil {
			return err
		}
		return a.execConfinedPostgres(ctx, h, name, owner, script)
	}
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	// The user is named after the database, its password random: a run
	// killed between creating and dropping it leaves it behind with the
	// rights on that database only, and the next sanitize step of the
	// database drops it first.
	user, pw := SanitizeUser(name), hex.EncodeToString(b[:])
	accts := []string{sqlString(user, true) + "@'localhost'", sqlString(user, true) + "@'%'"}
	var create, drop strings.Builder
	for _, acct := range accts {
		fmt.Fprintf(&drop, "DROP USER IF EXISTS %s;\n", acct)
	}
	create.WriteString(drop.String())
	for _, acct := range accts {
		fmt.Fprintf(&create, "CREATE USER %s IDENTIFIED BY %s;\nGRANT ALL PRIVILEGES ON %s.* TO %s;\n", acct, sqlString(pw, true), mysqlIdent(name), acct)
	}
	if _, err := a.run(ctx, h, mysqlArgv(a.svc), "MYSQL_PWD", create.String(), pw); err != nil {
		return fmt.Errorf("create the sanitize step's user: %w", err)
	}
	defer func() {
		if _, derr := a.run(context.WithoutCancel(ctx), h, mysqlArgv(a.svc), "MYSQL_PWD", drop.String()); derr != nil && err == nil {
			err = fmt.Errorf("drop the sanitize step's user %s (drop it by hand): %w", user, derr)
		}
	}()
	conn := a.svc
	conn.AdminUser = user
	argv := append([]string{a.svc.Client, "--sandbox", "--batch"}, mysqlConn(conn)...)
	argv = append([]string{"sh", "-c", `IFS= read -r p || exit 125; MYSQL_PWD=$p; export MYSQL_PWD; exec "$@"`, "berth-db"}, append(argv, name)...)
	var stderr strings.Builder
	_, err = h.Run(ctx, argv, host.RunOptions{Stdin: io.MultiReader(strings.NewReader(pw+"\n"), r), Stdout: io.Discard, Stderr: &stderr})
	if err != nil {
		return fmt.Errorf("%s: %w", strings.ReplaceAll(strings.TrimSpace(stderr.String()), pw, "********"), err)
	}
	return nil
}
