package spec

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// Cloning a site: a site with clone_from is created from a fresh backup
// of another site (of this environment or of from_env: a staging copy of
// a production site), and its sanitize step (an SQL file of the repo)
// runs against the copy before it is served. The builder (package
// desired) and kind/migrate's clone do it; here are the repo's side
// (Sanitize, the checks at load) and the resolved source (ResolvedClone).

// Sanitize is the step a clone's database goes through before the clone
// is served.
type Sanitize struct {
	SQL         string   `yaml:"sql" json:"sql,omitempty" doc:"An SQL file of the sites repo run against the clone's database before it is served (replace e-mail addresses, password hashes, API keys); it must succeed as a whole. It runs with the rights of the clone's database only (MariaDB, PostgreSQL: as a user or role made for the step; SQLite: sqlite3 -safe), never a client command of psql or mariadb; against PostgreSQL at most 128 KiB. Either sql or none: true." rule:"rel-path"`
	Command     []string `yaml:"command" json:"command,omitempty" doc:"A command run against the clone instead of an SQL file, before it is served: an argument vector (no shell), e.g. [vendor/bin/drush, sql:sanitize, -y], run as the clone's site user on its first web server, in its live build's document root, with BERTH_SETTINGS (the clone's own database only), BERTH_SITE and BERTH_SITE_DIR set; it must succeed." rule:"argv"`
	CheckTables bool     `yaml:"check_tables" json:"check_tables,omitempty" doc:"Fail the clone when its database has a table the SQL file does not mention by name: the clone's database is emptied again and nothing is served from it."`
	// None says, on purpose, that the data needs no sanitize step: an
	// environment's data_from refuses a site with a database without
	// one or the other.
	None bool `yaml:"none" json:"none,omitempty" doc:"The site's data holds nothing personal: its copies (clone_from, berth sync-data, data_from) are served as they are. data_from refuses a site with a database that has neither a sanitize sql (its own or its platform's) nor none: true."`
}

// MaxSanitizeSQL is the largest sanitize SQL file.
const MaxSanitizeSQL = 1 << 20

// ReadSanitizeSQL reads a sanitize step's SQL file from the repo's tree
// (readRepoFile), at most MaxSanitizeSQL bytes.
func ReadSanitizeSQL(fsys fs.FS, name string) ([]byte, error) {
	return readRepoFile(fsys, "sanitize.sql", name, MaxSanitizeSQL)
}

// readRepoFile reads the file name (what it is for: field) from the
// repo's tree: a relative path, a regular file (the tree's reader refuses
// links out of it and special files), of at most max bytes.
func readRepoFile(fsys fs.FS, field, name string, max int64) ([]byte, error) {
	if err := RuleRelPath.Check(name); err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	st, err := fs.Stat(fsys, name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s %q: no such file in the sites repo; the path is relative to the repo's top", field, name)
	case err != nil:
		return nil, fmt.Errorf("%s %q cannot be read in the sites repo: %w", field, name, err)
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("%s %q is not a regular file", field, name)
	case st.Size() > max:
		return nil, fmt.Errorf("%s %q is %d bytes; at most %d", field, name, st.Size(), max)
	}
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("%s %q cannot be read in the sites repo: %w", field, name, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s %q is more than %d bytes", field, name, max)
	}
	return b, nil
}

// Shown names the sanitize step for people: its SQL file or command.
func (s *Sanitize) Shown() string {
	if len(s.Command) > 0 {
		return strings.Join(s.Command, " ")
	}
	return s.SQL
}

// sanitize checks a sanitize step: either its SQL file, readable, or a
// command, or none: true.
func (c *checker) sanitize(m *Meta, at, subject string, s *Sanitize) {
	switch {
	case s == nil:
		return
	case s.None && (s.SQL != "" || len(s.Command) > 0):
		c.at(m, at+".none", subject, "sanitize has none: true and a step (sql or command); keep the step to sanitize the copies, or none: true to serve them as they are")
		return
	case s.SQL != "" && len(s.Command) > 0:
		c.at(m, at+".command", subject, "sanitize has both sql and command; keep one")
		return
	case !s.None && s.SQL == "" && len(s.Command) == 0:
		c.keyAt(m, at, subject, "sanitize needs sql: FILE (an SQL file of the repo run against the copy), command: [ARGV] (run against the copy), or none: true if the data holds nothing personal")
		return
	case s.CheckTables && s.SQL == "":
		c.at(m, at+".check_tables", subject, "check_tables checks the tables the sql file mentions, and this sanitize step has no sql file; remove check_tables")
		return
	case s.None || len(s.Command) > 0:
		return
	}
	if c.fsys == nil || RuleRelPath.Check(s.SQL) != nil {
		return
	}
	if _, err := ReadSanitizeSQL(c.fsys, s.SQL); err != nil {
		c.at(m, at+".sql", subject, "%v", err)
	}
}

// siteClone checks a site's clone_from, from_env and sanitize.
func (c *checker) siteClone(s *Site, envs []string) {
	m, subject := &s.Meta, subjectOf("site", s.Name)
	c.sanitize(m, "sanitize", subject, s.Sanitize)
	switch {
	case s.CloneFrom == "" && s.FromEnv != "":
		c.at(m, "from_env", subject, "from_env names where clone_from's site is; set clone_from too, or remove from_env")
	case s.CloneFrom == "" && s.Sanitize != nil && !c.r.dataFromCovers(s):
		c.at(m, "sanitize", subject, "sanitize runs against a clone or data copied down; set clone_from, or name the site in an environment's data_from (or give it data_from in an environment's sites: override), or remove sanitize")
	case s.CloneFrom != "" && s.FromEnv == "" && s.CloneFrom == s.Name:
		c.at(m, "clone_from", subject, "a site cannot be cloned from itself in the same environment; set from_env")
	}
	if s.FromEnv != "" && len(envs) > 0 && !slices.Contains(envs, s.FromEnv) {
		c.at(m, "from_env", subject, "environment %q is not declared in berth.yaml%s", s.FromEnv, didYouMean(s.FromEnv, envs))
	}
}

// ResolvedClone is where a clone's data comes from, and its sanitize
// step.
type ResolvedClone struct {
	Env  string `json:"env"`  // the source's environment
	Site string `json:"site"` // the source's name in the repo
	// Sanitize is the site's sanitize step, else its platform's; nil:
	// none (the copy is served as it is).
	Sanitize *Sanitize `json:"sanitize,omitempty"`
	// Source is the source site resolved in Env, and Servers the servers
	// of Env it lives on (its web servers, its db server): berth reads
	// them, never changes them.
	Source  *ResolvedSite    `json:"-"`
	Servers []ResolvedServer `json:"-"`
}

// CloneServers returns the servers of other environments that the clones
// of res read from, once each, those of res excluded.
func (res *Resolved) CloneServers() []ResolvedServer {
	seen := map[string]bool{}
	for _, s := range res.Servers {
		seen[s.Name] = true
	}
	var out []ResolvedServer
	for _, site := range res.Sites {
		if site.Clone == nil {
			continue
		}
		for _, s := range site.Clone.Servers {
			if !seen[s.Name] {
				seen[s.Name] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// resolveClones fills the Clone of the sites of out that declare
// clone_from (sites: the repo's, by name), resolving their source
// environments without clones of their own.
func (r *Repo) resolveClones(out *Resolved, sites map[string]*Site) error {
	sources := map[string]*Resolved{out.Environment: out}
	for i := range out.Sites {
		rs := &out.Sites[i]
		s := sites[rs.Name]
		if s == nil || s.CloneFrom == "" {
			continue
		}
		cl, err := r.cloneOf(out, s, s.CloneFrom, cmp.Or(s.FromEnv, out.Environment), sources)
		if err != nil {
			return fmt.Errorf("%s: site %q: %w", s.At("clone_from"), s.Name, err)
		}
		rs.Clone = cl
	}
	return nil
}

// DataFrom returns where berth sync-data takes the data of site (of res,
// the environment it goes to) from: its clone_from's site when it has
// one, else the site of its own name, in environment env (default: its
// from_env), with its sanitize step.
func DataFrom(r *Repo, res *Resolved, site, env string) (*ResolvedClone, error) {
	s := r.sites[site]
	if s == nil || !slices.ContainsFunc(res.Sites, func(x ResolvedSite) bool { return x.Name == site }) {
		return nil, fmt.Errorf("environment %s has no site %s", res.Environment, site)
	}
	from := dataSource(s) // datafrom.go
	env = cmp.Or(env, s.FromEnv)
	if env == "" {
		return nil, fmt.Errorf("site %s: name the environment its data comes from (--from ENV)", site)
	}
	if env == res.Environment && from == site {
		return nil, fmt.Errorf("site %s: its data cannot come from itself; name another environment", site)
	}
	return r.cloneOf(res, s, from, env, map[string]*Resolved{res.Environment: res})
}

// cloneOf resolves site from of environment env as the source of s (of
// out), its sources cached by environment.
func (r *Repo) cloneOf(out *Resolved, s *Site, from, env string, sources map[string]*Resolved) (*ResolvedClone, error) {
	src := sources[env]
	if src == nil {
		var err error
		if src, err = r.resolve(env, false); err != nil {
			return nil, fmt.Errorf("resolve environment %q: %w", env, err)
		}
		sources[env] = src
	}
	j := slices.IndexFunc(src.Sites, func(x ResolvedSite) bool { return x.Name == from })
	if j < 0 {
		return nil, fmt.Errorf("clone_from %q is no site of environment %q", from, env)
	}
	source := src.Sites[j]
	if env == out.Environment && source.Name == s.Name {
		return nil, fmt.Errorf("site %q is cloned from itself; set from_env", s.Name)
	}
	cl := &ResolvedClone{Env: env, Site: source.Name, Sanitize: s.Sanitize, Source: &source}
	if cl.Sanitize == nil {
		if p := r.platforms[s.Platform]; p != nil {
			cl.Sanitize = p.Sanitize
		}
	}
	var names []string
	if len(source.Servers) > 0 {
		names = append(names, source.Servers[0])
	}
	if source.DB != nil && source.DB.Type != "sqlite" {
		names = append(names, source.DB.Server)
	}
	if out.Backups.Server != "" {
		names = append(names, out.Backups.Server) // the source's fresh backup goes there
	}
	for _, srv := range src.Servers {
		if slices.Contains(names, srv.Name) {
			cl.Servers = append(cl.Servers, srv)
		}
	}
	return cl, nil
}
