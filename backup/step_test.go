package backup

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/berthhq/berth/host/local"
	"github.com/berthhq/berth/internal/testenv"
	"github.com/berthhq/berth/kind/database"
	"github.com/berthhq/berth/reconcile/reconciletest"
	"github.com/berthhq/berth/spec"
)

// TestDBGone: the guard of a removed site leaves out a database an
// interrupted run already deleted (its backup was taken by that run), so
// the rerun can finish the site's deletion; a database still there is
// backed up. Real MariaDB and PostgreSQL; SQLite on the local host.
func TestDBGone(t *testing.T) {
	ctx := context.Background()
	m := testenv.MariaDB(t)
	pg := testenv.Postgres(t)
	lite := filepath.Join(t.TempDir(), "site.sqlite")
	if err := os.WriteFile(lite, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	hosts := reconciletest.Hosts{"db": local.New()}
	for _, tc := range []struct {
		name string
		db   *SiteDB
		drop func()
	}{
		{"mariadb", &SiteDB{Type: "mariadb", Server: "db", Name: "gone_mariadb", Admin: database.NewAdmin(spec.ResolvedDBService{Type: "mariadb", Socket: m.Socket, AdminUser: "root", Client: "mariadb"})},
			func() { m.SQL(t, "DROP DATABASE gone_mariadb") }},
		{"postgresql", &SiteDB{Type: "postgresql", Server: "db", Name: "gone_pg", Admin: database.NewAdmin(spec.ResolvedDBService{Type: "postgresql", Socket: pg.SocketDir, Port: pg.Port, AdminUser: "postgres",
			RunAs: "postgres", Client: filepath.Join(testenv.PostgresBin, "psql")})},
			func() { pg.SQL(t, "DROP DATABASE gone_pg") }},
		{"sqlite", &SiteDB{Type: "sqlite", Server: "db", Name: "site", Path: lite},
			func() { os.Remove(lite) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			switch tc.name {
			case "mariadb":
				m.SQL(t, "CREATE DATABASE gone_mariadb")
			case "postgresql":
				pg.SQL(t, "CREATE DATABASE gone_pg")
			}
			if gone, err := dbGone(ctx, hosts, tc.db); err != nil || gone {
				t.Fatalf("an existing database: gone %v, %v", gone, err)
			}
			tc.drop()
			if gone, err := dbGone(ctx, hosts, tc.db); err != nil || !gone {
				t.Fatalf("a dropped database: gone %v, %v", gone, err)
			}
		})
	}
}
