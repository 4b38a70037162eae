package spec

import (
	"cmp"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"path"
	"slices"
)

// Web clusters. A platform names the server that load-balances its sites
// with `lb: NAME`; that server has an lb service:
//
//	kind: Server
//	name: lb1
//	address: 203.0.113.5
//	services:
//	  lb: { type: nginx, listen: 80 }
//	---
//	kind: Platform
//	name: shop
//	servers: [web1, web2, web3]
//	lb: lb1
//
// The LB proxies every name of every site of the platform to one upstream
// per platform and environment, made of the platform's servers in that
// environment; the sites' DNS records point at the LB's public addresses,
// and each web server trusts X-Forwarded-For from the LB's source address
// only. A web server with drain: true stays in the upstream marked down.

// LBService is a server's load balancer: an nginx, which may be the same
// nginx as the server's http service or another one. Paths may be relative
// on a local server, like the http service's.
type LBService struct {
	Type        string   `yaml:"type" json:"type,omitempty" berth:"required,enum=nginx"`
	Listen      string   `yaml:"listen" json:"listen,omitempty" doc:"Port or address:port the load balancer answers on (default 80)." rule:"listen"`
	ConfDir     string   `yaml:"conf_dir" json:"conf_dir,omitempty" doc:"Directory berth writes one file per platform and environment into (upstream and server blocks); nginx must include it (default /etc/nginx/conf.d)." rule:"server-path"`
	Test        []string `yaml:"test" json:"test,omitempty" doc:"Command that checks the configuration (default nginx -t)." rule:"argv"`
	Reload      []string `yaml:"reload" json:"reload,omitempty" doc:"Command that reloads the configuration (default: SIGHUP to the PID in pid_file, else nginx -s reload)." rule:"argv"`
	PIDFile     string   `yaml:"pid_file" json:"pid_file,omitempty" doc:"The nginx master's PID file, for the default reload (default /run/nginx.pid). Not used when reload is set." rule:"server-path"`
	Source      string   `yaml:"source" json:"source,omitempty" doc:"The address the load balancer's requests reach the web servers from: the only address they take X-Forwarded-For from (default: the server's address, which must then be an IP address)." rule:"ip"`
	TLSListen   string   `yaml:"tls_listen" json:"tls_listen,omitempty" doc:"Port or address:port the load balancer answers HTTPS on for its sites with tls.acme, terminating TLS with their certificates (no default: a site with tls.acme behind a load balancer without it is an error)." rule:"listen"`
	CertDir     string   `yaml:"cert_dir" json:"cert_dir,omitempty" doc:"Directory of the certificate chains and private keys of the sites the load balancer terminates TLS for (default /etc/ssl/berth): created 0700, keys 0600, read by nginx's master process as root." rule:"server-path"`
	ACMEDir     string   `yaml:"acme_dir" json:"acme_dir,omitempty" doc:"Directory the load balancer answers the HTTP-01 challenges of its sites with tls.acme from, one subdirectory per site (default /var/lib/berth/acme); nginx's workers must be able to read it." rule:"server-path"`
	MaxFails    int      `yaml:"max_fails" json:"max_fails,omitempty" berth:"min=1,max=100" doc:"Failed attempts after which a web server is left out for fail_timeout (default 3)."`
	FailTimeout int      `yaml:"fail_timeout" json:"fail_timeout,omitempty" berth:"min=1,max=3600" doc:"Seconds in which max_fails failures leave a web server out, and for how long (default 10)."`
}

// ResolvedLB is a server's load balancer with defaults applied. Paths may
// be relative on a local server: see WithBase.
type ResolvedLB struct {
	Listen  string   `json:"listen"`
	ConfDir string   `json:"conf_dir"`
	Test    []string `json:"test"`
	Reload  []string `json:"reload"`
	// PIDFile is set when Reload is the default: the reload is then
	// SIGHUP to the PID it holds (Reload when it cannot be read).
	PIDFile string `json:"pid_file,omitempty"`
	Source  string `json:"source"`
	// TLSListen is where the LB terminates TLS for its sites with
	// tls.acme; "" when it does not (validation then refuses such sites).
	TLSListen string `json:"tls_listen,omitempty"`
	// CertDir holds the chains and keys of those sites.
	CertDir string `json:"cert_dir"`
	// ACMEDir holds, per site, the HTTP-01 answers the LB serves.
	ACMEDir     string `json:"acme_dir"`
	MaxFails    int    `json:"max_fails"`
	FailTimeout int    `json:"fail_timeout"`
}

// ResolvedSiteLB says that a site is served through a load balancer.
type ResolvedSiteLB struct {
	Server string `json:"server"`
	// From is the load balancer's source address: the only one the site's
	// web servers take X-Forwarded-For from.
	From string `json:"from"`
	// Listen is where the load balancer answers the site (its lb
	// listen): redirects to the site's main name carry its port.
	Listen string `json:"listen"`
	// TLSListen is where the load balancer terminates TLS for the site
	// (its lb tls_listen), "" when it does not.
	TLSListen string `json:"tls_listen,omitempty"`
}

// Health is how a site is checked on each of its web servers: a GET of
// Path with the site's name as Host, directly to the server's http listen
// address, expecting Status (any 2xx or 3xx when 0).
type Health struct {
	Path   string `yaml:"path" json:"path,omitempty" doc:"The path requested (default /)." rule:"url-path"`
	Status int    `yaml:"status" json:"status,omitempty" berth:"min=100,max=599" doc:"The status expected (default: any 2xx or 3xx)."`
}

func siteHealth(h *Health) Health {
	out := Health{Path: "/"}
	if h != nil {
		out.Path, out.Status = cmp.Or(h.Path, "/"), h.Status
	}
	return out
}

// Defaults of an lb service.
const (
	DefaultLBMaxFails    = 3
	DefaultLBFailTimeout = 10
)

func resolveLB(l *LBService, address string) *ResolvedLB {
	r := &ResolvedLB{
		Listen:      cmp.Or(l.Listen, "80"),
		ConfDir:     cmp.Or(l.ConfDir, "/etc/nginx/conf.d"),
		Test:        argvOr(slices.Clone(l.Test), "nginx", "-t"),
		Reload:      slices.Clone(l.Reload),
		Source:      lbSource(l, address),
		TLSListen:   l.TLSListen,
		CertDir:     cmp.Or(l.CertDir, "/etc/ssl/berth"),
		ACMEDir:     cmp.Or(l.ACMEDir, "/var/lib/berth/acme"),
		MaxFails:    cmp.Or(l.MaxFails, DefaultLBMaxFails),
		FailTimeout: cmp.Or(l.FailTimeout, DefaultLBFailTimeout),
	}
	if len(r.Reload) == 0 {
		r.PIDFile = cmp.Or(l.PIDFile, "/run/nginx.pid")
	}
	r.Reload = argvOr(r.Reload, "nginx", "-s", "reload")
	return r
}

// lbSource is the address an LB's requests come from: its source, else
// its address when that is an IP address, else 127.0.0.1 for a local
// server; "" when none is known (validation refuses that).
func lbSource(l *LBService, address string) string {
	if l.Source != "" {
		return l.Source
	}
	if address == "local" {
		return "127.0.0.1"
	}
	if a, err := netip.ParseAddr(address); err == nil && a.Zone() == "" {
		return a.String()
	}
	return ""
}

// withBase makes the LB's relative paths absolute under base.
func (l ResolvedLB) withBase(base string) *ResolvedLB {
	abs := func(p string) string {
		if p == "" || path.IsAbs(p) {
			return p
		}
		return path.Join(base, p)
	}
	l.ConfDir, l.PIDFile, l.CertDir, l.ACMEDir = abs(l.ConfDir), abs(l.PIDFile), abs(l.CertDir), abs(l.ACMEDir)
	return &l
}

// NodeAddress is where a load balancer reaches a web server's sites:
// host:port from its http listen (its address part, else the server's
// address; 127.0.0.1 for a local server).
func NodeAddress(srv *ResolvedServer) string {
	if srv.HTTP == nil {
		return ""
	}
	addr, port, err := SplitListen(srv.HTTP.Listen)
	if err != nil {
		return ""
	}
	if addr == "" {
		addr = srv.Address
		if srv.Local() {
			addr = "127.0.0.1"
		}
	}
	return net.JoinHostPort(addr, port)
}

// lbChecks reports the problems of load balancers: a platform's lb that
// is no load balancer or is missing from one of the platform's
// environments, an LB without a source address the web servers can
// trust, a local web server behind a remote LB, and drain on a server
// that is no web server.
func (c *checker) lbChecks(envs []string) {
	for _, s := range c.r.Servers {
		subject := subjectOf("server", s.Name)
		if l := s.Services.LB; l != nil {
			local := s.Address == "local"
			c.dirPath(&s.Meta, subject, "services.lb.conf_dir", l.ConfDir, local)
			c.dirPath(&s.Meta, subject, "services.lb.pid_file", l.PIDFile, local)
			c.dirPath(&s.Meta, subject, "services.lb.cert_dir", l.CertDir, local)
			c.dirPath(&s.Meta, subject, "services.lb.acme_dir", l.ACMEDir, local)
			if l.TLSListen != "" && RuleListen.Check(l.TLSListen) == nil && RuleListen.Check(cmp.Or(l.Listen, "80")) == nil {
				ta, tp, _ := SplitListen(l.TLSListen)
				pa, pp, _ := SplitListen(cmp.Or(l.Listen, "80"))
				if tp == pp && (ta == pa || ta == "" || pa == "") {
					c.at(&s.Meta, "services.lb.tls_listen", subject, "tls_listen %q is the plain HTTP listen %q too: give HTTPS a port of its own (443)", l.TLSListen, cmp.Or(l.Listen, "80"))
				}
			}
			if l.Source == "" && lbSource(l, s.Address) == "" && RuleAddress.Check(s.Address) == nil {
				c.keyAt(&s.Meta, "services.lb", subject, "address %q is not an IP address: set services.lb.source to the IP address the load balancer's requests reach the web servers from, the only one they trust X-Forwarded-For from", s.Address)
			}
		}
		if s.Drain && s.Services.HTTP == nil {
			c.keyAt(&s.Meta, "drain", subject, "drain takes a web server out of its load balancers, and this server has no http service")
		}
	}
	names := slices.Sorted(maps.Keys(c.r.servers))
	for _, p := range c.r.Platforms {
		if p.LB == "" {
			continue
		}
		subject := subjectOf("platform", p.Name)
		lb := c.r.servers[p.LB]
		switch {
		case lb == nil:
			c.missing(&p.Meta, "lb", subject, "server %q does not exist%s", p.LB, didYouMean(p.LB, names))
			continue
		case lb.Services.LB == nil:
			c.at(&p.Meta, "lb", subject, "server %q has no lb service (%s)", p.LB, lb.At("services"))
			continue
		}
		for _, e := range envs {
			if inEnv(p.Environments, e) && !inEnv(lb.Environments, e) {
				c.at(&p.Meta, "lb", subject, "load balancer %q is not in environment %q, where the platform is; add the server there or limit the platform's environments", p.LB, e)
				break
			}
		}
		for i, sn := range p.Servers {
			srv := c.r.servers[sn]
			if srv != nil && srv.Address == "local" && lb.Address != "local" {
				c.at(&p.Meta, fmt.Sprintf("servers[%d]", i), subject, "server %q has address local, which load balancer %q cannot reach: give it its network address", sn, p.LB)
			}
		}
	}
}

// sharedLBs reports a site that two environments with the same
// domain_suffix (none counts) put behind one load balancer: both
// environments' files would answer its names there; and (lbWithoutTLS) a
// site with tls.acme behind a load balancer that does not terminate TLS.
func (c *checker) sharedLBs(cfg *Config) {
	c.lbWithoutTLS(cfg)
	envs := slices.Sorted(maps.Keys(cfg.Environments))
	for _, s := range c.r.Sites {
		pl := c.r.platforms[s.Platform]
		if pl == nil || pl.LB == "" {
			continue
		}
		lb := c.r.servers[pl.LB]
		if lb == nil || lb.Services.LB == nil {
			continue
		}
		bySuffix := map[string]string{}
		for _, env := range envs {
			e := cfg.Environments[env]
			if e == nil || !inEnv(s.Environments, env) || !inEnv(pl.Environments, env) || !inEnv(lb.Environments, env) {
				continue
			}
			if other, dup := bySuffix[e.DomainSuffix]; dup {
				c.at(&s.Meta, "name", subjectOf("site", s.Name), "environments %q and %q both put this site on load balancer %s under the same name (same domain_suffix %q): give one of them its own domain_suffix in berth.yaml, or limit the site or the load balancer to one of them with environments:", other, env, pl.LB, e.DomainSuffix)
				break
			}
			bySuffix[e.DomainSuffix] = env
		}
	}
}

// siteLB returns a site's load balancer in env, nil when its platform has
// none there.
func (r *Repo) siteLB(pl *Platform, env string) *Server {
	if pl == nil || pl.LB == "" {
		return nil
	}
	lb := r.servers[pl.LB]
	if lb == nil || lb.Services.LB == nil || !inEnv(lb.Environments, env) {
		return nil
	}
	return lb
}

// lbWithoutTLS reports, at a load balancer's lb service, the sites with
// tls.acme it serves in some environment while it has no tls_listen: TLS
// terminates on the load balancer, which would serve them over plain HTTP
// only.
func (c *checker) lbWithoutTLS(cfg *Config) {
	found := map[string][]string{}
	for _, s := range sortedBy(c.r.Sites, func(s *Site) string { return s.Name }) {
		pl := c.r.platforms[s.Platform]
		for _, env := range slices.Sorted(maps.Keys(cfg.Environments)) {
			e := cfg.Environments[env]
			if e == nil || !inEnv(s.Environments, env) || pl == nil || !inEnv(pl.Environments, env) {
				continue
			}
			lb := c.r.siteLB(pl, env)
			if lb == nil || lb.Services.LB.TLSListen != "" {
				continue
			}
			set := mergeSettings(&cfg.Defaults, &e.Defaults, &s.SiteSettings, e.Sites[s.Name].settings())
			if set.TLS == nil || set.TLS.ACME == nil || !*set.TLS.ACME {
				continue
			}
			if !slices.Contains(found[lb.Name], s.Name) {
				found[lb.Name] = append(found[lb.Name], s.Name)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(found)) {
		lb := c.r.servers[name]
		names := found[name]
		more := ""
		if len(names) > 3 {
			more = fmt.Sprintf(" and %d more", len(names)-3)
			names = names[:3]
		}
		c.keyAt(&lb.Meta, "services.lb", subjectOf("server", name),
			"the load balancer serves %s%s with tls.acme, and TLS terminates on it, but its lb service has no tls_listen: add tls_listen: 443 to services.lb (and cert_dir if /etc/ssl/berth does not suit), or set tls: { acme: false } for them", sitesNamed(names), more)
	}
}
