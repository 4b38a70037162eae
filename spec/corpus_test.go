package spec

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"unicode/utf8"
)

// corpusRepo is a valid sites repo in which every string field of every
// kind is written once, in block style, as a placeholder @@ID@@ (IDs as in
// stringFields). Each placeholder is alone on its line, so replacing one
// moves nothing else.
var corpusRepo = map[string]string{
	"berth.yaml": `environments:
  @@Config.environments{}@@:
    branch: @@Environment.branch@@
    domain_suffix: @@Environment.domain_suffix@@
    data_to:
      - @@Environment.data_to[]@@
    acme:
      directory: @@ACME.directory@@
      email: @@ACME.email@@
    defaults:
      php: @@SiteSettings.php@@
      state: @@SiteSettings.state@@
    sites:
      @@Environment.sites{}@@:
        state: @@SiteOverride.state@@
        php: @@SiteOverride.php@@
        cron:
          @@SiteOverride.cron{}@@: { schedule: weekly, command: [php, weekly.php] }
    platforms:
      @@Environment.platforms{}@@:
        ref: @@PlatformOverride.ref@@
        php: @@PlatformOverride.php@@
  staging:
    branch: staging
    domain_suffix: .staging.example.net
    data_from:
      env: @@EnvDataFrom.env@@
      schedule: @@EnvDataFrom.schedule@@
      sites:
        - @@EnvDataFrom.sites[]@@
    sites:
      d.example.com:
        data_from:
          env: @@SiteDataFrom.env@@
          schedule: @@SiteDataFrom.schedule@@
policy:
  max_deletions: 3
defaults:
  web:
    client_max_body_size: @@WebOptions.client_max_body_size@@
    basic_auth:
      realm: @@BasicAuth.realm@@
      users:
        - @@BasicAuth.users[]@@
    redirects:
      - from: @@Redirect.from@@
        to: @@Redirect.to@@
    headers:
      @@WebOptions.headers{}@@:
        @@WebOptions.headers[]@@
  backup:
    schedule: @@Backup.schedule@@
    verify: @@Backup.verify@@
  cron:
    @@SiteSettings.cron{}@@:
      schedule: @@Cron.schedule@@
      command:
        - @@Cron.command[]@@
backups:
  server: @@Backups.server@@
  dir: @@Backups.dir@@
clients:
  @@Config.clients{}@@:
    name: @@Client.name@@
    hostname: @@Client.hostname@@
    logo: @@Client.logo@@
    colors:
      primary: @@ClientColors.primary@@
      background: @@ClientColors.background@@
    support: @@Client.support@@
notifications:
  - name: @@Notification.name@@
    url: @@Notification.url@@
    format: @@Notification.format@@
    events:
      - @@Notification.events[]@@
    environments:
      - @@Notification.environments[]@@
  - name: chat
    url_file: @@Notification.url_file@@
    format: slack
  - name: pager
    url_env: @@Notification.url_env@@
`,
	"servers/web1.yaml": `kind: @@Server.kind@@
name: @@Server.name@@
address: local
public_addresses:
  - @@Server.public_addresses[]@@
services:
  http:
    type: @@HTTPService.type@@
    listen: @@HTTPService.listen@@
    conf_dir: @@HTTPService.conf_dir@@
    pid_file: @@HTTPService.pid_file@@
    web_root: @@HTTPService.web_root@@
    tls_listen: @@HTTPService.tls_listen@@
    cert_dir: @@HTTPService.cert_dir@@
    user: @@HTTPService.user@@
    group: @@HTTPService.group@@
    test:
      - @@HTTPService.test[]@@
    reload:
      - @@HTTPService.reload[]@@
  php:
    type: @@PHPService.type@@
    pool_dir: @@PHPService.pool_dir@@
    run_dir: @@PHPService.run_dir@@
    test:
      - @@PHPService.test[]@@
    reload:
      - @@PHPService.reload[]@@
  db:
    type: sqlite
    dir: @@DBService.dir@@
environments:
  - @@Server.environments[]@@
`,
	"servers/ns1.yaml": `kind: Server
name: ns1
address: @@Server.address@@
ssh:
  user: @@SSH.user@@
services:
  dns:
    type: @@DNSService.type@@
    zone_dir: @@DNSService.zone_dir@@
    include_file: @@DNSService.include_file@@
    rndc:
      - @@DNSService.rndc[]@@
    check_zone: @@DNSService.check_zone@@
    check_conf:
      - @@DNSService.check_conf[]@@
    listen: @@DNSService.listen@@
    group: @@DNSService.group@@
  db:
    type: @@DBService.type@@
    host: @@DBService.host@@
    admin_user: @@DBService.admin_user@@
    password_file: @@DBService.password_file@@
    run_as: @@DBService.run_as@@
    client: @@DBService.client@@
`,
	"servers/db2.yaml": `kind: Server
name: db2
address: 192.0.2.8
services:
  db:
    type: mariadb
    socket: @@DBService.socket@@
`,
	"servers/pg1.yaml": `kind: Server
name: pg1
address: 192.0.2.9
services:
  db:
    type: postgresql
    socket_dir: @@DBService.socket_dir@@
    password_env: @@DBService.password_env@@
`,
	"platforms/app.yaml": `kind: @@Platform.kind@@
name: @@Platform.name@@
type: @@Platform.type@@
source:
  path: @@Source.path@@
build:
  - @@Platform.build[]@@
install:
  - @@Platform.install[]@@
update:
  - @@Platform.update[]@@
cron:
  @@Platform.cron{}@@: { schedule: hourly, command: [php, cron.php] }
docroot: @@Platform.docroot@@
php: @@Platform.php@@
servers:
  - @@Platform.servers[]@@
environments:
  - @@Platform.environments[]@@
files:
  mode: shared
  path: @@PlatformFiles.path@@
`,
	"platforms/git.yaml": `kind: Platform
name: git-app
type: static
source:
  git: @@Source.git@@
  ref: @@Source.ref@@
servers: [web1]
lb: @@Platform.lb@@
files:
  mode: @@PlatformFiles.mode@@
  primary: @@PlatformFiles.primary@@
  transport: @@PlatformFiles.transport@@
environments: [production]
`,
	"platforms/dir.yaml": `kind: Platform
name: dir-app
type: static
source:
  dir: @@Source.dir@@
servers: [web1]
environments: [production]
`,
	"servers/stage1.yaml": `kind: Server
name: stage1
address: 192.0.2.20
services:
  http: { type: nginx }
environments: [staging]
`,
	"platforms/stage.yaml": `kind: Platform
name: stage
type: static
source: { path: code/app }
servers: [stage1]
environments: [staging]
sanitize:
  command:
    - @@Sanitize.command[]@@
`,
	"sites/c.yaml": `kind: Site
name: c.example.com
platform: stage
clone_from: a.example.com
from_env: production
environments: [staging]
`,
	"sites/d.yaml": `kind: Site
name: d.example.com
platform: stage
clone_from: a.example.com
from_env: production
environments: [staging]
`,
	"sites/a.yaml": `kind: @@Site.kind@@
name: @@Site.name@@
platform: @@Site.platform@@
aliases:
  - @@Site.aliases[]@@
db:
  server: @@SiteDB.server@@
  name: @@SiteDB.name@@
dns:
  server: @@SiteDNS.server@@
  zone: @@SiteDNS.zone@@
  cname: @@SiteDNS.cname@@
environments:
  - @@Site.environments[]@@
state: @@Site.state@@
php: @@Site.php@@
cron:
  @@Site.cron{}@@: { schedule: daily, command: [php, nightly.php] }
tls:
  challenge: @@TLS.challenge@@
health:
  path: @@Health.path@@
client: @@Site.client@@
renamed_from: @@Site.renamed_from@@
`,
	"zones/example.com.yaml": `kind: @@Zone.kind@@
name: @@Zone.name@@
contact: @@Zone.contact@@
ns:
  - @@Zone.ns[]@@
primary: @@Zone.primary@@
secondaries:
  - @@Zone.secondaries[]@@
records:
  - name: @@ZoneRecord.name@@
    type: @@ZoneRecord.type@@
    value: @@ZoneRecord.value@@
  - name: "@"
    type: CAA
    tag: @@ZoneRecord.tag@@
    value: letsencrypt.org
environments:
  - @@Zone.environments[]@@
`,
	"servers/lb1.yaml": `kind: Server
name: lb1
address: local
services:
  lb:
    type: @@LBService.type@@
    listen: @@LBService.listen@@
    conf_dir: @@LBService.conf_dir@@
    pid_file: @@LBService.pid_file@@
    source: @@LBService.source@@
    tls_listen: @@LBService.tls_listen@@
    cert_dir: @@LBService.cert_dir@@
    acme_dir: @@LBService.acme_dir@@
    test:
      - @@LBService.test[]@@
    reload:
      - @@LBService.reload[]@@
`,
	"servers/ns2.yaml": `kind: Server
name: ns2
address: 192.0.2.54
services:
  dns: { type: bind }
`,
	"sites/b.yaml": `kind: Site
name: b.example.com
platform: app
clone_from: @@Site.clone_from@@
from_env: @@Site.from_env@@
sanitize:
  sql: @@Sanitize.sql@@
  check_tables: true
environments: [production]
`,
	"code/app/index.php": "<?php\n",
	"brand/logo.png":     "\x89PNG\r\n",
	"sanitize/app.sql":   "UPDATE users SET mail = CONCAT('user', uid, '@example.invalid');\n",
}

// corpusBenign is the valid value of each placeholder.
var corpusBenign = map[string]string{
	"Config.environments{}":           "production",
	"Environment.branch":              "main",
	"Environment.data_to[]":           "staging",
	"Environment.domain_suffix":       ".prod.example.net",
	"SiteSettings.php":                "8.2",
	"SiteSettings.state":              "enabled",
	"Environment.sites{}":             "a.example.com",
	"Environment.platforms{}":         "git-app",
	"PlatformOverride.ref":            "v1.2.3",
	"PlatformOverride.php":            "8.3",
	"WebOptions.client_max_body_size": "64m",
	"BasicAuth.realm":                 "Team",
	"BasicAuth.users[]":               "bob:$2y$05$abcdefghijklmnopqrstuv",
	"Redirect.from":                   "/old",
	"Redirect.to":                     "https://example.org/new",
	"WebOptions.headers{}":            "X-Frame-Options",
	"WebOptions.headers[]":            "DENY",
	"Backup.schedule":                 "daily",
	"Backup.verify":                   "weekly",
	"SiteSettings.cron{}":             "cleanup",
	"Cron.schedule":                   "every 15m",
	"Cron.command[]":                  "true",
	"Platform.cron{}":                 "app-cron",
	"Site.cron{}":                     "nightly",
	"Backups.server":                  "web1",
	"Backups.dir":                     "backups",
	"Server.kind":                     "Server",
	"Server.name":                     "web1",
	"HTTPService.type":                "nginx",
	"HTTPService.listen":              "127.0.0.1:8080",
	"HTTPService.conf_dir":            "nginx/sites",
	"HTTPService.pid_file":            "nginx/nginx.pid",
	"HTTPService.web_root":            "www",
	"HTTPService.tls_listen":          "127.0.0.1:8443",
	"HTTPService.cert_dir":            "certs",
	"HTTPService.user":                "www-data",
	"HTTPService.group":               "www-data",
	"HTTPService.test[]":              "nginx",
	"HTTPService.reload[]":            "nginx",
	"PHPService.type":                 "php-fpm",
	"PHPService.pool_dir":             "php/{version}/pool.d",
	"PHPService.run_dir":              "php/run",
	"PHPService.test[]":               "php-fpm{version}",
	"PHPService.reload[]":             "true",
	"DBService.dir":                   "db",
	"Server.environments[]":           "production",
	"Server.address":                  "192.0.2.53",
	"SSH.user":                        "deploy",
	"DNSService.type":                 "bind",
	"DBService.type":                  "mariadb",
	"DBService.host":                  "db.example.net",
	"DBService.admin_user":            "admin",
	"DBService.password_file":         "/etc/berth/ns1.pw",
	"DBService.run_as":                "mysql",
	"DBService.client":                "mariadb",
	"DBService.socket":                "/run/mysqld/mysqld.sock",
	"DBService.socket_dir":            "/var/run/postgresql",
	"DBService.password_env":          "PG1_PW",
	"Platform.kind":                   "Platform",
	"Platform.name":                   "app",
	"Platform.type":                   "php",
	"Source.path":                     "code/app",
	"Source.dir":                      "/srv/www/app",
	"Platform.build[]":                "composer install",
	"Platform.install[]":              "php",
	"Platform.update[]":               "php",
	"Platform.docroot":                "public",
	"Platform.php":                    "8.2",
	"Platform.servers[]":              "web1",
	"Platform.environments[]":         "production",
	"Source.git":                      "https://git.example.com/a.git",
	"Source.ref":                      "main",
	"Site.kind":                       "Site",
	"Site.name":                       "a.example.com",
	"Site.platform":                   "app",
	"Site.aliases[]":                  "www.a.example.com",
	"SiteDB.server":                   "web1",
	"SiteDB.name":                     "a_db",
	"SiteDNS.server":                  "ns1",
	"SiteDNS.zone":                    "example.com",
	"Site.environments[]":             "production",
	"Site.state":                      "enabled",
	"Site.php":                        "8.3",
	"TLS.challenge":                   "http-01",
	"Server.public_addresses[]":       "192.0.2.10",
	"DNSService.zone_dir":             "/var/lib/bind/berth",
	"DNSService.include_file":         "/etc/bind/named.conf.berth",
	"DNSService.rndc[]":               "rndc",
	"DNSService.check_zone":           "named-checkzone",
	"DNSService.check_conf[]":         "named-checkconf",
	"DNSService.listen":               "192.0.2.53:53",
	"DNSService.group":                "bind",
	"SiteDNS.cname":                   "edge.example.net",
	"Zone.kind":                       "Zone",
	"Zone.name":                       "example.com",
	"Zone.contact":                    "hostmaster@example.com",
	"ACME.directory":                  "https://acme.example.net/dir",
	"ACME.email":                      "host.master@example.com",
	"Zone.ns[]":                       "ns1.example.net",
	"Zone.primary":                    "ns1",
	"Zone.secondaries[]":              "ns2",
	"ZoneRecord.name":                 "txt",
	"ZoneRecord.type":                 "TXT",
	"ZoneRecord.value":                "v=spf1 -all",
	"ZoneRecord.tag":                  "issue",
	"Zone.environments[]":             "production",
	"LBService.type":                  "nginx",
	"LBService.listen":                "127.0.0.1:8081",
	"LBService.conf_dir":              "lb/conf.d",
	"LBService.pid_file":              "lb/nginx.pid",
	"LBService.source":                "127.0.0.1",
	"LBService.tls_listen":            "127.0.0.1:8444",
	"LBService.cert_dir":              "lb/certs",
	"LBService.acme_dir":              "lb/acme",
	"LBService.test[]":                "nginx",
	"LBService.reload[]":              "nginx",
	"Platform.lb":                     "lb1",
	"Health.path":                     "/health",
	"Config.clients{}":                "acme-corp",
	"Client.name":                     "ACME Corp",
	"Client.hostname":                 "panel.acme.example",
	"Client.logo":                     "brand/logo.png",
	"ClientColors.primary":            "#0b5cad",
	"ClientColors.background":         "#ffffff",
	"Client.support":                  "support@acme.example",
	"Site.client":                     "acme-corp",
	"Site.clone_from":                 "a.example.com",
	"Site.renamed_from":               "old-a.example.com",
	"Site.from_env":                   "production",
	"Sanitize.sql":                    "sanitize/app.sql",
	"Sanitize.command[]":              "bin/sanitize",
	"EnvDataFrom.env":                 "production",
	"EnvDataFrom.schedule":            "weekly",
	"EnvDataFrom.sites[]":             "c.example.com",
	"SiteDataFrom.env":                "production",
	"SiteDataFrom.schedule":           "every 6h",
	"SiteOverride.state":              "enabled",
	"SiteOverride.php":                "8.3",
	"SiteOverride.cron{}":             "weekly-report",
	"PlatformFiles.mode":              "sync",
	"PlatformFiles.path":              "/srv/shared",
	"PlatformFiles.primary":           "web1",
	"PlatformFiles.transport":         "rsync",
	"Notification.name":               "ops",
	"Notification.url":                "https://hooks.example.net/berth?team=ops",
	"Notification.format":             "json",
	"Notification.events[]":           "site-down",
	"Notification.environments[]":     "production",
	"Notification.url_file":           "/etc/berth/slack.url",
	"Notification.url_env":            "BERTH_PAGER_URL",
}

// hostile is one way to break a value: added to the benign value, or
// replacing it. raw values go into the file as they are; the others are
// written as YAML double-quoted strings, with escapes.
type hostile struct {
	name string
	make func(benign string) string
	raw  bool
}

func suffix(s string) func(string) string  { return func(b string) string { return b + s } }
func prefix(s string) func(string) string  { return func(b string) string { return s + b } }
func replace(s string) func(string) string { return func(string) string { return s } }

var hostiles = []hostile{
	{name: "single quote", make: suffix("'")},
	{name: "double quote", make: suffix(`"`)},
	{name: "backtick", make: suffix("`")},
	{name: "dollar variable", make: suffix("$http_x")},
	{name: "semicolon", make: suffix(";")},
	{name: "braces", make: suffix("{}")},
	{name: "hash", make: suffix("#")},
	{name: "CR", make: suffix("\r")},
	{name: "LF", make: suffix("\n")},
	{name: "CRLF header", make: suffix("\r\nX-Evil: 1")},
	{name: "NUL", make: suffix("\x00")},
	{name: "tab", make: suffix("\t")},
	{name: "escape", make: suffix("\x1b[31m")},
	{name: "backslash", make: suffix(`\`)},
	{name: "space", make: suffix(" x")},
	{name: "nginx directive", make: suffix(`"; location /x/ { alias /etc/; } #`)},
	{name: "apache directive", make: suffix("\">\nAlias /x /etc\n<Directory \"")},
	{name: "traversal", make: replace("../../etc")},
	{name: "traversal prefix", make: prefix("../")},
	{name: "absolute", make: replace("/etc")},
	{name: "over-long", make: replace(strings.Repeat("a", 5000))},
	{name: "label over 63", make: replace(strings.Repeat("a", 64) + ".example.com")},
	{name: "numeric TLD", make: replace("a.example.123")},
	{name: "greek question mark", make: suffix("\u037e")},
	{name: "fullwidth semicolon", make: suffix("\uff1b")},
	{name: "bidi override", make: suffix("\u202e")},
	{name: "zero-width space", make: suffix("\u200b")},
	{name: "line separator", make: suffix("\u2028")},
	{name: "not UTF-8", make: prefix("\xff"), raw: true},
	{name: "raw NUL", make: prefix("\x00"), raw: true},
	{name: "raw escape", make: prefix("\x1b"), raw: true},
}

// allowedByDesign lists, by rule, the hostile cases whose result that rule
// allows on purpose: a command argument is passed as one argv element and
// never spliced into a shell or a config, a build command is shell text by
// definition, a URL may hold ' ; #, and so on. Everything not listed must
// be refused.
var allowedByDesign = map[string][]string{
	"argv": {"single quote", "double quote", "backtick", "dollar variable", "semicolon", "braces", "hash", "backslash", "space",
		"nginx directive", "traversal", "traversal prefix", "absolute", "label over 63", "numeric TLD", "greek question mark", "fullwidth semicolon"},
	"shell-command": {"single quote", "double quote", "backtick", "dollar variable", "semicolon", "braces", "hash", "backslash", "space",
		"nginx directive", "traversal", "traversal prefix", "absolute", "label over 63", "numeric TLD", "greek question mark", "fullwidth semicolon"},
	"text":            {"single quote", "hash", "space", "traversal", "traversal prefix", "absolute", "label over 63", "numeric TLD"},
	"header-value":    {"single quote", "backtick", "semicolon", "hash", "space", "traversal", "traversal prefix", "absolute", "label over 63", "numeric TLD"},
	"redirect-target": {"single quote", "semicolon", "hash", "absolute"},
	"url-path":        {"single quote", "semicolon", "absolute"},
	"git-url":         {"single quote", "semicolon", "hash"},
	"git-ref":         {"label over 63", "numeric TLD"},
	"rel-path":        {"label over 63", "numeric TLD"},
	"server-path":     {"absolute", "label over 63", "numeric TLD"},
	"server-path-php": {"absolute", "label over 63", "numeric TLD"},
	"server-path-env": {"absolute", "label over 63", "numeric TLD"},
	"abs-path":        {"absolute"},
	"record-value": {"single quote", "backtick", "dollar variable", "semicolon", "braces", "hash", "space",
		"traversal", "traversal prefix", "absolute", "label over 63", "numeric TLD"},
	"record-name": {"numeric TLD"},
	"program":     {"absolute", "label over 63", "numeric TLD"},
	"unix-name":   {"numeric TLD"}, // a.example.123 is a user name
	"db-user":     {"numeric TLD"},
}

// corpusFiles returns the corpus repo with every placeholder replaced by its
// benign value, except id, replaced by value (raw or quoted).
func corpusFiles(id, value string, raw bool) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, text := range corpusRepo {
		text = placeholderRE.ReplaceAllStringFunc(text, func(p string) string {
			pid := strings.Trim(p, "@")
			switch {
			case pid != id:
				return yamlQuote(corpusBenign[pid])
			case raw:
				return value
			}
			return yamlQuote(value)
		})
		fsys[name] = &fstest.MapFile{Data: []byte(text)}
	}
	return fsys
}

var placeholderRE = regexp.MustCompile(`@@[A-Za-z_.]+(\[\]|\{\})?@@`)

// yamlQuote writes s as a YAML double-quoted scalar: printable ASCII as it
// is, everything else escaped.
func yamlQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 0x10000:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// placeholderPos returns where the placeholder of id is in the corpus repo.
func placeholderPos(t *testing.T, id string) Pos {
	t.Helper()
	var found []Pos
	for name, text := range corpusRepo {
		for i, line := range strings.Split(text, "\n") {
			if at := strings.Index(line, "@@"+id+"@@"); at >= 0 {
				found = append(found, Pos{File: name, Line: i + 1, Column: utf8.RuneCountInString(line[:at]) + 1})
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("placeholder %s appears %d times in the corpus repo, want once", id, len(found))
	}
	return found[0]
}

// The corpus repo with its benign values is valid, and covers every string
// field the types have.
func TestCorpusCoversEveryField(t *testing.T) {
	if _, err := Load(corpusFiles("", "", false)); err != nil {
		t.Fatalf("the benign corpus repo does not load:\n%v", err)
	}
	ids := map[string]bool{}
	for _, text := range corpusRepo {
		for _, p := range placeholderRE.FindAllString(text, -1) {
			ids[strings.Trim(p, "@")] = true
		}
	}
	for _, f := range stringFields(repoTypes...) {
		if !ids[f.id] {
			t.Errorf("the corpus repo does not write %s", f.id)
		}
		if _, ok := corpusBenign[f.id]; !ok {
			t.Errorf("no benign value for %s", f.id)
		}
		delete(ids, f.id)
	}
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		t.Errorf("placeholder %s is not a string field of the repo types", id)
	}
}

// Every hostile value in every string field is refused by Load with a
// problem at that value's own file:line:column.
func TestHostileCorpus(t *testing.T) {
	cases := 0
	for _, f := range stringFields(repoTypes...) {
		at := placeholderPos(t, f.id)
		benign := corpusBenign[f.id]
		for _, h := range hostiles {
			if slices.Contains(allowedByDesign[f.rule], h.name) {
				continue
			}
			value := h.make(benign)
			if value == benign {
				continue
			}
			cases++
			_, err := Load(corpusFiles(f.id, value, h.raw))
			problems, _ := err.(Problems)
			if !slices.ContainsFunc(problems, func(p Problem) bool { return p.Pos == at }) {
				t.Errorf("%s (rule %s) = %s (%s): no problem at %s; got:\n%v", f.id, f.rule, shown(value), h.name, at, err)
			}
		}
	}
	if cases < 500 {
		t.Fatalf("only %d cases: the corpus is too small", cases)
	}
	t.Logf("%d hostile values refused at their position", cases)
}
