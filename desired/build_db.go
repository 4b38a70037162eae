package desired

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/berthhq/berth/kind/database"
	"github.com/berthhq/berth/kind/files"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/render"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

// Secrets keeps the secrets berth generates: database passwords and the
// salts of settings files. *state.Store implements it.
type Secrets interface {
	// Secret returns the secret stored under key; when there is none it
	// stores and returns what generate returns. It must honour ctx and be
	// safe for concurrent use. A store that cannot store a new secret
	// (read-only) returns an error wrapping state.ErrReadOnly: the plan
	// then shows the secret as generated at apply.
	Secret(ctx context.Context, key string, generate func() (string, error)) (string, error)
}

// pendingPassword stands in a settings file for a secret a read-only plan
// could not generate; the apply's own plan has the real one.
const pendingPassword = "generated-at-apply"

// addDatabases adds to d, which buildDesired made from res, every site's database
// (a MariaDB/MySQL or PostgreSQL database with its user on the database
// server, or a SQLite file on the web server) and settings file (see
// render.Settings), with passwords and salts from secrets: generated with
// crypto/rand on first use, then kept in the state store. base is berth's
// state directory, as given to buildDesired.
//
// Passwords reach only the database server (on the client's standard
// input) and the settings files (mode 0640, hidden from plans); never a
// Change, a log line or an error.
func addDatabases(ctx context.Context, d *reconcile.Desired, res *spec.Resolved, base string, secrets Secrets) error {
	d.Prune = databasePruner(res)
	servers := map[string]spec.ResolvedServer{}
	for _, s := range res.Servers {
		if s.Local() {
			s = s.WithBase(base)
		}
		servers[s.Name] = s
	}
	byPath := map[string]map[string]string{} // server -> path -> ID
	for _, r := range d.Resources {
		if r.Path() == "" {
			continue
		}
		if byPath[r.Server()] == nil {
			byPath[r.Server()] = map[string]string{}
		}
		byPath[r.Server()][r.Path()] = r.ID()
	}
	parent := func(server, p string) []string {
		for dir := path.Dir(p); dir != "/" && dir != "."; dir = path.Dir(dir) {
			if id, ok := byPath[server][dir]; ok {
				return []string{id}
			}
		}
		return nil
	}
	secret := func(key string, gen func() (string, error)) (string, error) {
		v, err := secrets.Secret(ctx, key, gen)
		if errors.Is(err, state.ErrReadOnly) {
			return database.PendingSecret, nil
		}
		if err != nil {
			return "", fmt.Errorf("%w; berth keeps generated passwords in its state store: check --state-dir", err)
		}
		return v, nil
	}
	password := func() (string, error) { return state.GeneratePassword(32) }
	salt := func() (string, error) { return state.GeneratePassword(64) }

	for i := range res.Sites {
		site := &res.Sites[i]
		sec := render.SiteSecrets{Salts: map[string]string{}}
		if db := site.DB; db != nil && db.Type != "sqlite" {
			pw, err := secret(DBSecretKey(res.Environment, site.Name), password)
			if err != nil {
				return fmt.Errorf("site %s: database password: %w", site.Name, err)
			}
			sec.DBPassword = pw
			dbsrv := servers[db.Server]
			if dbsrv.DB == nil {
				return fmt.Errorf("site %s: server %s has no db service", site.Name, db.Server)
			}
			switch db.Type {
			case "postgresql":
				d.Resources = append(d.Resources, database.NewPostgresDB(database.PostgresSpec{ID: DatabaseID(site.Domain, db.Name, db.Server), Server: db.Server, Site: site.Domain,
					Name: db.Name, Role: db.User, From: db.From, Password: pw, Service: *dbsrv.DB}))
			default:
				d.Resources = append(d.Resources, database.NewMySQLDB(database.MySQLSpec{ID: DatabaseID(site.Domain, db.Name, db.Server), Server: db.Server, Site: site.Domain,
					Name: db.Name, User: db.User, From: db.From, Password: pw, Service: *dbsrv.DB}))
			}
			for _, sn := range site.Servers {
				if servers[sn].Address == "local" && servers[db.Server].Address != "local" && sn != db.Server {
					d.Warnings = append(d.Warnings, fmt.Sprintf("site %s: web server %s is this machine (address local), whose address as %s sees it berth does not know: its database user gets no grant from it; give %s its network address", site.Name, sn, db.Server, sn))
				}
			}
		}
		for _, n := range render.SaltNames(site.Type) {
			v, err := secret(SaltSecretKey(res.Environment, site.Name, n), salt)
			if err != nil {
				return fmt.Errorf("site %s: %s: %w", site.Name, n, err)
			}
			sec.Salts[n] = v
		}
		// A settings file holds the pending marker, never an empty secret.
		shown := sec
		shown.Salts = map[string]string{}
		for k, v := range sec.Salts {
			shown.Salts[k] = strings.Replace(v, database.PendingSecret, pendingPassword, 1)
		}
		shown.DBPassword = strings.Replace(sec.DBPassword, database.PendingSecret, pendingPassword, 1)

		for _, sn := range site.Servers {
			srv := servers[sn]
			if srv.HTTP == nil {
				continue // buildDesired reported it
			}
			f, err := render.Settings(site, &srv, shown)
			if err != nil {
				return err // it names the site and the server
			}
			if f != nil {
				d.Resources = append(d.Resources, files.NewFile(files.FileSpec{
					ID: SettingsID(site.Domain, sn), Server: sn, Site: site.Domain, Path: f.Path,
					Content: f.Content, Mode: f.Mode, Owner: f.Owner, Group: f.Group, Deps: parent(sn, f.Path)}))
			}
			if p := render.SQLitePath(site, &srv); p != "" {
				if dir := path.Dir(p); byPath[sn][dir] == "" {
					// The service's own dir, shared by its sites.
					dr := files.NewDir(files.DirSpec{ID: SharedDirID(dir, sn), Server: sn, Path: dir, Mode: 0o750,
						Owner: srv.HTTP.User, Group: srv.HTTP.Group, Deps: parent(sn, dir)})
					d.Resources = append(d.Resources, dr)
					if byPath[sn] == nil {
						byPath[sn] = map[string]string{}
					}
					byPath[sn][dir] = dr.ID()
				}
				run, private := render.SiteOwners(site, srv.HTTP)
				d.Resources = append(d.Resources, database.NewSQLiteDB(database.SQLiteSpec{ID: DatabaseID(site.Domain, site.DB.Name, sn), Server: sn,
					Site: site.Domain, Path: p, Mode: 0o640, Owner: run, Group: private, Deps: parent(sn, p)}))
			}
		}
	}
	return nil
}
