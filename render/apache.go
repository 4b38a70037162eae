package render

import (
	"net"
	"regexp"
	"strings"

	"github.com/berthhq/berth/spec"
)

// apacheVhost renders the site's VirtualHosts.
func apacheVhost(in *input) ([]byte, error) {
	site, p := in.site, in.paths
	hp, err := listenAddr(in.http.Listen)
	if err != nil {
		return nil, err
	}
	host := hp[0]
	if host == "" {
		host = "*"
	}
	addr := net.JoinHostPort(host, hp[1])

	var c conf
	c.line("%s", strings.TrimSuffix(header("#", site), "\n"))

	served := append([]string{site.Domain}, site.Aliases...)
	if site.RedirectAliases && !disabled(site) {
		served = []string{site.Domain}
		c.open("<VirtualHost %s>", addr)
		c.line("ServerName %s", q(site.Aliases[0]))
		c.line("ServerAlias %s", names(site.Aliases))
		if site.TLS.ACME {
			// Redirect would answer the challenge too (mod_alias tries
			// redirects before aliases).
			apacheChallenge(&c, in)
			c.line("RedirectMatch permanent %s %s", q(`^/(?!\.well-known/acme-challenge/)(.*)$`), q("http://"+mainHost(in)+"/$1"))
		} else {
			c.line("Redirect permanent / %s", q("http://"+mainHost(in)+"/"))
		}
		c.close("</VirtualHost>")
		c.line("")
	}

	c.open("<VirtualHost %s>", addr)
	c.line("ServerName %s", q(site.Domain))
	if len(served) > 1 {
		c.line("ServerAlias %s", names(served[1:]))
	}
	apacheHeaders(&c, in)
	apacheBehindLB(&c, in)

	if disabled(site) {
		c.line("DocumentRoot %s", q(p.DisabledDir))
		c.open("<Directory %s>", q(p.DisabledDir))
		c.line("Options None")
		c.line("AllowOverride None")
		c.line("Require all granted")
		c.close("</Directory>")
		c.line("ErrorDocument 503 /index.html")
		apacheChallenge(&c, in)
		c.comment("Every request answers 503; the error document is served by the internal redirect.")
		if site.TLS.ACME {
			c.open(`<If "-z %%{ENV:REDIRECT_STATUS} && %%{REQUEST_URI} !~ m#^/\.well-known/acme-challenge/#">`)
		} else {
			c.open(`<If "-z %%{ENV:REDIRECT_STATUS}">`)
		}
		c.line("Redirect 503")
		c.close("</If>")
		c.close("</VirtualHost>")
		return []byte(c.b.String()), nil
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
	apacheChallenge(&c, in)

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
	return []byte(c.b.String()), nil
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

func apacheHeaders(c *conf, in *input) {
	h := in.site.Web.Headers
	for _, n := range plainHTTPHeaders(h) {
		// mod_headers reads % as the start of a format specifier.
		c.line("Header always set %s %s", q(n), q(strings.ReplaceAll(h[n], "%", "%%")))
	}
}

func (c *conf) comment(s string) { c.line("# %s", s) }
