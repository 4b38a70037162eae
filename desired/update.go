package desired

import (
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"path"

	"github.com/berthhq/berth/backup"
	"github.com/berthhq/berth/kind/install"
	"github.com/berthhq/berth/kind/release"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/render"
	"github.com/berthhq/berth/spec"
)

//go:embed update_wordpress.php
var wordpressUpdatePHP string

// wpUpdateOK is the line berth's wordpress update step prints when done.
const wpUpdateOK = "berth-update: ok"

// ReasonUpdate is the reason recorded in the manifest of the backup taken
// before a site's update step.
const ReasonUpdate = "before its update step"

// addUpdates adds to d the update step (install.Update) of every site
// whose platform has one (spec.Platform.Update; drupal: drush updatedb;
// wordpress: wp_upgrade() through berth's own script), on its first web
// server, once the platform's release there is in d: it runs after each
// new build is live, after a backup of the site. The sites moving to
// another server (moving) get none in d: their migration runs the
// returned step on the target, after their data moved there.
func addUpdates(d *reconcile.Desired, res *spec.Resolved, base, revision string, b *backup.Backups, moving map[string]bool) map[string]*install.Update {
	byID := make(map[string]reconcile.Resource, len(d.Resources))
	for _, r := range d.Resources {
		byID[r.ID()] = r
	}
	platforms := map[string]spec.ResolvedPlatform{}
	for _, p := range res.Platforms {
		platforms[p.Name] = p
	}
	out := map[string]*install.Update{}
	for i := range res.Sites {
		site := &res.Sites[i]
		pl, ok := platforms[site.Platform]
		if !ok || len(site.Servers) == 0 {
			continue
		}
		sn := site.Servers[0]
		srv, _ := serverOf(res, sn, base)
		rel, ok := byID[ReleaseID(pl.Name, sn)].(*release.Release)
		if !ok || srv.HTTP == nil {
			continue // no code deployed by berth: nothing to update for
		}
		paths := render.Paths(site, &srv)
		run, private := render.SiteOwners(site, srv.HTTP)
		env := []string{"BERTH_SITE=" + site.Domain, "BERTH_SITE_DIR=" + paths.SiteDir}
		if p := render.SettingsPath(site, &srv); p != "" {
			env = append([]string{"BERTH_SETTINGS=" + p}, env...)
		}
		s := install.UpdateSpec{ID: UpdateID(site.Domain, sn), Server: sn, Site: site.Domain,
			Marker: path.Join(paths.SiteDir, install.UpdateMarker), Build: rel.Build(), Owner: run, Group: private,
			Argv: pl.Update, Dir: paths.Docroot, User: run, Env: env}
		switch {
		case len(pl.Update) > 0:
		case pl.Update != nil:
			continue // update: [] declares none
		case pl.Type == "drupal":
			s.Argv = []string{path.Join(paths.Current, "vendor/bin/drush"), "--root=" + paths.Docroot, "--uri=" + site.Domain, "updatedb", "-y"}
			s.Shown = "drush updatedb -y"
		case pl.Type == "wordpress":
			s.Argv = []string{"php", "-r", wordpressUpdatePHP}
			s.Shown = "wp_upgrade() through " + path.Join(paths.Docroot, "wp-load.php")
			s.Success = wpUpdateOK
			root, host := paths.Docroot, site.Domain
			s.Input = func(context.Context) ([]byte, []string, error) {
				in, err := json.Marshal(map[string]string{"root": root, "host": host})
				return in, nil, err
			}
		default:
			continue
		}
		if (len(pl.Install) > 0 || pl.Type == "wordpress") && site.Clone == nil {
			s.Installed = path.Join(paths.SiteDir, install.InstallMarker)
		}
		s.Deps = []string{rel.ID()}
		for _, id := range []string{InstallID(site.Domain, sn), SiteDirID(site.Domain, sn), SettingsID(site.Domain, sn)} {
			if byID[id] != nil {
				s.Deps = append(s.Deps, id)
			}
		}
		name := site.Name
		s.Backup = func(ctx context.Context) error {
			data, _, err := SiteDataOf(res, name, base)
			if err != nil {
				return err
			}
			store, err := BackupStoreOf(res, cmp.Or(res.Backups.Server, data.Web), base)
			if err != nil {
				return err
			}
			_, err = b.Take(ctx, data, store, backup.Options{Revision: revision, Reason: ReasonUpdate})
			return err
		}
		u := install.NewUpdate(s)
		if moving[site.Domain] {
			out[site.Domain] = u
			continue
		}
		d.Resources = append(d.Resources, u)
	}
	return out
}
