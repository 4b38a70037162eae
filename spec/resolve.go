package spec

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"path"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/publicsuffix"
)

// Defaults applied by Resolve when nothing in the repo sets a value.
const (
	DefaultPHP        = "8.2"
	DefaultBackupKeep = 7
	// DefaultKeepBuilds is how many builds of a platform stay on a server.
	DefaultKeepBuilds = 3
)

// Resolved is the desired state of one environment: only the servers,
// platforms and sites that exist in it, with domain suffixes, overrides and
// defaults applied. It is what render and reconcile work from.
type Resolved struct {
	Environment  string             `json:"environment"`
	Branch       string             `json:"branch"`
	DomainSuffix string             `json:"domain_suffix,omitempty"`
	MaxDeletions int                `json:"max_deletions"`
	Backups      Backups            `json:"backups,omitzero"`
	Servers      []ResolvedServer   `json:"servers"`
	Platforms    []ResolvedPlatform `json:"platforms"`
	Sites        []ResolvedSite     `json:"sites"`
	// Zones are the DNS zones of the environment with every record,
	// static and of its sites.
	Zones []ResolvedZone `json:"zones,omitempty"`
	// DNSNotes say, once per site, which of its names fall in no declared
	// zone and get no record.
	DNSNotes []string `json:"dns_notes,omitempty"`
	// ACME is the environment's certificate authority; nil when berth.yaml
	// declares none (then no site of the environment has TLS.ACME).
	ACME *ResolvedACME `json:"acme,omitempty"`
	// Notifications are the environment's webhooks (berth.yaml's
	// notifications naming it, or none).
	Notifications []ResolvedNotification `json:"notifications,omitempty"`
	// DataFrom lists the sites of the environment that get their data
	// from another environment on a schedule (datafrom.go): from the
	// environment's data_from and from its sites' own (a site's wins),
	// one entry per site, sorted by site; nil when none.
	DataFrom []ResolvedDataFrom `json:"data_from,omitempty"`
	// DataFromNone is the source environment of the environment's
	// data_from when that copies into no site (the plan says so); ""
	// otherwise.
	DataFromNone string `json:"data_from_none,omitempty"`

	// fsys and digest are the files the repo was loaded from and their
	// digest (Repo.Digest): WithHolds loads and resolves them again. The
	// repo itself is not kept: at 10,000 sites it is tens of megabytes
	// for the whole of a run.
	fsys   fs.FS
	digest string
}

// ACMEDirectories are the shorthands of acme.directory in berth.yaml.
var ACMEDirectories = map[string]string{
	"letsencrypt":         "https://acme-v02.api.letsencrypt.org/directory",
	"letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}

// ResolvedACME is an environment's ACME certificate authority.
type ResolvedACME struct {
	// DirectoryURL is the https URL of the CA's directory, shorthands
	// expanded.
	DirectoryURL string `json:"directory_url"`
	Email        string `json:"email"`
}

// ResolvedServer is a server in one environment, with the Debian defaults
// of its services' paths and commands applied.
type ResolvedServer struct {
	Name    string             `json:"name"`
	Address string             `json:"address"`
	SSH     SSH                `json:"ssh,omitzero"`
	HTTP    *ResolvedHTTP      `json:"http,omitempty"`
	PHP     *ResolvedPHP       `json:"php,omitempty"`
	DB      *ResolvedDBService `json:"db,omitempty"`
	DNS     string             `json:"dns,omitempty"` // bind
	BIND    *ResolvedBIND      `json:"bind,omitempty"`
	// PublicAddresses are the addresses the server's sites are published
	// at in DNS.
	PublicAddresses []string    `json:"public_addresses,omitempty"`
	LB              *ResolvedLB `json:"lb,omitempty"`    // see lb.go
	Drain           bool        `json:"drain,omitempty"` // out of its load balancers
}

// ResolvedBIND is a server's BIND in one environment, with defaults
// applied and {env} replaced. Paths may be relative on a local server: see
// WithBase.
type ResolvedBIND struct {
	ZoneDir     string   `json:"zone_dir"`
	IncludeFile string   `json:"include_file"`
	RNDC        []string `json:"rndc"`
	CheckZone   string   `json:"check_zone"`
	CheckConf   []string `json:"check_conf"`
	// Listen is where named answers DNS, address:port ([v6]:port), as
	// other servers and berth reach it; "" when the server's address is
	// "local" and listen names no address.
	Listen string `json:"listen,omitempty"`
	Group  string `json:"group"`
}

func resolveBIND(d *DNSService, address, env string) *ResolvedBIND {
	sub := func(s string) string { return strings.ReplaceAll(s, "{env}", env) }
	addr, port, err := SplitListen(cmp.Or(d.Listen, "53"))
	if err != nil {
		addr, port = "", "53"
	}
	if addr == "" && address != "local" {
		addr = address
	}
	listen := ""
	if addr != "" {
		listen = net.JoinHostPort(addr, port)
	}
	return &ResolvedBIND{
		Listen:      listen,
		Group:       cmp.Or(d.Group, "bind"),
		ZoneDir:     sub(cmp.Or(d.ZoneDir, "/var/lib/bind/berth/{env}")),
		IncludeFile: sub(cmp.Or(d.IncludeFile, "/etc/bind/berth-{env}.conf")),
		RNDC:        argvOr(slices.Clone(d.RNDC), "rndc"),
		CheckZone:   cmp.Or(d.CheckZone, "named-checkzone"),
		CheckConf:   argvOr(slices.Clone(d.CheckConf), "named-checkconf"),
	}
}

// Local reports whether the server is the machine berth runs on.
func (s *ResolvedServer) Local() bool { return s.Address == "local" }

// ResolvedHTTP is a server's web server with defaults applied. Paths may be
// relative on a local server: see WithBase.
type ResolvedHTTP struct {
	Type   string `json:"type"`
	Listen string `json:"listen"`
	// TLSListen is where the sites with a certificate listen for HTTPS.
	TLSListen string `json:"tls_listen"`
	// CertDir holds the sites' certificate chains and keys.
	CertDir string   `json:"cert_dir"`
	ConfDir string   `json:"conf_dir"`
	WebRoot string   `json:"web_root"`
	User    string   `json:"user"`
	Group   string   `json:"group"`
	Test    []string `json:"test"`
	Reload  []string `json:"reload"`
	// PIDFile is set when Reload is nginx's default: the reload is then
	// SIGHUP to the PID it holds (Reload when it cannot be read).
	PIDFile string `json:"pid_file,omitempty"`
}

// ResolvedPHP is a server's PHP-FPM with defaults applied; {version} in its
// paths and commands stands for a site's PHP version (see For).
type ResolvedPHP struct {
	PoolDir string   `json:"pool_dir"`
	RunDir  string   `json:"run_dir"`
	Test    []string `json:"test"`
	Reload  []string `json:"reload"`
}

// PHPVersion is ResolvedPHP for one PHP version: no {version} left.
type PHPVersion struct {
	Version string
	PoolDir string
	RunDir  string
	Test    []string
	Reload  []string
}

// For returns the PHP-FPM paths and commands of one PHP version.
func (p *ResolvedPHP) For(version string) PHPVersion {
	sub := func(s string) string { return strings.ReplaceAll(s, "{version}", version) }
	subs := func(argv []string) []string {
		out := make([]string, len(argv))
		for i, a := range argv {
			out[i] = sub(a)
		}
		return out
	}
	return PHPVersion{Version: version, PoolDir: sub(p.PoolDir), RunDir: sub(p.RunDir), Test: subs(p.Test), Reload: subs(p.Reload)}
}

// WithBase returns the server with every relative path of its services made
// absolute under base. Only a local server may have relative paths (the
// validator refuses them elsewhere); base is berth's state directory.
func (s ResolvedServer) WithBase(base string) ResolvedServer {
	abs := func(p string) string {
		if p == "" || path.IsAbs(p) {
			return p
		}
		return path.Join(base, p)
	}
	if h := s.HTTP; h != nil {
		c := *h
		c.ConfDir, c.WebRoot, c.PIDFile, c.CertDir = abs(c.ConfDir), abs(c.WebRoot), abs(c.PIDFile), abs(c.CertDir)
		s.HTTP = &c
	}
	if p := s.PHP; p != nil {
		c := *p
		c.PoolDir, c.RunDir = abs(c.PoolDir), abs(c.RunDir)
		s.PHP = &c
	}
	if d := s.DB; d != nil {
		c := *d
		c.Dir = abs(c.Dir)
		s.DB = &c
	}
	if b := s.BIND; b != nil {
		c := *b
		c.ZoneDir, c.IncludeFile = abs(c.ZoneDir), abs(c.IncludeFile)
		s.BIND = &c
	}
	if l := s.LB; l != nil {
		s.LB = l.withBase(base)
	}
	return s
}

func resolveHTTP(h *HTTPService) *ResolvedHTTP {
	r := &ResolvedHTTP{
		Type:      h.Type,
		Listen:    cmp.Or(h.Listen, "80"),
		TLSListen: cmp.Or(h.TLSListen, "443"),
		CertDir:   cmp.Or(h.CertDir, "/etc/ssl/berth"),
		WebRoot:   cmp.Or(h.WebRoot, "/var/www"),
		User:      cmp.Or(h.User, "www-data"),
		Test:      slices.Clone(h.Test),
		Reload:    slices.Clone(h.Reload),
	}
	r.Group = cmp.Or(h.Group, r.User)
	switch h.Type {
	case "apache":
		r.ConfDir = cmp.Or(h.ConfDir, "/etc/apache2/sites-enabled")
		r.Test = argvOr(r.Test, "apache2ctl", "configtest")
		r.Reload = argvOr(r.Reload, "apache2ctl", "graceful")
	default:
		r.ConfDir = cmp.Or(h.ConfDir, "/etc/nginx/sites-enabled")
		r.Test = argvOr(r.Test, "nginx", "-t")
		if len(r.Reload) == 0 {
			// `nginx -s reload` parses the whole configuration again before
			// it signals the master (1.0 s at 1,000 vhosts, against 0.05 s
			// for the signal): the default reload is the signal.
			r.PIDFile = cmp.Or(h.PIDFile, "/run/nginx.pid")
		}
		r.Reload = argvOr(r.Reload, "nginx", "-s", "reload")
	}
	return r
}

func resolvePHP(p *PHPService) *ResolvedPHP {
	return &ResolvedPHP{
		PoolDir: cmp.Or(p.PoolDir, "/etc/php/{version}/fpm/pool.d"),
		RunDir:  cmp.Or(p.RunDir, "/run/php"),
		Test:    argvOr(slices.Clone(p.Test), "php-fpm{version}", "-t"),
		Reload:  argvOr(slices.Clone(p.Reload), "systemctl", "reload", "php{version}-fpm"),
	}
}

// argvOr returns argv, or def when argv is empty.
func argvOr(argv []string, def ...string) []string {
	if len(argv) > 0 {
		return argv
	}
	return def
}

// ResolvedPlatform is a platform in one environment.
type ResolvedPlatform struct {
	Name   string   `json:"name"`
	Type   string   `json:"type"`
	Source Source   `json:"source"`
	Build  []string `json:"build,omitempty"`
	// Install is the platform's own install command (argv), nil for the
	// type's default.
	Install []string `json:"install,omitempty"`
	// Update is the platform's own update step (argv), nil for the
	// type's default.
	Update []string `json:"update,omitempty"`
	// Cron are the scheduled commands every site of the platform gets.
	Cron map[string]*Cron `json:"cron,omitempty"`
	// KeepBuilds is how many builds stay on each server, the live one
	// included.
	KeepBuilds int      `json:"keep_builds"`
	Docroot    string   `json:"docroot,omitempty"`
	PHP        string   `json:"php,omitempty"`
	Servers    []string `json:"servers"` // web servers of the platform in this environment
	LB         string   `json:"lb,omitempty"`
	// Files is how the sites' files directories are shared by the
	// servers; nil: each server keeps its own (see files.go).
	Files *ResolvedFiles `json:"files,omitempty"`
}

// ResolvedSite is a site in one environment.
type ResolvedSite struct {
	Name            string   `json:"name"`        // the site's name in the repo
	Environment     string   `json:"environment"` // the environment it was resolved for
	Domain          string   `json:"domain"`      // ASCII main domain, environment suffix applied
	Aliases         []string `json:"aliases,omitempty"`
	RedirectAliases bool     `json:"redirect_aliases,omitempty"`
	// RenamedFrom is the site's former name (ASCII, environment suffix
	// applied): its data is migrated from it (package desired), and the
	// name redirects to Domain (RedirectNames).
	RenamedFrom string `json:"renamed_from,omitempty"`
	// RedirectNames are names answered over plain HTTP with a 301 to
	// Domain: the former name; desired leaves it out while the rename's
	// migration runs and keeps the old name's own vhost.
	RedirectNames []string `json:"redirect_names,omitempty"`
	Platform      string   `json:"platform"`
	Type          string   `json:"type"`
	Client        string   `json:"client,omitempty"` // berth.yaml's client the site belongs to
	// Brand is that client's name, support contact and colour, which the
	// site's own pages (disabled) carry.
	Brand   *ResolvedBrand `json:"brand,omitempty"`
	Servers []string       `json:"servers"` // web servers that serve the site
	Docroot string         `json:"docroot,omitempty"`
	// CodeDir is the platform's source.dir: code already on the servers,
	// served in place instead of a release.
	CodeDir string       `json:"code_dir,omitempty"`
	PHP     string       `json:"php,omitempty"` // empty for static sites
	State   string       `json:"state"`
	DB      *ResolvedDB  `json:"db,omitempty"`
	DNS     *ResolvedDNS `json:"dns,omitempty"`
	TLS     ResolvedTLS  `json:"tls"`
	Web     WebOptions   `json:"web,omitzero"`
	Backup  *Backup      `json:"backup,omitempty"`
	// Isolated is set for a PHP site whose pool runs as its own Unix user
	// (its platform's isolation, true unless it says false).
	Isolated bool `json:"isolated,omitempty"`
	// LB is set when the site is served through a load balancer.
	LB *ResolvedSiteLB `json:"lb,omitempty"`
	// Health is how the site is checked on each web server (see lb.go).
	Health Health `json:"health"`
	// Clone says where a site with clone_from takes its data from
	// (clone.go); nil for another.
	Clone *ResolvedClone `json:"clone,omitempty"`
	// Files is its platform's Files: how the site's files directory is
	// shared by its servers; nil: each server keeps its own.
	Files *ResolvedFiles `json:"files,omitempty"`
	// Cron are the site's scheduled commands: the platform's, with the
	// site's layers over them by name; sorted by name.
	Cron []ResolvedCron `json:"cron,omitempty"`
	// LBFrom, set by the builder on a site behind a load balancer whose
	// move to other web servers is not switched yet, names the servers
	// the load balancer routes it to meanwhile (the move's source): an
	// upstream of its own (render.LB). Never set by the resolver.
	LBFrom []string `json:"-"`
	// MigrationGraceHours is how long, in hours, the site's disabled copy
	// stays on a server it moved from (migration.grace_hours;
	// DefaultMigrationGraceHours).
	MigrationGraceHours int `json:"migration_grace_hours"`
}

// DefaultMigrationGraceHours is a site's MigrationGraceHours when it
// declares none.
const DefaultMigrationGraceHours = 24

// MigrationGrace is how long the site's disabled copy stays on a server
// it moved from (the default when MigrationGraceHours is not set).
func (s *ResolvedSite) MigrationGrace() time.Duration {
	return time.Duration(cmp.Or(s.MigrationGraceHours, DefaultMigrationGraceHours)) * time.Hour
}

// ResolvedCron is one scheduled command of a site.
type ResolvedCron struct {
	Name     string        `json:"name"`
	Schedule string        `json:"schedule"`
	Every    time.Duration `json:"every"`
	Command  []string      `json:"command"`
}

// ResolvedDBService is a server's database service with defaults
// applied: how berth reaches it as administrator.
type ResolvedDBService struct {
	Type string `json:"type"` // mariadb | mysql | postgresql | sqlite
	// Socket is the unix socket (mariadb/mysql) or its directory
	// (postgresql); empty when Host is set, and for sqlite.
	Socket       string `json:"socket,omitempty"`
	Host         string `json:"host,omitempty"`
	Port         int    `json:"port,omitempty"`
	AdminUser    string `json:"admin_user,omitempty"`
	PasswordFile string `json:"password_file,omitempty"`
	PasswordEnv  string `json:"password_env,omitempty"`
	RunAs        string `json:"run_as,omitempty"`
	Client       string `json:"client,omitempty"`
	Dir          string `json:"dir,omitempty"` // sqlite: "" is the site's own db directory
}

func resolveDB(d *DBService) *ResolvedDBService {
	r := &ResolvedDBService{Type: d.Type, Host: d.Host, Port: d.Port, AdminUser: d.AdminUser,
		PasswordFile: d.PasswordFile, PasswordEnv: d.PasswordEnv, RunAs: d.RunAs, Client: d.Client}
	switch d.Type {
	case "mariadb", "mysql":
		r.Port = cmp.Or(r.Port, 3306)
		r.AdminUser = cmp.Or(r.AdminUser, "root")
		r.Client = cmp.Or(r.Client, map[string]string{"mariadb": "mariadb", "mysql": "mysql"}[d.Type])
		if r.Host == "" {
			r.Socket = cmp.Or(d.Socket, "/run/mysqld/mysqld.sock")
		}
	case "postgresql":
		r.Port = cmp.Or(r.Port, 5432)
		r.AdminUser = cmp.Or(r.AdminUser, "postgres")
		r.Client = cmp.Or(r.Client, "psql")
		if r.Host == "" {
			r.Socket = cmp.Or(d.SocketDir, "/var/run/postgresql")
			if r.PasswordFile == "" && r.PasswordEnv == "" {
				r.RunAs = cmp.Or(r.RunAs, "postgres") // peer authentication
			}
		}
	case "sqlite":
		r = &ResolvedDBService{Type: d.Type, Dir: d.Dir}
	}
	return r
}

// ResolvedDB is a site's database: where it lives and how the site's code
// connects to it. The password is not here: it is generated and kept in
// berth's state store.
type ResolvedDB struct {
	Server string `json:"server"`
	Type   string `json:"type"`
	Name   string `json:"name"`
	// User is the database user of the site (mariadb, mysql, postgresql).
	User string `json:"user,omitempty"`
	// From lists the hosts the user may connect from, as the database
	// server sees them: "localhost" when every web server of the site is
	// the database server's machine, else the web servers' addresses.
	// MariaDB and MySQL grant per host; PostgreSQL leaves that to
	// pg_hba.conf and only records them.
	From []string `json:"from,omitempty"`
	// Host and Port, or Socket, are how the site connects.
	Host   string `json:"host,omitempty"`
	Port   int    `json:"port,omitempty"`
	Socket string `json:"socket,omitempty"`
}

// sameMachine reports whether two servers are one machine.
func sameMachine(a, b *Server) bool {
	return a.Name == b.Name || a.Address == b.Address
}

// siteDB resolves where a site's database is and how the site reaches it.
func siteDB(name string, dbsrv *Server, web []*Server) *ResolvedDB {
	svc := resolveDB(dbsrv.Services.DB)
	d := &ResolvedDB{Server: dbsrv.Name, Type: svc.Type, Name: name}
	if svc.Type == "sqlite" {
		return d
	}
	d.User = DatabaseUser(name)
	local := true
	for _, w := range web {
		local = local && sameMachine(w, dbsrv)
	}
	switch {
	case !local:
		d.Host, d.Port = dbsrv.Address, svc.Port
		for _, w := range web {
			// A web server with address "local" is the controller, whose
			// address as the database server sees it berth does not know:
			// it gets no grant (reconcile warns).
			if w.Address != "local" && !slices.Contains(d.From, w.Address) {
				d.From = append(d.From, w.Address)
			}
		}
	case svc.Type == "postgresql":
		// Over TCP even on one machine: the socket usually authenticates
		// by OS user (peer), which the web server's user is not.
		d.Host, d.Port, d.From = cmp.Or(svc.Host, "127.0.0.1"), svc.Port, []string{"localhost"}
	case svc.Host != "" && svc.Host != "localhost":
		d.Host, d.Port, d.From = svc.Host, svc.Port, []string{svc.Host}
	case svc.Host == "localhost":
		d.Host, d.Port, d.From = svc.Host, svc.Port, []string{"localhost"}
	default:
		d.Socket, d.From = svc.Socket, []string{"localhost"}
	}
	return d
}

// DatabaseUser derives a database user name from a database name: the same
// name, shortened to MySQL's 32 characters with a hash suffix when longer,
// and prefixed with u_ when it starts with pg_ (PostgreSQL reserves those
// role names).
func DatabaseUser(db string) string {
	if strings.HasPrefix(strings.ToLower(db), "pg_") {
		db = "u_" + db
	}
	if len(db) <= 32 {
		return db
	}
	sum := sha256.Sum256([]byte(db))
	return db[:23] + "_" + hex.EncodeToString(sum[:4])
}

// ResolvedDNS is the zone holding a site's main name, and its primary
// server; nil for a site without dns: or whose name is in no zone.
type ResolvedDNS struct {
	Server string `json:"server"`
	Zone   string `json:"zone"`
}

// ResolvedTLS is a site's HTTPS settings.
type ResolvedTLS struct {
	ACME          bool `json:"acme"`
	RedirectHTTPS bool `json:"redirect_https"`
	// Challenge is ChallengeHTTP01 or ChallengeDNS01 when ACME is set,
	// "" otherwise.
	Challenge string `json:"challenge,omitempty"`
}

// ErrUnknownEnvironment is wrapped by Resolve's error for an environment
// berth.yaml does not declare.
var ErrUnknownEnvironment = errors.New("unknown environment")

// Resolve returns the desired state of environment env. The repo must have
// loaded without problems. Resolve is pure and deterministic: the same repo
// and env give the same value, with every list sorted by name.
func Resolve(r *Repo, env string) (*Resolved, error) {
	res, err := r.resolve(env, true)
	if res != nil {
		res.fsys, res.digest = r.fsys, r.Digest
	}
	return res, err
}

// resolve is Resolve; clones: also resolve where the clones' data comes
// from (the source environment of a clone is resolved without).
func (r *Repo) resolve(env string, clones bool) (*Resolved, error) {
	if r.Config == nil || r.Config.Environments == nil {
		return nil, fmt.Errorf("resolve %q: the repo has no environments; load it with spec.Load first", env)
	}
	e := r.Config.Environments[env]
	if e == nil {
		names := r.environmentNames()
		return nil, fmt.Errorf("%w %q%s: berth.yaml declares %s", ErrUnknownEnvironment, env, didYouMean(env, names), strings.Join(names, ", "))
	}
	out := &Resolved{
		Environment:  env,
		Branch:       e.Branch,
		DomainSuffix: e.DomainSuffix,
		MaxDeletions: DefaultMaxDeletions,
		Backups:      r.Config.Backups,
	}
	if p := r.Config.Policy.MaxDeletions; p != nil {
		out.MaxDeletions = *p
	}
	out.Notifications = resolveNotifications(r.Config, env)
	out.DataFrom, out.DataFromNone = r.resolveDataFrom(env, e)
	if a := e.ACME; a != nil {
		out.ACME = &ResolvedACME{DirectoryURL: cmp.Or(ACMEDirectories[a.Directory], a.Directory), Email: a.Email}
	}

	servers := map[string]*Server{}
	for _, s := range sortedBy(r.Servers, func(s *Server) string { return s.Name }) {
		if !inEnv(s.Environments, env) {
			continue
		}
		servers[s.Name] = s
		out.Servers = append(out.Servers, resolveServer(s, env))
	}

	platforms := map[string]*ResolvedPlatform{}
	isolation := map[string]bool{}
	for _, p := range sortedBy(r.Platforms, func(p *Platform) string { return p.Name }) {
		if !inEnv(p.Environments, env) {
			continue
		}
		isolation[p.Name] = p.Isolation == nil || *p.Isolation
		rp := ResolvedPlatform{
			Name:       p.Name,
			Type:       p.Type,
			Source:     p.Source,
			Build:      slices.Clone(p.Build),
			Install:    slices.Clone(p.Install),
			Update:     slices.Clone(p.Update),
			Cron:       maps.Clone(p.Cron),
			KeepBuilds: cmp.Or(p.KeepBuilds, DefaultKeepBuilds),
			Docroot:    p.Docroot,
			PHP:        p.PHP,
		}
		if rp.Docroot == "" && p.Type == "drupal" {
			rp.Docroot = "web"
		}
		if o := e.Platforms[p.Name]; o != nil {
			rp.Source.Ref = cmp.Or(o.Ref, rp.Source.Ref)
			rp.PHP = cmp.Or(o.PHP, rp.PHP)
		}
		if p.Type == "static" {
			rp.PHP = ""
		} else {
			rp.PHP = cmp.Or(rp.PHP, e.Defaults.PHP, r.Config.Defaults.PHP, DefaultPHP)
		}
		for _, sn := range p.Servers {
			if s := servers[sn]; s != nil && s.Services.HTTP != nil {
				rp.Servers = append(rp.Servers, sn)
			}
		}
		if len(rp.Servers) == 0 {
			return nil, fmt.Errorf("%s: platform %q has no web server in environment %q", p.At("servers"), p.Name, env)
		}
		if lb := r.siteLB(p, env); lb != nil {
			rp.LB = lb.Name
		}
		files, err := resolveFiles(p, rp.Servers, env)
		if err != nil {
			return nil, err
		}
		rp.Files = files
		out.Platforms = append(out.Platforms, rp)
		platforms[p.Name] = &out.Platforms[len(out.Platforms)-1]
	}

	for _, s := range sortedBy(r.Sites, func(s *Site) string { return s.Name }) {
		if !inEnv(s.Environments, env) {
			continue
		}
		p := platforms[s.Platform]
		if p == nil {
			return nil, fmt.Errorf("%s: site %q: platform %q is not in environment %q", s.At("platform"), s.Name, s.Platform, env)
		}
		set := mergeSettings(&r.Config.Defaults, &e.Defaults, &s.SiteSettings, e.Sites[s.Name].settings())
		rs := ResolvedSite{
			Name:            s.Name,
			Environment:     env,
			Domain:          s.Domain + e.DomainSuffix,
			RedirectAliases: s.RedirectAliases,
			Platform:        p.Name,
			Type:            p.Type,
			Client:          s.Client,
			Servers:         slices.Clone(p.Servers),
			Docroot:         p.Docroot,
			CodeDir:         p.Source.Dir,
			Files:           p.Files,
			State:           cmp.Or(set.State, "enabled"),
			TLS:             ResolvedTLS{RedirectHTTPS: true},
		}
		rs.Health = siteHealth(s.Health)
		if c := r.Config.Clients[s.Client]; s.Client != "" && c != nil {
			rs.Brand = &ResolvedBrand{Name: c.Name, Support: c.Support, Color: c.Colors.Primary}
		}
		if lb := r.siteLB(r.platforms[s.Platform], env); lb != nil {
			rs.LB = &ResolvedSiteLB{Server: lb.Name, From: lbSource(lb.Services.LB, lb.Address), Listen: cmp.Or(lb.Services.LB.Listen, "80"), TLSListen: lb.Services.LB.TLSListen}
		}
		for _, a := range s.ASCIIAliases {
			rs.Aliases = append(rs.Aliases, a+e.DomainSuffix)
		}
		if s.ASCIIRenamedFrom != "" {
			rs.RenamedFrom = s.ASCIIRenamedFrom + e.DomainSuffix
			rs.RedirectNames = []string{rs.RenamedFrom}
		}
		if p.Type != "static" {
			rs.Isolated = isolation[p.Name]
			// The layers without the platform's own: environment's site
			// override > site > platform (already over the defaults).
			rs.PHP = cmp.Or(mergeSettings(&s.SiteSettings, e.Sites[s.Name].settings()).PHP, p.PHP)
		}
		if t := set.TLS; t != nil {
			if t.ACME != nil {
				rs.TLS.ACME = *t.ACME
			}
			if t.RedirectHTTPS != nil {
				rs.TLS.RedirectHTTPS = *t.RedirectHTTPS
			}
			if rs.TLS.ACME {
				rs.TLS.Challenge = cmp.Or(t.Challenge, ChallengeHTTP01)
			}
		}
		if set.Web != nil {
			rs.Web = *set.Web
		}
		rs.MigrationGraceHours = DefaultMigrationGraceHours
		if m := set.Migration; m != nil && m.GraceHours > 0 {
			rs.MigrationGraceHours = m.GraceHours
		}
		if b := set.Backup; b != nil {
			bb := *b
			if bb.Keep == 0 {
				bb.Keep = DefaultBackupKeep
			}
			rs.Backup = &bb
		}
		cron := maps.Clone(p.Cron)
		if cron == nil {
			cron = map[string]*Cron{}
		}
		maps.Copy(cron, set.Cron)
		for _, name := range slices.Sorted(maps.Keys(cron)) {
			if c := cron[name]; c != nil {
				every, _ := CronEvery(c.Schedule) // checked by its rule at load
				rs.Cron = append(rs.Cron, ResolvedCron{Name: name, Schedule: c.Schedule, Every: every, Command: slices.Clone(c.Command)})
			}
		}
		if s.DB != nil {
			srv := servers[s.DB.Server]
			if srv == nil {
				return nil, fmt.Errorf("%s: site %q: database server %q is not in environment %q", s.At("db.server"), s.Name, s.DB.Server, env)
			}
			var web []*Server
			for _, sn := range rs.Servers {
				web = append(web, servers[sn])
			}
			if srv.Address == "local" {
				for _, w := range web {
					if w.Address != "local" {
						return nil, fmt.Errorf("%s: site %q: database server %q is this machine (address local) but web server %q is remote and cannot reach it; give %q its network address", s.At("db.server"), s.Name, srv.Name, w.Name, srv.Name)
					}
				}
			}
			rs.DB = siteDB(cmp.Or(s.DB.Name, DatabaseName(rs.Domain)), srv, web)
		}
		out.Sites = append(out.Sites, rs)
	}
	out.Zones, out.DNSNotes = r.zoneSet(env, func(*Meta, string, string, string, ...any) {})
	for i := range out.Sites {
		rs := &out.Sites[i]
		for _, z := range out.Zones {
			if InZone(rs.Domain, z.Name) && (rs.DNS == nil || len(z.Name) > len(rs.DNS.Zone)) {
				rs.DNS = &ResolvedDNS{Server: z.Primary, Zone: z.Name}
			}
		}
		if s := r.sites[rs.Name]; s == nil || s.DNS == nil {
			rs.DNS = nil
		}
	}
	if clones {
		if err := r.resolveClones(out, r.sites); err != nil { // clone.go
			return nil, err
		}
	}
	return out, nil
}

// resolveServer returns s with its services' defaults applied for env.
func resolveServer(s *Server, env string) ResolvedServer {
	rs := ResolvedServer{Name: s.Name, Address: s.Address}
	if s.SSH != nil {
		rs.SSH = *s.SSH
	}
	if h := s.Services.HTTP; h != nil {
		rs.HTTP = resolveHTTP(h)
	}
	if p := s.Services.PHP; p != nil {
		rs.PHP = resolvePHP(p)
	}
	if d := s.Services.DB; d != nil {
		rs.DB = resolveDB(d)
	}
	if d := s.Services.DNS; d != nil {
		rs.DNS = d.Type
		rs.BIND = resolveBIND(d, s.Address, env)
	}
	for _, a := range PublicAddresses(s) {
		rs.PublicAddresses = append(rs.PublicAddresses, a.String())
	}
	if l := s.Services.LB; l != nil {
		rs.LB = resolveLB(l, s.Address)
	}
	rs.Drain = s.Drain
	return rs
}

// mergeSettings layers site settings: later layers win, field by field.
func mergeSettings(layers ...*SiteSettings) SiteSettings {
	var out SiteSettings
	for _, l := range layers {
		if l == nil {
			continue
		}
		out.State = cmp.Or(l.State, out.State)
		out.PHP = cmp.Or(l.PHP, out.PHP)
		if l.TLS != nil {
			t := TLS{}
			if out.TLS != nil {
				t = *out.TLS
			}
			if l.TLS.ACME != nil {
				t.ACME = l.TLS.ACME
			}
			if l.TLS.RedirectHTTPS != nil {
				t.RedirectHTTPS = l.TLS.RedirectHTTPS
			}
			t.Challenge = cmp.Or(l.TLS.Challenge, t.Challenge)
			out.TLS = &t
		}
		if l.Web != nil {
			w := WebOptions{}
			if out.Web != nil {
				w = *out.Web
			}
			w.ClientMaxBodySize = cmp.Or(l.Web.ClientMaxBodySize, w.ClientMaxBodySize)
			if l.Web.BasicAuth != nil {
				w.BasicAuth = l.Web.BasicAuth
			}
			if l.Web.Redirects != nil {
				w.Redirects = l.Web.Redirects
			}
			if l.Web.Headers != nil {
				h := maps.Clone(w.Headers)
				if h == nil {
					h = map[string]string{}
				}
				maps.Copy(h, l.Web.Headers)
				w.Headers = h
			}
			out.Web = &w
		}
		if l.Backup != nil {
			out.Backup = l.Backup
		}
		if l.Migration != nil {
			out.Migration = l.Migration
		}
		if l.Cron != nil {
			c := maps.Clone(out.Cron)
			if c == nil {
				c = map[string]*Cron{}
			}
			maps.Copy(c, l.Cron)
			out.Cron = c
		}
	}
	return out
}

// DatabaseName derives a database name from a domain: letters, digits and
// underscores, at most 63 characters (PostgreSQL's limit; MariaDB allows 64).
// A long name is shortened and given a hash suffix so it stays unique.
func DatabaseName(domain string) string {
	var b strings.Builder
	for _, r := range domain {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	n := b.String()
	if n != "" && n[0] >= '0' && n[0] <= '9' {
		n = "s_" + n
	}
	if len(n) > 63 {
		sum := sha256.Sum256([]byte(domain))
		n = n[:54] + "_" + hex.EncodeToString(sum[:4])
	}
	return n
}

// ZoneOf returns the zone a domain's records belong in by default: its
// registrable domain (example.co.uk for www.example.co.uk).
func ZoneOf(domain string) string {
	z, err := publicsuffix.EffectiveTLDPlusOne(domain)
	if err != nil {
		return domain
	}
	return z
}

func sortedBy[T any](xs []T, key func(T) string) []T {
	out := slices.Clone(xs)
	slices.SortStableFunc(out, func(a, b T) int { return strings.Compare(key(a), key(b)) })
	return out
}
