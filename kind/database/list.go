package database

import (
	"context"
	"fmt"
	"slices"

	"github.com/berthhq/berth/host"
)

// Databases lists the server's own databases, in one client run: every
// database but the engine's system ones (MariaDB/MySQL's
// information_schema, mysql, performance_schema, sys; PostgreSQL's
// templates and postgres). berth import reads them to adopt the ones it
// can give to a site. The names are the server's, unchecked: the caller
// applies its rules to them.
func (a *Admin) Databases(ctx context.Context, h host.Host) ([]string, error) {
	var argv []string
	var pwEnv, sql string
	if a.svc.Type == "postgresql" {
		argv, pwEnv = psqlArgv(a.svc), "PGPASSWORD"
		sql = "SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres';\n"
	} else {
		argv, pwEnv = mysqlArgv(a.svc), "MYSQL_PWD"
		sql = "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN ('information_schema', 'mysql', 'performance_schema', 'sys');\n"
	}
	out, err := a.run(ctx, h, argv, pwEnv, sql)
	if err != nil {
		return nil, fmt.Errorf("list the databases of %s: %w", a.svc.Type, err)
	}
	var names []string
	for _, row := range rows(out) {
		names = append(names, row[0])
	}
	slices.Sort(names)
	return names, nil
}
