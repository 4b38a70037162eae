// Package render turns a resolved site and the server it lands on into the
// files and directories berth manages there: the web server's virtual host
// (an nginx server block or an apache VirtualHost), the site's PHP-FPM pool,
// its htpasswd file and its "site disabled" page. Site returns them; Paths
// says where each piece of a site lives on a server.
//
// Rendering is pure: no I/O, no clock, no randomness, and no map iteration
// order reaches the output, so the same input gives the same bytes every
// time. That is what lets reconcile compare hashes of rendered files with
// hashes observed on a host and skip everything that did not change.
//
// Every value Site and Settings write is checked first with the spec.Rule
// that spec validation applied to it at load (spec/rules.go): a value that
// breaks its rule is an error, never a file, even when validation was
// bypassed.
//
// # Layout on a server
//
// With web_root, conf_dir, pool_dir and run_dir from the server's services:
//
//	<web_root>/platforms/<platform>/<env>/current  the environment's platform code (a build, switched by symlink)
//	<web_root>/platforms/<platform>/<env>/current/<docroot>  the site's document root
//	<source.dir>[/<docroot>]                      instead, for a platform whose code is already
//	                                               on the server (source.dir): served in place
//	<web_root>/sites/<domain>/                     per-site data, outside the document root
//	<web_root>/sites/<domain>/files/               uploaded files
//	<web_root>/sites/<domain>/tmp/                 PHP sessions and upload temporaries
//	<web_root>/sites/<domain>/htpasswd             with web.basic_auth
//	<web_root>/sites/<domain>/disabled/index.html  with state: disabled
//	<web_root>/sites/<domain>/acme/.well-known/acme-challenge/  with tls.acme: HTTP-01 answers
//	                                               (package acme's Webroot writes them), served
//	                                               ahead of all other routing, basic auth, alias
//	                                               redirects and the disabled page
//	<cert_dir>/<domain>.crt, <domain>.key          with tls.acme, once issued: the certificate chain
//	                                               and its private key (0600), outside every site
//	                                               directory (cert_dir 0700, default /etc/ssl/berth)
//	<conf_dir>/<domain>.conf                       the virtual host
//	<pool_dir>/<domain>.conf                       the PHP-FPM pool (PHP sites)
//	<run_dir>/<domain>.sock                        the pool's socket
//
// Parent directories shared by many sites (<web_root>/sites, conf_dir,
// pool_dir) are not part of any site's output.
//
// Environments sharing a server keep apart: each has its own platform
// directory, and every other path is named after the site's domain, which
// carries the environment's domain_suffix. berth of older versions kept
// one <web_root>/platforms/<platform>/{current,builds} for every
// environment; an environment's first release under this layout leaves
// that tree alone (another environment may still serve it) and it is
// removed by hand once no vhost points into it.
//
// # Semantics of the typed web options
//
// Both web servers answer the same way:
//   - client_max_body_size limits request bodies (nginx client_max_body_size,
//     apache LimitRequestBody in bytes, at most 2147483647) and sets PHP's
//     upload_max_filesize and post_max_size; 0 means no limit. apache does
//     not apply LimitRequestBody to requests it proxies to PHP-FPM, so PHP
//     sites also refuse a larger Content-Length with 413 in an <If>.
//   - headers are added to every answer, errors included, in name order.
//   - redirects: a from path without * matches that path exactly; a from
//     path ending in * matches every path that starts with what comes
//     before the *. Either way the answer is the status code (default 301)
//     with Location: to, as written, plus the request's query string when
//     to has none; the rest of the request path is not appended.
//     Redirects are answered before basic authentication.
//   - basic_auth protects the whole site (realm default "Restricted").
//   - redirect_aliases answers every alias with 301 to the same path and
//     query on the main domain (with the listen port when it is not 80);
//     otherwise the aliases serve the site.
//   - state: disabled answers every request for every name of the site with
//     503 and the disabled page, without PHP and without authentication.
//     The PHP-FPM pool stays, so enabling the site again reloads nothing
//     but the web server.
//   - dotfiles and dot-directories are refused (403), except /.well-known/.
//   - tls.acme: until the site's certificate is issued (Options.Certificate,
//     which the builder reads from the state store), the site is served
//     over plain HTTP only, with the challenge path, and never names a
//     certificate file that is not there. Once issued, the site is served
//     on tls_listen with it, plain HTTP redirects there with 301 (to the
//     same name, or the main name with redirect_aliases) except the
//     challenge path, unless tls.redirect_https is false (then plain HTTP
//     serves the site too). Strict-Transport-Security is only ever sent
//     over HTTPS (RFC 6797 section 7.2), whatever web.headers says.
//
// # Apache modules
//
// The VirtualHosts berth writes need these modules besides the always-on
// core ones (Debian: a2enmod NAME): authz_core, dir, mime, alias (redirects,
// the disabled page), headers (web.headers), auth_basic, authn_core,
// authn_file and authz_user (web.basic_auth), proxy and proxy_fcgi (PHP),
// ssl (sites with a certificate; the main configuration must also Listen
// on tls_listen, as Debian's ports.conf does on 443 with mod_ssl).
// A site behind a load balancer also needs remoteip (RemoteIPHeader,
// RemoteIPInternalProxy) and headers (X-Berth-Node); where the load
// balancer terminates TLS, setenvif (HTTPS for PHP; Debian enables it).
// Drupal and WordPress sites get AllowOverride All so their .htaccess files
// apply; their clean URLs also want rewrite. Debian enables alias,
// auth_basic, authn_core, authn_file, authz_core, authz_user, dir and mime by
// default; headers, proxy and proxy_fcgi must be enabled.
//
// # Load balancers
//
// LB (lb.go) renders a load balancer's files: one per platform that names
// it and environment, <conf_dir>/berth-<env>-<platform>.conf, with the
// platform's upstream (its web servers at spec.NodeAddress, max_fails and
// fail_timeout, a drained server marked down) and one server block per
// site proxying every name of the site to it, with Host, X-Real-IP,
// X-Forwarded-For and X-Forwarded-Proto set. A site behind a load
// balancer gets, on each web server, set_real_ip_from its load balancer's
// source address with real_ip_header X-Forwarded-For (apache:
// RemoteIPHeader, RemoteIPInternalProxy) and an X-Berth-Node header
// naming the server.
//
// # nginx
//
// The server blocks carry their FastCGI parameters inline rather than
// including fastcgi_params, so they work under any nginx prefix. PHP gets
// $realpath_root as its document root, so that switching the platform's
// current symlink to a new build is picked up by the next request.
package render
