package desired

import (
	"github.com/berthhq/berth/cron"
	"github.com/berthhq/berth/render"
	"github.com/berthhq/berth/spec"
)

// CronJobs are the scheduled commands of the sites of res (their `cron:`
// and their platforms'), each on the site's first web server, as the
// site's user (its own when isolated, else the web server's), in its
// document root, with the environment a platform's
// install gets (BERTH_SETTINGS, BERTH_SITE, BERTH_SITE_DIR). A disabled
// site's jobs do not run. base is the state directory, the base of local
// servers' relative paths.
func CronJobs(res *spec.Resolved, base string) []cron.Job {
	res, _ = isolate(res) // an isolated site's jobs run as its own user
	servers := map[string]spec.ResolvedServer{}
	for _, s := range res.Servers {
		if s.Local() {
			s = s.WithBase(base)
		}
		servers[s.Name] = s
	}
	var out []cron.Job
	for i := range res.Sites {
		site := &res.Sites[i]
		if len(site.Cron) == 0 || len(site.Servers) == 0 || site.State == "disabled" {
			continue
		}
		sn := site.Servers[0]
		srv := servers[sn]
		if srv.HTTP == nil {
			continue
		}
		paths := render.Paths(site, &srv)
		var vars []string
		if p := render.SettingsPath(site, &srv); p != "" {
			vars = append(vars, "BERTH_SETTINGS="+p)
		}
		vars = append(vars, "BERTH_SITE="+site.Domain, "BERTH_SITE_DIR="+paths.SiteDir)
		for _, c := range site.Cron {
			user, _ := render.SiteOwners(site, srv.HTTP)
			out = append(out, cron.Job{Environment: res.Environment, Site: site.Domain, Name: c.Name, Server: sn,
				Every: c.Every, Argv: c.Command, Dir: paths.Docroot, User: user, Vars: vars})
		}
	}
	return out
}
