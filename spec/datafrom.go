package spec

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Data down, declared: an environment's data_from copies the data of its
// sites from another environment on a schedule, as berth sync-data does
// once (package desired's SyncData, run by the daemon's scheduled jobs):
// a fresh backup of the source site, restored into the environment's
// site after its own backup, then the site's (or its platform's)
// sanitize step. A site may have its own in the environment's override
// of it (environments.X.sites.SITE.data_from: its source environment and
// schedule), which wins over the environment's for that site. Here are
// the repo's side (EnvDataFrom, SiteDataFrom, their checks at load) and
// what they resolve to: one ResolvedDataFrom per site.

// EnvDataFrom is an environment's data_from in berth.yaml.
type EnvDataFrom struct {
	Env      string   `yaml:"env" json:"env,omitempty" berth:"required" doc:"The environment the data comes from (e.g. production); another environment than this one, which must not itself be a production environment (named production, or following main or master): data goes down, never up." rule:"environment"`
	Schedule string   `yaml:"schedule" json:"schedule,omitempty" berth:"required" doc:"How often berth serve copies the data: hourly, daily, weekly, or every N minutes or hours (every 6h), as cron's schedules; counted from the last copy recorded in the run history, so a restart does not copy early." rule:"cron-schedule"`
	Sites    []string `yaml:"sites" json:"sites,omitempty" doc:"The sites of this environment that get the data (default: every one whose source, its clone_from's site or the site of its own name, exists in env, except those with a data_from of their own in sites). A site with a database needs a sanitize step, its own or its platform's (sanitize: { sql: FILE }), or sanitize: { none: true } where the data holds nothing personal." rule:"domain"`
}

// SiteDataFrom is a site's own data_from in an environment's override of
// it (SiteOverride): it wins over the environment's for that site.
type SiteDataFrom struct {
	Env      string `yaml:"env" json:"env,omitempty" berth:"required" doc:"The environment the site's data comes from (e.g. production); another environment than this one, and this one not a production environment: data goes down, never up. The site's source (its clone_from's site, else the site of its own name) must exist in it." rule:"environment"`
	Schedule string `yaml:"schedule" json:"schedule,omitempty" berth:"required" doc:"How often berth serve copies the site's data: hourly, daily, weekly, or every N minutes or hours (every 6h); counted from the site's last copy recorded in the run history." rule:"cron-schedule"`
}

// ResolvedDataFrom is one site of an environment that gets its data from
// environment Env, every Every: from the environment's data_from or from
// its own.
type ResolvedDataFrom struct {
	// Site is the site's name in the repo.
	Site     string        `json:"site"`
	Env      string        `json:"env"`
	Schedule string        `json:"schedule"`
	Every    time.Duration `json:"every"`
}

// IsProduction says whether the environment env following branch is a
// production environment: berth copies data down, never into one,
// unless berth sync-data's --into-production says so; data_from cannot.
func IsProduction(env, branch string) bool {
	return env == "production" || branch == "main" || branch == "master"
}

// dataSource is the name in the source environment of the site s's data
// (its clone_from's site, else its own).
func dataSource(s *Site) string { return cmp.Or(s.CloneFrom, s.Name) }

// ownDataFrom is the data_from of site name in environment e's override
// of it; nil when it has none.
func ownDataFrom(e *Environment, name string) *SiteDataFrom {
	if o := e.Sites[name]; o != nil {
		return o.DataFrom
	}
	return nil
}

// dataFromSites lists the sites of environment env (e) that get data
// from its own data_from: those it names, else every site of env whose
// source exists in e.DataFrom.Env; never one with a data_from of its own,
// which wins.
func (r *Repo) dataFromSites(env string, e *Environment) []string {
	d := e.DataFrom
	var out []string
	if len(d.Sites) > 0 {
		out = slices.Clone(d.Sites)
		slices.Sort(out)
		out = slices.Compact(out)
	} else {
		for _, name := range slices.Sorted(maps.Keys(r.sites)) {
			s := r.sites[name]
			if !inEnv(s.Environments, env) {
				continue
			}
			if src := r.sites[dataSource(s)]; src != nil && inEnv(src.Environments, d.Env) && (d.Env != env || src != s) {
				out = append(out, name)
			}
		}
	}
	return slices.DeleteFunc(out, func(name string) bool { return ownDataFrom(e, name) != nil })
}

// resolveDataFrom is what environment env's data_from and its sites' own
// resolve to: one entry per site, sorted by site (nil: none); and, when
// that is none while the environment declares a data_from, its source
// environment (for the plan's note).
func (r *Repo) resolveDataFrom(env string, e *Environment) ([]ResolvedDataFrom, string) {
	var out []ResolvedDataFrom
	if d := e.DataFrom; d != nil {
		every, _ := CronEvery(d.Schedule) // checked by its rule at load
		for _, name := range r.dataFromSites(env, e) {
			out = append(out, ResolvedDataFrom{Site: name, Env: d.Env, Schedule: d.Schedule, Every: every})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(e.Sites)) {
		d := ownDataFrom(e, name)
		if s := r.sites[name]; d == nil || s == nil || !inEnv(s.Environments, env) {
			continue // an override of a site not in env: refused at load
		}
		every, _ := CronEvery(d.Schedule)
		out = append(out, ResolvedDataFrom{Site: name, Env: d.Env, Schedule: d.Schedule, Every: every})
	}
	slices.SortFunc(out, func(a, b ResolvedDataFrom) int { return cmp.Compare(a.Site, b.Site) })
	if len(out) == 0 && e.DataFrom != nil {
		return nil, e.DataFrom.Env
	}
	return out, ""
}

// sanitizeOf is the sanitize step a copy of s's data gets: its own, else
// its platform's; nil: none declared.
func (r *Repo) sanitizeOf(s *Site) *Sanitize {
	if s.Sanitize != nil {
		return s.Sanitize
	}
	if p := r.platforms[s.Platform]; p != nil {
		return p.Sanitize
	}
	return nil
}

// dataFromCovers says whether some environment's data_from copies data
// into site s (then its own sanitize step has a use without clone_from).
func (r *Repo) dataFromCovers(s *Site) bool {
	if r.Config == nil {
		return false
	}
	for name, e := range r.Config.Environments {
		if e == nil || !inEnv(s.Environments, name) {
			continue
		}
		if ownDataFrom(e, s.Name) != nil {
			return true
		}
		if e.DataFrom != nil && (len(e.DataFrom.Sites) == 0 || slices.Contains(e.DataFrom.Sites, s.Name)) {
			return true
		}
	}
	return false
}

// dataFrom checks environment name's data_from (at path p of berth.yaml):
// the source is another declared environment, the environment is not a
// production one, every named site is in both, and every site with a
// database has a sanitize step or says it needs none.
func (c *checker) dataFrom(m *Meta, p, name string, e *Environment) {
	d := e.DataFrom
	if d == nil {
		return
	}
	p += ".data_from"
	subject := subjectOf("environment", name)
	if IsProduction(name, e.Branch) {
		c.keyAt(m, p, subject, "data_from copies data into this environment, and %q is a production environment (named production, or following main or master): berth copies data down, never up; declare data_from on the environment that receives the data (staging), or copy once with berth sync-data --into-production", name)
		return
	}
	if !c.dataFromEnv(m, p, subject, name, d.Env) {
		return
	}
	siteNames := slices.Sorted(maps.Keys(c.r.sites))
	seen := map[string]bool{}
	for i, sn := range d.Sites {
		at := fmt.Sprintf("%s.sites[%d]", p, i)
		s := c.r.sites[sn]
		switch {
		case RuleDomain.Check(sn) != nil:
			continue // refused by its rule
		case seen[sn]:
			c.at(m, at, subject, "site %q is listed twice", sn)
			continue
		case s == nil:
			c.missing(m, at, subject, "site %q does not exist%s", sn, didYouMean(sn, siteNames))
			continue
		case !inEnv(s.Environments, name):
			c.at(m, at, subject, "site %q is not in environment %q (its environments: at %s); remove it from data_from.sites", sn, name, s.At("environments"))
			continue
		case ownDataFrom(e, sn) != nil:
			c.at(m, at, subject, "site %q has a data_from of its own (at %s), which wins for it; remove it from data_from.sites, or remove its own", sn, m.KeyAt("environments."+name+".sites."+sn+".data_from"))
			continue
		}
		seen[sn] = true
		src := c.r.sites[dataSource(s)]
		switch {
		case src == nil:
			continue // clone_from's problem, reported at the site
		case !inEnv(src.Environments, d.Env):
			c.at(m, at, subject, "the data of site %q would come from site %q of environment %q, which has no such site; remove it from data_from.sites, or add the site to %q", sn, src.Name, d.Env, d.Env)
			continue
		}
		c.dataFromSanitized(m, at, subject, s, "or name the other sites in data_from.sites")
	}
	if len(d.Sites) == 0 {
		for _, sn := range c.r.dataFromSites(name, e) {
			c.dataFromSanitized(m, p, subject, c.r.sites[sn], "or name the other sites in data_from.sites")
		}
	}
}

// dataFromEnv checks the source environment src of a data_from at path p
// (of environment name): declared, and not name itself. False: refused
// (or missing, reported by the decoder).
func (c *checker) dataFromEnv(m *Meta, p, subject, name, src string) bool {
	switch {
	case src == "":
		return false // reported by the decoder
	case c.r.Config.Environments[src] == nil:
		c.at(m, p+".env", subject, "environment %q is not declared in berth.yaml%s", src, didYouMean(src, c.r.environmentNames()))
		return false
	case src == name:
		c.at(m, p+".env", subject, "data_from names this environment itself; name the environment the data comes from, e.g. production")
		return false
	}
	return true
}

// siteDataFrom checks the data_from d of environment name's (e's)
// override of site sn, at path sp of berth.yaml: as the environment's
// data_from for one site (not into a production environment, from
// another declared environment holding the site's source, a sanitize
// step for a site with a database), and the site in the environment.
func (c *checker) siteDataFrom(m *Meta, sp, name string, e *Environment, sn string, d *SiteDataFrom) {
	if d == nil {
		return
	}
	p := sp + ".data_from"
	subject := subjectOf("environment", name)
	if IsProduction(name, e.Branch) {
		c.keyAt(m, p, subject, "the data_from of site %q copies data into this environment, and %q is a production environment (named production, or following main or master): berth copies data down, never up; declare it on the site's override in the environment that receives the data (staging), or copy once with berth sync-data --into-production", sn, name)
		return
	}
	if !c.dataFromEnv(m, p, subject, name, d.Env) {
		return
	}
	s := c.r.sites[sn]
	if s == nil {
		return // the override is refused
	}
	if !inEnv(s.Environments, name) {
		c.keyAt(m, p, subject, "site %q is not in environment %q (its environments: at %s); remove its data_from, or add the environment to the site", sn, name, s.At("environments"))
		return
	}
	switch src := c.r.sites[dataSource(s)]; {
	case src == nil:
		return // clone_from's problem, reported at the site
	case !inEnv(src.Environments, d.Env):
		c.at(m, p+".env", subject, "the data of site %q would come from site %q of environment %q, which has no such site; name another environment, or add the site to %q", sn, src.Name, d.Env, d.Env)
		return
	}
	c.dataFromSanitized(m, p, subject, s, "or remove the site's data_from")
}

// dataFromSanitized refuses site s in a data_from when it has a database
// and no sanitize step: data down carries personal data. instead is the
// last way out the message offers.
func (c *checker) dataFromSanitized(m *Meta, at, subject string, s *Site, instead string) {
	if s.DB == nil || c.r.sanitizeOf(s) != nil {
		return
	}
	c.at(m, at, subject, "site %q gets its database from data_from, and neither it nor its platform %q has a sanitize step: production data carries personal data (e-mail addresses, password hashes); give the site or its platform sanitize: { sql: FILE }, or sanitize: { none: true } if its data holds nothing personal, %s", s.Name, s.Platform, instead)
}

// DataFromSites resolves where the data of each site of res's data_from
// comes from (DataFrom for each, in its own source environment, each
// source environment resolved once).
func DataFromSites(r *Repo, res *Resolved) (map[string]*ResolvedClone, error) {
	if len(res.DataFrom) == 0 {
		return nil, nil
	}
	out := make(map[string]*ResolvedClone, len(res.DataFrom))
	sources := map[string]*Resolved{res.Environment: res}
	for _, d := range res.DataFrom {
		s := r.sites[d.Site]
		if s == nil || !slices.ContainsFunc(res.Sites, func(x ResolvedSite) bool { return x.Name == d.Site }) {
			return nil, fmt.Errorf("data_from of environment %s: it has no site %s", res.Environment, d.Site)
		}
		cl, err := r.cloneOf(res, s, dataSource(s), d.Env, sources)
		if err != nil {
			return nil, fmt.Errorf("data_from of environment %s: site %s: %w", res.Environment, d.Site, err)
		}
		out[d.Site] = cl
	}
	return out, nil
}

// WithClone returns res with site's Clone set to cl (a copy; res is not
// changed): what berth sync-data and data_from hand the builder, and
// whose CloneServers are the source's servers to reach.
func (res *Resolved) WithClone(site string, cl *ResolvedClone) *Resolved {
	out := *res
	out.Sites = slices.Clone(res.Sites)
	for i := range out.Sites {
		if out.Sites[i].Name == site {
			out.Sites[i].Clone = cl
		}
	}
	return &out
}
