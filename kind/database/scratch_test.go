package database

import (
	"context"
	"maps"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthhq/berth/host/local"
	"github.com/berthhq/berth/internal/testenv"
	"github.com/berthhq/berth/spec"
)

// TestScratchDatabase: on real MariaDB and PostgreSQL servers, a scratch
// database is created (over one left behind), loaded, its tables counted
// — names that need quoting too — and dropped; the load stops at the
// first error. A site's database next to it is untouched.
func TestScratchDatabase(t *testing.T) {
	ctx := context.Background()
	h := local.New()
	my := testenv.MariaDB(t)
	pg := testenv.Postgres(t)
	for _, tc := range []struct {
		name  string
		admin *Admin
		sql   func(db string) string // run as the server's superuser
		dump  string
		want  map[string]int64
		bad   string // a dump that fails to load
	}{
		{
			name:  "mariadb",
			admin: NewAdmin(spec.ResolvedDBService{Type: "mariadb", Socket: my.Socket, AdminUser: "root", Client: "mariadb"}),
			sql:   func(q string) string { return my.SQL(t, q) },
			dump:  "CREATE TABLE `visits` (id INT);\nINSERT INTO `visits` VALUES (1),(2);\nCREATE TABLE `we``ird 'name` (a INT);\nCREATE VIEW v AS SELECT 1 AS a;\n",
			want:  map[string]int64{"visits": 2, "we`ird 'name": 0},
			bad:   "CREATE TABLE `x` (id INT);\nINSERT INTO `x` VALUES (1",
		},
		{
			name: "postgresql",
			admin: NewAdmin(spec.ResolvedDBService{Type: "postgresql", Socket: pg.SocketDir, Port: pg.Port, AdminUser: "postgres",
				RunAs: "postgres", Client: filepath.Join(testenv.PostgresBin, "psql")}),
			sql:  func(q string) string { return pg.SQL(t, q) },
			dump: "CREATE TABLE public.visits (id int);\nCOPY public.visits (id) FROM stdin;\n1\n2\n3\n\\.\nCREATE SCHEMA app;\nCREATE TABLE app.\"We'ird\" (a int);\n",
			want: map[string]int64{"public.visits": 3, "app.We'ird": 0},
			bad:  "CREATE TABLE public.x (id int);\nINSERT INTO public.x VALUES (1",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const scratch = "berth_verify_test"
			exists := func() bool {
				q := "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '" + scratch + "'"
				if tc.name == "postgresql" {
					q = "SELECT COUNT(*) FROM pg_database WHERE datname = '" + scratch + "'"
				}
				return strings.TrimSpace(tc.sql(q)) != "0"
			}
			tc.sql("CREATE DATABASE site_db")
			// One left by an interrupted run, with a table in it.
			if err := tc.admin.CreateScratch(ctx, h, scratch); err != nil {
				t.Fatal(err)
			}
			if err := tc.admin.LoadScratch(ctx, h, scratch, strings.NewReader("CREATE TABLE leftover (a int);\n")); err != nil {
				t.Fatal(err)
			}
			if err := tc.admin.CreateScratch(ctx, h, scratch); err != nil {
				t.Fatal(err)
			}
			if got, err := tc.admin.TableRows(ctx, h, scratch); err != nil || len(got) != 0 {
				t.Fatalf("a new scratch database holds %v %v, want nothing", got, err)
			}
			if err := tc.admin.LoadScratch(ctx, h, scratch, strings.NewReader(tc.dump)); err != nil {
				t.Fatal(err)
			}
			got, err := tc.admin.TableRows(ctx, h, scratch)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("tables %v, want %v", got, tc.want)
			}
			if err := tc.admin.DropScratch(ctx, h, scratch); err != nil {
				t.Fatal(err)
			}
			if exists() {
				t.Errorf("%s is still there", scratch)
			}
			if err := tc.admin.DropScratch(ctx, h, scratch); err != nil {
				t.Errorf("dropping it again: %v", err)
			}

			if err := tc.admin.CreateScratch(ctx, h, scratch); err != nil {
				t.Fatal(err)
			}
			if err := tc.admin.LoadScratch(ctx, h, scratch, strings.NewReader(tc.bad)); err == nil {
				t.Errorf("a dump cut short loaded")
			}
			if err := tc.admin.DropScratch(ctx, h, scratch); err != nil || exists() {
				t.Errorf("drop after a failed load: %v", err)
			}
			q := "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'site_db'"
			if tc.name == "postgresql" {
				q = "SELECT COUNT(*) FROM pg_database WHERE datname = 'site_db'"
			}
			if strings.TrimSpace(tc.sql(q)) != "1" {
				t.Errorf("the site's database next to the scratch one is gone")
			}
		})
	}
}
