package daemon

import (
	"slices"
	"strconv"
	"strings"

	"github.com/berthhq/berth/spec"
)

// SiteView is what the dashboard shows of a declared site: where it runs
// and how it is served, from the desired state of the revision the
// environment last built. It holds no secret (no database password, no
// salt), so it may go to any reader of the environment.
type SiteView struct {
	Name     string   `json:"name"`
	Domain   string   `json:"domain"`
	Aliases  []string `json:"aliases,omitempty"`
	Platform string   `json:"platform"`
	Type     string   `json:"type"`
	Servers  []string `json:"servers"`
	PHP      string   `json:"php,omitempty"`
	State    string   `json:"state"`
	// DB is "TYPE NAME on SERVER", empty without a database.
	DB string `json:"db,omitempty"`
	// LB is the load balancer the site is served through, if any.
	LB     string   `json:"lb,omitempty"`
	ACME   bool     `json:"acme,omitempty"`
	Backup string   `json:"backup,omitempty"` // its schedule and how many are kept
	Cron   []string `json:"cron,omitempty"`   // NAME (SCHEDULE)
}

// siteViews returns the views of res's sites, sorted by domain.
func siteViews(res *spec.Resolved) []SiteView {
	out := make([]SiteView, 0, len(res.Sites))
	for _, s := range res.Sites {
		v := SiteView{Name: s.Name, Domain: s.Domain, Aliases: slices.Clone(s.Aliases), Platform: s.Platform, Type: s.Type,
			Servers: slices.Clone(s.Servers), PHP: s.PHP, State: s.State, ACME: s.TLS.ACME}
		if s.DB != nil {
			v.DB = s.DB.Type + " " + s.DB.Name + " on " + s.DB.Server
		}
		if s.LB != nil {
			v.LB = s.LB.Server
		}
		if s.Backup != nil && s.Backup.Schedule != "" {
			v.Backup = s.Backup.Schedule
			if s.Backup.Keep > 0 {
				v.Backup += ", keep " + strconv.Itoa(s.Backup.Keep)
			}
		}
		for _, c := range s.Cron {
			v.Cron = append(v.Cron, c.Name+" ("+c.Schedule+")")
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b SiteView) int { return strings.Compare(a.Domain, b.Domain) })
	return out
}

// Sites returns the views of env's declared sites (sorted by domain) as
// of the revision it last built, and false for an environment the daemon
// does not run or has not built yet.
func (d *Daemon) Sites(env string) ([]SiteView, bool) {
	d.mu.Lock()
	w := d.envs[env]
	d.mu.Unlock()
	if w == nil {
		return nil, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sites, w.sites != nil
}
