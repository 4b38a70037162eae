package spec

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"

	"github.com/berthhq/berth/fstree"
)

// checker collects the semantic problems of a repo.
type checker struct {
	r        *Repo
	fsys     fs.FS // the repo's tree, for paths into it
	problems Problems
	// partial is set when a file could not be parsed: the documents it
	// holds are unknown, so "does not exist" would mislead.
	partial bool
}

// missingKey is missing at a key's position.
func (c *checker) missingKey(m *Meta, path, subject, format string, args ...any) {
	if !c.partial {
		c.keyAt(m, path, subject, format, args...)
	}
}

// missing reports a reference to a document that does not exist, unless a
// file failed to parse and may hold it.
func (c *checker) missing(m *Meta, path, subject, format string, args ...any) {
	if !c.partial {
		c.at(m, path, subject, format, args...)
	}
}

func (c *checker) at(m *Meta, path, subject, format string, args ...any) {
	c.problems = append(c.problems, Problem{Pos: m.At(path), Subject: subject, Message: fmt.Sprintf(format, args...)})
}

func (c *checker) keyAt(m *Meta, path, subject, format string, args ...any) {
	c.problems = append(c.problems, Problem{Pos: m.KeyAt(path), Subject: subject, Message: fmt.Sprintf(format, args...)})
}

func subjectOf(kind, name string) string {
	return fmt.Sprintf("%s %q", kind, name)
}

// validate checks everything that is not a matter of a single value's type:
// names, references between documents, domains and their uniqueness.
//
// What a single value may hold is its Rule's business, checked as it is
// decoded; the checks here only add what depends on other values or on the
// repo's tree, and skip values their rule refused.
func (r *Repo) validate(fsys fs.FS, partial bool) Problems {
	c := &checker{r: r, fsys: fsys, partial: partial}
	r.servers = index(c, r.Servers, "server", func(s *Server) (string, *Meta) { return s.Name, &s.Meta })
	r.platforms = index(c, r.Platforms, "platform", func(p *Platform) (string, *Meta) { return p.Name, &p.Meta })
	r.sites = index(c, r.Sites, "site", func(s *Site) (string, *Meta) { return s.Name, &s.Meta })

	envs := r.environmentNames()
	if r.Config != nil {
		c.config(r.Config)
		c.backups(r.Config)
		c.clients(r.Config)
		c.notifications(r.Config, envs)
	}
	for _, s := range r.Servers {
		c.server(s, envs)
	}
	for _, p := range r.Platforms {
		c.platform(p, envs)
	}
	c.lbChecks(envs)
	c.filesChecks()
	claimed := map[string]*Site{}
	for _, s := range r.Sites {
		c.site(s, envs, claimed)
	}
	for _, z := range r.Zones {
		c.envRefs(&z.Meta, subjectOf("zone", z.Name), z.Environments, envs)
	}
	if r.Config != nil {
		// Zones are computed per environment; a problem they all share is
		// reported once, at its position.
		seen := map[string]bool{}
		report := func(m *Meta, path, subject, format string, args ...any) {
			p := Problem{Pos: m.At(path), Subject: subject, Message: fmt.Sprintf(format, args...)}
			if key := p.Pos.String() + "\x00" + subject; !seen[key] {
				seen[key] = true
				c.problems = append(c.problems, p)
			}
		}
		for _, env := range envs {
			r.zoneSet(env, report)
		}
	}
	if r.Config != nil {
		c.suffixedNames(r.Config)
		c.acmeWithoutCA(r.Config)
		c.acmeChallenges(r.Config)
		c.sharedServers(r.Config)
		c.sharedLBs(r.Config)
		c.socketPaths(r.Config)
	}
	return c.problems
}

// environmentNames lists the environments of berth.yaml, sorted; nil when
// berth.yaml could not be read (then no environment reference is checked).
func (r *Repo) environmentNames() []string {
	if r.Config == nil || r.Config.Environments == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(r.Config.Environments))
}

// index maps documents by name and reports duplicates and bad names.
func index[T any](c *checker, docs []T, kind string, key func(T) (string, *Meta)) map[string]T {
	m := make(map[string]T, len(docs))
	for _, d := range docs {
		name, meta := key(d)
		if name == "" {
			continue // reported by the decoder as a missing field
		}
		if first, dup := m[name]; dup {
			_, fm := key(first)
			c.at(meta, "name", subjectOf(kind, name), "%s %q is already defined at %s", kind, name, fm.At("name"))
			continue
		}
		m[name] = d
	}
	return m
}

func (c *checker) envRefs(m *Meta, subject string, names []string, envs []string) {
	if envs == nil {
		return
	}
	seen := map[string]bool{}
	for i, e := range names {
		p := fmt.Sprintf("environments[%d]", i)
		switch {
		case seen[e]:
			c.at(m, p, subject, "environment %q is listed twice", e)
		case !slices.Contains(envs, e):
			c.at(m, p, subject, "environment %q is not declared in berth.yaml%s", e, didYouMean(e, envs))
		}
		seen[e] = true
	}
}

// inEnv reports whether a document limited to envs (empty: all) is in env.
func inEnv(envs []string, env string) bool {
	return len(envs) == 0 || slices.Contains(envs, env)
}

func (c *checker) config(cfg *Config) {
	m := &cfg.Meta
	if cfg.Environments != nil && len(cfg.Environments) == 0 {
		c.at(m, "environments", "", "environments: declare at least one environment, e.g. production: { branch: main }")
	}
	branches := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(cfg.Environments)) {
		env := cfg.Environments[name]
		p := "environments." + name
		subject := subjectOf("environment", name)
		if env == nil {
			c.at(m, p, subject, "needs at least branch: NAME")
			continue
		}
		if env.Branch != "" {
			if other, dup := branches[env.Branch]; dup {
				c.at(m, p+".branch", subject, "branch %q already drives environment %q; each environment follows its own branch", env.Branch, other)
			}
			branches[env.Branch] = name
		}
		c.settings(m, p+".defaults", subject, &env.Defaults)
		c.dataFrom(m, p, name, env)
		siteNames := slices.Sorted(maps.Keys(c.r.sites))
		for _, sn := range slices.Sorted(maps.Keys(env.Sites)) {
			sp := p + ".sites." + sn
			if c.r.sites[sn] == nil {
				c.missingKey(m, sp, subject, "override for site %q, which does not exist%s", sn, didYouMean(sn, siteNames))
				continue
			}
			if s := env.Sites[sn]; s != nil {
				c.siteDataFrom(m, sp, name, env, sn, s.DataFrom)
				c.settings(m, sp, subject, &s.SiteSettings)
			}
		}
		platformNames := slices.Sorted(maps.Keys(c.r.platforms))
		for _, pn := range slices.Sorted(maps.Keys(env.Platforms)) {
			pp := p + ".platforms." + pn
			pl := c.r.platforms[pn]
			if pl == nil {
				c.missingKey(m, pp, subject, "override for platform %q, which does not exist%s", pn, didYouMean(pn, platformNames))
				continue
			}
			o := env.Platforms[pn]
			if o == nil {
				continue
			}
			if o.Ref != "" && pl.Source.Git == "" {
				c.at(m, pp+".ref", subject, "platform %q comes from a path, not git: a ref cannot be set", pn)
			}
		}
	}
	c.settings(m, "defaults", "", &cfg.Defaults)
}

// settings checks the layered site settings, wherever they are written.
func (c *checker) settings(m *Meta, path, subject string, s *SiteSettings) {
	if b := s.Backup; b != nil && b.Schedule == "" {
		c.at(m, join(path, "backup"), subject, "backup: missing schedule (hourly, daily or weekly)")
	}
	if s.Web != nil {
		for i, r := range s.Web.Redirects {
			if RedirectKeepsRest(r.To) && !strings.HasSuffix(r.From, "*") {
				c.at(m, join(path, fmt.Sprintf("web.redirects[%d].to", i)), subject, "%s ends with $1, the rest of the path a wildcard from matches, but from %s has no trailing *; end from with * or drop $1", r.To, r.From)
			}
		}
	}
}

// RedirectKeepsRest says whether a redirect target ends with $1: the rest
// of the request path after the prefix of a wildcard from (/blog/* to
// https://blog.example.com/$1 sends /blog/a/b to https://blog.example.com/a/b).
func RedirectKeepsRest(to string) bool { return strings.HasSuffix(to, "$1") }

// suffixedNames reports site names and aliases that an environment's
// domain_suffix makes longer than a domain name may be.
func (c *checker) suffixedNames(cfg *Config) {
	for _, s := range c.r.Sites {
		names := []struct{ path, ascii string }{{"name", s.Domain}}
		for i, a := range s.Aliases {
			if ascii, err := ASCIIDomain(a, true); err == nil {
				names = append(names, struct{ path, ascii string }{fmt.Sprintf("aliases[%d]", i), ascii})
			}
		}
		for _, n := range names {
			if n.ascii == "" {
				continue
			}
			for _, env := range slices.Sorted(maps.Keys(cfg.Environments)) {
				e := cfg.Environments[env]
				if e == nil || e.DomainSuffix == "" || !inEnv(s.Environments, env) || RuleDomainSuffix.Check(e.DomainSuffix) != nil {
					continue
				}
				if l := len(n.ascii) + len(e.DomainSuffix); l > 253 {
					c.at(&s.Meta, n.path, subjectOf("site", s.Name), "with environment %q's domain_suffix %s this name is %d characters long, more than the 253 of a domain name; shorten the name or the suffix", env, e.DomainSuffix, l)
					break
				}
			}
		}
	}
}

// sharedServers reports a site that two environments with the same
// domain_suffix (none counts) put on one server: both would claim its
// virtual host, pool, socket and site directory, and each environment's
// run would overwrite, or prune, what the other one wrote.
func (c *checker) sharedServers(cfg *Config) {
	envs := slices.Sorted(maps.Keys(cfg.Environments))
	for _, s := range c.r.Sites {
		pl := c.r.platforms[s.Platform]
		if pl == nil {
			continue
		}
	servers:
		for _, sn := range pl.Servers {
			srv := c.r.servers[sn]
			if srv == nil {
				continue
			}
			bySuffix := map[string]string{}
			for _, env := range envs {
				e := cfg.Environments[env]
				if e == nil || !inEnv(s.Environments, env) || !inEnv(pl.Environments, env) || !inEnv(srv.Environments, env) {
					continue
				}
				if other, ok := bySuffix[e.DomainSuffix]; ok {
					c.at(&s.Meta, "name", subjectOf("site", s.Name), "environments %q and %q both serve this site on server %s under the same name (same domain_suffix %q): give one of them its own domain_suffix in berth.yaml, or limit the site or the server to one of them with environments:", other, env, sn, e.DomainSuffix)
					break servers
				}
				bySuffix[e.DomainSuffix] = env
			}
		}
		// A database named in the site is one name in every environment:
		// two environments on its server would share (and one's removal
		// of the site drop) the other's data. Without db.name each
		// environment's domain names its own.
		if s.DB == nil || s.DB.Name == "" {
			continue
		}
		dbsrv := c.r.servers[s.DB.Server]
		if dbsrv == nil {
			continue
		}
		first := ""
		for _, env := range envs {
			if cfg.Environments[env] == nil || !inEnv(s.Environments, env) || !inEnv(pl.Environments, env) || !inEnv(dbsrv.Environments, env) {
				continue
			}
			if first != "" {
				c.at(&s.Meta, "db.name", subjectOf("site", s.Name), "environments %q and %q would both use database %q on server %s: drop db.name so each environment's domain names its own database, or limit the site to one environment with environments:", first, env, s.DB.Name, s.DB.Server)
				break
			}
			first = env
		}
	}
}

func (c *checker) server(s *Server, envs []string) {
	subject := subjectOf("server", s.Name)
	m := &s.Meta
	if s.Address == "local" {
		if s.SSH != nil {
			c.at(m, "ssh", subject, "a local server is not reached over SSH; remove ssh or set a remote address")
		}
	}
	local := s.Address == "local"
	if h := s.Services.HTTP; h != nil {
		c.dirPath(m, subject, "services.http.conf_dir", h.ConfDir, local)
		c.dirPath(m, subject, "services.http.web_root", h.WebRoot, local)
		c.dirPath(m, subject, "services.http.pid_file", h.PIDFile, local)
		c.dirPath(m, subject, "services.http.cert_dir", h.CertDir, local)
		c.tlsService(m, subject, h)
		if h.PIDFile != "" && h.Type == "apache" {
			c.keyAt(m, "services.http.pid_file", subject, "pid_file applies to nginx only")
		}
	}
	if p := s.Services.PHP; p != nil {
		c.dirPath(m, subject, "services.php.pool_dir", p.PoolDir, local)
		c.dirPath(m, subject, "services.php.run_dir", p.RunDir, local)
	}
	if d := s.Services.DB; d != nil {
		c.dbService(m, subject, d, local)
	}
	if d := s.Services.DNS; d != nil {
		c.dirPath(m, subject, "services.dns.zone_dir", strings.ReplaceAll(d.ZoneDir, "{env}", "env"), local)
		c.dirPath(m, subject, "services.dns.include_file", strings.ReplaceAll(d.IncludeFile, "{env}", "env"), local)
	}
	backupServer := c.r.Config != nil && c.r.Config.Backups.Server == s.Name // it only stores backups
	if s.Services.HTTP == nil && s.Services.DB == nil && s.Services.DNS == nil && s.Services.PHP == nil && s.Services.LB == nil && !backupServer {
		c.keyAt(m, "services", subject, "declares no services: give it at least one of http, db, dns, lb, or name it as backups.server in berth.yaml")
	}
	c.envRefs(m, subject, s.Environments, envs)
}

func (c *checker) platform(p *Platform, envs []string) {
	subject := subjectOf("platform", p.Name)
	m := &p.Meta
	src := p.Source
	switch {
	case src.Git != "" && src.Path != "":
		c.at(m, "source.path", subject, "source has both git and path; choose one")
	case src.Dir != "" && (src.Git != "" || src.Path != ""):
		c.at(m, "source.dir", subject, "source has dir and also git or path; choose one")
	case src.Git == "" && src.Path == "" && src.Dir == "":
		if _, written := m.vals["source"]; written {
			c.at(m, "source", subject, "source needs git (with an optional ref), path, or dir")
		}
	case src.Path != "":
		c.sourceDir(m, subject, src.Path)
	}
	if src.Dir != "" && len(p.Build) > 0 {
		c.at(m, "build", subject, "a platform served from source.dir is not built by berth; remove build")
	}
	if src.Ref != "" && src.Git == "" {
		c.at(m, "source.ref", subject, "ref is only meaningful with git")
	}
	if len(p.Install) > 0 && p.Type == "static" {
		c.at(m, "install", subject, "a static platform has nothing to install; remove install or change type")
	}
	c.sanitize(m, "sanitize", subject, p.Sanitize)
	if len(p.Update) > 0 && p.Type == "static" {
		c.at(m, "update", subject, "a static platform has no data to update; remove update or change type")
	}
	if p.PHP != "" && p.Type == "static" {
		c.at(m, "php", subject, "a static platform runs no PHP; remove php or change type")
	}
	names := slices.Sorted(maps.Keys(c.r.servers))
	seen := map[string]bool{}
	for i, sn := range p.Servers {
		sp := fmt.Sprintf("servers[%d]", i)
		srv := c.r.servers[sn]
		switch {
		case seen[sn]:
			c.at(m, sp, subject, "server %q is listed twice", sn)
		case srv == nil:
			c.missing(m, sp, subject, "server %q does not exist%s", sn, didYouMean(sn, names))
		case srv.Services.HTTP == nil:
			c.at(m, sp, subject, "server %q has no http service: a platform is deployed to web servers (%s)", sn, srv.At("services"))
		case p.Type != "static" && p.Type != "" && srv.Services.PHP == nil:
			c.at(m, sp, subject, "server %q has no php service, which a %s platform needs (%s)", sn, p.Type, srv.At("services"))
		}
		seen[sn] = true
	}
	c.envRefs(m, subject, p.Environments, envs)
	// In every environment the platform exists in, one of its servers must too.
	for _, e := range envs {
		if !inEnv(p.Environments, e) || len(p.Servers) == 0 {
			continue
		}
		found, known := false, true
		for _, sn := range p.Servers {
			srv := c.r.servers[sn]
			if srv == nil || srv.Services.HTTP == nil {
				known = false // reported above
				break
			}
			found = found || inEnv(srv.Environments, e)
		}
		if known && !found {
			c.at(m, "servers", subject, "none of its servers is in environment %q; add a server there or limit the platform's environments", e)
		}
	}
}

// sourceDir checks a platform's source.path: a directory of the repo's
// tree whose entries can all be shipped as they are (fstree.CheckTree: no
// link out of the code, no pipe or device), without reading file contents.
func (c *checker) sourceDir(m *Meta, subject, p string) {
	if RuleRelPath.Check(p) != nil || c.fsys == nil {
		return // refused by its rule
	}
	st, err := fs.Stat(c.fsys, p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.at(m, "source.path", subject, "source.path %q: no such directory in the sites repo; the path is relative to the repo's top", p)
	case err != nil:
		c.at(m, "source.path", subject, "source.path %q cannot be read in the sites repo: %v", p, err)
	case !st.IsDir():
		c.at(m, "source.path", subject, "source.path %q is a file, not a directory", p)
	default:
		if err := fstree.CheckTree(c.fsys, p); err != nil {
			c.at(m, "source.path", subject, "source.path: %v", err)
		}
	}
}

func (c *checker) site(s *Site, envs []string, claimed map[string]*Site) {
	subject := subjectOf("site", s.Name)
	m := &s.Meta
	// Names RuleDomain refused were reported as they were decoded.
	if ascii, err := ASCIIDomain(s.Name, false); err == nil {
		s.Domain = ascii
		c.claim(s, "name", ascii, claimed)
	}
	s.ASCIIAliases = s.ASCIIAliases[:0]
	for i, a := range s.Aliases {
		p := fmt.Sprintf("aliases[%d]", i)
		ascii, err := ASCIIDomain(a, true)
		if err != nil {
			continue
		}
		s.ASCIIAliases = append(s.ASCIIAliases, ascii)
		c.claim(s, p, ascii, claimed)
	}
	if s.RedirectAliases && len(s.Aliases) == 0 {
		c.at(m, "redirect_aliases", subject, "redirect_aliases is set but the site has no aliases")
	}
	s.ASCIIRenamedFrom = ""
	if s.RenamedFrom != "" {
		if ascii, err := ASCIIDomain(s.RenamedFrom, false); err == nil {
			if ascii == s.Domain {
				c.at(m, "renamed_from", subject, "renamed_from is the site's own name; remove it")
			} else {
				s.ASCIIRenamedFrom = ascii
				c.claim(s, "renamed_from", ascii, claimed) // the old name redirects: no other site may have it
			}
		}
	}

	var pl *Platform
	if s.Platform != "" {
		pl = c.r.platforms[s.Platform]
		if pl == nil {
			c.missing(m, "platform", subject, "platform %q does not exist%s", s.Platform, didYouMean(s.Platform, slices.Sorted(maps.Keys(c.r.platforms))))
		}
	}
	if pl != nil && pl.Type == "static" && s.PHP != "" {
		c.at(m, "php", subject, "platform %q is static and runs no PHP; remove php", pl.Name)
	}
	c.settings(m, "", subject, &s.SiteSettings)

	if s.DB != nil {
		c.serviceRef(m, subject, "db.server", s.DB.Server, "db", func(v *Server) bool { return v.Services.DB != nil })
	}
	if s.DB != nil && pl != nil {
		if srv := c.r.servers[s.DB.Server]; srv != nil && srv.Services.DB != nil && srv.Services.DB.Type == "sqlite" &&
			(len(pl.Servers) != 1 || pl.Servers[0] != srv.Name) {
			c.at(m, "db.server", subject, "server %q keeps SQLite databases, which are files beside the site: it must be the only web server of platform %q (servers: %s); use mariadb, mysql or postgresql for a site on several servers", srv.Name, pl.Name, strings.Join(pl.Servers, ", "))
		}
	}
	if s.DNS != nil {
		c.serviceRef(m, subject, "dns.server", s.DNS.Server, "dns", func(v *Server) bool { return v.Services.DNS != nil })
		if s.DNS.Zone != "" {
			if zone, err := ASCIIDomain(s.DNS.Zone, false); err == nil && s.Domain != "" && s.Domain != zone && !strings.HasSuffix(s.Domain, "."+zone) {
				c.at(m, "dns.zone", subject, "site %q is not inside zone %q", s.Domain, zone)
			}
		}
	}
	c.siteClient(s)
	c.siteClone(s, envs)
	c.envRefs(m, subject, s.Environments, envs)
	c.sameEnvs(s, envs, "db.server", s.DB != nil, func() string { return s.DB.Server })
	c.sameEnvs(s, envs, "dns.server", s.DNS != nil, func() string { return s.DNS.Server })
	if pl != nil {
		for _, e := range envs {
			if inEnv(s.Environments, e) && !inEnv(pl.Environments, e) {
				c.at(m, "platform", subject, "the site is in environment %q but platform %q is not; limit the site's environments or add the platform there", e, pl.Name)
				break
			}
		}
	}
}

// claim records that a site answers for a domain, reporting a second claim.
func (c *checker) claim(s *Site, path, domain string, claimed map[string]*Site) {
	first, dup := claimed[domain]
	switch {
	case !dup:
		claimed[domain] = s
	case first == s:
		c.at(&s.Meta, path, subjectOf("site", s.Name), "domain %q is listed twice in this site", domain)
	default:
		c.at(&s.Meta, path, subjectOf("site", s.Name), "domain %q is already claimed by site %q (%s)", domain, first.Name, first.Meta.Pos())
	}
}

func (c *checker) serviceRef(m *Meta, subject, path, name, service string, has func(*Server) bool) {
	if name == "" {
		return
	}
	srv := c.r.servers[name]
	switch {
	case srv == nil:
		c.missing(m, path, subject, "server %q does not exist%s", name, didYouMean(name, slices.Sorted(maps.Keys(c.r.servers))))
	case !has(srv):
		c.at(m, path, subject, "server %q has no %s service (%s)", name, service, srv.At("services"))
	}
}

// sameEnvs reports a server a site depends on that is missing from one of the
// site's environments.
func (c *checker) sameEnvs(s *Site, envs []string, path string, set bool, name func() string) {
	if !set {
		return
	}
	srv := c.r.servers[name()]
	if srv == nil {
		return
	}
	for _, e := range envs {
		if inEnv(s.Environments, e) && !inEnv(srv.Environments, e) {
			c.at(&s.Meta, path, subjectOf("site", s.Name), "server %q is not in environment %q, where the site is; limit the site's environments or add the server there", srv.Name, e)
			return
		}
	}
}

// maxSocketPath is the longest unix socket path: sun_path holds 108 bytes,
// the last a NUL.
const maxSocketPath = 107

// socketPaths reports PHP sites whose PHP-FPM socket, <run_dir>/<domain>.sock,
// would be longer than a unix socket path may be on one of their servers
// with an absolute run_dir (a local server's relative one is only known
// when berth's state directory is). {version} counts as 4 characters, the
// longest PHP version.
func (c *checker) socketPaths(cfg *Config) {
	for _, s := range c.r.Sites {
		pl := c.r.platforms[s.Platform]
		if s.Domain == "" || pl == nil || pl.Type == "static" {
			continue
		}
	envs:
		for _, env := range slices.Sorted(maps.Keys(cfg.Environments)) {
			e := cfg.Environments[env]
			if e == nil || !inEnv(s.Environments, env) {
				continue
			}
			for _, sn := range pl.Servers {
				srv := c.r.servers[sn]
				if srv == nil || srv.Services.PHP == nil || !inEnv(srv.Environments, env) {
					continue
				}
				run := srv.Services.PHP.RunDir
				if run == "" {
					run = resolvePHP(srv.Services.PHP).RunDir
				}
				if !strings.HasPrefix(run, "/") {
					continue
				}
				sock := strings.ReplaceAll(run, "{version}", "9.99") + "/" + s.Domain + e.DomainSuffix + ".sock"
				if len(sock) > maxSocketPath {
					c.at(&s.Meta, "name", subjectOf("site", s.Name), "on server %q in environment %q its PHP-FPM socket path would be %d bytes, more than the %d of a unix socket path; shorten the name or the server's php run_dir (%s)", sn, env, len(sock), maxSocketPath, shown(run))
					break envs
				}
			}
		}
	}
}

// dirPath checks a directory setting its rule allowed: relative paths are
// for a local server only, where they are under berth's state directory.
func (c *checker) dirPath(m *Meta, subject, path, v string, local bool) {
	if v != "" && !strings.HasPrefix(v, "/") && !local && RuleServerPathPHP.Check(v) == nil {
		c.at(m, path, subject, "%q must be absolute (relative paths are allowed on a local server only, under berth's state directory)", v)
	}
}

// dbService checks how berth reaches a database server as administrator.
func (c *checker) dbService(m *Meta, subject string, d *DBService, local bool) {
	const p = "services.db."
	if d.Type == "sqlite" {
		for _, f := range []struct{ name, v string }{
			{"socket", d.Socket}, {"socket_dir", d.SocketDir}, {"host", d.Host}, {"admin_user", d.AdminUser},
			{"password_file", d.PasswordFile}, {"password_env", d.PasswordEnv}, {"run_as", d.RunAs}, {"client", d.Client},
		} {
			if f.v != "" {
				c.keyAt(m, p+f.name, subject, "%s does not apply to sqlite, whose databases are files on the web server (only dir does)", f.name)
			}
		}
		if d.Port != 0 {
			c.keyAt(m, p+"port", subject, "port does not apply to sqlite, whose databases are files on the web server (only dir does)")
		}
		c.dirPath(m, subject, p+"dir", d.Dir, local)
		return
	}
	if d.Dir != "" {
		c.keyAt(m, p+"dir", subject, "dir applies to sqlite only")
	}
	mysql := d.Type == "mariadb" || d.Type == "mysql"
	switch {
	case mysql && d.SocketDir != "":
		c.keyAt(m, p+"socket_dir", subject, "socket_dir is for postgresql; %s takes socket: the socket file", d.Type)
	case !mysql && d.Socket != "":
		c.keyAt(m, p+"socket", subject, "socket is for mariadb and mysql; postgresql takes socket_dir: the socket's directory")
	}
	if d.Host != "" && (d.Socket != "" || d.SocketDir != "") {
		c.keyAt(m, p+"host", subject, "host and a socket are both set; choose one")
	}
	c.dirPath(m, subject, p+"socket", d.Socket, false)
	c.dirPath(m, subject, p+"socket_dir", d.SocketDir, false)
	if d.PasswordFile != "" && d.PasswordEnv != "" {
		c.keyAt(m, p+"password_env", subject, "password_file and password_env are both set; choose one")
	}
}

// acmeWithoutCA reports every site that asks for an ACME certificate in an
// environment that declares no ACME CA, at the layer whose tls.acme: true
// wins (berth.yaml's defaults, the environment's defaults, the site file or
// the environment's override of the site): one problem per position and
// environment, naming the sites.
func (c *checker) acmeWithoutCA(cfg *Config) {
	type layer struct {
		m       *Meta
		path    string // of the settings; "" for a site file's own
		subject string
		set     *SiteSettings
	}
	for _, env := range slices.Sorted(maps.Keys(cfg.Environments)) {
		e := cfg.Environments[env]
		if e == nil || e.ACME != nil {
			continue
		}
		type finding struct {
			l     layer
			sites []string
		}
		var order []string
		found := map[string]*finding{}
		for _, s := range sortedBy(c.r.Sites, func(s *Site) string { return s.Name }) {
			if !inEnv(s.Environments, env) {
				continue
			}
			envSubject := subjectOf("environment", env)
			layers := []layer{
				{&cfg.Meta, "defaults", envSubject, &cfg.Defaults},
				{&cfg.Meta, "environments." + env + ".defaults", envSubject, &e.Defaults},
				{&s.Meta, "", subjectOf("site", s.Name), &s.SiteSettings},
				{&cfg.Meta, "environments." + env + ".sites." + s.Name, envSubject, e.Sites[s.Name].settings()},
			}
			var win *layer
			for i := range layers {
				if l := &layers[i]; l.set != nil && l.set.TLS != nil && l.set.TLS.ACME != nil {
					win = l
					if !*l.set.TLS.ACME {
						win = nil
					}
				}
			}
			if win == nil {
				continue
			}
			path := strings.TrimPrefix(win.path+".tls.acme", ".")
			key := win.m.At(path).String()
			if found[key] == nil {
				found[key] = &finding{l: *win}
				order = append(order, key)
			}
			found[key].sites = append(found[key].sites, s.Name)
		}
		for _, key := range order {
			f := found[key]
			names := f.sites
			more := ""
			if len(names) > 3 {
				more = fmt.Sprintf(" and %d more", len(names)-3)
				names = names[:3]
			}
			c.at(f.l.m, strings.TrimPrefix(f.l.path+".tls.acme", "."), f.l.subject,
				"tls.acme is true for %s%s in environment %q, which declares no ACME CA: add acme: { directory: letsencrypt, email: you@example.com } to environment %q in berth.yaml, or set tls: { acme: false } for it",
				sitesNamed(names), more, env, env)
		}
	}
}

// sitesNamed is `site "a"` or `sites "a", "b"`.
func sitesNamed(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	if len(q) == 1 {
		return "site " + q[0]
	}
	return "sites " + strings.Join(q, ", ")
}

// tlsService checks the HTTPS side of a web server: its TLS listen is not
// its plain one, and its certificates (private keys) live outside the web
// root, where no site's user reaches them.
func (c *checker) tlsService(m *Meta, subject string, h *HTTPService) {
	if h.TLSListen != "" && RuleListen.Check(h.TLSListen) == nil && RuleListen.Check(cmp.Or(h.Listen, "80")) == nil {
		ta, tp, _ := SplitListen(h.TLSListen)
		pa, pp, _ := SplitListen(cmp.Or(h.Listen, "80"))
		if tp == pp && (ta == pa || ta == "" || pa == "") {
			c.at(m, "services.http.tls_listen", subject, "tls_listen %q is the plain HTTP listen %q too: give HTTPS a port of its own (default 443)", h.TLSListen, cmp.Or(h.Listen, "80"))
		}
	}
	root := cmp.Or(h.WebRoot, "/var/www")
	if d := h.CertDir; d != "" && (d == root || strings.HasPrefix(d, strings.TrimSuffix(root, "/")+"/")) {
		c.at(m, "services.http.cert_dir", subject, "cert_dir %q is inside web_root %q, where the sites' users could read the private keys: put it outside (default /etc/ssl/berth)", d, root)
	}
}
