package spec

import (
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var (
	nameRE     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	envNameRE  = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$`)
	phpRE      = regexp.MustCompile(`^[5-9]\.[0-9]{1,2}$`)
	sizeRE     = regexp.MustCompile(`^[0-9]{1,6}[kKmMgG]?$`)
	dbNameRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)
	headerRE   = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)
	htUserRE   = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)
	pathRE     = regexp.MustCompile(`^/[A-Za-z0-9._~!&'()+,;=:@/-]*\*?$`)
	scpLikeRE  = regexp.MustCompile(`^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s]+$`)
	envVarRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	clientRE   = regexp.MustCompile(`^[A-Za-z0-9._/+-]+$`)
	hashPrefix = []string{"$2y$", "$2a$", "$2b$", "$apr1$", "$6$", "$5$"}
)

// checker collects the semantic problems of a repo.
type checker struct {
	r        *Repo
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
func (r *Repo) validate(partial bool) Problems {
	c := &checker{r: r, partial: partial}
	r.servers = index(c, r.Servers, "server", func(s *Server) (string, *Meta) { return s.Name, &s.Meta })
	r.platforms = index(c, r.Platforms, "platform", func(p *Platform) (string, *Meta) { return p.Name, &p.Meta })
	r.sites = index(c, r.Sites, "site", func(s *Site) (string, *Meta) { return s.Name, &s.Meta })

	envs := r.environmentNames()
	if r.Config != nil {
		c.config(r.Config)
		c.backups(r.Config)
	}
	for _, s := range r.Servers {
		c.server(s, envs)
	}
	for _, p := range r.Platforms {
		c.platform(p, envs)
	}
	claimed := map[string]*Site{}
	for _, s := range r.Sites {
		c.site(s, envs, claimed)
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
		if kind != "site" && !nameRE.MatchString(name) {
			c.at(meta, "name", subjectOf(kind, name), "name must be lower-case letters, digits and hyphens, at most 63 characters, starting and ending with a letter or digit")
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
		if !envNameRE.MatchString(name) {
			c.keyAt(m, p, subject, "name must be lower-case letters, digits and hyphens, starting with a letter, at most 32 characters")
		}
		if env == nil {
			c.at(m, p, subject, "needs at least branch: NAME")
			continue
		}
		if env.Branch != "" {
			if err := validBranch(env.Branch); err != nil {
				c.at(m, p+".branch", subject, "%v", err)
			} else if other, dup := branches[env.Branch]; dup {
				c.at(m, p+".branch", subject, "branch %q already drives environment %q; each environment follows its own branch", env.Branch, other)
			}
			branches[env.Branch] = name
		}
		if env.DomainSuffix != "" {
			suffix, ok := strings.CutPrefix(env.DomainSuffix, ".")
			if !ok {
				c.at(m, p+".domain_suffix", subject, "domain_suffix %q must start with a dot, e.g. .staging.example.net", env.DomainSuffix)
			} else if _, err := ASCIIDomain(suffix, false); err != nil {
				c.at(m, p+".domain_suffix", subject, "domain_suffix: %v", err)
			}
		}
		c.settings(m, p+".defaults", subject, &env.Defaults)
		siteNames := slices.Sorted(maps.Keys(c.r.sites))
		for _, sn := range slices.Sorted(maps.Keys(env.Sites)) {
			sp := p + ".sites." + sn
			if c.r.sites[sn] == nil {
				c.missingKey(m, sp, subject, "override for site %q, which does not exist%s", sn, didYouMean(sn, siteNames))
				continue
			}
			if s := env.Sites[sn]; s != nil {
				c.settings(m, sp, subject, s)
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
			if o.PHP != "" {
				c.php(m, pp+".php", subject, o.PHP)
			}
		}
	}
	c.settings(m, "defaults", "", &cfg.Defaults)
}

func validBranch(b string) error {
	switch {
	case strings.HasPrefix(b, "-"), strings.HasPrefix(b, "/"), strings.HasSuffix(b, "/"),
		strings.HasSuffix(b, ".lock"), strings.Contains(b, ".."), strings.Contains(b, "@{"),
		strings.ContainsAny(b, " ~^:?*[\\\t\n"):
		return fmt.Errorf("%q is not a valid Git branch name", b)
	}
	return nil
}

func (c *checker) php(m *Meta, path, subject, v string) {
	if !phpRE.MatchString(v) {
		c.at(m, path, subject, "php %q is not a PHP version like 8.2; quote it if YAML reads it as a number", v)
	}
}

// settings checks the layered site settings, wherever they are written.
func (c *checker) settings(m *Meta, path, subject string, s *SiteSettings) {
	p := func(f string) string { return join(path, f) }
	if s.PHP != "" {
		c.php(m, p("php"), subject, s.PHP)
	}
	if w := s.Web; w != nil {
		if w.ClientMaxBodySize != "" && !sizeRE.MatchString(w.ClientMaxBodySize) {
			c.at(m, p("web.client_max_body_size"), subject, "%q is not a size like 64m (a number with an optional k, m or g)", w.ClientMaxBodySize)
		}
		if ba := w.BasicAuth; ba != nil {
			if strings.ContainsAny(ba.Realm, "\"\\\n\r$;{}") {
				c.at(m, p("web.basic_auth.realm"), subject, "realm must not contain quotes, backslashes, $, ;, braces or line breaks")
			}
			for i, u := range ba.Users {
				up := fmt.Sprintf("%s[%d]", p("web.basic_auth.users"), i)
				name, hash, ok := strings.Cut(u, ":")
				switch {
				case !ok || !htUserRE.MatchString(name):
					c.at(m, up, subject, "want an htpasswd line name:hash (make one with: htpasswd -nB NAME)")
				case !slices.ContainsFunc(hashPrefix, func(pre string) bool { return strings.HasPrefix(hash, pre) }) ||
					strings.ContainsAny(hash, " \t\n\r\"'"):
					c.at(m, up, subject, "the password of %q is not hashed with bcrypt, apr1 or SHA-crypt; never put a plain password in the repo (make a line with: htpasswd -nB %s)", name, name)
				}
			}
		}
		for i, rd := range w.Redirects {
			rp := fmt.Sprintf("%s[%d]", p("web.redirects"), i)
			if rd.From != "" && !pathRE.MatchString(rd.From) {
				c.at(m, rp+".from", subject, "from %q must be a URL path starting with / (a trailing * matches the prefix), written without %%-escapes", rd.From)
			}
			if rd.To != "" && !validTarget(rd.To) {
				c.at(m, rp+".to", subject, "to %q must be a path starting with / or an absolute http(s) URL, without spaces or quotes", rd.To)
			}
		}
		for _, h := range slices.Sorted(maps.Keys(w.Headers)) {
			hp := p("web.headers." + h)
			if !headerRE.MatchString(h) {
				c.keyAt(m, hp, subject, "header name %q may hold only letters, digits and hyphens", h)
			}
			if v := w.Headers[h]; v == "" || strings.ContainsAny(v, "\"\\\n\r{}$") || !printable(v) || strings.HasPrefix(v, "expr=") {
				c.at(m, hp, subject, "header value must be non-empty printable text without quotes, backslashes, braces or $ (and not an apache expr=)")
			}
		}
	}
	if b := s.Backup; b != nil && b.Schedule == "" {
		c.at(m, p("backup"), subject, "backup: missing schedule (hourly, daily or weekly)")
	}
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

func validTarget(to string) bool {
	if strings.HasPrefix(to, "/") {
		return pathRE.MatchString(strings.TrimSuffix(to, "*")) && !strings.HasSuffix(to, "*")
	}
	u, err := url.Parse(to)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		!strings.ContainsAny(to, " \t\n\r\"'\\{}$")
}

func (c *checker) server(s *Server, envs []string) {
	subject := subjectOf("server", s.Name)
	m := &s.Meta
	if s.Address == "local" {
		if s.SSH != nil {
			c.at(m, "ssh", subject, "a local server is not reached over SSH; remove ssh or set a remote address")
		}
	} else if s.Address != "" {
		if err := validHost(s.Address); err != nil {
			c.at(m, "address", subject, "address: %v (or \"local\" for this machine)", err)
		}
	}
	if s.SSH != nil && s.SSH.User != "" && !htUserRE.MatchString(s.SSH.User) {
		c.at(m, "ssh.user", subject, "ssh user %q is not a valid user name", s.SSH.User)
	}
	local := s.Address == "local"
	if h := s.Services.HTTP; h != nil {
		if h.Listen != "" && !validListen(h.Listen) {
			c.at(m, "services.http.listen", subject, "listen %q must be a port (80) or IP:port (127.0.0.1:8080, [::1]:8080)", h.Listen)
		}
		c.dirPath(m, subject, "services.http.conf_dir", h.ConfDir, local)
		c.dirPath(m, subject, "services.http.web_root", h.WebRoot, local)
		for _, f := range []struct{ path, v string }{{"services.http.user", h.User}, {"services.http.group", h.Group}} {
			if f.v != "" && !htUserRE.MatchString(f.v) {
				c.at(m, f.path, subject, "%q is not a valid user or group name", f.v)
			}
		}
		c.argv(m, subject, "services.http.test", h.Test)
		c.argv(m, subject, "services.http.reload", h.Reload)
	}
	if p := s.Services.PHP; p != nil {
		c.dirPath(m, subject, "services.php.pool_dir", p.PoolDir, local)
		c.dirPath(m, subject, "services.php.run_dir", p.RunDir, local)
		c.argv(m, subject, "services.php.test", p.Test)
		c.argv(m, subject, "services.php.reload", p.Reload)
	}
	if d := s.Services.DB; d != nil {
		c.dbService(m, subject, d, local)
	}
	backupServer := c.r.Config != nil && c.r.Config.Backups.Server == s.Name // it only stores backups
	if s.Services.HTTP == nil && s.Services.DB == nil && s.Services.DNS == nil && s.Services.PHP == nil && !backupServer {
		c.keyAt(m, "services", subject, "declares no services: give it at least one of http, db, dns, or name it as backups.server in berth.yaml")
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
	case src.Git == "" && src.Path == "":
		if _, written := m.vals["source"]; written {
			c.at(m, "source", subject, "source needs git (with an optional ref) or path")
		}
	case src.Git != "" && !validGitURL(src.Git):
		c.at(m, "source.git", subject, "%q is not a Git URL (https://, ssh://, git://, file:// or user@host:path)", src.Git)
	}
	if src.Ref != "" && src.Git == "" {
		c.at(m, "source.ref", subject, "ref is only meaningful with git")
	}
	if src.Ref != "" && strings.ContainsAny(src.Ref, " ~^:?*[\\\t\n") {
		c.at(m, "source.ref", subject, "%q is not a valid Git ref", src.Ref)
	}
	for i, b := range p.Build {
		if strings.TrimSpace(b) == "" {
			c.at(m, fmt.Sprintf("build[%d]", i), subject, "build command is empty")
		}
	}
	if len(p.Install) > 0 && p.Type == "static" {
		c.at(m, "install", subject, "a static platform has nothing to install; remove install or change type")
	}
	if len(p.Install) > 0 && strings.TrimSpace(p.Install[0]) == "" {
		c.at(m, "install[0]", subject, "install's first element is the program to run; it is empty")
	}
	if p.Docroot != "" && !validRelPath(p.Docroot) {
		c.at(m, "docroot", subject, "docroot %q must be a relative path inside the codebase, without ..", p.Docroot)
	}
	if p.PHP != "" {
		if p.Type == "static" {
			c.at(m, "php", subject, "a static platform runs no PHP; remove php or change type")
		} else {
			c.php(m, "php", subject, p.PHP)
		}
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

func validGitURL(s string) bool {
	if scpLikeRE.MatchString(s) {
		return true
	}
	u, err := url.Parse(s)
	if err != nil || strings.ContainsAny(s, " \t\n") {
		return false
	}
	switch u.Scheme {
	case "https", "http", "ssh", "git":
		return u.Host != ""
	case "file":
		return u.Path != ""
	}
	return false
}

func validRelPath(p string) bool {
	if strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\\n\t") {
		return false
	}
	return !slices.Contains(strings.Split(p, "/"), "..")
}

func (c *checker) site(s *Site, envs []string, claimed map[string]*Site) {
	subject := subjectOf("site", s.Name)
	m := &s.Meta
	if s.Name != "" {
		ascii, err := ASCIIDomain(s.Name, false)
		if err != nil {
			c.at(m, "name", subject, "name: %v", err)
		} else {
			s.Domain = ascii
			c.claim(s, "name", ascii, claimed)
		}
	}
	s.ASCIIAliases = s.ASCIIAliases[:0]
	for i, a := range s.Aliases {
		p := fmt.Sprintf("aliases[%d]", i)
		ascii, err := ASCIIDomain(a, true)
		if err != nil {
			c.at(m, p, subject, "alias: %v", err)
			continue
		}
		s.ASCIIAliases = append(s.ASCIIAliases, ascii)
		c.claim(s, p, ascii, claimed)
	}
	if s.RedirectAliases && len(s.Aliases) == 0 {
		c.at(m, "redirect_aliases", subject, "redirect_aliases is set but the site has no aliases")
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
		if s.DB.Name != "" && !dbNameRE.MatchString(s.DB.Name) {
			c.at(m, "db.name", subject, "database name %q must be letters, digits and underscores, at most 63 characters, not starting with a digit", s.DB.Name)
		}
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
			zone, err := ASCIIDomain(s.DNS.Zone, false)
			if err != nil {
				c.at(m, "dns.zone", subject, "zone: %v", err)
			} else if s.Domain != "" && s.Domain != zone && !strings.HasSuffix(s.Domain, "."+zone) {
				c.at(m, "dns.zone", subject, "site %q is not inside zone %q", s.Domain, zone)
			}
		}
	}
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

func validListen(l string) bool {
	port := l
	if i := strings.LastIndexByte(l, ':'); i >= 0 {
		host := strings.TrimSuffix(strings.TrimPrefix(l[:i], "["), "]")
		if _, err := netip.ParseAddr(host); err != nil {
			return false
		}
		port = l[i+1:]
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535
}

// dirPath checks a directory setting: absolute, or relative (to berth's state
// directory) on a local server; never with "..".
func (c *checker) dirPath(m *Meta, subject, path, v string, local bool) {
	switch {
	case v == "":
	case strings.ContainsAny(strings.ReplaceAll(v, "{version}", ""), "\n\t\r\"'\\{}$; ") || slices.Contains(strings.Split(v, "/"), ".."):
		c.at(m, path, subject, "%q must be a plain path: no .., spaces, quotes, backslashes, braces, $ or ;", v)
	case !strings.HasPrefix(v, "/") && !local:
		c.at(m, path, subject, "%q must be absolute (relative paths are allowed on a local server only, under berth's state directory)", v)
	}
}

// argv checks a command given as an argument vector.
func (c *checker) argv(m *Meta, subject, path string, argv []string) {
	for i, a := range argv {
		if a == "" {
			c.at(m, fmt.Sprintf("%s[%d]", path, i), subject, "empty argument; a command is a list of non-empty words, e.g. [nginx, -t]")
		}
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
	if d.Host != "" {
		if d.Socket != "" || d.SocketDir != "" {
			c.keyAt(m, p+"host", subject, "host and a socket are both set; choose one")
		}
		if err := validHost(d.Host); err != nil {
			c.at(m, p+"host", subject, "host: %v", err)
		}
	}
	c.dirPath(m, subject, p+"socket", d.Socket, false)
	c.dirPath(m, subject, p+"socket_dir", d.SocketDir, false)
	for _, f := range []struct{ name, v string }{{"admin_user", d.AdminUser}, {"run_as", d.RunAs}} {
		if f.v != "" && !htUserRE.MatchString(f.v) {
			c.at(m, p+f.name, subject, "%q is not a valid user name", f.v)
		}
	}
	if d.PasswordFile != "" && d.PasswordEnv != "" {
		c.keyAt(m, p+"password_env", subject, "password_file and password_env are both set; choose one")
	}
	if f := d.PasswordFile; f != "" && (!strings.HasPrefix(f, "/") || strings.ContainsAny(f, "\n\r\x00")) {
		c.at(m, p+"password_file", subject, "password_file %q must be an absolute path on the controller (the password itself never goes in the repo)", f)
	}
	if e := d.PasswordEnv; e != "" && !envVarRE.MatchString(e) {
		c.at(m, p+"password_env", subject, "password_env %q is not an environment variable name (letters, digits, underscores)", e)
	}
	if cl := d.Client; cl != "" && !clientRE.MatchString(cl) {
		c.at(m, p+"client", subject, "client %q must be a program name or path, without spaces or shell characters", cl)
	}
}
