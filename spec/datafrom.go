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
// sanitize step. Here are the repo's side (DataFrom, its checks at load)
// and what it resolves to (ResolvedDataFrom).

// EnvDataFrom is an environment's data_from in berth.yaml.
type EnvDataFrom struct {
	Env      string   `yaml:"env" json:"env,omitempty" berth:"required" doc:"The environment the data comes from (e.g. production); another environment than this one, which must not itself be a production environment (named production, or following main or master): data goes down, never up." rule:"environment"`
	Schedule string   `yaml:"schedule" json:"schedule,omitempty" berth:"required" doc:"How often berth serve copies the data: hourly, daily, weekly, or every N minutes or hours (every 6h), as cron's schedules; counted from the last copy recorded in the run history, so a restart does not copy early." rule:"cron-schedule"`
	Sites    []string `yaml:"sites" json:"sites,omitempty" doc:"The sites of this environment that get the data (default: every one whose source, its clone_from's site or the site of its own name, exists in env). A site with a database needs a sanitize step, its own or its platform's (sanitize: { sql: FILE }), or sanitize: { none: true } where the data holds nothing personal." rule:"domain"`
}

// ResolvedDataFrom is an environment's data_from: the sites that get
// their data from Env, every Every.
type ResolvedDataFrom struct {
	Env      string        `json:"env"`
	Schedule string        `json:"schedule"`
	Every    time.Duration `json:"every"`
	// Sites are the names (in the repo) of the sites of the environment
	// that get their data, sorted.
	Sites []string `json:"sites"`
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

// dataFromSites lists the sites of environment env that get data from
// its data_from d: those it names, else every site of env whose source
// exists in d.Env.
func (r *Repo) dataFromSites(env string, d *EnvDataFrom) []string {
	if len(d.Sites) > 0 {
		out := slices.Clone(d.Sites)
		slices.Sort(out)
		return slices.Compact(out)
	}
	var out []string
	for _, name := range slices.Sorted(maps.Keys(r.sites)) {
		s := r.sites[name]
		if !inEnv(s.Environments, env) {
			continue
		}
		if src := r.sites[dataSource(s)]; src != nil && inEnv(src.Environments, d.Env) && (d.Env != env || src != s) {
			out = append(out, name)
		}
	}
	return out
}

// resolveDataFrom is environment env's data_from resolved; nil when it
// declares none.
func (r *Repo) resolveDataFrom(env string, e *Environment) *ResolvedDataFrom {
	d := e.DataFrom
	if d == nil {
		return nil
	}
	every, _ := CronEvery(d.Schedule) // checked by its rule at load
	return &ResolvedDataFrom{Env: d.Env, Schedule: d.Schedule, Every: every, Sites: r.dataFromSites(env, d)}
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
		if e == nil || e.DataFrom == nil || !inEnv(s.Environments, name) {
			continue
		}
		if len(e.DataFrom.Sites) == 0 || slices.Contains(e.DataFrom.Sites, s.Name) {
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
	envs := c.r.environmentNames()
	if IsProduction(name, e.Branch) {
		c.keyAt(m, p, subject, "data_from copies data into this environment, and %q is a production environment (named production, or following main or master): berth copies data down, never up; declare data_from on the environment that receives the data (staging), or copy once with berth sync-data --into-production", name)
		return
	}
	switch src := c.r.Config.Environments[d.Env]; {
	case d.Env == "":
		return // reported by the decoder
	case src == nil:
		c.at(m, p+".env", subject, "environment %q is not declared in berth.yaml%s", d.Env, didYouMean(d.Env, envs))
		return
	case d.Env == name:
		c.at(m, p+".env", subject, "data_from names this environment itself; name the environment the data comes from, e.g. production")
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
		c.dataFromSanitized(m, at, subject, name, s)
	}
	if len(d.Sites) == 0 {
		for _, sn := range c.r.dataFromSites(name, d) {
			c.dataFromSanitized(m, p, subject, name, c.r.sites[sn])
		}
	}
}

// dataFromSanitized refuses site s in environment env's data_from when
// it has a database and no sanitize step: data down carries personal
// data.
func (c *checker) dataFromSanitized(m *Meta, at, subject, env string, s *Site) {
	if s.DB == nil || c.r.sanitizeOf(s) != nil {
		return
	}
	c.at(m, at, subject, "site %q gets its database from data_from, and neither it nor its platform %q has a sanitize step: production data carries personal data (e-mail addresses, password hashes); give the site or its platform sanitize: { sql: FILE }, or sanitize: { none: true } if its data holds nothing personal, or name the other sites in data_from.sites", s.Name, s.Platform)
}

// DataFromSites resolves where the data of each site of res's data_from
// comes from (DataFrom for each, the source environment resolved once).
func DataFromSites(r *Repo, res *Resolved) (map[string]*ResolvedClone, error) {
	d := res.DataFrom
	if d == nil {
		return nil, nil
	}
	out := make(map[string]*ResolvedClone, len(d.Sites))
	sources := map[string]*Resolved{res.Environment: res}
	for _, name := range d.Sites {
		s := r.sites[name]
		if s == nil || !slices.ContainsFunc(res.Sites, func(x ResolvedSite) bool { return x.Name == name }) {
			return nil, fmt.Errorf("data_from of environment %s: it has no site %s", res.Environment, name)
		}
		cl, err := r.cloneOf(res, s, dataSource(s), d.Env, sources)
		if err != nil {
			return nil, fmt.Errorf("data_from of environment %s: site %s: %w", res.Environment, name, err)
		}
		out[name] = cl
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
