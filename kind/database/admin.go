package database

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/redact"
	"github.com/berthhq/berth/spec"
)

// Admin runs a database server's own client (mariadb, mysql, psql) on
// the database server through host.Run, SQL on standard input.
//
// Why the client over the host rather than a Go driver on the controller:
// the host already reaches every server (locally or over one SSH
// connection) as the user that may administer it, so no database port has
// to be opened to the controller, socket authentication (unix_socket,
// peer) works as it does for the operator, and MariaDB, MySQL and
// PostgreSQL need no driver in berth. The cost, one client process per
// round trip, is paid once per server per plan (the catalogue query) and
// once per changed database.
//
// The administrator's password, when one is declared, is read on the
// controller (password_file or password_env) and sent as the first line
// of standard input; a small sh wrapper moves it into MYSQL_PWD or
// PGPASSWORD of the client's own environment. It is never on a command
// line, so never in ps or in an error.
//
// The password is read again each time it is needed (once per catalogue
// query or database change, not per site), so an Admin holds no state of
// its own: a desired state the daemon keeps between runs of the same
// revision picks a rotated password_file up, and a password missing at
// one run is found at the next.
type Admin struct {
	svc spec.ResolvedDBService
}

// NewAdmin returns the administrator's access to the database server svc.
func NewAdmin(svc spec.ResolvedDBService) *Admin { return &Admin{svc: svc} }

// Type is the server's engine: mariadb, mysql or postgresql.
func (a *Admin) Type() string { return a.svc.Type }

// password returns the administrator's password, "" when none is declared.
func (a *Admin) password() (string, error) {
	var pw string
	switch {
	case a.svc.PasswordFile != "":
		data, err := os.ReadFile(a.svc.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("read the %s administrator's password from password_file %s on the controller: %w", a.svc.Type, a.svc.PasswordFile, err)
		}
		line, _, _ := strings.Cut(string(data), "\n")
		pw = strings.TrimSuffix(line, "\r")
	case a.svc.PasswordEnv != "":
		v, ok := os.LookupEnv(a.svc.PasswordEnv)
		if !ok {
			return "", fmt.Errorf("the %s administrator's password: environment variable %s (password_env) is not set for berth", a.svc.Type, a.svc.PasswordEnv)
		}
		pw = v
	}
	redact.Add(pw)
	return pw, nil
}

// run runs argv (the client and its options) with sql on standard input
// and returns its standard output. pwEnv names the variable the client
// reads a password from. Every secret in hide is masked in the error.
func (a *Admin) run(ctx context.Context, h host.Host, argv []string, pwEnv, sql string, hide ...string) (string, error) {
	pw, err := a.password()
	if err != nil {
		return "", err
	}
	stdin := sql
	if pw != "" {
		if strings.ContainsAny(pw, "\n\x00") {
			return "", fmt.Errorf("the %s administrator's password holds a line break; berth cannot pass it to the client", a.svc.Type)
		}
		argv = append([]string{"sh", "-c", `IFS= read -r p || exit 125; ` + pwEnv + `=$p; export ` + pwEnv + `; exec "$@"`, "berth-db"}, argv...)
		stdin = pw + "\n" + sql
		hide = append(hide, pw)
	}
	if a.svc.RunAs != "" {
		argv = append([]string{"runuser", "-u", a.svc.RunAs, "--"}, argv...)
	}
	res, err := h.Run(ctx, argv, host.RunOptions{Stdin: strings.NewReader(stdin)})
	if err != nil {
		msg := strings.TrimSpace(string(res.Stderr))
		if msg == "" {
			msg = strings.TrimSpace(string(res.Stdout))
		}
		for _, s := range hide {
			if s != "" {
				msg = strings.ReplaceAll(msg, s, "********")
			}
		}
		var ee *host.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("%s on %s failed: %s", argv0(argv), h.Name(), msg)
		}
		return "", fmt.Errorf("%s on %s: %w", argv0(argv), h.Name(), err)
	}
	return string(res.Stdout), nil
}

// argv0 names the client in an error, past the wrappers.
func argv0(argv []string) string {
	for i, a := range argv {
		if a == "berth-db" && i+1 < len(argv) {
			return argv[i+1]
		}
	}
	if len(argv) > 4 && argv[0] == "runuser" {
		return argv[4]
	}
	return argv[0]
}

// rows splits tab-separated client output into rows of fields.
func rows(out string) [][]string {
	var rs [][]string
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	for sc.Scan() {
		if line := sc.Text(); line != "" {
			rs = append(rs, strings.Split(line, "\t"))
		}
	}
	return rs
}

// sqlString quotes s as an SQL string literal (both engines): quotes
// doubled and, for MariaDB/MySQL, backslashes escaped.
func sqlString(s string, backslash bool) string {
	if backslash {
		s = strings.ReplaceAll(s, `\`, `\\`)
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// PendingSecret stands for a password that is generated at apply: a plan
// made with a read-only state store cannot store a new one. The builder
// passes it instead of a password; the kinds plan the password as
// generated at apply, and refuse to apply it.
const PendingSecret = "\x00pending"

// dbReason describes a database resource for a plan line; never a password.
func dbReason(kind, name, user string, from []string, engine, server string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s (%s on %s)", kind, name, engine, server)
	if user != "" {
		b.WriteString(", user ")
		for i, f := range from {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(user + "@" + f)
		}
		if len(from) == 0 {
			b.WriteString(user)
		}
	}
	return b.String()
}

// stream runs argv (a client or dump tool of the server) with stdin on its
// standard input and its standard output to stdout, as run does: the
// administrator's password, when one is declared, goes first on standard
// input into pwEnv; run_as applies. A failure carries the tool's standard
// error, with the password masked.
func (a *Admin) stream(ctx context.Context, h host.Host, argv []string, pwEnv string, stdin io.Reader, stdout io.Writer) error {
	pw, err := a.password()
	if err != nil {
		return err
	}
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	if pw != "" {
		if strings.ContainsAny(pw, "\n\x00") {
			return fmt.Errorf("the %s administrator's password holds a line break; berth cannot pass it to the client", a.svc.Type)
		}
		argv = append([]string{"sh", "-c", `IFS= read -r p || exit 125; ` + pwEnv + `=$p; export ` + pwEnv + `; exec "$@"`, "berth-db"}, argv...)
		stdin = io.MultiReader(strings.NewReader(pw+"\n"), stdin)
	}
	if a.svc.RunAs != "" {
		argv = append([]string{"runuser", "-u", a.svc.RunAs, "--"}, argv...)
	}
	var stderr bytes.Buffer
	_, err = h.Run(ctx, argv, host.RunOptions{Stdin: stdin, Stdout: stdout, Stderr: &stderr})
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if pw != "" {
			msg = strings.ReplaceAll(msg, pw, "********")
		}
		return fmt.Errorf("%s on %s failed: %s: %w", argv0(argv), h.Name(), msg, err)
	}
	return nil
}
