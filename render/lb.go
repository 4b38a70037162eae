package render

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"

	"github.com/berthhq/berth/spec"
)

// ServiceLB is the Service of a load balancer's files: its nginx, checked
// and reloaded when they change.
const ServiceLB = "lb"

// LBUpstream names the upstream of one platform in one environment on a
// load balancer: berth-<env>-<platform>.
func LBUpstream(env, platform string) string { return "berth-" + env + "-" + platform }

// LBFile is where a load balancer keeps the configuration of one platform
// in one environment: <conf_dir>/berth-<env>-<platform>.conf.
func LBFile(lb *spec.ResolvedServer, env, platform string) string {
	return path.Join(lb.LB.ConfDir, LBUpstream(env, platform)+".conf")
}

// LBNode is one web server of a platform as its load balancer sees it.
type LBNode struct {
	Server  string // the server's name
	Address string // host:port of its sites (spec.NodeAddress)
	Drain   bool   // in the upstream, marked down
}

// LBNodes lists the web servers of a platform in an environment, in the
// platform's order, as its load balancer reaches them.
func LBNodes(res *spec.Resolved, pl *spec.ResolvedPlatform) []LBNode {
	servers := map[string]*spec.ResolvedServer{}
	for i := range res.Servers {
		servers[res.Servers[i].Name] = &res.Servers[i]
	}
	var out []LBNode
	for _, sn := range pl.Servers {
		if srv := servers[sn]; srv != nil && srv.HTTP != nil {
			out = append(out, LBNode{Server: sn, Address: spec.NodeAddress(srv), Drain: srv.Drain})
		}
	}
	return out
}

// LBOptions are what a load balancer's files depend on besides the
// revision: what the state store holds.
type LBOptions struct {
	// Certificates are the sites with tls.acme, by domain, whose
	// certificate is issued and installed on the load balancer at
	// LBCertChain and LBCertKey, each with a stamp of the certificate
	// (e.g. its chain's SHA-256): the load balancer then terminates TLS
	// for them on its tls_listen. Without one a site is proxied over
	// plain HTTP only (and answers HTTP-01 itself), never pointing at a
	// certificate that is not there. The stamp is written into the file
	// (a comment), so that a renewed certificate changes it: the file's
	// own check and reload then serve the new one.
	Certificates map[string]string
}

// LBCertChain and LBCertKey are where load balancer lb keeps the
// certificate chain and private key of a site it terminates TLS for:
// <cert_dir>/<domain>.crt and .key.
func LBCertChain(lb *spec.ResolvedServer, domain string) string {
	return path.Join(lb.LB.CertDir, domain+".crt")
}

// LBCertKey: see LBCertChain.
func LBCertKey(lb *spec.ResolvedServer, domain string) string {
	return path.Join(lb.LB.CertDir, domain+".key")
}

// LBACMEDir is the directory load balancer lb serves a site's HTTP-01
// answers from (<acme_dir>/<domain>, the answers below its
// .well-known/acme-challenge/): package acme's Webroot writes them there.
func LBACMEDir(lb *spec.ResolvedServer, domain string) string {
	return path.Join(lb.LB.ACMEDir, domain)
}

// LB returns the files of load balancer lb in environment res, sorted by
// path: one per platform that names lb, holding the platform's upstream
// (its web servers, passive health checks: max_fails and fail_timeout; a
// drained server marked down, so it gets no new request while its
// requests in flight finish) and one server block per site of the
// platform, answering every name of the site and proxying to the
// upstream with Host, X-Real-IP, X-Forwarded-For and X-Forwarded-Proto
// set. A platform whose servers are all drained keeps its upstream, all
// down: its sites answer 502. A platform whose files are synced from a
// primary (files: mode sync) sends what may write, and what another
// server answers 404, to the primary (lbProxy).
//
// A site with tls.acme answers the HTTP-01 challenge path from
// LBACMEDir ahead of proxying; once its certificate is issued
// (o.Certificates), the load balancer terminates TLS for it on its
// tls_listen, with Strict-Transport-Security when the site sets it,
// proxying to the web servers over plain HTTP with X-Forwarded-Proto
// https, and plain HTTP redirects to HTTPS unless tls.redirect_https is
// false.
func LB(res *spec.Resolved, lb *spec.ResolvedServer, o LBOptions) ([]File, error) {
	if lb.LB == nil {
		return nil, fmt.Errorf("render load balancer %q: the server has no lb service", lb.Name)
	}
	l := lb.LB
	if err := errors.Join(
		rule("environment", spec.RuleEnvironment, res.Environment),
		rule("lb.listen", spec.RuleListen, l.Listen),
		rule("lb.conf_dir", spec.RuleAbsPath, l.ConfDir),
	); err != nil {
		return nil, fmt.Errorf("render load balancer %q: %w", lb.Name, err)
	}
	var out []File
	for i := range res.Platforms {
		pl := &res.Platforms[i]
		if pl.LB != lb.Name {
			continue
		}
		f, err := lbPlatform(res, lb, pl, o)
		if err != nil {
			return nil, fmt.Errorf("render load balancer %q, platform %q: %w", lb.Name, pl.Name, err)
		}
		out = append(out, f)
	}
	return out, nil
}

// LBDrained is the file of platform pl on its load balancer lb (as LB
// renders it) with the web server named drained marked down too: what a
// roll writes while it switches that server.
func LBDrained(res *spec.Resolved, lb *spec.ResolvedServer, pl *spec.ResolvedPlatform, drained string, o LBOptions) (File, error) {
	r := *res
	r.Servers = slices.Clone(res.Servers)
	for i := range r.Servers {
		if r.Servers[i].Name == drained {
			r.Servers[i].Drain = true
		}
	}
	f, err := lbPlatform(&r, lb, pl, o)
	if err != nil {
		return File{}, fmt.Errorf("render load balancer %q, platform %q: %w", lb.Name, pl.Name, err)
	}
	return f, nil
}

func lbPlatform(res *spec.Resolved, lb *spec.ResolvedServer, pl *spec.ResolvedPlatform, o LBOptions) (File, error) {
	l := lb.LB
	if err := rule("platform", spec.RuleName, pl.Name); err != nil {
		return File{}, err
	}
	nodes := LBNodes(res, pl)
	if len(nodes) == 0 {
		return File{}, errors.New("the platform has no web server to balance")
	}
	upstream := LBUpstream(res.Environment, pl.Name)
	var c conf
	c.line("# Managed by berth: load balancer of platform %s in environment %s. Changes are overwritten.", pl.Name, res.Environment)
	c.open("upstream %s {", upstream)
	for _, n := range nodes {
		if err := errors.Join(rule("server", spec.RuleName, n.Server), lbNodeAddress(n.Address)); err != nil {
			return File{}, err
		}
		if n.Drain {
			c.line("server %s down; # %s: drained", n.Address, n.Server)
			continue
		}
		c.line("server %s max_fails=%d fail_timeout=%ds; # %s", n.Address, l.MaxFails, l.FailTimeout, n.Server)
	}
	c.close("}")
	primary := ""
	if w := lbFilesPrimary(nodes, pl); w != nil {
		// Files written on another server are replaced by the primary's
		// at the next run: what may write goes to the primary (lbProxy).
		// While it cannot be reached the others answer, as without it: a
		// site that takes no writes while one server is down is worse
		// than an upload replaced at the next run.
		primary = upstream + "-primary"
		c.line("")
		c.line("# files: mode sync from %s: requests that may write (not GET, HEAD or OPTIONS), and those another server answers 404, go to it; to the others while it cannot be reached.", w.Server)
		c.open("upstream %s {", primary)
		c.line("server %s max_fails=%d fail_timeout=%ds; # %s: the files primary", w.Address, l.MaxFails, l.FailTimeout, w.Server)
		for _, n := range nodes {
			if n.Server != w.Server && !n.Drain {
				c.line("server %s backup; # %s", n.Address, n.Server)
			}
		}
		c.close("}")
	}
	for i := range res.Sites {
		site := &res.Sites[i]
		if site.Platform != pl.Name {
			continue
		}
		if err := rule("domain", spec.RuleHostname, site.Domain); err != nil {
			return File{}, fmt.Errorf("site %q: %w", site.Name, err)
		}
		for i, a := range site.Aliases {
			if err := rule(fmt.Sprintf("aliases[%d]", i), spec.RuleHostnameAlias, a); err != nil {
				return File{}, fmt.Errorf("site %q: %w", site.Name, err)
			}
		}
		for _, n := range site.RedirectNames {
			if err := rule("renamed_from", spec.RuleHostname, n); err != nil {
				return File{}, fmt.Errorf("site %q: %w", site.Name, err)
			}
		}
		up, write := upstream, primary
		if len(site.LBFrom) > 0 {
			write = "" // the source's servers, not this platform's primary
			// A move not switched yet: the site still goes to its source.
			up = upstream + "-" + site.Domain
			c.line("")
			c.open("upstream %s {", up)
			for _, sn := range site.LBFrom {
				var srv *spec.ResolvedServer
				for j := range res.Servers {
					if res.Servers[j].Name == sn {
						srv = &res.Servers[j]
					}
				}
				if srv == nil || srv.HTTP == nil {
					return File{}, fmt.Errorf("site %q: server %q, which it moves from, has no web server in environment %q", site.Name, sn, res.Environment)
				}
				addr := spec.NodeAddress(srv)
				if err := errors.Join(rule("server", spec.RuleName, sn), lbNodeAddress(addr)); err != nil {
					return File{}, fmt.Errorf("site %q: %w", site.Name, err)
				}
				c.line("server %s max_fails=%d fail_timeout=%ds; # %s: the site moves from it, not switched yet", addr, l.MaxFails, l.FailTimeout, sn)
			}
			c.close("}")
		}
		if err := lbSite(&c, lb, site, up, write, o.Certificates[site.Domain]); err != nil {
			return File{}, fmt.Errorf("site %q: %w", site.Name, err)
		}
	}
	return File{Path: LBFile(lb, res.Environment, pl.Name), Content: []byte(c.b.String()), Mode: 0o644, Service: ServiceLB}, nil
}

// lbFilesPrimary is the node a platform whose files are synced from a
// primary (files: mode sync) copies them from, when its load balancer
// can send requests to it (not drained); nil otherwise.
func lbFilesPrimary(nodes []LBNode, pl *spec.ResolvedPlatform) *LBNode {
	if pl.Files == nil || pl.Files.Mode != spec.FilesSync {
		return nil
	}
	for i := range nodes {
		if nodes[i].Server == pl.Files.Primary && !nodes[i].Drain {
			return &nodes[i]
		}
	}
	return nil
}

// lbSite writes the server blocks of one site on its load balancer: over
// plain HTTP the challenge path (tls.acme) and either the proxy or, with
// an issued certificate and tls.redirect_https, a redirect to HTTPS;
// with the certificate, the proxy over TLS too. primary is the upstream
// of the platform's files primary ("" none): see lbProxy.
func lbSite(c *conf, lb *spec.ResolvedServer, site *spec.ResolvedSite, upstream, primary, stamp string) error {
	l := lb.LB
	served := names(append([]string{site.Domain}, site.Aliases...))
	acmeDir := LBACMEDir(lb, site.Domain)
	if site.TLS.ACME {
		if l.TLSListen == "" {
			return errors.New("the site has tls.acme, and TLS terminates on the load balancer, but its lb service has no tls_listen")
		}
		if err := errors.Join(rule("lb.tls_listen", spec.RuleListen, l.TLSListen), rule("lb.cert_dir", spec.RuleAbsPath, l.CertDir),
			rule("lb.acme_dir", spec.RuleAbsPath, l.ACMEDir)); err != nil {
			return err
		}
	}
	certified := stamp != "" && site.TLS.ACME
	if certified {
		if err := rule("certificate stamp", spec.RuleName, stamp); err != nil {
			return err
		}
	}
	// The site's request body limit holds on the load balancer too,
	// whose nginx would refuse anything above its own default (1m).
	bodySize := ""
	if s := site.Web.ClientMaxBodySize; s != "" {
		if _, err := sizeBytes(s); err != nil {
			return err
		}
		bodySize = sizeUnit(s)
	}
	c.line("")
	c.line("# site %s", site.Domain)
	c.open("server {")
	c.line("listen %s;", l.Listen)
	c.line("server_name %s;", served)
	if bodySize != "" {
		c.line("client_max_body_size %s;", bodySize)
	}
	if site.TLS.ACME {
		c.open("location ^~ %s/ {", ChallengeDir)
		c.line("root %s;", q(acmeDir))
		c.line("default_type text/plain;")
		c.line("try_files $uri =404;")
		c.close("}")
	}
	// With redirect_aliases the load balancer sends the aliases to the
	// main name over HTTPS itself: the nodes, which only see plain HTTP,
	// would send them to http://.
	toMain := site.RedirectAliases && !disabled(site) && len(site.Aliases) > 0
	httpsHost := "$host"
	if toMain {
		httpsHost = site.Domain
	}
	if certified && site.TLS.RedirectHTTPS {
		c.line("location / { return 301 %s; }", q("https://"+httpsHost+hostPort("", l.TLSListen, "443")+"$request_uri"))
	} else {
		lbProxy(c, upstream, primary)
	}
	c.close("}")
	if old := renamed(site); len(old) > 0 {
		// A renamed site's old name goes to the new one from here (no
		// certificate covers it).
		main := "http://" + site.Domain + hostPort("", l.Listen, "80")
		if certified && site.TLS.RedirectHTTPS {
			main = "https://" + site.Domain + hostPort("", l.TLSListen, "443")
		}
		c.line("")
		c.open("server {")
		c.line("listen %s;", l.Listen)
		c.line("server_name %s;", names(old))
		c.line("return 301 %s;", q(main+"$request_uri"))
		c.close("}")
	}
	if !certified {
		return nil
	}
	tlsServer := func(serverNames string) {
		c.line("")
		c.open("server {")
		c.line("listen %s ssl;", l.TLSListen)
		c.line("server_name %s;", serverNames)
		c.line("ssl_certificate %s;", q(LBCertChain(lb, site.Domain)))
		c.line("ssl_certificate_key %s;", q(LBCertKey(lb, site.Domain)))
		c.line("# certificate %s", stamp)
	}
	if toMain {
		tlsServer(names(site.Aliases))
		c.line("return 301 %s;", q("https://"+hostPort(site.Domain, l.TLSListen, "443")+"$request_uri"))
		c.close("}")
		served = names([]string{site.Domain})
	}
	tlsServer(served)
	if bodySize != "" {
		c.line("client_max_body_size %s;", bodySize)
	}
	// The nodes send the site's other headers; Strict-Transport-Security
	// only goes out over TLS, which only the load balancer speaks.
	for _, n := range sortedHeaders(site.Web.Headers) {
		if strings.EqualFold(n, "Strict-Transport-Security") {
			c.line("add_header %s %s always;", q(n), q(site.Web.Headers[n]))
		}
	}
	lbProxy(c, upstream, primary)
	c.close("}")
	return nil
}

// lbProxy writes the location that proxies a site to its upstream. With
// primary, the upstream of the platform's files primary, a request that
// may write (any method but GET, HEAD and OPTIONS: an upload, a form)
// goes to the primary instead, whose files the others get at the next
// run (their own would be replaced then), and a request another server
// answers 404 is asked of the primary once more (a file uploaded there
// since the last run); a request the primary answers is never repeated.
// While the primary cannot be reached, the others answer (its upstream
// lists them as backup servers).
func lbProxy(c *conf, upstream, primary string) {
	proxy := func(to string) {
		c.line("proxy_pass http://%s;", to)
		c.line("proxy_set_header Host $host;")
		c.line("proxy_set_header X-Real-IP $remote_addr;")
		c.line("proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;")
		c.line("proxy_set_header X-Forwarded-Proto $scheme;")
	}
	c.open("location / {")
	if primary != "" {
		c.line("if ($request_method !~ ^(GET|HEAD|OPTIONS)$) { return 418; }")
		c.line("proxy_intercept_errors on;")
		c.line("error_page 404 418 = @berth-files-primary;")
	}
	proxy(upstream)
	// A connection refused or a timeout tries the next server (and
	// counts toward max_fails); an answer, even an error page, is
	// the site's.
	c.line("proxy_next_upstream error timeout;")
	c.line("proxy_connect_timeout 5s;")
	c.close("}")
	if primary != "" {
		c.open("location @berth-files-primary {")
		proxy(primary)
		c.line("proxy_next_upstream error timeout;")
		c.line("proxy_connect_timeout 5s;")
		c.close("}")
	}
}

// lbNodeAddress checks a web server's host:port as it goes into an
// upstream.
func lbNodeAddress(hostport string) error {
	i := strings.LastIndexByte(hostport, ':')
	if i < 0 {
		return fmt.Errorf("web server address %q has no port", hostport)
	}
	host := strings.TrimSuffix(strings.TrimPrefix(hostport[:i], "["), "]")
	return errors.Join(rule("web server address", spec.RuleAddress, host), rule("web server port", spec.RuleListen, hostport[i+1:]))
}

// nginxBehindLB makes a node's server block trust X-Forwarded-For from
// its load balancer's source address only, name the node in a response
// header (X-Berth-Node) and keep the redirects nginx makes relative, for
// a site served through a load balancer. Where the load balancer
// terminates TLS for the site, a request it forwarded over HTTPS
// (X-Forwarded-Proto https, from its source address only) reaches PHP
// with HTTPS on and REQUEST_SCHEME https ($berth_https, $berth_scheme:
// see fastcgiParam), as it would on a server speaking TLS itself:
// WordPress, whose admin forces HTTPS when its address is https, and
// Drupal would otherwise redirect it in a loop or link it over http.
func nginxBehindLB(c *conf, in *input) {
	if in.site.LB == nil {
		return
	}
	c.line("set_real_ip_from %s;", in.site.LB.From)
	c.line("real_ip_header X-Forwarded-For;")
	c.line("add_header X-Berth-Node %s always;", q(in.srv.Name))
	// A redirect nginx makes of a path (a directory's trailing slash, a
	// redirect to /path) would name this server's scheme and port
	// (http://site:8080/docs/), which clients of the load balancer cannot
	// reach: it stays a path, resolved by the client against its own URL.
	c.line("absolute_redirect off;")
	if lbTerminatesTLS(in.site) {
		c.line("set $berth_https $https;")
		c.line("set $berth_scheme $scheme;")
		c.line(`set $berth_forwarded "$realip_remote_addr $http_x_forwarded_proto";`)
		c.line("if ($berth_forwarded = %s) { set $berth_https on; set $berth_scheme https; }", q(lbSourceAddr(in.site)+" https"))
	}
}

// apacheBehindLB is nginxBehindLB for apache (mod_remoteip, mod_headers;
// mod_setenvif sets HTTPS for PHP where the load balancer terminates TLS:
// CONN_REMOTE_ADDR is the connection's peer, which mod_remoteip leaves).
func apacheBehindLB(c *conf, in *input) {
	if in.site.LB == nil {
		return
	}
	c.line("RemoteIPHeader X-Forwarded-For")
	c.line("RemoteIPInternalProxy %s", in.site.LB.From)
	c.line("Header always set X-Berth-Node %s", q(in.srv.Name))
	if lbTerminatesTLS(in.site) {
		c.line(`SetEnvIfExpr "%%{CONN_REMOTE_ADDR} == '%s' && %%{HTTP:X-Forwarded-Proto} == 'https'" HTTPS=on`, lbSourceAddr(in.site))
	}
}

// lbTerminatesTLS says whether the site runs PHP and its load balancer
// may serve it over HTTPS (tls.acme, and the load balancer has a
// tls_listen).
func lbTerminatesTLS(site *spec.ResolvedSite) bool {
	return site.PHP != "" && site.LB != nil && site.LB.TLSListen != "" && site.TLS.ACME
}

// lbSourceAddr is the site's load balancer source address in the form
// nginx's $realip_remote_addr and apache's CONN_REMOTE_ADDR print it
// (checkLB has checked it is an IP address).
func lbSourceAddr(site *spec.ResolvedSite) string {
	if a, err := netip.ParseAddr(site.LB.From); err == nil {
		return a.Unmap().String()
	}
	return site.LB.From
}

// checkLB checks what a node's vhost writes for its load balancer.
func checkLB(site *spec.ResolvedSite, srv *spec.ResolvedServer) error {
	if site.LB == nil {
		return nil
	}
	return errors.Join(rule("lb source", spec.RuleIP, site.LB.From), rule("lb listen", spec.RuleListen, site.LB.Listen), rule("server name", spec.RuleName, srv.Name))
}
