package database

import (
	"context"
	"fmt"
	"slices"

	"github.com/berthhq/berth/host"
)

// Catalogue is what berth import reads of a database server: its own
// databases (not the engine's system ones: MariaDB/MySQL's
// information_schema, mysql, performance_schema and sys; PostgreSQL's
// templates and postgres) and the names of its users (PostgreSQL: login
// roles and others alike). The names are the server's, unchecked: the
// caller applies its rules to them.
type Catalogue struct {
	Databases []string
	Users     []string
}

// Catalogue reads the server's databases and users in one client run.
func (a *Admin) Catalogue(ctx context.Context, h host.Host) (*Catalogue, error) {
	var argv []string
	var pwEnv, sql string
	if a.svc.Type == "postgresql" {
		argv, pwEnv = psqlArgv(a.svc), "PGPASSWORD"
		sql = "SELECT 'db', datname FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres';\n" +
			"SELECT 'user', rolname FROM pg_roles;\n"
	} else {
		argv, pwEnv = mysqlArgv(a.svc), "MYSQL_PWD"
		sql = "SELECT 'db', SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN ('information_schema', 'mysql', 'performance_schema', 'sys');\n" +
			"SELECT DISTINCT 'user', User FROM mysql.user;\n"
	}
	out, err := a.run(ctx, h, argv, pwEnv, sql)
	if err != nil {
		return nil, fmt.Errorf("read the databases and users of %s: %w", a.svc.Type, err)
	}
	c := &Catalogue{}
	for _, row := range rows(out) {
		if len(row) < 2 {
			continue
		}
		switch row[0] {
		case "db":
			c.Databases = append(c.Databases, row[1])
		case "user":
			c.Users = append(c.Users, row[1])
		}
	}
	slices.Sort(c.Databases)
	slices.Sort(c.Users)
	return c, nil
}
