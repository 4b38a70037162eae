package render

import (
	"net"
	"regexp"
	"slices"
	"strings"

	"github.com/berthhq/berth/spec"
)

// apacheVhost renders the site's VirtualHosts: over plain HTTP only while
// the site has no certificate; with one, the HTTPS VirtualHosts on the TLS
// listen and, over plain HTTP, either redirects to them (answering the
// HTTP-01 challenge path themselves) or, without tls.redirect_https, the
// site again. The server's main configuration must Listen on both
// addresses and load mod_ssl (Debian: a2enmod ssl; ports.conf listens on
// 443 with it).
func apacheVhost(in *input) ([]byte, error) {
	var c conf
	c.line("%s", strings.TrimSuffix(header("#", in.site), "\n"))
	if !in.tls {
		if err := apacheServers(&c, in, false); err != nil {
			return nil, err
		}
		return []byte(c.b.String()), nil
	}
	var err error
	if in.site.TLS.RedirectHTTPS {
		err = apacheToHTTPS(&c, in)
	} else {
		err = apacheServers(&c, in, false)
	}
	if err != nil {
		return nil, err
	}
	c.line("")
	if err := apacheServers(&c, in, true); err != nil {
		return nil, err
	}
	return []byte(c.b.String()), nil
}

// vhostAddr is the address of a VirtualHost on listen.
func vhostAddr(listen string) (string, error) {
	hp, err := listenAddr(listen)
	if err != nil {
		return "", err
	}
	host := hp[0]
	if host == "" {
		host = "*"
	}
	return net.JoinHostPort(host, hp[1]), nil
}

// apacheToHTTPS answers the site's names over plain HTTP with a redirect
// to HTTPS, except the HTTP-01 challenge path: one VirtualHost for all of
// them to the main name with redirect_aliases, else one per name to the
// same name (mod_alias's targets are literal).
func apacheToHTTPS(c *conf, in *input) error {
	site := in.site
	addr, err := vhostAddr(in.http.Listen)
	if err != nil {
		return err
	}
	groups := [][]string{append([]string{site.Domain}, site.Aliases...)}
	if !site.RedirectAliases || disabled(site) {
		groups = groups[:0]
		for _, n := range append([]string{site.Domain}, site.Aliases...) {
			groups = append(groups, []string{n})
		}
	}
	toMain := len(groups[0]) > 1
	if old := renamed(site); len(old) > 0 {
		groups = append(groups, old)
	}
	for i, g := range groups {
		if i > 0 {
			c.line("")
		}
		c.open("<VirtualHost %s>", addr)
		c.line("ServerName %s", q(g[0]))
		if len(g) > 1 {
			c.line("ServerAlias %s", names(g[1:]))
		}
		apacheChallenge(c, in)
		target := "https://" + hostPort(g[0], in.http.TLSListen, "443") + "/$1"
		if toMain || slices.Contains(site.RedirectNames, g[0]) {
			target = "https://" + hostPort(site.Domain, in.http.TLSListen, "443") + "/$1"
		}
		c.line("RedirectMatch permanent %s %s", q(`^/(?!\.well-known/acme-challenge/)(.*)$`), q(target))
		c.close("</VirtualHost>")
	}
	return nil
}

// apacheServers writes the site's VirtualHosts on the plain HTTP listen,
// or on the TLS listen with tls: the alias redirect (redirect_aliases)
// and the site.
func apacheServers(c *conf, in *input, tls bool) error {
	site, p := in.site, in.paths
	listen, scheme, def := in.http.Listen, "http", "80"
	if tls {
		listen, scheme, def = in.http.TLSListen, "https", "443"
	}
	addr, err := vhostAddr(listen)
	if err != nil {
		return err
	}
	main := scheme + "://" + hostPort(site.Domain, listen, def)
	if site.LB != nil && !tls {
		// Behind a load balancer the site is reached at the balancer's
		// listen, not this server's (as nginx's mainHost).
		main = "http://" + hostPort(site.Domain, site.LB.Listen, "80")
	}

	served := append([]string{site.Domain}, site.Aliases...)
	var redirect []string
	if site.RedirectAliases && !disabled(site) {
		served, redirect = []string{site.Domain}, site.Aliases
	}
	if !tls { // no certificate covers a renamed site's old name
		redirect = append(slices.Clone(redirect), renamed(site)...)
	}
	if len(redirect) > 0 {
		c.open("<VirtualHost %s>", addr)
		c.line("ServerName %s", q(redirect[0]))
		c.line("ServerAlias %s", names(redirect))
		apacheTLS(c, in, tls)
		if site.TLS.ACME {
			// Redirect would answer the challenge too (mod_alias tries
			// redirects before aliases).
			apacheChallenge(c, in)
			c.line("RedirectMatch permanent %s %s", q(`^/(?!\.well-known/acme-challenge/)(.*)$`), q(main+"/$1"))
		} else {
			c.line("Redirect permanent / %s", q(main+"/"))
		}
		c.close("</VirtualHost>")
		c.line("")
	}

	c.open("<VirtualHost %s>", addr)
	c.line("ServerName %s", q(site.Domain))
	if len(served) > 1 {
		c.line("ServerAlias %s", names(served[1:]))
	}
	apacheTLS(c, in, tls)
	apacheHeaders(c, in, tls)
	apacheBehindLB(c, in)

	if in.movedTo != "" {
		moved := "http://" + in.movedTo
		if tls {
			moved = "https://" + in.movedTo
		}
		apacheChallenge(c, in)
		c.line("RedirectMatch permanent %s %s", q(`^/(?!\.well-known/acme-challenge/)(.*)$`), q(moved+"/$1"))
		c.close("</VirtualHost>")
		return nil
	}
	if disabled(site) {
		c.line("DocumentRoot %s", q(p.DisabledDir))
		c.open("<Directory %s>", q(p.DisabledDir))
		c.line("Options None")
		c.line("AllowOverride None")
		c.line("Require all granted")
		c.close("</Directory>")
		c.line("ErrorDocument 503 /index.html")
		if in.maintenance {
			c.line("Header always set \"Retry-After\" \"%d\"", MaintenanceRetryAfter)
		}
		apacheChallenge(c, in)
		c.comment("Every request answers 503; the error document is served by the internal redirect.")
		if site.TLS.ACME {
			c.open(`<If "-z %%{ENV:REDIRECT_STATUS} && %%{REQUEST_URI} !~ m#^/\.well-known/acme-challenge/#">`)
		} else {
			c.open(`<If "-z %%{ENV:REDIRECT_STATUS}">`)
		}
		c.line("Redirect 503")
		c.close("</If>")
		c.close("</VirtualHost>")
		return nil
	}

	c.line("DocumentRoot %s", q(p.Docroot))
	if s := site.Web.ClientMaxBodySize; s != "" {
		n, _ := sizeBytes(s)
		n = min(n, 2147483647)
		c.line("LimitRequestBody %d", n)
		if n > 0 && site.PHP != "" {
			// LimitRequestBody does not hold for requests proxied to
			// PHP-FPM: refuse them by their Content-Length. (PHP's
			// post_max_size refuses chunked bodies.)
			c.open(`<If "%%{HTTP:Content-Length} =~ /^[0-9]+$/ && %%{HTTP:Content-Length} -gt %d">`, n)
			c.line("Redirect 413")
			c.close("</If>")
		}
	}
	c.open("<Directory %s>", q(p.Docroot))
	c.line("Options FollowSymLinks")
	switch site.Type {
	case "drupal", "wordpress":
		c.line("AllowOverride All")
	default:
		c.line("AllowOverride None")
	}
	c.line("Require all granted")
	if site.PHP != "" {
		c.line("DirectoryIndex index.php index.html")
		c.line("FallbackResource /index.php")
	} else {
		c.line("DirectoryIndex index.html index.htm")
	}
	c.close("</Directory>")

	if site.PHP != "" {
		c.open(`<FilesMatch "\.php$">`)
		c.line("SetHandler %s", q("proxy:unix:"+p.Socket+"|fcgi://localhost"))
		c.close("</FilesMatch>")
	}
	if ba := site.Web.BasicAuth; ba != nil {
		// A Location is merged after Directory and .htaccess sections, so
		// a platform's .htaccess cannot lift the protection.
		c.open(`<Location "/">`)
		c.line("AuthType Basic")
		c.line("AuthName %s", q(realm(ba.Realm)))
		c.line("AuthUserFile %s", q(p.Htpasswd))
		c.line("Require valid-user")
		c.close("</Location>")
	}
	c.open(`<LocationMatch "/\.(?!well-known/)">`)
	c.line("Require all denied")
	c.close("</LocationMatch>")
	apacheChallenge(c, in)

	for _, r := range site.Web.Redirects {
		pattern := "^" + pathRegexp(r.From) + "$"
		if prefix, ok := strings.CutSuffix(r.From, "*"); ok {
			pattern = "^" + pathRegexp(prefix)
			if spec.RedirectKeepsRest(r.To) {
				pattern += "(.*)$"
			}
		}
		c.line("RedirectMatch %d %s %s", redirectCode(r), q(pattern), q(r.To))
	}
	c.close("</VirtualHost>")
	return nil
}

// apacheChallenge serves the site's HTTP-01 answers, for a site with
// tls.acme: an Alias outside the document root (no .htaccess, no
// FallbackResource, no PHP handler reaches it), granted to everyone after
// any basic auth Location, which it overrides.
func apacheChallenge(c *conf, in *input) {
	if !in.site.TLS.ACME {
		return
	}
	dir := in.paths.ACMEDir + ChallengeDir
	c.line("Alias %s %s", q(ChallengeDir+"/"), q(dir+"/"))
	c.open("<Directory %s>", q(dir))
	c.line("Options None")
	c.line("AllowOverride None")
	c.line("Require all granted")
	c.close("</Directory>")
	c.open("<Location %s>", q(ChallengeDir+"/"))
	c.line("Require all granted")
	c.close("</Location>")
}

// pathRegexp escapes a URL path for a regular expression.
func pathRegexp(p string) string { return regexp.QuoteMeta(p) }

// apacheTLS turns a VirtualHost on the TLS listen on, with the site's
// certificate.
func apacheTLS(c *conf, in *input, tls bool) {
	if !tls {
		return
	}
	c.line("SSLEngine on")
	c.line("SSLCertificateFile %s", q(in.paths.CertChain))
	c.line("SSLCertificateKeyFile %s", q(in.paths.CertKey))
}

func apacheHeaders(c *conf, in *input, tls bool) {
	h := in.site.Web.Headers
	for _, n := range servedHeaders(h, tls) {
		// mod_headers reads % as the start of a format specifier.
		c.line("Header always set %s %s", q(n), q(strings.ReplaceAll(h[n], "%", "%%")))
	}
}

func (c *conf) comment(s string) { c.line("# %s", s) }
