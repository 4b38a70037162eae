package database

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthhq/berth/host/local"
	"github.com/berthhq/berth/internal/testenv"
	"github.com/berthhq/berth/spec"
)

// TestExecConfined: on a real MariaDB, a sanitize script changes its own
// database; a script running a client command (system), reading another
// database or a file of the server fails and does nothing of it; the
// step's user is gone after every run; MySQL's client is refused.
func TestExecConfined(t *testing.T) {
	ctx := context.Background()
	h := local.New()
	my := testenv.MariaDB(t)
	a := NewAdmin(spec.ResolvedDBService{Type: "mariadb", Socket: my.Socket, AdminUser: "root", Client: "mariadb"})
	my.SQL(t, "CREATE DATABASE clone; CREATE TABLE clone.users (mail VARCHAR(64)); INSERT INTO clone.users VALUES ('ann@customer.example');"+
		"CREATE DATABASE prod; CREATE TABLE prod.secrets (k VARCHAR(64)); INSERT INTO prod.secrets VALUES ('s3cret');")
	planted := filepath.Join(t.TempDir(), "planted")
	// A user left behind by a run killed in its step (granted more than
	// the step's, to tell it is not reused) is dropped by the next one.
	left := SanitizeUser("clone")
	my.SQL(t, "CREATE USER '"+left+"'@'localhost' IDENTIFIED BY 'old'; GRANT ALL PRIVILEGES ON prod.* TO '"+left+"'@'localhost';")
	for _, tc := range []struct {
		name, sql, wantErr string
	}{
		{name: "another database with a leftover user's grant", sql: "INSERT INTO users SELECT k FROM prod.secrets;\n", wantErr: "denied"},
		{name: "own database", sql: "UPDATE users SET mail = 'x@example.invalid';\n"},
		{name: "client command", sql: "system touch " + planted + "\nUPDATE users SET mail = 'system';\n", wantErr: "sandbox"},
		{name: "another database", sql: "INSERT INTO users SELECT k FROM prod.secrets;\n", wantErr: "denied"},
		{name: "a file of the server", sql: "INSERT INTO users VALUES (LOAD_FILE('/etc/hostname'));\nSELECT * FROM users INTO OUTFILE '" + planted + "';\n", wantErr: "denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := a.ExecConfined(ctx, h, "clone", "", strings.NewReader(tc.sql))
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(strings.ToLower(err.Error()), tc.wantErr)) {
				t.Fatalf("ExecConfined: %v, want %q", err, tc.wantErr)
			}
			if _, err := os.Stat(planted); err == nil {
				t.Errorf("the script wrote %s on the server", planted)
			}
			if got := strings.TrimSpace(my.SQL(t, "SELECT COUNT(*) FROM mysql.user WHERE User LIKE 'berth_sanitize_%'")); got != "0" {
				t.Errorf("%s sanitize users left", got)
			}
			if got := my.SQL(t, "SELECT mail FROM clone.users"); strings.Contains(got, "s3cret") || strings.Contains(got, "system") {
				t.Errorf("the clone holds %q", got)
			}
		})
	}
	if got := strings.TrimSpace(my.SQL(t, "SELECT mail FROM clone.users LIMIT 1")); got != "x@example.invalid" {
		t.Errorf("the sanitized mail: %q", got)
	}
	svc := spec.ResolvedDBService{Type: "mysql", Socket: my.Socket, AdminUser: "root", Client: "mysql"}
	if err := NewAdmin(svc).ExecConfined(ctx, h, "clone", "", strings.NewReader("SELECT 1;")); err == nil || !strings.Contains(err.Error(), "runs only against MariaDB") {
		t.Errorf("%s with %s: %v, want a refusal", svc.Type, svc.Client, err)
	}
}
