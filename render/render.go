package render

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/berthhq/berth/spec"
)

// File is one file berth manages on a server.
type File struct {
	Path    string      // absolute path on the server
	Content []byte      // the whole file
	Mode    fs.FileMode // 0644 for configs; 0640 for files holding credentials or hashes
	Owner   string      // "" is the user berth acts as
	Group   string      // "" is that user's group; set when the web server or PHP must read a private file
	// Service is what must be checked and reloaded when the file changes:
	// ServiceHTTP for the server's web server, PHPFPM(version) for that
	// version's PHP-FPM, "" for nothing.
	Service string
}

// Dir is a directory berth manages on a server. Its parents are not
// listed: they are shared between sites and created as needed.
type Dir struct {
	Path  string
	Mode  fs.FileMode
	Owner string // "" is the user berth acts as
	Group string
}

// ServiceHTTP is the Service of files the server's web server reads at
// (re)load: check it (nginx -t, apache2ctl configtest) and reload it.
const ServiceHTTP = "http"

// PHPFPM returns the Service of files that PHP-FPM of one version reads at
// (re)load, e.g. "php-fpm:8.2".
func PHPFPM(version string) string { return "php-fpm:" + version }

// SitePaths tells where the pieces of one site live on one server. Fields
// that do not apply (Pool and Socket of a static site, or of a server
// without PHP-FPM) are empty.
type SitePaths struct {
	SiteDir     string // <web_root>/sites/<domain>: the site's own data
	FilesDir    string // <site dir>/files: uploads
	TmpDir      string // <site dir>/tmp: PHP sessions and upload temporaries
	PlatformDir string // <web_root>/platforms/<platform>/<environment>: the environment's builds of the platform
	Current     string // <platform dir>/current: the environment's live build
	Docroot     string // Current, plus the site's docroot when it has one
	Vhost       string // <conf_dir>/<domain>.conf
	Pool        string // <pool_dir>/<domain>.conf for the site's PHP version
	Socket      string // <run_dir>/<domain>.sock
	Htpasswd    string // <site dir>/htpasswd
	DisabledDir string // <site dir>/disabled: the page shown while the site is disabled
	// ACMEDir is served under /.well-known/acme-challenge/ (from
	// <site dir>/acme/.well-known/acme-challenge/) for a site with
	// tls.acme, ahead of any other routing: the HTTP-01 answers of package
	// acme's Webroot.
	ACMEDir string // <site dir>/acme
	// CertChain and CertKey are the site's certificate chain and private
	// key, for a site with tls.acme: <cert_dir>/<domain>.crt and .key,
	// outside every site directory.
	CertChain, CertKey string
}

// Paths tells where a site's pieces live on a server. It does not check its
// input; Site does. srv's paths must already be absolute (see
// spec.ResolvedServer.WithBase).
func Paths(site *spec.ResolvedSite, srv *spec.ResolvedServer) SitePaths {
	var p SitePaths
	if h := srv.HTTP; h != nil {
		p.SiteDir = path.Join(h.WebRoot, "sites", site.Domain)
		p.FilesDir = path.Join(p.SiteDir, "files")
		if f := site.Files; f != nil && f.Mode == spec.FilesShared {
			// The cluster's shared file system (spec/files.go).
			p.FilesDir = SharedFilesDir(f.Path, site.Domain)
		}
		p.TmpDir = path.Join(p.SiteDir, "tmp")
		p.PlatformDir = PlatformDir(h.WebRoot, site.Platform, site.Environment)
		p.Current = path.Join(p.PlatformDir, "current")
		if site.CodeDir != "" {
			// Code already on the server (source.dir): served in place.
			p.PlatformDir, p.Current = site.CodeDir, site.CodeDir
		}
		p.Docroot = p.Current
		if site.Docroot != "" {
			p.Docroot = path.Join(p.Current, site.Docroot)
		}
		p.Vhost = path.Join(h.ConfDir, site.Domain+".conf")
		p.Htpasswd = path.Join(p.SiteDir, "htpasswd")
		p.DisabledDir = path.Join(p.SiteDir, "disabled")
		p.ACMEDir = path.Join(p.SiteDir, "acme")
		if site.TLS.ACME {
			p.CertChain = path.Join(h.CertDir, site.Domain+".crt")
			p.CertKey = path.Join(h.CertDir, site.Domain+".key")
		}
	}
	if site.PHP != "" && srv.PHP != nil {
		v := srv.PHP.For(site.PHP)
		p.Pool = path.Join(v.PoolDir, site.Domain+".conf")
		p.Socket = path.Join(v.RunDir, site.Domain+".sock")
	}
	return p
}

// SharedFilesDir is a site's files directory on the shared path of its
// platform's files (mode shared): <path>/<domain>/files, the same on every
// server.
func SharedFilesDir(shared, domain string) string { return path.Join(shared, domain, "files") }

// PlatformDir is where one environment's builds of a platform and its
// current link live on a server with web root webRoot. Every environment
// has its own, so environments sharing a server never switch each other's
// code: <web_root>/platforms/<platform>/<environment>.
//
// Before environments were kept apart, every environment used
// <web_root>/platforms/<platform>/{current,builds}; those two names are
// therefore never an environment's (see ReservedEnvironment).
func PlatformDir(webRoot, platform, env string) string {
	return path.Join(webRoot, "platforms", platform, env)
}

// ReservedEnvironment reports whether env cannot have a platform directory
// of its own because the layout of older berth versions uses the name
// inside <web_root>/platforms/<platform>.
func ReservedEnvironment(env string) bool { return env == "current" || env == "builds" }

// Site returns every directory and file of one site on one server, each
// list sorted by path, before the site has a certificate: SiteWith with
// the zero Options.
func Site(site *spec.ResolvedSite, srv *spec.ResolvedServer) ([]Dir, []File, error) {
	return SiteWith(site, srv, Options{})
}

// Options are what a site's files depend on besides the revision: what
// the state store holds for it.
type Options struct {
	// Certificate says that the site (with tls.acme) has a certificate
	// issued, installed at SitePaths.CertChain and CertKey: the vhost then
	// serves it over HTTPS on the server's tls_listen, with HSTS, and
	// plain HTTP redirects there (tls.redirect_https) except the HTTP-01
	// challenge path. Without one the site is served over plain HTTP
	// only, never pointing at a certificate that is not there.
	Certificate bool
	// Maintenance renders the site's maintenance window (a migration's
	// final copy): every request answers 503 with Retry-After
	// (MaintenanceRetryAfter seconds) and a page saying the site is
	// being moved, as a disabled site does with its own page.
	Maintenance bool
	// MovedTo renders the site as moved to that name (a renamed site's
	// old name once its rename is switched): every request but the
	// HTTP-01 challenge path answers with a 301 to the same path there.
	MovedTo string
}

// MaintenanceRetryAfter is the Retry-After, in seconds, of a site's
// maintenance page.
const MaintenanceRetryAfter = 120

// SiteWith returns every directory and file of one site on one server,
// each list sorted by path. srv's paths must be absolute. The error says
// which value of the site or server cannot be rendered; spec validation
// refuses all of them earlier, so an error here is a bug or a hand-built
// input.
func SiteWith(site *spec.ResolvedSite, srv *spec.ResolvedServer, o Options) ([]Dir, []File, error) {
	if err := check(site, srv); err != nil {
		return nil, nil, fmt.Errorf("render site %q on server %q: %w", site.Domain, srv.Name, err)
	}
	if o.Maintenance || o.MovedTo != "" {
		s := *site
		s.State = "disabled"
		site = &s
	}
	if o.MovedTo != "" {
		if err := rule("moved to", spec.RuleHostname, o.MovedTo); err != nil {
			return nil, nil, fmt.Errorf("render site %q on server %q: %w", site.Domain, srv.Name, err)
		}
	}
	p := Paths(site, srv)
	h := srv.HTTP
	// Behind a load balancer, TLS terminates there (LB): the node serves
	// plain HTTP only.
	in := &input{site: site, srv: srv, http: h, paths: p, tls: o.Certificate && site.TLS.ACME && site.LB == nil, maintenance: o.Maintenance, movedTo: o.MovedTo}

	// The site's directories are its user's (the pool writes them); the
	// web server reads the site and files directories through their
	// group, and never the ones only PHP uses.
	run, private := SiteOwners(site, h)
	dirs := []Dir{
		{Path: p.SiteDir, Mode: 0o750, Owner: run, Group: h.Group},
		{Path: p.FilesDir, Mode: 0o750, Owner: run, Group: h.Group},
	}
	var files []File

	var vhost []byte
	var err error
	switch h.Type {
	case "nginx":
		vhost, err = nginxVhost(in)
	case "apache":
		vhost, err = apacheVhost(in)
	default:
		err = fmt.Errorf("web server type %q is neither nginx nor apache", h.Type)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("render site %q on server %q: %w", site.Domain, srv.Name, err)
	}
	files = append(files, File{Path: p.Vhost, Content: vhost, Mode: 0o644, Service: ServiceHTTP})

	if db := SQLitePath(site, srv); db != "" && path.Dir(db) == path.Join(p.SiteDir, "db") {
		// The SQLite database's own directory: SQLite writes its journal
		// beside the database, as the site's user.
		dirs = append(dirs, Dir{Path: path.Dir(db), Mode: 0o750, Owner: run, Group: private})
	}
	if site.PHP != "" {
		dirs = append(dirs, Dir{Path: p.TmpDir, Mode: 0o750, Owner: run, Group: private})
		files = append(files, File{Path: p.Pool, Content: phpPool(in), Mode: 0o644, Service: PHPFPM(site.PHP)})
	}
	if ba := site.Web.BasicAuth; ba != nil {
		files = append(files, File{Path: p.Htpasswd, Content: htpasswd(ba.Users), Mode: 0o640, Group: h.Group})
	}
	if disabled(site) {
		dirs = append(dirs, Dir{Path: p.DisabledDir, Mode: 0o755})
		page := disabledPage(site)
		if o.Maintenance {
			page = maintenancePage(site)
		}
		files = append(files, File{Path: path.Join(p.DisabledDir, "index.html"), Content: page, Mode: 0o644})
	}
	slices.SortFunc(dirs, func(a, b Dir) int { return strings.Compare(a.Path, b.Path) })
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return dirs, files, nil
}

// input is what the writers of the individual files share.
type input struct {
	site  *spec.ResolvedSite
	srv   *spec.ResolvedServer
	http  *spec.ResolvedHTTP
	paths SitePaths
	// tls: the site has a certificate, served on http.TLSListen.
	tls bool
	// maintenance: the site is disabled for a maintenance window
	// (Options.Maintenance).
	maintenance bool
	// movedTo: every request goes there (Options.MovedTo).
	movedTo string
}

func disabled(site *spec.ResolvedSite) bool { return site.State == "disabled" }

// renamed returns the names the site answers over plain HTTP with a 301
// to its main name (spec.ResolvedSite.RedirectNames: a renamed site's old
// name); none while it is disabled.
func renamed(site *spec.ResolvedSite) []string {
	if disabled(site) {
		return nil
	}
	return site.RedirectNames
}

func htpasswd(users []string) []byte {
	return []byte(strings.Join(users, "\n") + "\n")
}

// header is the first line of every config file berth writes.
func header(comment string, site *spec.ResolvedSite) string {
	return comment + " Managed by berth: site " + site.Domain + ". Changes are overwritten.\n"
}

// rule applies a spec rule to a value render is about to write: spec
// validation applies the same rules at load, render does not rely on it.
func rule(what string, r *spec.Rule, v string) error {
	if err := r.Check(v); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// check refuses every input that could not be written safely.
func check(site *spec.ResolvedSite, srv *spec.ResolvedServer) error {
	h := srv.HTTP
	if h == nil {
		return fmt.Errorf("server has no http service")
	}
	errs := []error{
		rule("domain", spec.RuleHostname, site.Domain),
		rule("name", spec.RuleDomain, site.Name),
		rule("platform", spec.RuleName, site.Platform),
		rule("http.listen", spec.RuleListen, h.Listen),
		rule("http.conf_dir", spec.RuleAbsPath, h.ConfDir),
		rule("http.web_root", spec.RuleAbsPath, h.WebRoot),
		rule("http.user", spec.RuleUnixName, h.User),
		rule("http.group", spec.RuleUnixName, h.Group),
	}
	if u := SiteUser(site); u != "" {
		errs = append(errs, rule("site user", spec.RuleUnixName, u))
	}
	for i, a := range site.Aliases {
		errs = append(errs, rule(fmt.Sprintf("aliases[%d]", i), spec.RuleHostnameAlias, a))
	}
	for _, n := range site.RedirectNames {
		errs = append(errs, rule("renamed_from", spec.RuleHostname, n))
	}
	if site.TLS.ACME {
		errs = append(errs, rule("http.tls_listen", spec.RuleListen, h.TLSListen), rule("http.cert_dir", spec.RuleAbsPath, h.CertDir))
	}
	if d := site.Docroot; d != "" {
		errs = append(errs, rule("docroot", spec.RuleRelPath, d))
	}
	errs = append(errs, checkLB(site, srv))
	if f := site.Files; f != nil && f.Mode == spec.FilesShared {
		errs = append(errs, rule("files.path", spec.RuleAbsPath, f.Path))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if site.RedirectAliases && len(site.Aliases) == 0 {
		return fmt.Errorf("redirect_aliases is set but the site has no aliases")
	}
	switch site.State {
	case "enabled", "disabled":
	default:
		return fmt.Errorf("state %q is neither enabled nor disabled", site.State)
	}
	if site.PHP != "" {
		if err := rule("php", spec.RulePHPVersion, site.PHP); err != nil {
			return err
		}
		if srv.PHP == nil {
			return fmt.Errorf("the site runs PHP %s but the server has no php service", site.PHP)
		}
		v := srv.PHP.For(site.PHP)
		if err := errors.Join(rule("php.pool_dir", spec.RuleAbsPath, v.PoolDir), rule("php.run_dir", spec.RuleAbsPath, v.RunDir)); err != nil {
			return err
		}
		// php-fpm's sun_path holds 108 bytes.
		if s := path.Join(v.RunDir, site.Domain+".sock"); len(s) > 107 {
			return fmt.Errorf("socket path %s is longer than the 107 bytes a unix socket path may have", s)
		}
	}
	w := &site.Web
	if s := w.ClientMaxBodySize; s != "" {
		if _, err := sizeBytes(s); err != nil {
			return err
		}
	}
	if ba := w.BasicAuth; ba != nil {
		if err := rule("basic_auth.realm", spec.RuleText, ba.Realm); ba.Realm != "" && err != nil {
			return err
		}
		if len(ba.Users) == 0 {
			return fmt.Errorf("basic_auth has no users")
		}
		for i, u := range ba.Users {
			if err := rule(fmt.Sprintf("basic_auth.users[%d]", i), spec.RuleHtpasswd, u); err != nil {
				return err
			}
		}
	}
	for i, r := range w.Redirects {
		if err := errors.Join(
			rule(fmt.Sprintf("redirects[%d].from", i), spec.RuleURLPath, r.From),
			rule(fmt.Sprintf("redirects[%d].to", i), spec.RuleRedirectTarget, r.To),
		); err != nil {
			return err
		}
		switch r.Code {
		case 0, 301, 302, 307, 308:
		default:
			return fmt.Errorf("redirects[%d].code %d is not 301, 302, 307 or 308", i, r.Code)
		}
		if spec.RedirectKeepsRest(r.To) && !strings.HasSuffix(r.From, "*") {
			return fmt.Errorf("redirects[%d].to ends with $1 but from %s has no trailing *", i, r.From)
		}
	}
	for _, name := range sortedHeaders(w.Headers) {
		if err := errors.Join(
			rule("header name", spec.RuleHeaderName, name),
			rule("headers."+name, spec.RuleHeaderValue, w.Headers[name]),
		); err != nil {
			return err
		}
	}
	return nil
}

// listenAddr splits a listen value, "80" or "addr:port", into the host
// ("" for every address) and the port.
func listenAddr(listen string) ([2]string, error) {
	addr, port, err := spec.SplitListen(listen)
	if err != nil {
		return [2]string{}, rule("http.listen", spec.RuleListen, listen)
	}
	return [2]string{addr, port}, nil
}

// sizeBytes converts a size like 64m to bytes.
func sizeBytes(s string) (int64, error) {
	if err := rule("client_max_body_size", spec.RuleSize, s); err != nil {
		return 0, err
	}
	digits, unit := s, ""
	if last := s[len(s)-1]; last < '0' || last > '9' {
		digits, unit = s[:len(s)-1], strings.ToLower(s[len(s)-1:])
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("client_max_body_size %q: %w", s, err)
	}
	shift := map[string]uint{"": 0, "k": 10, "m": 20, "g": 30}[unit]
	return n << shift, nil
}

// sizeUnit returns a size in the form nginx and PHP both read: the
// number, then the unit upper-cased ("64M"). nginx reads either case.
func sizeUnit(s string) string { return strings.ToUpper(s) }

// redirectCode is a redirect's status code with the default applied.
func redirectCode(r spec.Redirect) int { return cmp.Or(r.Code, 301) }

// sortedHeaders returns the site's header names in byte order.
// ChallengeDir is the URL path of HTTP-01 answers, and their directory
// below SitePaths.ACMEDir.
const ChallengeDir = "/.well-known/acme-challenge"

// servedHeaders are the names of the headers a vhost sends, sorted: over
// plain HTTP all but Strict-Transport-Security, which is only sent over
// TLS (RFC 6797 section 7.2).
func servedHeaders(h map[string]string, tls bool) []string {
	if tls {
		return sortedHeaders(h)
	}
	return slices.DeleteFunc(sortedHeaders(h), func(n string) bool {
		return strings.EqualFold(n, "Strict-Transport-Security")
	})
}

// hostPort is the site's domain with the port of listen when that is not
// def (80 for http, 443 for https), for redirects.
func hostPort(domain, listen, def string) string {
	hp, _ := listenAddr(listen) // checked before rendering
	if hp[1] == def {
		return domain
	}
	return domain + ":" + hp[1]
}

func sortedHeaders(h map[string]string) []string {
	names := make([]string, 0, len(h))
	for n := range h {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
