package daemon

import (
	"io/fs"
	"maps"
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
	Client string   `json:"client,omitempty"`
	Backup string   `json:"backup,omitempty"` // its schedule and how many are kept
	Cron   []string `json:"cron,omitempty"`   // NAME (SCHEDULE)
}

// siteViews returns the views of res's sites, sorted by domain.
func siteViews(res *spec.Resolved) []SiteView {
	out := make([]SiteView, 0, len(res.Sites))
	for _, s := range res.Sites {
		v := SiteView{Name: s.Name, Domain: s.Domain, Aliases: slices.Clone(s.Aliases), Platform: s.Platform, Type: s.Type,
			Servers: slices.Clone(s.Servers), PHP: s.PHP, State: s.State, ACME: s.TLS.ACME, Client: s.Client}
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

// ClientView is a client of berth.yaml as the dashboard brands it, with
// its logo read from the revision's tree.
type ClientView struct {
	Key        string // its short name in berth.yaml, which sites name
	Name       string
	Hostname   string // ASCII
	Support    string
	ShowBerth  bool
	Primary    string
	Background string
	Logo       []byte
	LogoType   string
}

// clientViews returns the clients of cfg, their logos read from fsys (a
// logo that cannot be read is left out: validation reported it).
func clientViews(cfg *spec.Config, fsys fs.FS) map[string]ClientView {
	out := map[string]ClientView{}
	if cfg == nil {
		return out
	}
	for key, c := range cfg.Clients {
		if c == nil {
			continue
		}
		v := ClientView{Key: key, Name: c.Name, Support: c.Support, ShowBerth: c.ShowBerth, Primary: c.Colors.Primary, Background: c.Colors.Background}
		if h, err := spec.ASCIIDomain(c.Hostname, false); err == nil && c.Hostname != "" {
			v.Hostname = h
		}
		if c.Logo != "" {
			if b, typ, err := spec.ReadLogo(fsys, c.Logo); err == nil {
				v.Logo, v.LogoType = b, typ
			}
		}
		out[key] = v
	}
	return out
}

// Clients returns the clients of the revisions the environments last
// built, by key: an environment's, in the order of their names, wins over
// a later one's for the same key.
func (d *Daemon) Clients() map[string]ClientView {
	d.mu.Lock()
	names := slices.Sorted(maps.Keys(d.envs))
	ws := make([]*envWorker, len(names))
	for i, n := range names {
		ws[i] = d.envs[n]
	}
	d.mu.Unlock()
	out := map[string]ClientView{}
	for _, w := range ws {
		w.mu.Lock()
		for k, v := range w.clients {
			if _, ok := out[k]; !ok {
				out[k] = v
			}
		}
		w.mu.Unlock()
	}
	return out
}
