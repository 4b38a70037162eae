package render

import (
	"fmt"
	"slices"
	"strings"

	"github.com/berthhq/berth/spec"
)

// conf writes an indented configuration file.
type conf struct {
	b     strings.Builder
	depth int
}

func (c *conf) line(format string, args ...any) {
	if format == "" {
		c.b.WriteByte('\n')
		return
	}
	c.b.WriteString(strings.Repeat("    ", c.depth))
	fmt.Fprintf(&c.b, format, args...)
	c.b.WriteByte('\n')
}

func (c *conf) open(format string, args ...any) {
	c.line(format, args...)
	c.depth++
}

func (c *conf) close(s string) {
	c.depth--
	c.line("%s", s)
}

// q quotes a value for nginx or apache. Values are checked before
// rendering: they hold no quotes, backslashes or line breaks.
func q(s string) string { return `"` + s + `"` }

// names quotes each name and joins them with spaces.
func names(ns []string) string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = q(n)
	}
	return strings.Join(out, " ")
}

// fastcgiParams are those of Debian's /etc/nginx/fastcgi.conf, written
// inline so a vhost does not depend on the files of one nginx prefix, with
// the document root resolved through the platform's current symlink.
var fastcgiParams = [][2]string{
	{"SCRIPT_FILENAME", "$realpath_root$fastcgi_script_name"},
	{"QUERY_STRING", "$query_string"},
	{"REQUEST_METHOD", "$request_method"},
	{"CONTENT_TYPE", "$content_type"},
	{"CONTENT_LENGTH", "$content_length"},
	{"SCRIPT_NAME", "$fastcgi_script_name"},
	{"REQUEST_URI", "$request_uri"},
	{"DOCUMENT_URI", "$document_uri"},
	{"DOCUMENT_ROOT", "$realpath_root"},
	{"SERVER_PROTOCOL", "$server_protocol"},
	{"REQUEST_SCHEME", "$scheme"},
	{"HTTPS", "$https if_not_empty"},
	{"GATEWAY_INTERFACE", "CGI/1.1"},
	{"SERVER_SOFTWARE", "nginx/$nginx_version"},
	{"REMOTE_ADDR", "$remote_addr"},
	{"REMOTE_PORT", "$remote_port"},
	{"REMOTE_USER", "$remote_user"},
	{"SERVER_ADDR", "$server_addr"},
	{"SERVER_PORT", "$server_port"},
	{"SERVER_NAME", "$server_name"},
	{"PATH_INFO", "$path_info"},
	{"REDIRECT_STATUS", "200"},
	{"HTTP_PROXY", `""`}, // httpoxy: never pass a client's Proxy header on as an environment variable
}

// nginxVhost renders the site's server blocks: over plain HTTP only
// while the site has no certificate; with one, the HTTPS blocks on the
// TLS listen and, over plain HTTP, either a redirect to them (answering
// the HTTP-01 challenge path itself) or, without tls.redirect_https, the
// site again.
func nginxVhost(in *input) ([]byte, error) {
	var c conf
	c.line("%s", strings.TrimSuffix(header("#", in.site), "\n"))
	if !in.tls {
		nginxServers(&c, in, false)
		return []byte(c.b.String()), nil
	}
	if in.site.TLS.RedirectHTTPS {
		nginxToHTTPS(&c, in)
	} else {
		nginxServers(&c, in, false)
	}
	c.line("")
	nginxServers(&c, in, true)
	return []byte(c.b.String()), nil
}

// nginxToHTTPS answers every name of the site over plain HTTP with a
// redirect to HTTPS (to the main name when redirect_aliases is set),
// except the HTTP-01 challenge path, which the CA asks over plain HTTP.
func nginxToHTTPS(c *conf, in *input) {
	site := in.site
	target := "https://$host"
	if site.RedirectAliases && !disabled(site) {
		target = "https://" + site.Domain
	}
	if hp := hostPort("", in.http.TLSListen, "443"); hp != "" {
		target += hp
	}
	c.open("server {")
	nginxListen(c, in, false)
	c.line("server_name %s;", names(append([]string{site.Domain}, site.Aliases...)))
	nginxChallenge(c, in)
	c.line("location / { return 301 %s; }", q(target+"$request_uri"))
	c.close("}")
	if old := renamed(site); len(old) > 0 {
		c.line("")
		c.open("server {")
		nginxListen(c, in, false)
		c.line("server_name %s;", names(old))
		c.line("return 301 %s;", q("https://"+site.Domain+hostPort("", in.http.TLSListen, "443")+"$request_uri"))
		c.close("}")
	}
}

// nginxServers writes the site's server blocks on the plain HTTP listen,
// or on the TLS listen with tls: the alias redirect (redirect_aliases)
// and the site.
func nginxServers(c *conf, in *input, tls bool) {
	site, p := in.site, in.paths
	served := append([]string{site.Domain}, site.Aliases...)
	var redirect []string
	if site.RedirectAliases && !disabled(site) {
		served, redirect = []string{site.Domain}, site.Aliases
	}
	if !tls { // no certificate covers a renamed site's old name
		redirect = append(slices.Clone(redirect), renamed(site)...)
	}
	if len(redirect) > 0 {
		c.open("server {")
		nginxListen(c, in, tls)
		c.line("server_name %s;", names(redirect))
		main := "$scheme://" + mainHost(in)
		if tls {
			main = "https://" + hostPort(site.Domain, in.http.TLSListen, "443")
		}
		if site.TLS.ACME {
			// A server-level return would answer the challenge too.
			nginxChallenge(c, in)
			c.line("location / { return 301 %s; }", q(main+"$request_uri"))
		} else {
			c.line("return 301 %s;", q(main+"$request_uri"))
		}
		c.close("}")
		c.line("")
	}

	c.open("server {")
	nginxListen(c, in, tls)
	c.line("server_name %s;", names(served))
	nginxHeaders(c, in, tls)
	nginxBehindLB(c, in)

	if in.movedTo != "" {
		nginxChallenge(c, in)
		c.line("location / { return 301 %s; }", q("$scheme://"+in.movedTo+"$request_uri"))
		c.close("}")
		return
	}
	if disabled(site) {
		c.line("root %s;", q(p.DisabledDir))
		c.line("error_page 503 @disabled;")
		if in.maintenance {
			c.line("add_header Retry-After %d always;", MaintenanceRetryAfter)
		}
		c.line("")
		nginxChallenge(c, in)
		c.open("location / {")
		c.line("return 503;")
		c.close("}")
		c.line("")
		c.open("location @disabled {")
		c.line("rewrite ^ /index.html break;")
		c.close("}")
		c.close("}")
		return
	}

	c.line("root %s;", q(p.Docroot))
	if site.PHP != "" {
		c.line("index index.php index.html;")
	} else {
		c.line("index index.html index.htm;")
	}
	if s := site.Web.ClientMaxBodySize; s != "" {
		c.line("client_max_body_size %s;", sizeUnit(s))
	}
	if ba := site.Web.BasicAuth; ba != nil {
		c.line("")
		c.line("auth_basic %s;", q(realm(ba.Realm)))
		c.line("auth_basic_user_file %s;", q(p.Htpasswd))
	}

	if rs := site.Web.Redirects; len(rs) > 0 {
		c.line("")
		for _, r := range rs {
			// Like apache, keep the query string unless the target has one.
			to := r.To
			if !strings.Contains(to, "?") {
				to += "$is_args$args"
			}
			if prefix, ok := strings.CutSuffix(r.From, "*"); ok && spec.RedirectKeepsRest(r.To) {
				// The rest of the path is taken from the request line as the
				// client sent it, still %-escaped: a decoded $uri could put
				// a CR or LF into the Location header. A request line that
				// spells the prefix differently (%-escaped letters) goes to
				// the target's base.
				base := strings.TrimSuffix(r.To, "$1")
				c.open("location ^~ %s {", q(prefix))
				c.line("if ($request_uri ~ %s) { return %d %s; }", q("^"+pathRegexp(prefix)+"([^?]*)"), redirectCode(r), q(to))
				c.line("return %d %s;", redirectCode(r), q(base+"$is_args$args"))
				c.close("}")
			} else if ok {
				c.line("location ^~ %s { return %d %s; }", q(prefix), redirectCode(r), q(to))
			} else {
				c.line("location = %s { return %d %s; }", q(r.From), redirectCode(r), q(to))
			}
		}
	}

	c.line("")
	nginxChallenge(c, in)
	// Regular expression locations are tried in order: refusals first.
	c.line(`location ~ /\.(?!well-known/) { deny all; }`)
	switch site.Type {
	case "drupal":
		c.line(`location ~ ^/sites/[^/]+/files/.*\.php$ { deny all; }`)
		c.line(`location ~ ^/sites/[^/]+/private/ { deny all; }`)
		c.line(`location ~* \.(engine|inc|install|make|module|profile|po|sh|sql|theme|twig|tpl|xtmpl|yml)$ { deny all; }`)
	case "wordpress":
		c.line(`location ~* ^/wp-content/uploads/.*\.php$ { deny all; }`)
	}

	c.line("")
	c.open("location / {")
	if site.PHP != "" {
		c.line("try_files $uri $uri/ /index.php$is_args$args;")
	} else {
		c.line("try_files $uri $uri/ =404;")
	}
	c.close("}")

	if site.PHP != "" {
		c.line("")
		c.open(`location ~ [^/]\.php(/|$) {`)
		c.line(`fastcgi_split_path_info ^(.+?\.php)(/.*)$;`)
		c.line("try_files $fastcgi_script_name =404;")
		c.line("set $path_info $fastcgi_path_info;")
		c.line("fastcgi_index index.php;")
		for _, kv := range fastcgiParams {
			c.line("fastcgi_param %s %s;", kv[0], fastcgiParam(in, kv))
		}
		c.line("fastcgi_pass %s;", q("unix:"+p.Socket))
		c.close("}")
	}
	c.close("}")
}

// fastcgiParam is the value of the FastCGI parameter kv for the site:
// behind a load balancer that terminates TLS for it, HTTPS and
// REQUEST_SCHEME say what the load balancer was asked over (see
// nginxBehindLB).
func fastcgiParam(in *input, kv [2]string) string {
	if lbTerminatesTLS(in.site) {
		switch kv[0] {
		case "HTTPS":
			return "$berth_https if_not_empty"
		case "REQUEST_SCHEME":
			return "$berth_scheme"
		}
	}
	return kv[1]
}

// nginxChallenge serves the site's HTTP-01 answers, for a site with
// tls.acme: a ^~ prefix location wins over every regular expression
// location (PHP, refusals) and over location /, and lifts basic auth, so
// neither the application nor the site's settings answer the CA.
func nginxChallenge(c *conf, in *input) {
	if !in.site.TLS.ACME {
		return
	}
	c.open("location ^~ /.well-known/acme-challenge/ {")
	c.line("root %s;", q(in.paths.ACMEDir))
	c.line("auth_basic off;")
	c.line("default_type text/plain;")
	c.line("try_files $uri =404;")
	c.close("}")
}

// nginxListen writes the listen lines of a server block: the plain HTTP
// listen, or the TLS listen with the site's certificate.
func nginxListen(c *conf, in *input, tls bool) {
	if !tls {
		c.line("listen %s;", in.http.Listen)
		return
	}
	c.line("listen %s ssl;", in.http.TLSListen)
	c.line("ssl_certificate %s;", q(in.paths.CertChain))
	c.line("ssl_certificate_key %s;", q(in.paths.CertKey))
}

func nginxHeaders(c *conf, in *input, tls bool) {
	h := in.site.Web.Headers
	for _, n := range servedHeaders(h, tls) {
		c.line("add_header %s %s always;", q(n), q(h[n]))
	}
}

// mainHost is the site's domain with the port it is reached at when that
// is not the default one (its load balancer's, for a site behind one),
// for redirects to the main name.
func mainHost(in *input) string {
	listen := in.http.Listen
	if in.site.LB != nil {
		listen = in.site.LB.Listen
	}
	hp, _ := listenAddr(listen) // checked before rendering
	if hp[1] == "80" {
		return in.site.Domain
	}
	return in.site.Domain + ":" + hp[1]
}

// realm is a basic_auth realm with its default.
func realm(r string) string {
	if r == "" {
		return "Restricted"
	}
	return r
}
