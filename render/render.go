package render

import (
	"cmp"
	"fmt"
	"io/fs"
	"net"
	"path"
	"regexp"
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
	PlatformDir string // <web_root>/platforms/<platform>: every build of the platform
	Current     string // <platform dir>/current: the live build
	Docroot     string // Current, plus the site's docroot when it has one
	Vhost       string // <conf_dir>/<domain>.conf
	Pool        string // <pool_dir>/<domain>.conf for the site's PHP version
	Socket      string // <run_dir>/<domain>.sock
	Htpasswd    string // <site dir>/htpasswd
	DisabledDir string // <site dir>/disabled: the page shown while the site is disabled
}

// Paths tells where a site's pieces live on a server. It does not check its
// input; Site does. srv's paths must already be absolute (see
// spec.ResolvedServer.WithBase).
func Paths(site *spec.ResolvedSite, srv *spec.ResolvedServer) SitePaths {
	var p SitePaths
	if h := srv.HTTP; h != nil {
		p.SiteDir = path.Join(h.WebRoot, "sites", site.Domain)
		p.FilesDir = path.Join(p.SiteDir, "files")
		p.TmpDir = path.Join(p.SiteDir, "tmp")
		p.PlatformDir = path.Join(h.WebRoot, "platforms", site.Platform)
		p.Current = path.Join(p.PlatformDir, "current")
		p.Docroot = p.Current
		if site.Docroot != "" {
			p.Docroot = path.Join(p.Current, site.Docroot)
		}
		p.Vhost = path.Join(h.ConfDir, site.Domain+".conf")
		p.Htpasswd = path.Join(p.SiteDir, "htpasswd")
		p.DisabledDir = path.Join(p.SiteDir, "disabled")
	}
	if site.PHP != "" && srv.PHP != nil {
		v := srv.PHP.For(site.PHP)
		p.Pool = path.Join(v.PoolDir, site.Domain+".conf")
		p.Socket = path.Join(v.RunDir, site.Domain+".sock")
	}
	return p
}

// Site returns every directory and file of one site on one server, each
// list sorted by path. srv's paths must be absolute. The error says which
// value of the site or server cannot be rendered; spec validation refuses
// all of them earlier, so an error here is a bug or a hand-built input.
func Site(site *spec.ResolvedSite, srv *spec.ResolvedServer) ([]Dir, []File, error) {
	if err := check(site, srv); err != nil {
		return nil, nil, fmt.Errorf("render site %q on server %q: %w", site.Domain, srv.Name, err)
	}
	p := Paths(site, srv)
	h := srv.HTTP
	in := &input{site: site, srv: srv, http: h, paths: p}

	dirs := []Dir{
		{Path: p.SiteDir, Mode: 0o750, Owner: h.User, Group: h.Group},
		{Path: p.FilesDir, Mode: 0o750, Owner: h.User, Group: h.Group},
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
		dirs = append(dirs, Dir{Path: path.Dir(db), Mode: 0o750, Owner: h.User, Group: h.Group})
	}
	if site.PHP != "" {
		dirs = append(dirs, Dir{Path: p.TmpDir, Mode: 0o750, Owner: h.User, Group: h.Group})
		files = append(files, File{Path: p.Pool, Content: phpPool(in), Mode: 0o644, Service: PHPFPM(site.PHP)})
	}
	if ba := site.Web.BasicAuth; ba != nil {
		files = append(files, File{Path: p.Htpasswd, Content: htpasswd(ba.Users), Mode: 0o640, Group: h.Group})
	}
	if disabled(site) {
		dirs = append(dirs, Dir{Path: p.DisabledDir, Mode: 0o755})
		files = append(files, File{Path: path.Join(p.DisabledDir, "index.html"), Content: disabledPage(site), Mode: 0o644})
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
}

func disabled(site *spec.ResolvedSite) bool { return site.State == "disabled" }

func htpasswd(users []string) []byte {
	return []byte(strings.Join(users, "\n") + "\n")
}

// header is the first line of every config file berth writes.
func header(comment string, site *spec.ResolvedSite) string {
	return comment + " Managed by berth: site " + site.Domain + ". Changes are overwritten.\n"
}

var (
	domainRE   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$`)
	nameRE     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	phpRE      = regexp.MustCompile(`^[5-9]\.[0-9]{1,2}$`)
	sizeRE     = regexp.MustCompile(`^([0-9]{1,6})([kKmMgG]?)$`)
	headerRE   = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)
	htUserRE   = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}:[^\s:"']+$`)
	fromRE     = regexp.MustCompile(`^/[A-Za-z0-9._~!&'()+,;=:@%/-]*\*?$`)
	userNameRE = regexp.MustCompile(`^[A-Za-z0-9._-][A-Za-z0-9._-]*$`)
)

// check refuses every input that could not be written safely: spec
// validation already refuses them, render does not rely on it.
func check(site *spec.ResolvedSite, srv *spec.ResolvedServer) error {
	h := srv.HTTP
	if h == nil {
		return fmt.Errorf("server has no http service")
	}
	if !domainRE.MatchString(site.Domain) {
		return fmt.Errorf("domain %q is not a lower-case ASCII domain name", site.Domain)
	}
	for _, a := range site.Aliases {
		if !domainRE.MatchString(strings.TrimPrefix(a, "*.")) {
			return fmt.Errorf("alias %q is not a lower-case ASCII domain name", a)
		}
	}
	if site.RedirectAliases && len(site.Aliases) == 0 {
		return fmt.Errorf("redirect_aliases is set but the site has no aliases")
	}
	if !nameRE.MatchString(site.Platform) {
		return fmt.Errorf("platform name %q is not a valid name", site.Platform)
	}
	if d := site.Docroot; d != "" && (path.IsAbs(d) || path.Clean(d) != d || d == "." || d == ".." || strings.HasPrefix(d, "../")) {
		return fmt.Errorf("docroot %q is not a clean relative path inside the platform", d)
	}
	switch site.State {
	case "enabled", "disabled":
	default:
		return fmt.Errorf("state %q is neither enabled nor disabled", site.State)
	}
	if _, err := listenAddr(h.Listen); err != nil {
		return err
	}
	if err := checkPath("http.conf_dir", h.ConfDir); err != nil {
		return err
	}
	if err := checkPath("http.web_root", h.WebRoot); err != nil {
		return err
	}
	if !userNameRE.MatchString(h.User) || !userNameRE.MatchString(h.Group) {
		return fmt.Errorf("http user %q or group %q is not a valid name", h.User, h.Group)
	}
	if site.PHP != "" {
		if !phpRE.MatchString(site.PHP) {
			return fmt.Errorf("php %q is not a PHP version like 8.2", site.PHP)
		}
		if srv.PHP == nil {
			return fmt.Errorf("the site runs PHP %s but the server has no php service", site.PHP)
		}
		v := srv.PHP.For(site.PHP)
		if err := checkPath("php.pool_dir", v.PoolDir); err != nil {
			return err
		}
		if err := checkPath("php.run_dir", v.RunDir); err != nil {
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
		if err := checkText("basic_auth.realm", ba.Realm, true); err != nil {
			return err
		}
		if len(ba.Users) == 0 {
			return fmt.Errorf("basic_auth has no users")
		}
		for i, u := range ba.Users {
			if !htUserRE.MatchString(u) {
				return fmt.Errorf("basic_auth.users[%d] is not an htpasswd line name:hash", i)
			}
		}
	}
	for i, r := range w.Redirects {
		if !fromRE.MatchString(r.From) {
			return fmt.Errorf("redirects[%d].from %q is not a URL path", i, r.From)
		}
		if err := checkText(fmt.Sprintf("redirects[%d].to", i), r.To, false); err != nil {
			return err
		}
		if r.To == "" || strings.ContainsAny(r.To, " \t") {
			return fmt.Errorf("redirects[%d].to %q is empty or holds spaces", i, r.To)
		}
		switch r.Code {
		case 0, 301, 302, 307, 308:
		default:
			return fmt.Errorf("redirects[%d].code %d is not 301, 302, 307 or 308", i, r.Code)
		}
	}
	for _, name := range sortedHeaders(w.Headers) {
		v := w.Headers[name]
		if !headerRE.MatchString(name) {
			return fmt.Errorf("header name %q may hold only letters, digits and hyphens", name)
		}
		if err := checkText("headers."+name, v, false); err != nil {
			return err
		}
		if v == "" {
			return fmt.Errorf("header %s has an empty value", name)
		}
	}
	return nil
}

// checkText refuses what could end a quoted string or start a variable in
// either web server's configuration: quotes, backslashes, braces, $, line
// breaks and other control characters. Semicolons are refused too when
// strict.
func checkText(what, s string, strict bool) error {
	bad := "\"\\{}$"
	if strict {
		bad += ";"
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(bad, r) {
			return fmt.Errorf("%s %q holds %q, which berth does not write into a web server configuration", what, s, r)
		}
	}
	return nil
}

func checkPath(what, p string) error {
	if !path.IsAbs(p) || path.Clean(p) != p {
		return fmt.Errorf("%s %q is not a clean absolute path (make a local server's paths absolute with WithBase first)", what, p)
	}
	return checkText(what, p, true)
}

// listenAddr splits a listen value, "80" or "addr:port", into the host
// ("" for every address) and the port.
func listenAddr(listen string) ([2]string, error) {
	host, port := "", listen
	if strings.Contains(listen, ":") {
		var err error
		host, port, err = net.SplitHostPort(listen)
		if err != nil {
			return [2]string{}, fmt.Errorf("http.listen %q is neither a port nor address:port: %w", listen, err)
		}
		if host != "" && net.ParseIP(host) == nil {
			return [2]string{}, fmt.Errorf("http.listen %q: %q is not an IP address", listen, host)
		}
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return [2]string{}, fmt.Errorf("http.listen %q: port %q is not a number from 1 to 65535", listen, port)
	}
	return [2]string{host, port}, nil
}

// sizeBytes converts a size like 64m to bytes.
func sizeBytes(s string) (int64, error) {
	m := sizeRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("client_max_body_size %q is not a size like 64m", s)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	shift := map[string]uint{"": 0, "k": 10, "m": 20, "g": 30}[strings.ToLower(m[2])]
	return n << shift, nil
}

// sizeUnit returns a size in the form nginx and PHP both read: the
// number, then the unit upper-cased ("64M"). nginx reads either case.
func sizeUnit(s string) string { return strings.ToUpper(s) }

// redirectCode is a redirect's status code with the default applied.
func redirectCode(r spec.Redirect) int { return cmp.Or(r.Code, 301) }

// sortedHeaders returns the site's header names in byte order.
func sortedHeaders(h map[string]string) []string {
	names := make([]string, 0, len(h))
	for n := range h {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
