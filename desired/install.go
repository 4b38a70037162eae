package desired

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"path"

	"github.com/berthhq/berth/kind/install"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/render"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

//go:embed install_wordpress.php
var wordpressInstallPHP string

// wpInstallOK is the line berth's wordpress install prints when it is done.
const wpInstallOK = "berth-install: ok"

// addInstalls adds to d, which buildDesired and addDatabases made from res, the
// install of every site whose platform has one (see spec.Platform.Install;
// wordpress: wp_install() through berth's own script, which needs no
// wp-cli). A site is installed once, on its first web server, after its
// directory, settings file, database and platform release; a site whose
// platform's code is not deployed by this revision gets no install.
//
// A site moving to another web server (moving) is not installed there:
// its migration moves its data and the install's marker; a clone is never
// installed: its data is its source's (clone.go).
//
// The admin password of a wordpress site is generated on first install
// and kept in secrets under admin/<env>/<site>; it reaches only the
// install's standard input, never a Change, a log line or an error.
func addInstalls(d *reconcile.Desired, res *spec.Resolved, base string, secrets Secrets, moving map[string]bool) {
	servers := map[string]spec.ResolvedServer{}
	for _, s := range res.Servers {
		if s.Local() {
			s = s.WithBase(base)
		}
		servers[s.Name] = s
	}
	platforms := map[string]spec.ResolvedPlatform{}
	for _, p := range res.Platforms {
		platforms[p.Name] = p
	}
	ids := make(map[string]bool, len(d.Resources))
	for _, r := range d.Resources {
		ids[r.ID()] = true
	}
	for i := range res.Sites {
		site := &res.Sites[i]
		pl, ok := platforms[site.Platform]
		if !ok || len(site.Servers) == 0 || len(pl.Install) == 0 && pl.Type != "wordpress" || moving[site.Domain] || site.Clone != nil {
			continue
		}
		sn := site.Servers[0]
		srv := servers[sn]
		if srv.HTTP == nil {
			continue
		}
		release := ReleaseID(pl.Name, sn)
		if !ids[release] {
			d.Warnings = append(d.Warnings, fmt.Sprintf("site %s: not installed until platform %s's code is deployed to %s", site.Name, pl.Name, sn))
			continue
		}
		paths := render.Paths(site, &srv)
		deps := []string{release}
		candidates := []string{SiteDirID(site.Domain, sn), SettingsID(site.Domain, sn)}
		if db := site.DB; db != nil {
			dbServer := db.Server
			if db.Type == "sqlite" {
				dbServer = sn
			}
			candidates = append(candidates, DatabaseID(site.Domain, db.Name, dbServer))
		}
		for _, id := range candidates {
			if ids[id] {
				deps = append(deps, id)
			}
		}
		var env []string
		if p := render.SettingsPath(site, &srv); p != "" {
			env = append(env, "BERTH_SETTINGS="+p)
		}
		env = append(env, "BERTH_SITE="+site.Domain, "BERTH_SITE_DIR="+paths.SiteDir)
		// The install runs as the pool does: an isolated site's own user
		// (only it reads the settings file and writes the site's files).
		run, private := render.SiteOwners(site, srv.HTTP)
		s := install.InstallSpec{ID: InstallID(site.Domain, sn), Server: sn, Site: site.Domain,
			Marker: path.Join(paths.SiteDir, install.InstallMarker), Owner: run, Group: private,
			Argv: pl.Install, Dir: paths.Docroot, User: run, Env: env, Deps: deps}
		if len(pl.Install) == 0 { // wordpress
			s.Argv = []string{"php", "-r", wordpressInstallPHP}
			s.Shown = "wp_install() through " + path.Join(paths.Docroot, "wp-load.php")
			s.Success = wpInstallOK
			s.Input = wordpressInput(site, paths.Docroot, res.Environment, secrets)
		}
		d.Resources = append(d.Resources, install.New(s))
	}
}

// wordpressInput returns the JSON berth's wordpress install reads on its
// standard input.
func wordpressInput(site *spec.ResolvedSite, docroot, env string, secrets Secrets) func(ctx context.Context) ([]byte, []string, error) {
	return func(ctx context.Context) ([]byte, []string, error) {
		pw, err := secrets.Secret(ctx, AdminSecretKey(env, site.Name), func() (string, error) { return state.GeneratePassword(24) })
		if err != nil {
			return nil, nil, fmt.Errorf("the admin password: %w; berth keeps it in its state store: check --state-dir", err)
		}
		in, err := json.Marshal(map[string]string{"root": docroot, "host": site.Domain, "title": site.Name,
			"user": "admin", "email": "admin@" + site.Domain, "password": pw})
		return in, []string{pw}, err
	}
}
