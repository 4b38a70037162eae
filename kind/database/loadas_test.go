package database

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/berthhq/berth/host/local"
	"github.com/berthhq/berth/internal/testenv"
	"github.com/berthhq/berth/spec"
)

// TestLoadAsOwner: a PostgreSQL dump of another role's database (a
// clone's source, a renamed site's former database) loaded with LoadAs
// belongs to the target's role, table and sequence, with the source's
// grants left out; loading it again replaces it.
func TestLoadAsOwner(t *testing.T) {
	pg := testenv.Postgres(t)
	ctx := context.Background()
	h := local.New()
	a := NewAdmin(spec.ResolvedDBService{Type: "postgresql", Socket: pg.SocketDir, Port: pg.Port, AdminUser: pg.User, RunAs: "postgres",
		Client: filepath.Join(testenv.PostgresBin, "psql")})
	pg.SQL(t, "CREATE ROLE src_r LOGIN")
	pg.SQL(t, "CREATE DATABASE src OWNER src_r")
	pg.SQL(t, "CREATE ROLE dst_r LOGIN")
	pg.SQL(t, "CREATE DATABASE dst OWNER dst_r")
	psql := func(db, sql string) string {
		t.Helper()
		out, err := exec.Command(filepath.Join(testenv.PostgresBin, "psql"), "-X", "-h", pg.SocketDir, "-p", strconv.Itoa(pg.Port), "-U", pg.User,
			"-d", db, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql).CombinedOutput()
		if err != nil {
			t.Fatalf("psql %s: %v\n%s", sql, err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return lines[len(lines)-1] // the last statement's answer
	}
	psql("src", "SET ROLE src_r; CREATE TABLE users (id serial PRIMARY KEY, mail text); INSERT INTO users (mail) VALUES ('ann@customer.example'); GRANT SELECT ON users TO PUBLIC")
	var dump bytes.Buffer
	if err := a.Dump(ctx, h, "src", &dump); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := a.LoadAs(ctx, h, "dst", "dst_r", bytes.NewReader(dump.Bytes())); err != nil {
			t.Fatalf("load %d: %v", i+1, err)
		}
	}
	if got := psql("dst", "SELECT string_agg(DISTINCT pg_get_userbyid(relowner)::text, ',') FROM pg_class WHERE relnamespace = 'public'::regnamespace"); got != "dst_r" {
		t.Errorf("owners of the loaded objects: %q, want dst_r", got)
	}
	if got := psql("dst", "SELECT relacl IS NULL FROM pg_class WHERE relname = 'users'"); got != "t" {
		t.Errorf("the source's grants came along: %q", got)
	}
	if got := psql("dst", "SET ROLE dst_r; INSERT INTO users (mail) VALUES ('x@example.invalid'); SELECT count(*) FROM users"); got != "2" {
		t.Errorf("the target's role uses its table: %q, want 2 rows", got)
	}
	if got := psql("src", "SELECT count(*) FROM users"); got != "1" {
		t.Errorf("the source changed: %q", got)
	}
	// Emptied (a failed sanitize step): nothing of it is left, and a load
	// after works.
	if err := a.EmptyAs(ctx, h, "dst", "dst_r"); err != nil {
		t.Fatal(err)
	}
	if got := psql("dst", "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"); got != "0" {
		t.Errorf("%s objects left after EmptyAs", got)
	}
	if err := a.LoadAs(ctx, h, "dst", "dst_r", bytes.NewReader(dump.Bytes())); err != nil {
		t.Fatalf("load after emptying: %v", err)
	}
	if err := a.EmptyAs(ctx, h, "dst", ""); err == nil {
		t.Error("EmptyAs without an owner emptied a PostgreSQL database")
	}
}
