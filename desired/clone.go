package desired

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/berthhq/berth/backup"
	"github.com/berthhq/berth/kind/install"
	"github.com/berthhq/berth/kind/migrate"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/render"
	"github.com/berthhq/berth/spec"
)

// ReasonClone is the reason recorded in the manifest of the fresh backup
// a clone takes of its source.
const ReasonClone = "to clone it"

// addClones adds to d the clone (kind/migrate's Clone) of every site of
// res with clone_from, on its first web server, after its directory,
// settings and database: a fresh backup of the source (of its
// environment, in its backup store), restored into the site, its files
// given to the site's user, then the sanitize step (the repo's SQL file,
// read from repo) and the table check. The source is only read. A site
// moving to another web server (moving) is not cloned there: its
// migration moves its data and its marker.
func addClones(d *reconcile.Desired, res *spec.Resolved, base, revision string, repo fs.FS, b *backup.Backups, consent DataConsent, moving map[string]bool, now func() time.Time) error {
	ids := make(map[string]bool, len(d.Resources))
	for _, r := range d.Resources {
		ids[r.ID()] = true
	}
	for i := range res.Sites {
		site := &res.Sites[i]
		cl := site.Clone
		if cl == nil || len(site.Servers) == 0 || moving[site.Domain] {
			continue // a moving clone's marker moves with it
		}
		s, err := cloneSpec(res, site, cl, base, revision, repo, b, consent, now)
		if err != nil {
			return err
		}
		sn := site.Servers[0]
		for _, id := range []string{SiteDirID(site.Domain, sn), SettingsID(site.Domain, sn), FilesDirID(site.Domain, sn), ReleaseID(site.Platform, sn)} {
			if ids[id] {
				s.Deps = append(s.Deps, id)
			}
		}
		if db := site.DB; db != nil {
			dbServer := db.Server
			if db.Type == "sqlite" {
				dbServer = sn
			}
			if id := DatabaseID(site.Domain, db.Name, dbServer); ids[id] {
				s.Deps = append(s.Deps, id)
			}
		}
		d.Resources = append(d.Resources, migrate.NewClone(s))
		// The site's update step runs on the cloned data (its build may
		// be newer than the source's).
		for _, r := range d.Resources {
			if r.ID() == UpdateID(site.Domain, sn) {
				if x, ok := r.(depender); ok {
					x.AddDeps(s.ID)
				}
			}
		}
	}
	return nil
}

// engineOf is a database's engine for the clone's check: MariaDB and
// MySQL are one; "" without a database.
func engineOf(db *backup.SiteDB) string {
	if db == nil {
		return ""
	}
	return strings.Replace(db.Type, "mysql", "mariadb", 1)
}

// unmentioned returns the tables script does not name as a whole word
// (case-insensitive; PostgreSQL's schema.table by its table).
func unmentioned(tables []string, script string) []string {
	var out []string
	for _, t := range tables {
		name := t
		if _, after, ok := strings.Cut(t, "."); ok {
			name = after
		}
		re := regexp.MustCompile(`(?i)(^|[^A-Za-z0-9_$])` + regexp.QuoteMeta(name) + `($|[^A-Za-z0-9_$])`)
		if !re.MatchString(script) {
			out = append(out, t)
		}
	}
	return slices.Clip(out)
}

// cloneSpec is the clone of site from cl (its source and sanitize step)
// without its dependencies: what addClones plans and berth sync-data
// runs.
func cloneSpec(res *spec.Resolved, site *spec.ResolvedSite, cl *spec.ResolvedClone, base, revision string, repo fs.FS, b *backup.Backups, consent DataConsent, now func() time.Time) (migrate.CloneSpec, error) {
	fail := func(err error) error {
		return fmt.Errorf("site %s: clone from %s/%s: %w", site.Name, cl.Env, cl.Site, err)
	}
	src := &spec.Resolved{Environment: cl.Env, Servers: cl.Servers, Sites: []spec.ResolvedSite{*cl.Source}, Backups: res.Backups}
	srcData, _, err := SiteDataOf(src, cl.Source.Name, base)
	if err != nil {
		return migrate.CloneSpec{}, fail(err)
	}
	srcStore, err := BackupStoreOf(src, cmp.Or(res.Backups.Server, srcData.Web), base)
	if err != nil {
		return migrate.CloneSpec{}, fail(err)
	}
	data, _, err := SiteDataOf(res, site.Name, base)
	if err != nil {
		return migrate.CloneSpec{}, fail(err)
	}
	own, err := BackupStoreOf(res, cmp.Or(res.Backups.Server, data.Web), base)
	if err != nil {
		return migrate.CloneSpec{}, fail(err)
	}
	if dbTypes := [2]string{engineOf(srcData.DB), engineOf(data.DB)}; dbTypes[0] != dbTypes[1] && dbTypes[0] != "" {
		return migrate.CloneSpec{}, fail(fmt.Errorf("the source's database is %s and the clone's %s: berth cannot convert a database between engines", dbTypes[0], dbTypes[1]))
	}
	sn := site.Servers[0]
	srv, _ := serverOf(res, sn, base)
	paths := render.Paths(site, &srv)
	run, private := render.SiteOwners(site, srv.HTTP)
	s := migrate.CloneSpec{ID: CloneID(site.Domain, sn), Server: sn, Site: site.Domain,
		SiteDir: paths.SiteDir, FilesDir: paths.FilesDir, Owner: run, Group: private,
		From: cl.Env + "/" + cl.Site, Now: now,
		Copy: func(ctx context.Context) error {
			if err := allowData(ctx, consent, cl.Env, res.Environment); err != nil {
				return err // nothing read from the source
			}
			m, err := b.Take(ctx, srcData, srcStore, backup.Options{Revision: revision, Reason: ReasonClone + " to " + res.Environment + "/" + site.Name})
			if err != nil {
				return fmt.Errorf("fresh backup of the source: %w", err)
			}
			_, err = b.RestoreFrom(ctx, data, own, backup.From{Env: srcData.Env, Site: srcData.Site, Store: srcStore, ID: m.ID}, revision)
			return err
		},
	}
	if data.DB != nil {
		db := data.DB
		s.Empty = func(ctx context.Context) error { return b.Empty(ctx, db) }
		if san := cl.Sanitize; san != nil && len(san.Command) > 0 {
			argv, dir := slices.Clone(san.Command), paths.Docroot
			env := []string{"BERTH_SITE=" + site.Domain, "BERTH_SITE_DIR=" + paths.SiteDir}
			if p := render.SettingsPath(site, &srv); p != "" {
				env = append([]string{"BERTH_SETTINGS=" + p}, env...)
			}
			s.SanitizeShown = san.Shown()
			s.Sanitize = func(ctx context.Context) error {
				h, err := b.Hosts.Host(ctx, sn)
				if err != nil {
					return err
				}
				out, err := install.RunCommand(ctx, h, argv, dir, run, env)
				if err != nil && out != "" {
					err = fmt.Errorf("%w: %s", err, out)
				}
				return err
			}
		} else if san != nil && san.SQL != "" {
			script, err := spec.ReadSanitizeSQL(repo, san.SQL)
			if err != nil {
				return migrate.CloneSpec{}, fail(err)
			}
			if db.Admin != nil {
				if err := db.Admin.CheckScript(script); err != nil {
					return migrate.CloneSpec{}, fail(fmt.Errorf("sanitize sql %s: %w", san.SQL, err))
				}
			}
			s.SanitizeShown = san.SQL
			s.Sanitize = func(ctx context.Context) error { return b.Sanitize(ctx, db, script, run) }
			if san.CheckTables {
				s.Unmentioned = func(ctx context.Context) ([]string, error) {
					tables, err := b.Tables(ctx, db)
					return unmentioned(tables, string(script)), err
				}
			}
		}
	}
	return s, nil
}

// SyncData copies the data of site (of res) from cl — a fresh backup of
// the source, restored into the site, its files given to the site's
// user, its sanitize step and table check — as its clone does, once, now
// (berth sync-data). On any failure the site's database is emptied, so
// nothing unsanitized is served. hosts reaches the site's servers and
// cl's.
func SyncData(ctx context.Context, res *spec.Resolved, base, revision string, repo fs.FS, b *backup.Backups, hosts reconcile.Hosts, site string, cl *spec.ResolvedClone, consent DataConsent) error {
	i := slices.IndexFunc(res.Sites, func(s spec.ResolvedSite) bool { return s.Name == site })
	if i < 0 || len(res.Sites[i].Servers) == 0 {
		return fmt.Errorf("environment %s has no site %s on a web server: %w", res.Environment, site, ErrNoSite)
	}
	s, err := cloneSpec(res, &res.Sites[i], cl, base, revision, repo, b, consent, nil)
	if err != nil {
		return err
	}
	h, err := hosts.Host(ctx, s.Server)
	if err != nil {
		return err
	}
	return migrate.NewClone(s).Run(ctx, h)
}
