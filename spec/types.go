package spec

// The types below are the sites repo format. Struct tags drive both the
// decoder and the JSON Schema:
//
//	yaml:"name"            the field's name in YAML
//	berth:"required"       the field must be present
//	berth:"enum=a|b"       the value must be one of these
//	berth:"min=1,max=9"    bounds for integers; for lists, the minimum length
//	rule:"NAME"            the Rule (rules.go) the value, each element of a
//	                       list or each value of a mapping must satisfy
//	keyrule:"NAME"         the Rule each key of a mapping must satisfy
//	doc:"..."              the description shown by editors
//
// Every string that a field holds, as a value, an element or a key, is
// bound to a rule or an enum: TestEveryStringHasARule enforces it.

// Meta records where a document came from and where each of its values was
// written, so that any later check can point at the exact file:line:column.
type Meta struct {
	pos  Pos            // position of the document node
	vals map[string]Pos // field path ("db.server", "aliases[1]") -> value position
	keys map[string]Pos // field path -> key position
}

// Pos returns the position of the document.
func (m *Meta) Pos() Pos { return m.pos }

// At returns the position of the value at a field path such as "platform",
// "db.server" or "servers[2]". When the path was not written in the file, it
// returns the position of its closest written parent, so a "missing field"
// problem points at the mapping that should hold it.
func (m *Meta) At(path string) Pos {
	for path != "" {
		if p, ok := m.vals[path]; ok {
			return p
		}
		path = parentPath(path)
	}
	return m.pos
}

// KeyAt is like At but returns the position of the key, for problems about a
// field's presence rather than its value.
func (m *Meta) KeyAt(path string) Pos {
	if p, ok := m.keys[path]; ok {
		return p
	}
	return m.At(path)
}

func parentPath(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		switch path[i] {
		case '.':
			return path[:i]
		case '[':
			return path[:i]
		}
	}
	return ""
}

// Config is the repo file berth.yaml at the root of a sites repo.
type Config struct {
	Meta         `yaml:"-" json:"-"`
	Environments map[string]*Environment `yaml:"environments" json:"environments,omitempty" berth:"required" doc:"Environments by name; each follows one Git branch." keyrule:"environment"`
	Policy       Policy                  `yaml:"policy" json:"policy,omitempty" doc:"Safety limits applied to every plan."`
	Defaults     SiteSettings            `yaml:"defaults" json:"defaults,omitempty" doc:"Settings every site gets unless its platform, its environment or the site itself says otherwise."`
	Backups      Backups                 `yaml:"backups" json:"backups,omitzero" doc:"Where site backups are kept."`
	Clients      map[string]*Client      `yaml:"clients" json:"clients,omitempty" doc:"The agency's clients by short name: the branded dashboard each gets; a site names its client." keyrule:"name"`
	// Notifications are outgoing webhooks (notifications.go).
	Notifications []*Notification `yaml:"notifications" json:"notifications,omitempty" doc:"Outgoing webhooks berth serve sends a message to when something changes: a run failed or stalled, drift, a site down or up, a certificate expiring, a backup failed or older than its schedule."`
}

// Environment is one environment of the repo, following one Git branch.
type Environment struct {
	Branch       string                       `yaml:"branch" json:"branch,omitempty" berth:"required" doc:"The Git branch this environment converges to." rule:"git-ref"`
	DomainSuffix string                       `yaml:"domain_suffix" json:"domain_suffix,omitempty" doc:"Appended to every site name and alias in this environment, e.g. .staging.example.net." rule:"domain-suffix"`
	Defaults     SiteSettings                 `yaml:"defaults" json:"defaults,omitempty" doc:"Site settings for this environment, over the repo defaults."`
	Sites        map[string]*SiteOverride     `yaml:"sites" json:"sites,omitempty" doc:"Per-site overrides in this environment, by site name." keyrule:"domain"`
	Platforms    map[string]*PlatformOverride `yaml:"platforms" json:"platforms,omitempty" doc:"Per-platform overrides in this environment, by platform name." keyrule:"name"`
	ACME         *ACME                        `yaml:"acme" json:"acme,omitempty" doc:"The ACME certificate authority of this environment's sites with tls: { acme: true }."`
	DataTo       []string                     `yaml:"data_to" json:"data_to,omitempty" doc:"Environments that may copy this environment's data: a site's clone_from with from_env naming this one, and data_from. berth reads it from berth.yaml on the config branch (main; berth serve --config-branch), never from the revision that asks for the data, so a branch cannot give itself another environment's data. berth sync-data, an operator's command, needs no data_to." rule:"environment"`
	DataFrom     *EnvDataFrom                 `yaml:"data_from" json:"data_from,omitempty" doc:"Copy the data (database and files) of this environment's sites down from another environment on a schedule, sanitized, as berth sync-data does; berth serve runs it. Not in a production environment: data goes down, never up. A site's own data_from (sites: { SITE: { data_from: ... } }) wins over it for that site."`
}

// ACME names an environment's certificate authority. The trust roots of a
// private CA's directory are the operator's (berth's configuration on the
// controller), never the repo's: a repo cannot make berth trust a CA.
type ACME struct {
	Directory string `yaml:"directory" json:"directory,omitempty" berth:"required" doc:"letsencrypt, letsencrypt-staging, or the https URL of another ACME directory." rule:"acme-directory"`
	Email     string `yaml:"email" json:"email,omitempty" berth:"required" doc:"Contact e-mail of the ACME account; the CA writes to it about the account's certificates." rule:"email"`
}

// Policy holds the limits that protect an environment from a bad revision.
type Policy struct {
	MaxDeletions *int `yaml:"max_deletions" json:"max_deletions,omitempty" berth:"min=0" doc:"A plan that deletes more sites than this is refused (default 5)."`
}

// DefaultMaxDeletions is policy.max_deletions when berth.yaml does not set it.
const DefaultMaxDeletions = 5

// Server is a host and the services berth manages on it.
type Server struct {
	Meta    `yaml:"-" json:"-"`
	Kind    string `yaml:"kind" berth:"required,enum=Server" json:"-"`
	Name    string `yaml:"name" json:"name,omitempty" berth:"required" doc:"A short name for the server, used by platforms and sites." rule:"name"`
	Address string `yaml:"address" json:"address,omitempty" berth:"required" doc:"Host name or IP address berth reaches over SSH, or \"local\" for the machine berth runs on." rule:"address"`
	SSH     *SSH   `yaml:"ssh" json:"ssh,omitempty" doc:"How berth logs in; keys and known_hosts live on the controller, not in the repo."`
	// PublicAddresses are the addresses the world reaches the server's
	// web sites at: the A and AAAA records of its sites.
	PublicAddresses []string `yaml:"public_addresses" json:"public_addresses,omitempty" doc:"IP addresses the server's sites are published at in DNS (A and AAAA records); default: address, when it is an IP address." rule:"ip"`
	Services        Services `yaml:"services" json:"services,omitempty" doc:"The services berth manages on this server."`
	Environments    []string `yaml:"environments" json:"environments,omitempty" doc:"Environments this server belongs to (default: all)." rule:"environment"`
	// Drain takes a web server out of every load balancer in front of it
	// (see lb.go).
	Drain bool `yaml:"drain" json:"drain,omitempty" doc:"Take this web server out of the load balancers in front of it: each one stops sending it requests before anything else is done on it in the run; set it back to false and it is re-added once it has converged."`
}

// SSH is how berth logs in to a server.
type SSH struct {
	User string `yaml:"user" json:"user,omitempty" doc:"Login user (default root)." rule:"unix-name"`
	Port int    `yaml:"port" json:"port,omitempty" berth:"min=1,max=65535" doc:"SSH port (default 22)."`
	Sudo bool   `yaml:"sudo" json:"sudo,omitempty" doc:"Run commands through sudo -n when the user is not root."`
}

// Services lists the services a server runs.
type Services struct {
	HTTP *HTTPService `yaml:"http" json:"http,omitempty" doc:"The web server."`
	PHP  *PHPService  `yaml:"php" json:"php,omitempty" doc:"PHP-FPM, for platforms that run PHP."`
	DB   *DBService   `yaml:"db" json:"db,omitempty" doc:"The database server."`
	DNS  *DNSService  `yaml:"dns" json:"dns,omitempty" doc:"The authoritative DNS server."`
	LB   *LBService   `yaml:"lb" json:"lb,omitempty" doc:"A load balancer in front of the web servers of the platforms that name this server as their lb."`
}

// HTTPService is a server's web server.
//
// Paths are absolute, or, on a server with address "local", relative to
// berth's state directory (so a demo or a test runs without root). Commands
// are argument vectors, never shell text; on a local server they run in the
// state directory.
type HTTPService struct {
	Type   string `yaml:"type" json:"type,omitempty" berth:"required,enum=nginx|apache"`
	Listen string `yaml:"listen" json:"listen,omitempty" doc:"Port or address:port the sites listen on (default 80)." rule:"listen"`
	// TLSListen and CertDir serve the sites with tls.acme over HTTPS once
	// their certificate is issued.
	TLSListen string   `yaml:"tls_listen" json:"tls_listen,omitempty" doc:"Port or address:port the sites with a certificate listen on for HTTPS (default 443)." rule:"listen"`
	CertDir   string   `yaml:"cert_dir" json:"cert_dir,omitempty" doc:"Directory of the sites' certificate chains and private keys (default /etc/ssl/berth), outside every site directory: created 0700, keys 0600, read by the web server's master process as root." rule:"server-path"`
	ConfDir   string   `yaml:"conf_dir" json:"conf_dir,omitempty" doc:"Directory berth writes one config file per site into; the web server must include it (default /etc/nginx/sites-enabled or /etc/apache2/sites-enabled)." rule:"server-path"`
	WebRoot   string   `yaml:"web_root" json:"web_root,omitempty" doc:"Base directory of platforms and sites (default /var/www)." rule:"server-path"`
	User      string   `yaml:"user" json:"user,omitempty" doc:"User that owns site files and runs PHP (default www-data)." rule:"unix-name"`
	Group     string   `yaml:"group" json:"group,omitempty" doc:"Group of site files (default: the user's name)." rule:"unix-name"`
	Test      []string `yaml:"test" json:"test,omitempty" doc:"Command that checks the configuration (default nginx -t, or apache2ctl configtest)." rule:"argv"`
	Reload    []string `yaml:"reload" json:"reload,omitempty" doc:"Command that reloads the configuration (default nginx -s reload, or apache2ctl graceful)." rule:"argv"`
	PIDFile   string   `yaml:"pid_file" json:"pid_file,omitempty" doc:"nginx only: the master's PID file (default /run/nginx.pid). With the default reload, berth reloads nginx by sending SIGHUP to that PID (nginx -s reload parses the whole configuration once more first); nginx -s reload when the file cannot be read. Not used when reload is set." rule:"server-path"`
}

// PHPService is a server's PHP-FPM. In its paths and commands, {version} is
// replaced by a site's PHP version (8.2).
type PHPService struct {
	Type    string   `yaml:"type" json:"type,omitempty" berth:"required,enum=php-fpm"`
	PoolDir string   `yaml:"pool_dir" json:"pool_dir,omitempty" doc:"Directory of pool files (default /etc/php/{version}/fpm/pool.d)." rule:"server-path-php"`
	RunDir  string   `yaml:"run_dir" json:"run_dir,omitempty" doc:"Directory of the pools' sockets (default /run/php)." rule:"server-path-php"`
	Test    []string `yaml:"test" json:"test,omitempty" doc:"Command that checks the configuration (default php-fpm{version} -t)." rule:"argv"`
	Reload  []string `yaml:"reload" json:"reload,omitempty" doc:"Command that reloads PHP-FPM gracefully (default: systemctl reload php{version}-fpm)." rule:"argv"`
}

// DBService is a server's database server and how berth reaches it as
// administrator. berth runs the server's own client (mariadb or psql) on
// the server, over SSH for a remote one, with SQL on standard input: no
// database port needs to be open to the controller. A password, when one
// is needed, comes from a file or an environment variable on the
// controller, never from the repo; it reaches the client on its standard
// input, never on a command line.
//
// SQLite has no server: its databases are files on the web server, and
// only type and dir apply.
type DBService struct {
	Type         string `yaml:"type" json:"type,omitempty" berth:"required,enum=mariadb|mysql|postgresql|sqlite"`
	Socket       string `yaml:"socket" json:"socket,omitempty" doc:"mariadb/mysql: the server's unix socket (default /run/mysqld/mysqld.sock, as root through unix_socket authentication)." rule:"server-path"`
	SocketDir    string `yaml:"socket_dir" json:"socket_dir,omitempty" doc:"postgresql: directory of the server's unix socket (default /var/run/postgresql)." rule:"server-path"`
	Host         string `yaml:"host" json:"host,omitempty" doc:"Connect over TCP to this address, as seen from the database server, instead of the socket." rule:"host"`
	Port         int    `yaml:"port" json:"port,omitempty" berth:"min=1,max=65535" doc:"TCP port of the server (default 3306 for mariadb/mysql, 5432 for postgresql); sites on other servers connect to it."`
	AdminUser    string `yaml:"admin_user" json:"admin_user,omitempty" doc:"The administrator berth connects as (default root for mariadb/mysql, postgres for postgresql)." rule:"db-user"`
	PasswordFile string `yaml:"password_file" json:"password_file,omitempty" doc:"File on the controller holding the administrator's password (its first line). Never put the password itself in the repo." rule:"abs-path"`
	PasswordEnv  string `yaml:"password_env" json:"password_env,omitempty" doc:"Environment variable of berth's process holding the administrator's password." rule:"env-var"`
	RunAs        string `yaml:"run_as" json:"run_as,omitempty" doc:"OS user the client runs as on the server (default: postgres for a postgresql socket, for peer authentication; none otherwise)." rule:"unix-name"`
	Client       string `yaml:"client" json:"client,omitempty" doc:"The client program on the server (default mariadb, mysql or psql)." rule:"program"`
	Dir          string `yaml:"dir" json:"dir,omitempty" doc:"sqlite: directory of the database files on the web server (default <web_root>/sites/<domain>/db, inside the site's own directory)." rule:"server-path"`
}

// DNSService is a server's authoritative DNS server. berth writes one
// zone file per zone into zone_dir and lists an environment's zones in
// include_file, which named.conf must include (one per environment: both
// paths hold {env} by default, so environments sharing a server never
// touch each other's zones); it checks them with named-checkzone and
// named-checkconf and reloads them with rndc. Paths may be relative on a
// local server, like the http service's.
type DNSService struct {
	Type        string   `yaml:"type" json:"type,omitempty" berth:"required,enum=bind"`
	ZoneDir     string   `yaml:"zone_dir" json:"zone_dir,omitempty" doc:"Directory of the zone files berth writes; {env} stands for the environment (default /var/lib/bind/berth/{env})." rule:"server-path-env"`
	IncludeFile string   `yaml:"include_file" json:"include_file,omitempty" doc:"File berth writes with one zone statement per zone it serves in an environment; named.conf must include it, for each environment the server is in; {env} stands for the environment (default /etc/bind/berth-{env}.conf)." rule:"server-path-env"`
	RNDC        []string `yaml:"rndc" json:"rndc,omitempty" doc:"The rndc command, without its subcommand (default rndc; e.g. [rndc, -c, /etc/bind/rndc.conf])." rule:"argv"`
	CheckZone   string   `yaml:"check_zone" json:"check_zone,omitempty" doc:"The named-checkzone program (default named-checkzone)." rule:"program"`
	CheckConf   []string `yaml:"check_conf" json:"check_conf,omitempty" doc:"Command that checks named's configuration with berth's include file (default named-checkconf)." rule:"argv"`
	Listen      string   `yaml:"listen" json:"listen,omitempty" doc:"Port or address:port named answers DNS on, for zone transfers between primary and secondaries and berth's serial checks (default: the server's address, port 53)." rule:"listen"`
	Group       string   `yaml:"group" json:"group,omitempty" doc:"Group named runs as, which must read the TSIG key file berth writes beside include_file (default bind)." rule:"unix-name"`
}

// Platform is a codebase deployed to one or more web servers.
type Platform struct {
	Meta         `yaml:"-" json:"-"`
	Kind         string           `yaml:"kind" berth:"required,enum=Platform" json:"-"`
	Name         string           `yaml:"name" json:"name,omitempty" berth:"required" rule:"name"`
	Type         string           `yaml:"type" json:"type,omitempty" berth:"required,enum=drupal|wordpress|php|static" doc:"Decides the settings file, the install command and whether PHP runs."`
	Source       Source           `yaml:"source" json:"source,omitempty" berth:"required" doc:"Where the code comes from: a Git repository at a ref, a path in the sites repo, or a directory already on the servers."`
	Build        []string         `yaml:"build" json:"build,omitempty" doc:"Commands run in the checkout, in order, before the build is switched live." rule:"shell-command"`
	Install      []string         `yaml:"install" json:"install,omitempty" doc:"Command run once per site to install it, as an argument vector (no shell), in the live build as the web server's user, with BERTH_SETTINGS set to the site's settings file. Default: wordpress installs through wp_install(); drupal, php and static run nothing." rule:"argv"`
	Update       []string         `yaml:"update" json:"update,omitempty" doc:"Command run once per site after each new build of the platform's code is live (and inside a migration, on the target, after the data moved): the platform's database updates, as an argument vector (no shell), in the live build as the site's user, with BERTH_SETTINGS set, after a backup of the site; it must be safe to run again. Default: drupal runs vendor/bin/drush updatedb -y; wordpress runs its upgrade routine wp_upgrade(); php and static run nothing. An empty list (update: []) runs none." rule:"argv"`
	Cron         map[string]*Cron `yaml:"cron" json:"cron,omitempty" doc:"Scheduled commands every site of the platform gets, by name; a site's cron of the same name replaces one." keyrule:"name"`
	KeepBuilds   int              `yaml:"keep_builds" json:"keep_builds,omitempty" berth:"min=1" doc:"How many builds stay on each server, the live one included, for a quick switch back (default 3)."`
	Docroot      string           `yaml:"docroot" json:"docroot,omitempty" doc:"Directory inside the codebase that is served (default: web for drupal, the root otherwise)." rule:"rel-path"`
	PHP          string           `yaml:"php" json:"php,omitempty" doc:"PHP version the platform's sites run (default from berth.yaml, else 8.2)." rule:"php-version"`
	Servers      []string         `yaml:"servers" json:"servers,omitempty" berth:"required,min=1" doc:"Web servers the platform is deployed to; two or more form a web cluster." rule:"name"`
	LB           string           `yaml:"lb" json:"lb,omitempty" doc:"The server (with an lb service) that load-balances the platform's sites over its servers; their DNS records then point at it." rule:"name"`
	Files        *PlatformFiles   `yaml:"files" json:"files,omitempty" doc:"How the files directory (uploads) of each site is shared by the platform's servers: a shared path mounted on every server, or synced by berth from a primary server (see files.go). Default: each server keeps its own."`
	Environments []string         `yaml:"environments" json:"environments,omitempty" doc:"Environments this platform exists in (default: all)." rule:"environment"`
	Sanitize     *Sanitize        `yaml:"sanitize" json:"sanitize,omitempty" doc:"The sanitize step every clone of the platform's sites gets (a site's own sanitize replaces it)."`
	Isolation    *bool            `yaml:"isolation" json:"isolation,omitempty" doc:"Run each site's PHP-FPM pool as its own Unix user, with its files owned by it and open_basedir limited to its own directories (default true). false runs the sites as the web server's user, for code that cannot run so."`
}

// Source is where a platform's code comes from.
type Source struct {
	Git  string `yaml:"git" json:"git,omitempty" doc:"Git repository URL." rule:"git-url"`
	Ref  string `yaml:"ref" json:"ref,omitempty" doc:"Branch, tag or commit of the Git repository (default: its HEAD)." rule:"git-ref"`
	Path string `yaml:"path" json:"path,omitempty" doc:"A directory on the controller, instead of git." rule:"rel-path"`
	// Dir is code that already lives on the servers (what berth import
	// finds behind a hand-made vhost): served in place, never written.
	Dir string `yaml:"dir" json:"dir,omitempty" doc:"An absolute directory that already holds the code on every server of the platform, instead of git or path (what berth import writes for a hand-made site): the sites serve it in place, and berth never writes, moves or deletes anything in it." rule:"abs-path"`
}

// PlatformOverride changes a platform in one environment.
type PlatformOverride struct {
	Ref string `yaml:"ref" json:"ref,omitempty" doc:"Deploy this Git ref in this environment." rule:"git-ref"`
	PHP string `yaml:"php" json:"php,omitempty" doc:"PHP version in this environment." rule:"php-version"`
}

// Site is a web site: a domain on a platform, with its database, DNS and TLS.
type Site struct {
	Meta            `yaml:"-" json:"-"`
	Kind            string    `yaml:"kind" berth:"required,enum=Site" json:"-"`
	Name            string    `yaml:"name" json:"name,omitempty" berth:"required" doc:"The site's main domain name; international names are converted to punycode." rule:"domain"`
	Platform        string    `yaml:"platform" json:"platform,omitempty" berth:"required" doc:"The platform the site runs on." rule:"name"`
	Aliases         []string  `yaml:"aliases" json:"aliases,omitempty" doc:"Other domain names of the site." rule:"domain-alias"`
	RedirectAliases bool      `yaml:"redirect_aliases" json:"redirect_aliases,omitempty" doc:"Answer the aliases with a 301 redirect to the main name instead of serving them."`
	DB              *SiteDB   `yaml:"db" json:"db,omitempty" doc:"The site's database."`
	DNS             *SiteDNS  `yaml:"dns" json:"dns,omitempty" doc:"Records for the site in a zone berth manages."`
	Environments    []string  `yaml:"environments" json:"environments,omitempty" doc:"Environments this site exists in (default: all)." rule:"environment"`
	Health          *Health   `yaml:"health" json:"health,omitempty" doc:"How berth status --observe checks the site on each of its web servers over HTTP."`
	Client          string    `yaml:"client" json:"client,omitempty" doc:"The client the site belongs to (berth.yaml clients): its viewer tokens see the site on the client's dashboard." rule:"name"`
	RenamedFrom     string    `yaml:"renamed_from" json:"renamed_from,omitempty" doc:"The site's former name: the site is migrated from it to its new name (database, files, settings, vhost) like a move, and the old name answers with a 301 redirect to the new one (over plain HTTP; add it to the zone's names as the site's records do)." rule:"domain"`
	CloneFrom       string    `yaml:"clone_from" json:"clone_from,omitempty" doc:"Create the site from a fresh backup of this site (its name in the repo, in from_env) instead of a fresh install: its database and files are copied once, then the sanitize step runs against the copy before it is served. The source is only read. Remove the site's .berth-cloned marker to clone again." rule:"domain"`
	FromEnv         string    `yaml:"from_env" json:"from_env,omitempty" doc:"The environment of clone_from's site (default: this one)." rule:"environment"`
	Sanitize        *Sanitize `yaml:"sanitize" json:"sanitize,omitempty" doc:"The sanitize step of a clone, over its platform's."`
	SiteSettings    `yaml:",inline"`

	// Domain and ASCIIAliases are Name and Aliases in ASCII (punycode),
	// filled in by Load.
	Domain       string   `yaml:"-" json:"-"`
	ASCIIAliases []string `yaml:"-" json:"-"`
	// ASCIIRenamedFrom is RenamedFrom in ASCII, filled in by Load.
	ASCIIRenamedFrom string `yaml:"-" json:"-"`
}

// SiteDB places a site's database.
type SiteDB struct {
	Server string `yaml:"server" json:"server,omitempty" berth:"required" doc:"Server whose db service holds the database." rule:"name"`
	Name   string `yaml:"name" json:"name,omitempty" doc:"Database name (default: derived from the site name)." rule:"db-name"`
}

// SiteDNS publishes a site's names in the zones of the repo: each name
// (main and aliases, per environment after its domain suffix) that falls in
// a declared Zone gets A/AAAA records for the site's web servers, or a
// CNAME.
type SiteDNS struct {
	Server string `yaml:"server" json:"server,omitempty" doc:"Server whose dns service serves the zone; when set, it must be the primary of the zone holding the site's names." rule:"name"`
	Zone   string `yaml:"zone" json:"zone,omitempty" doc:"Zone that must hold the site's names (default: the declared zone with the longest matching name)." rule:"domain"`
	CNAME  string `yaml:"cname" json:"cname,omitempty" doc:"Publish the site's names as a CNAME to this name instead of A/AAAA records of its web servers." rule:"domain"`
}

// Zone is a DNS zone berth renders and serves from BIND: its SOA and NS
// set, static records, and the records of the sites whose names fall in
// it. In an environment with a domain_suffix its name gets the suffix
// like a site's, unless it already ends with the suffix's domain.
type Zone struct {
	Meta         `yaml:"-" json:"-"`
	Kind         string       `yaml:"kind" berth:"required,enum=Zone" json:"-"`
	Name         string       `yaml:"name" json:"name,omitempty" berth:"required" doc:"The zone's apex domain." rule:"domain"`
	Contact      string       `yaml:"contact" json:"contact,omitempty" berth:"required" doc:"The zone's contact address (the SOA RNAME), e.g. hostmaster@example.com." rule:"zone-contact"`
	NS           []string     `yaml:"ns" json:"ns,omitempty" berth:"required,min=1" doc:"The name servers of the zone (its apex NS set)." rule:"domain"`
	TTL          int          `yaml:"ttl" json:"ttl,omitempty" berth:"min=30,max=604800" doc:"Default TTL of the zone's records, in seconds (default 3600)."`
	Primary      string       `yaml:"primary" json:"primary,omitempty" berth:"required" doc:"The server (with a dns service) that serves the zone as primary." rule:"name"`
	Secondaries  []string     `yaml:"secondaries" json:"secondaries,omitempty" doc:"Servers (with a dns service) that transfer the zone from the primary." rule:"name"`
	Records      []ZoneRecord `yaml:"records" json:"records,omitempty" doc:"Static records of the zone."`
	Environments []string     `yaml:"environments" json:"environments,omitempty" doc:"Environments this zone exists in (default: all)." rule:"environment"`
}

// ZoneRecord is a static record of a zone.
type ZoneRecord struct {
	Name     string `yaml:"name" json:"name,omitempty" berth:"required" doc:"The owner name relative to the zone: @ for the apex, www, _sip._tcp, *.dev." rule:"record-name"`
	Type     string `yaml:"type" json:"type,omitempty" berth:"required,enum=A|AAAA|CNAME|MX|TXT|CAA|SRV|NS"`
	TTL      int    `yaml:"ttl" json:"ttl,omitempty" berth:"min=30,max=604800" doc:"TTL in seconds (default: the zone's)."`
	Value    string `yaml:"value" json:"value,omitempty" berth:"required" doc:"A: an IPv4 address; AAAA: an IPv6 address; CNAME, MX, NS, SRV: a domain name; TXT: the text; CAA: the tag's value." rule:"record-value"`
	Priority *int   `yaml:"priority" json:"priority,omitempty" berth:"min=0,max=65535" doc:"MX and SRV: the priority."`
	Weight   *int   `yaml:"weight" json:"weight,omitempty" berth:"min=0,max=65535" doc:"SRV: the weight."`
	Port     *int   `yaml:"port" json:"port,omitempty" berth:"min=0,max=65535" doc:"SRV: the port."`
	Tag      string `yaml:"tag" json:"tag,omitempty" berth:"enum=issue|issuewild|iodef" doc:"CAA: the property tag."`
}

// SiteOverride is an environment's override of one site (environments.X.sites.SITE):
// the layered settings, and what only an environment can say of one of
// its sites. data_from lives here, not in SiteSettings: copying data in
// is a property of a site in one environment (never of a site in every
// environment, nor of all sites through defaults), so a Site file or
// defaults do not have the field at all and the decoder refuses it there
// as any unknown field, at its file:line:column.
type SiteOverride struct {
	SiteSettings `yaml:",inline"`
	DataFrom     *SiteDataFrom `yaml:"data_from" json:"data_from,omitempty" doc:"Copy this site's data (database and files) down from another environment on a schedule, sanitized, as berth sync-data does; berth serve runs it. Wins over the environment's data_from for this site. Not in a production environment: data goes down, never up."`
}

// settings are o's layered settings; nil when o is nil.
func (o *SiteOverride) settings() *SiteSettings {
	if o == nil {
		return nil
	}
	return &o.SiteSettings
}

// SiteSettings are the settings that defaults, environments and sites layer:
// a site's own value wins over its environment's, which wins over berth.yaml's.
type SiteSettings struct {
	State  string           `yaml:"state" json:"state,omitempty" berth:"enum=enabled|disabled" doc:"disabled serves a 'site disabled' page and keeps all data (default enabled)."`
	PHP    string           `yaml:"php" json:"php,omitempty" doc:"PHP version, over the platform's." rule:"php-version"`
	TLS    *TLS             `yaml:"tls" json:"tls,omitempty" doc:"HTTPS for the site."`
	Web    *WebOptions      `yaml:"web" json:"web,omitempty" doc:"Typed web server options."`
	Backup *Backup          `yaml:"backup" json:"backup,omitempty" doc:"Scheduled backups."`
	Cron   map[string]*Cron `yaml:"cron" json:"cron,omitempty" doc:"Scheduled commands of the site, by name, over the platform's of the same name; the daemon runs them." keyrule:"name"`
	// Migration tunes how the site moves between servers (package
	// desired, kind/migrate).
	Migration *Migration `yaml:"migration" json:"migration,omitempty" doc:"How the site moves when the repo places it on other servers or renames it."`
}

// Migration tunes a site's moves.
type Migration struct {
	GraceHours int `yaml:"grace_hours" json:"grace_hours,omitempty" berth:"min=1,max=2160" doc:"Hours the moved site's disabled copy stays on the server it left (berth rollback-migration and a revert of the commit move it back with the data written since, within them) before a later run removes it after its backup (default 24)."`
}

// Cron is a command the daemon runs on a schedule for each site: as the
// web server's user, on the first web server of the site, in its document
// root, with BERTH_SETTINGS, BERTH_SITE and BERTH_SITE_DIR set, like a
// platform's install.
type Cron struct {
	Schedule string   `yaml:"schedule" json:"schedule,omitempty" berth:"required" doc:"How often: hourly, daily, weekly, or every N minutes or hours (every 15m, every 6h)." rule:"cron-schedule"`
	Command  []string `yaml:"command" json:"command,omitempty" berth:"required,min=1" doc:"The command as an argument vector (no shell), e.g. [vendor/bin/drush, cron]." rule:"argv"`
}

// TLS configures HTTPS.
type TLS struct {
	ACME          *bool `yaml:"acme" json:"acme,omitempty" doc:"Obtain and renew a certificate from the configured ACME CA."`
	RedirectHTTPS *bool `yaml:"redirect_https" json:"redirect_https,omitempty" doc:"Redirect plain HTTP to HTTPS once a certificate is present (default true)."`
	// Challenge is how the CA validates the site's names: http-01 through
	// its web servers, or dns-01 through berth's own zones (wildcard names,
	// and names that do not point at the site's servers yet).
	Challenge string `yaml:"challenge" json:"challenge,omitempty" berth:"enum=http-01|dns-01" doc:"How the ACME CA validates the site's names: http-01 through the site's web servers (default), or dns-01 through the zones berth serves, for wildcard names and names that do not point at the site yet."`
}

// The ACME challenge types of tls.challenge.
const (
	ChallengeHTTP01 = "http-01"
	ChallengeDNS01  = "dns-01"
)

// WebOptions are the web server options a site may set. They are typed on
// purpose: a sites repo never carries free-form nginx or apache text.
type WebOptions struct {
	ClientMaxBodySize string            `yaml:"client_max_body_size" json:"client_max_body_size,omitempty" doc:"Largest request body, e.g. 64m (k, m, g suffixes)." rule:"size"`
	BasicAuth         *BasicAuth        `yaml:"basic_auth" json:"basic_auth,omitempty" doc:"Password-protect the whole site."`
	Redirects         []Redirect        `yaml:"redirects" json:"redirects,omitempty" doc:"Path redirects."`
	Headers           map[string]string `yaml:"headers" json:"headers,omitempty" doc:"Response headers added to every answer." keyrule:"header-name" rule:"header-value"`
}

// BasicAuth protects a site with HTTP basic authentication.
type BasicAuth struct {
	Realm string   `yaml:"realm" json:"realm,omitempty" doc:"Realm shown in the browser's prompt." rule:"text"`
	Users []string `yaml:"users" json:"users,omitempty" berth:"required,min=1" doc:"htpasswd lines, name:hash; only hashed passwords (bcrypt, apr1, SHA-512 crypt) are accepted." rule:"htpasswd"`
}

// Redirect sends requests for a path elsewhere.
type Redirect struct {
	From string `yaml:"from" json:"from,omitempty" berth:"required" doc:"Request path, starting with /; a trailing * matches the prefix." rule:"url-path"`
	To   string `yaml:"to" json:"to,omitempty" berth:"required" doc:"Target path or absolute http(s) URL." rule:"redirect-target"`
	Code int    `yaml:"code" json:"code,omitempty" berth:"enum=301|302|307|308" doc:"Status code (default 301)."`
}

// Backup schedules a site's backups.
type Backup struct {
	Schedule string `yaml:"schedule" json:"schedule,omitempty" berth:"enum=hourly|daily|weekly" doc:"How often the daemon takes a backup."`
	Keep     int    `yaml:"keep" json:"keep,omitempty" berth:"min=1" doc:"How many scheduled backups to keep."`
	Verify   string `yaml:"verify" json:"verify,omitempty" berth:"enum=daily|weekly|monthly|never" doc:"How often the daemon restore-tests the newest backup into a scratch database (default weekly)."`
}
