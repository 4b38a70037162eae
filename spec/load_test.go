package spec

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

// base is a small valid repo; each malformed case replaces or adds files.
var base = map[string]string{
	"berth.yaml": `environments:
  production: { branch: main }
  staging: { branch: staging, domain_suffix: .staging.example.net }
`,
	"servers/web1.yaml": `kind: Server
name: web1
address: local
services:
  http: { type: nginx }
  db: { type: sqlite }
  php: { type: php-fpm }
`,
	"servers/ns1.yaml": `kind: Server
name: ns1
address: 192.0.2.53
ssh: { user: deploy, port: 22 }
services:
  dns: { type: bind }
`,
	"platforms/php.yaml": `kind: Platform
name: php-app
type: php
source: { path: code }
servers: [web1]
`,
	"sites/a.yaml": `kind: Site
name: a.example.com
platform: php-app
`,
	"code/index.php": "<?php echo 'a';\n",
}

// acmeConfig declares a CA in both environments; production's defaults
// ask for certificates over DNS-01.
const acmeConfig = `environments:
  production:
    branch: main
    acme: { directory: letsencrypt, email: hostmaster@example.com }
    defaults:
      tls: { acme: true, challenge: dns-01 }
  staging:
    branch: staging
    domain_suffix: .staging.example.net
    acme: { directory: letsencrypt-staging, email: hostmaster@example.com }
`

// acmeZone is zone example.com on ns1, in every environment.
const acmeZone = "kind: Zone\nname: example.com\ncontact: hostmaster@example.com\nns: [ns1.example.net]\nprimary: ns1\n"

func repoFS(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, data := range base {
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	for name, data := range files {
		if data == "" {
			delete(fsys, name)
			continue
		}
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return fsys
}

func TestLoadValidBase(t *testing.T) {
	r, err := Load(repoFS(nil))
	if err != nil {
		t.Fatalf("base repo: %v", err)
	}
	if len(r.Servers) != 2 || len(r.Platforms) != 1 || len(r.Sites) != 1 {
		t.Fatalf("got %d servers, %d platforms, %d sites", len(r.Servers), len(r.Platforms), len(r.Sites))
	}
}

func TestLoadMalformed(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string // "" deletes a base file
		want  []string
	}{
		{
			name:  "acme site in an environment without a CA",
			files: map[string]string{"sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: php-app\ntls: { acme: true }\n"},
			want: []string{
				`sites/a.yaml:4:14: site "a.example.com": tls.acme is true for site "a.example.com" in environment "production", which declares no ACME CA: add acme: { directory: letsencrypt, email: you@example.com } to environment "production" in berth.yaml, or set tls: { acme: false } for it`,
				`sites/a.yaml:4:14: site "a.example.com": tls.acme is true for site "a.example.com" in environment "staging", which declares no ACME CA: add acme: { directory: letsencrypt, email: you@example.com } to environment "staging" in berth.yaml, or set tls: { acme: false } for it`,
			},
		},
		{
			name: "acme from the defaults, at the layer that wins, only where no CA is declared",
			files: map[string]string{"berth.yaml": `environments:
  production:
    branch: main
    acme: { directory: letsencrypt, email: hostmaster@example.com }
  staging:
    branch: staging
    domain_suffix: .staging.example.net
    defaults: { tls: { acme: false } }
    sites:
      a.example.com: { tls: { acme: true } }
  dev: { branch: dev, domain_suffix: .dev.example.net }
defaults:
  tls: { acme: true }
`},
			want: []string{
				`berth.yaml:10:37: environment "staging": tls.acme is true for site "a.example.com" in environment "staging", which declares no ACME CA: add acme: { directory: letsencrypt, email: you@example.com } to environment "staging" in berth.yaml, or set tls: { acme: false } for it`,
				`berth.yaml:13:16: environment "dev": tls.acme is true for site "a.example.com" in environment "dev", which declares no ACME CA: add acme: { directory: letsencrypt, email: you@example.com } to environment "dev" in berth.yaml, or set tls: { acme: false } for it`,
			},
		},
		{
			name:  "acme directory over http",
			files: map[string]string{"berth.yaml": "environments:\n  production:\n    branch: main\n    acme: { directory: \"http://acme.example.net/dir\", email: a@example.com }\n"},
			want:  []string{`berth.yaml:4:24: environments.production.acme.directory: "http://acme.example.net/dir" is not an ACME directory (an ACME directory is reached over https only); allowed: letsencrypt, letsencrypt-staging, or an https:// URL: a host (name, IP address or [IPv6]) with an optional :port, and a path of letters, digits and - . _ ~ /, without query, user or fragment, at most 2048 characters`},
		},
		{
			name:  "wildcard alias with an ACME certificate over http-01",
			files: map[string]string{"berth.yaml": acmeConfig, "sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: php-app\naliases: [b.example.com, \"*.a.example.com\"]\ntls: { acme: true }\nenvironments: [staging]\n"},
			want:  []string{`sites/a.yaml:4:26: site "a.example.com": *.a.example.com is a wildcard name, which an ACME CA validates only by DNS-01, and the site's certificate uses http-01 (sites/a.yaml:5:14): set tls: { challenge: dns-01 } for the site (its zone must be one berth serves), or remove the wildcard alias`},
		},
		{
			name:  "dns-01 for a name in no zone berth serves",
			files: map[string]string{"berth.yaml": acmeConfig, "zones/a.yaml": acmeZone, "sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: php-app\naliases: [www.example.org]\ntls: { acme: true, challenge: dns-01 }\n"},
			want: []string{
				`sites/a.yaml:5:31: site "a.example.com": tls.challenge is dns-01 for site "a.example.com" in environment "production", but www.example.org is in no zone berth serves there: DNS-01 answers are published in berth's own zones; declare a Zone holding www.example.org, or use http-01`,
				`sites/a.yaml:5:31: site "a.example.com": tls.challenge is dns-01 for site "a.example.com" in environment "staging", but www.example.org.staging.example.net is in no zone berth serves there: DNS-01 answers are published in berth's own zones; declare a Zone holding www.example.org.staging.example.net, or use http-01`,
			},
		},
		{
			name: "dns-01 where the zone holds a record at the challenge name",
			files: map[string]string{"berth.yaml": acmeConfig, "zones/a.yaml": acmeZone + "records:\n  - { name: _acme-challenge.a, type: TXT, value: manual }\n",
				"sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: php-app\nenvironments: [production]\n"},
			want: []string{`berth.yaml:6:37: environment "production": tls.challenge is dns-01 for site "a.example.com" in environment "production", but zone example.com holds _acme-challenge.a.example.com TXT, where berth delegates _acme-challenge.a.example.com to its challenge zone: remove that record`},
		},
		{
			name:  "unknown challenge",
			files: map[string]string{"berth.yaml": acmeConfig, "sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: php-app\ntls: { acme: true, challenge: tls-alpn-01 }\n"},
			want:  []string{`sites/a.yaml:4:31: site "a.example.com": tls.challenge: "tls-alpn-01" is not one of http-01, dns-01`},
		},
		{
			name:  "acme without e-mail",
			files: map[string]string{"berth.yaml": "environments:\n  production:\n    branch: main\n    acme: { directory: letsencrypt }\n"},
			want:  []string{`berth.yaml:4:11: environments.production.acme: missing required field "email"`},
		},
		{
			name:  "yaml syntax error",
			files: map[string]string{"sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: [php-app\n"},
			want:  []string{`sites/a.yaml:4:1: invalid YAML: did not find expected ',' or ']' while parsing a flow sequence (line 3)`},
		},
		{
			name:  "unknown field with suggestion",
			files: map[string]string{"sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: php-app\nalias: [b.example.com]\n"},
			want:  []string{`sites/a.yaml:4:1: site "a.example.com": unknown field "alias" (did you mean "aliases"?)`},
		},
		{
			name:  "unknown nested field without suggestion",
			files: map[string]string{"servers/ns1.yaml": "kind: Server\nname: ns1\naddress: 192.0.2.53\nssh: { user: deploy, colour: blue }\nservices:\n  dns: { type: bind }\n"},
			want:  []string{`servers/ns1.yaml:4:22: server "ns1": ssh: unknown field "colour"`},
		},
		{
			name:  "integer expected",
			files: map[string]string{"servers/ns1.yaml": "kind: Server\nname: ns1\naddress: 192.0.2.53\nssh:\n  port: twenty-two\nservices:\n  dns: { type: bind }\n"},
			want:  []string{`servers/ns1.yaml:5:9: server "ns1": ssh.port: expected an integer, got the string "twenty-two"`},
		},
		{
			name:  "port out of range",
			files: map[string]string{"servers/ns1.yaml": "kind: Server\nname: ns1\naddress: 192.0.2.53\nssh: { port: 70000 }\nservices:\n  dns: { type: bind }\n"},
			want:  []string{`servers/ns1.yaml:4:14: server "ns1": ssh.port: 70000 is more than the maximum 65535`},
		},
		{
			name:  "list expected",
			files: map[string]string{"sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: php-app\naliases: b.example.com\n"},
			want:  []string{`sites/a.yaml:4:10: site "a.example.com": aliases: expected a list, got the string "b.example.com"`},
		},
		{
			name:  "bool expected",
			files: map[string]string{"sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: php-app\naliases: [b.example.com]\nredirect_aliases: yes\n"},
			want:  []string{`sites/a.yaml:5:19: site "a.example.com": redirect_aliases: expected true or false, got the string "yes"`},
		},
		{
			name:  "mapping expected",
			files: map[string]string{"sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: php-app\ndb: web1\n"},
			want:  []string{`sites/a.yaml:4:5: site "a.example.com": db: expected a mapping of fields, got the string "web1"`},
		},
		{
			name:  "missing required field",
			files: map[string]string{"sites/a.yaml": "kind: Site\nname: a.example.com\n"},
			want:  []string{`sites/a.yaml:1:1: site "a.example.com": missing required field "platform"`},
		},
		{
			name:  "empty required field",
			files: map[string]string{"sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: \"\"\n"},
			want:  []string{`sites/a.yaml:3:1: site "a.example.com": platform: must not be empty`},
		},
		{
			name:  "missing nested required field",
			files: map[string]string{"sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: php-app\ndb: { name: a }\n"},
			want:  []string{`sites/a.yaml:4:5: site "a.example.com": db: missing required field "server"`},
		},
		{
			name:  "unknown kind",
			files: map[string]string{"sites/b.yaml": "kind: Sit\nname: b.example.com\nplatform: php-app\n"},
			want:  []string{`sites/b.yaml:1:7: unknown kind "Sit": want Server, Platform, Site or Zone (did you mean "Site"?)`},
		},
		{
			name:  "missing kind",
			files: map[string]string{"sites/b.yaml": "name: b.example.com\nplatform: php-app\n"},
			want:  []string{`sites/b.yaml:1:1: missing kind: each document needs kind: Server, Platform, Site or Zone`},
		},
		{
			name:  "document is a list",
			files: map[string]string{"sites/b.yaml": "- kind: Site\n  name: b.example.com\n"},
			want:  []string{`sites/b.yaml:1:1: a document must be a mapping with kind and name, got a list`},
		},
		{
			name:  "field set twice",
			files: map[string]string{"sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: php-app\nplatform: php-app\n"},
			want:  []string{`sites/a.yaml:4:1: site "a.example.com": field "platform" is set twice (first at line 3)`},
		},
		{
			name:  "duplicate server name across files",
			files: map[string]string{"servers/web1-copy.yaml": "kind: Server\nname: web1\naddress: local\nservices:\n  http: { type: apache }\n  php: { type: php-fpm }\n"},
			want:  []string{`servers/web1.yaml:2:7: server "web1": server "web1" is already defined at servers/web1-copy.yaml:2:7`},
		},
		{
			name:  "dangling platform with suggestion",
			files: map[string]string{"sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: php-ap\n"},
			want:  []string{`sites/a.yaml:3:11: site "a.example.com": platform "php-ap" does not exist (did you mean "php-app"?)`},
		},
		{
			name:  "dangling platform without suggestion",
			files: map[string]string{"sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: wordpress\n"},
			want:  []string{`sites/a.yaml:3:11: site "a.example.com": platform "wordpress" does not exist`},
		},
		{
			name:  "platform on unknown server",
			files: map[string]string{"platforms/php.yaml": "kind: Platform\nname: php-app\ntype: php\nsource: { path: code }\nservers: [web1, web2]\n"},
			want:  []string{`platforms/php.yaml:5:17: platform "php-app": server "web2" does not exist (did you mean "web1"?)`},
		},
		{
			name:  "platform with no web server",
			files: map[string]string{"platforms/php.yaml": "kind: Platform\nname: php-app\ntype: php\nsource: { path: code }\nservers: [ns1]\n"},
			want: []string{
				`platforms/php.yaml:5:11: platform "php-app": server "ns1" has no http service: a platform is deployed to web servers (servers/ns1.yaml:6:3)`,
			},
		},
		{
			name:  "platform with empty server list",
			files: map[string]string{"platforms/php.yaml": "kind: Platform\nname: php-app\ntype: php\nsource: { path: code }\nservers: []\n"},
			want:  []string{`platforms/php.yaml:5:10: platform "php-app": servers: needs at least 1 entry`},
		},
		{
			name:  "site db on server without db service",
			files: map[string]string{"sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: php-app\ndb: { server: ns1 }\n"},
			want:  []string{`sites/a.yaml:4:15: site "a.example.com": server "ns1" has no db service (servers/ns1.yaml:6:3)`},
		},
		{
			name:  "site dns on server without dns service",
			files: map[string]string{"sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: php-app\ndns: { server: web1 }\n"},
			want:  []string{`sites/a.yaml:4:16: site "a.example.com": server "web1" has no dns service (servers/web1.yaml:5:3)`},
		},
		{
			name:  "invalid domain name",
			files: map[string]string{"sites/a.yaml": "kind: Site\nname: a_b.example.com\nplatform: php-app\n"},
			want:  []string{`sites/a.yaml:2:7: site "a_b.example.com": name: "a_b.example.com" is not a domain name (disallowed rune U+005F); allowed: letters, digits and hyphens in dot-separated labels of at most 63 characters (no hyphen first or last), 253 characters in all, at least two labels, the last one not all digits; international names are converted to punycode`},
		},
		{
			name:  "domain with trailing dot",
			files: map[string]string{"sites/a.yaml": "kind: Site\nname: a.example.com.\nplatform: php-app\n"},
			want:  []string{`sites/a.yaml:2:7: site "a.example.com.": name: "a.example.com." is not a domain name (it ends with a dot: write the name without it); allowed: letters, digits and hyphens in dot-separated labels of at most 63 characters (no hyphen first or last), 253 characters in all, at least two labels, the last one not all digits; international names are converted to punycode`},
		},
		{
			name:  "wildcard site name",
			files: map[string]string{"sites/a.yaml": "kind: Site\nname: \"*.example.com\"\nplatform: php-app\n"},
			want:  []string{`sites/a.yaml:2:7: site "*.example.com": name: "*.example.com" is not a domain name (a wildcard is allowed in aliases only); allowed: letters, digits and hyphens in dot-separated labels of at most 63 characters (no hyphen first or last), 253 characters in all, at least two labels, the last one not all digits; international names are converted to punycode`},
		},
		{
			name:  "IDN and its punycode claim one domain",
			files: map[string]string{"sites/b.yaml": "kind: Site\nname: bücher.example.com\nplatform: php-app\n---\nkind: Site\nname: xn--bcher-kva.example.com\nplatform: php-app\n"},
			want:  []string{`sites/b.yaml:6:7: site "xn--bcher-kva.example.com": domain "xn--bcher-kva.example.com" is already claimed by site "bücher.example.com" (sites/b.yaml:1:1)`},
		},
		{
			name:  "alias claimed by another site",
			files: map[string]string{"sites/b.yaml": "kind: Site\nname: b.example.com\nplatform: php-app\naliases: [www.b.example.com, A.example.com]\n"},
			want:  []string{`sites/b.yaml:4:30: site "b.example.com": domain "a.example.com" is already claimed by site "a.example.com" (sites/a.yaml:1:1)`},
		},
		{
			name:  "alias repeats the name",
			files: map[string]string{"sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: php-app\naliases: [a.example.com]\n"},
			want:  []string{`sites/a.yaml:4:11: site "a.example.com": domain "a.example.com" is listed twice in this site`},
		},
		{
			name:  "enum typo",
			files: map[string]string{"servers/web1.yaml": "kind: Server\nname: web1\naddress: local\nservices:\n  http: { type: ngnix }\n  php: { type: php-fpm }\n"},
			want:  []string{`servers/web1.yaml:5:17: server "web1": services.http.type: "ngnix" is not one of nginx, apache (did you mean "nginx"?)`},
		},
		{
			name:  "redirect code not allowed",
			files: map[string]string{"sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: php-app\nweb:\n  redirects:\n    - { from: /a, to: /b, code: 303 }\n"},
			want:  []string{`sites/a.yaml:6:33: site "a.example.com": web.redirects[0].code: "303" is not one of 301, 302, 307, 308 (did you mean "301"?)`},
		},
		{
			name:  "redirect from not a path",
			files: map[string]string{"sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: php-app\nweb:\n  redirects:\n    - { from: old, to: \"https://x.example.com/\" }\n"},
			want:  []string{`sites/a.yaml:6:15: site "a.example.com": web.redirects[0].from: "old" is not a URL path; allowed: a path starting with /, of letters, digits and - . _ ~ ! & ' ( ) + , ; = : @ /, written without %-escapes; a trailing * matches the prefix`},
		},
		{
			name:  "body size not a size",
			files: map[string]string{"sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: php-app\nweb: { client_max_body_size: 64 MB }\n"},
			want:  []string{`sites/a.yaml:4:30: site "a.example.com": web.client_max_body_size: "64 MB" is not a size; allowed: a number of at most 6 digits with an optional k, m or g, e.g. 64m`},
		},
		{
			name:  "basic auth with a plain password",
			files: map[string]string{"sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: php-app\nweb:\n  basic_auth: { users: [\"bob:hunter2\"] }\n"},
			want:  []string{`sites/a.yaml:5:25: site "a.example.com": web.basic_auth.users[0]: "bob:hunter2" is not an htpasswd line (the password of "bob" is not hashed; never put a plain password in the repo); allowed: name:hash, the name of letters, digits and . _ @ -, the hash made with bcrypt, apr1 or SHA-crypt (htpasswd -nB NAME)`},
		},
		{
			name:  "header value that would break the config",
			files: map[string]string{"sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: php-app\nweb:\n  headers:\n    X-Test: 'a\" ; evil'\n"},
			want:  []string{`sites/a.yaml:6:13: site "a.example.com": web.headers.X-Test: "a\" ; evil" is not a header value ('"' is not allowed); allowed: ASCII letters, digits, spaces and ! # % & ' ( ) * + , - . / : ; < = > ? @ [ ] ^ _ | ~ and the backquote, not empty, not starting with expr=, at most 1024 characters`},
		},
		{
			name:  "php version not a version",
			files: map[string]string{"sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: php-app\nphp: latest\n"},
			want:  []string{`sites/a.yaml:4:6: site "a.example.com": php: "latest" is not a PHP version; allowed: major.minor like 8.2, quoted or not`},
		},
		{
			name:  "static platform with php",
			files: map[string]string{"platforms/static.yaml": "kind: Platform\nname: static\ntype: static\nsource: { path: code }\nphp: \"8.2\"\nservers: [web1]\n"},
			want:  []string{`platforms/static.yaml:5:6: platform "static": a static platform runs no PHP; remove php or change type`},
		},
		{
			name:  "source with git and path",
			files: map[string]string{"platforms/php.yaml": "kind: Platform\nname: php-app\ntype: php\nsource: { git: \"https://git.example.com/a.git\", path: code }\nservers: [web1]\n"},
			want:  []string{`platforms/php.yaml:4:55: platform "php-app": source has both git and path; choose one`},
		},
		{
			name:  "source with dir and git",
			files: map[string]string{"platforms/php.yaml": "kind: Platform\nname: php-app\ntype: php\nsource: { git: \"https://git.example.com/a.git\", dir: /srv/a }\nservers: [web1]\n"},
			want:  []string{`platforms/php.yaml:4:54: platform "php-app": source has dir and also git or path; choose one`},
		},
		{
			name:  "source dir with a build",
			files: map[string]string{"platforms/php.yaml": "kind: Platform\nname: php-app\ntype: php\nsource: { dir: /srv/a }\nbuild: [make]\nservers: [web1]\n"},
			want:  []string{`platforms/php.yaml:5:8: platform "php-app": a platform served from source.dir is not built by berth; remove build`},
		},
		{
			name:  "source dir not absolute",
			files: map[string]string{"platforms/php.yaml": "kind: Platform\nname: php-app\ntype: php\nsource: { dir: srv/a }\nservers: [web1]\n"},
			want:  []string{`platforms/php.yaml:4:16: platform "php-app": source.dir: "srv/a" is not an absolute path; allowed: a path starting with /: names of letters, digits and . _ -, separated by single /; no . or .. names`},
		},
		{
			name:  "unknown environment on a server",
			files: map[string]string{"servers/ns1.yaml": "kind: Server\nname: ns1\naddress: 192.0.2.53\nservices:\n  dns: { type: bind }\nenvironments: [prod]\n"},
			want:  []string{`servers/ns1.yaml:6:16: server "ns1": environment "prod" is not declared in berth.yaml (did you mean "production"?)`},
		},
		{
			name:  "invalid server address",
			files: map[string]string{"servers/ns1.yaml": "kind: Server\nname: ns1\naddress: \"ns 1\"\nservices:\n  dns: { type: bind }\n"},
			want:  []string{`servers/ns1.yaml:3:10: server "ns1": address: "ns 1" is not a server address; allowed: "local" (the machine berth runs on), an IP address (IPv6 with an optional zone of letters, digits and . _ -, e.g. fe80::1%eth0) or a host name (letters, digits and hyphens in dot-separated labels, the last one not all digits)`},
		},
		{
			name:  "berth.yaml missing",
			files: map[string]string{"berth.yaml": ""},
			want:  []string{`berth.yaml:1:1: not found: a sites repo has berth.yaml at its root, declaring its environments (see examples/sites-repo)`},
		},
		{
			name:  "berth.yaml without environments",
			files: map[string]string{"berth.yaml": "policy: { max_deletions: 3 }\n"},
			want:  []string{`berth.yaml:1:1: missing required field "environments"`},
		},
		{
			name:  "negative max_deletions",
			files: map[string]string{"berth.yaml": "environments:\n  production: { branch: main }\npolicy: { max_deletions: -1 }\n"},
			want:  []string{`berth.yaml:3:26: policy.max_deletions: -1 is less than the minimum 0`},
		},
		{
			name:  "domain suffix without dot",
			files: map[string]string{"berth.yaml": "environments:\n  production: { branch: main }\n  staging: { branch: staging, domain_suffix: staging.example.net }\n"},
			want:  []string{`berth.yaml:3:46: environments.staging.domain_suffix: "staging.example.net" is not a domain suffix (it must start with a dot); allowed: a dot followed by a domain name, e.g. .staging.example.net`},
		},
		{
			name:  "two environments on one branch",
			files: map[string]string{"berth.yaml": "environments:\n  production: { branch: main }\n  staging: { branch: main, domain_suffix: .staging.example.com }\n"},
			want:  []string{`berth.yaml:3:22: environment "staging": branch "main" already drives environment "production"; each environment follows its own branch`},
		},
		{
			name: "two environments share a named database",
			files: map[string]string{
				"berth.yaml":   "environments:\n  production: { branch: main }\n  staging: { branch: staging, domain_suffix: .staging.example.com }\n",
				"sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: php-app\ndb: { server: web1, name: shop }\n",
			},
			want: []string{`sites/a.yaml:4:27: site "a.example.com": environments "production" and "staging" would both use database "shop" on server web1: drop db.name so each environment's domain names its own database, or limit the site to one environment with environments:`},
		},
		{
			name:  "two environments serve one site on one server under one name",
			files: map[string]string{"berth.yaml": "environments:\n  production: { branch: main }\n  staging: { branch: staging }\n"},
			want:  []string{`sites/a.yaml:2:7: site "a.example.com": environments "production" and "staging" both serve this site on server web1 under the same name (same domain_suffix ""): give one of them its own domain_suffix in berth.yaml, or limit the site or the server to one of them with environments:`},
		},
		{
			name:  "override for an unknown site",
			files: map[string]string{"berth.yaml": "environments:\n  production:\n    branch: main\n    sites:\n      b.example.com: { state: disabled }\n"},
			want:  []string{`berth.yaml:5:7: environment "production": override for site "b.example.com", which does not exist (did you mean "a.example.com"?)`},
		},
		{
			name:  "site in an environment its platform is not in",
			files: map[string]string{"platforms/php.yaml": "kind: Platform\nname: php-app\ntype: php\nsource: { path: code }\nservers: [web1]\nenvironments: [staging]\n"},
			want:  []string{`sites/a.yaml:3:11: site "a.example.com": the site is in environment "production" but platform "php-app" is not; limit the site's environments or add the platform there`},
		},
		{
			name:  "redirect_aliases without aliases",
			files: map[string]string{"sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: php-app\nredirect_aliases: true\n"},
			want:  []string{`sites/a.yaml:4:19: site "a.example.com": redirect_aliases is set but the site has no aliases`},
		},
		{
			name:  "a redirect keeping the rest of a path that is not a wildcard",
			files: map[string]string{"sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: php-app\nweb:\n  redirects:\n    - { from: /blog, to: 'https://b.example.com/$1' }\n"},
			want:  []string{`sites/a.yaml:6:26: site "a.example.com": https://b.example.com/$1 ends with $1, the rest of the path a wildcard from matches, but from /blog has no trailing *; end from with * or drop $1`},
		},
		{
			name:  "a file that does not parse hides no reference problem",
			files: map[string]string{"platforms/php.yaml": "kind: Platform\nname: php-app\n  type: php\n"},
			want:  []string{`platforms/php.yaml:3:7: invalid YAML: mapping values are not allowed in this context`},
		},
		{
			name:  "a non-static platform needs php on its servers",
			files: map[string]string{"servers/web1.yaml": "kind: Server\nname: web1\naddress: local\nservices:\n  http: { type: nginx }\n"},
			want:  []string{`platforms/php.yaml:5:11: platform "php-app": server "web1" has no php service, which a php platform needs (servers/web1.yaml:5:3)`},
		},
		{
			name:  "relative paths only on a local server",
			files: map[string]string{"servers/ns1.yaml": "kind: Server\nname: ns1\naddress: 192.0.2.53\nservices:\n  dns: { type: bind }\n  http: { type: apache, conf_dir: sites, listen: \"web:http\" }\n"},
			want: []string{
				`servers/ns1.yaml:6:35: server "ns1": "sites" must be absolute (relative paths are allowed on a local server only, under berth's state directory)`,
				`servers/ns1.yaml:6:50: server "ns1": services.http.listen: "web:http" is not a listen address (the address is not an IPv4 address or a bracketed IPv6 address); allowed: a port from 1 to 65535 (80) or IP:port (127.0.0.1:8080, [::1]:8080), without zone`,
			},
		},
		{
			name:  "https on the plain http port, certificates in the web root",
			files: map[string]string{"servers/web1.yaml": "kind: Server\nname: web1\naddress: local\nservices:\n  http: { type: nginx, listen: \"127.0.0.1:8080\", tls_listen: \"8080\", cert_dir: /var/www/certs }\n  php: { type: php-fpm }\n"},
			want: []string{
				`servers/web1.yaml:5:62: server "web1": tls_listen "8080" is the plain HTTP listen "127.0.0.1:8080" too: give HTTPS a port of its own (default 443)`,
				`servers/web1.yaml:5:80: server "web1": cert_dir "/var/www/certs" is inside web_root "/var/www", where the sites' users could read the private keys: put it outside (default /etc/ssl/berth)`,
			},
		},
		{
			name:  "a tls_listen that is not a listen address",
			files: map[string]string{"servers/web1.yaml": "kind: Server\nname: web1\naddress: local\nservices:\n  http: { type: nginx, tls_listen: \"x;y\" }\n  php: { type: php-fpm }\n"},
			want:  []string{`servers/web1.yaml:5:36: server "web1": services.http.tls_listen: "x;y" is not a listen address (the port is not a number from 1 to 65535); allowed: a port from 1 to 65535 (80) or IP:port (127.0.0.1:8080, [::1]:8080), without zone`},
		},
		{
			name:  "a header value with a web server variable",
			files: map[string]string{"sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: php-app\nweb: { headers: { X-Host: $host } }\n"},
			want:  []string{`sites/a.yaml:4:27: site "a.example.com": web.headers.X-Host: "$host" is not a header value ('$' is not allowed); allowed: ASCII letters, digits, spaces and ! # % & ' ( ) * + , - . / : ; < = > ? @ [ ] ^ _ | ~ and the backquote, not empty, not starting with expr=, at most 1024 characters`},
		},
		{
			name:  "a path with a semicolon",
			files: map[string]string{"servers/web1.yaml": "kind: Server\nname: web1\naddress: local\nservices:\n  http: { type: nginx, web_root: \"/srv/www;x\" }\n  php: { type: php-fpm }\n"},
			want:  []string{`servers/web1.yaml:5:34: server "web1": services.http.web_root: "/srv/www;x" is not a server path; allowed: an absolute path (or, on a local server, a path relative to berth's state directory): names of letters, digits and . _ -, separated by single /; no . or .. names`},
		},
		{
			name:  "db admin password in two places",
			files: map[string]string{"servers/db.yaml": "kind: Server\nname: db1\naddress: 192.0.2.7\nservices:\n  db: { type: mariadb, password_file: /etc/berth/db1.pw, password_env: DB1_PW }\n"},
			want:  []string{`servers/db.yaml:5:58: server "db1": password_file and password_env are both set; choose one`},
		},
		{
			name:  "db admin password file relative",
			files: map[string]string{"servers/db.yaml": "kind: Server\nname: db1\naddress: 192.0.2.7\nservices:\n  db:\n    type: postgresql\n    password_file: secrets/pw\n"},
			want:  []string{`servers/db.yaml:7:20: server "db1": services.db.password_file: "secrets/pw" is not an absolute path; allowed: a path starting with /: names of letters, digits and . _ -, separated by single /; no . or .. names`},
		},
		{
			name:  "db admin password env not a name",
			files: map[string]string{"servers/db.yaml": "kind: Server\nname: db1\naddress: 192.0.2.7\nservices:\n  db: { type: mariadb, password_env: \"$PW\" }\n"},
			want:  []string{`servers/db.yaml:5:38: server "db1": services.db.password_env: "$PW" is not an environment variable name; allowed: letters, digits and underscores, not starting with a digit`},
		},
		{
			name:  "db socket and host",
			files: map[string]string{"servers/db.yaml": "kind: Server\nname: db1\naddress: 192.0.2.7\nservices:\n  db: { type: mariadb, socket: /run/mysqld/mysqld.sock, host: 127.0.0.1 }\n"},
			want:  []string{`servers/db.yaml:5:57: server "db1": host and a socket are both set; choose one`},
		},
		{
			name:  "postgresql with a mariadb socket",
			files: map[string]string{"servers/db.yaml": "kind: Server\nname: db1\naddress: 192.0.2.7\nservices:\n  db: { type: postgresql, socket: /run/pg.sock }\n"},
			want:  []string{`servers/db.yaml:5:27: server "db1": socket is for mariadb and mysql; postgresql takes socket_dir: the socket's directory`},
		},
		{
			name:  "sqlite with a host",
			files: map[string]string{"servers/web1.yaml": "kind: Server\nname: web1\naddress: local\nservices:\n  http: { type: nginx }\n  db: { type: sqlite, host: 127.0.0.1 }\n  php: { type: php-fpm }\n"},
			want:  []string{`servers/web1.yaml:6:23: server "web1": host does not apply to sqlite, whose databases are files on the web server (only dir does)`},
		},
		{
			name:  "db client with shell text",
			files: map[string]string{"servers/db.yaml": "kind: Server\nname: db1\naddress: 192.0.2.7\nservices:\n  db: { type: mariadb, client: \"mariadb; rm\" }\n"},
			want:  []string{`servers/db.yaml:5:32: server "db1": services.db.client: "mariadb; rm" is not a program name or path; allowed: letters, digits and . _ / + -, not starting with '-' or '.', at most 255 characters`},
		},
		{
			name: "sqlite database on another server than the site",
			files: map[string]string{
				"servers/db.yaml": "kind: Server\nname: db1\naddress: local\nservices:\n  db: { type: sqlite }\n",
				"sites/a.yaml":    "kind: Site\nname: a.example.com\nplatform: php-app\ndb: { server: db1 }\n",
			},
			want: []string{`sites/a.yaml:4:15: site "a.example.com": server "db1" keeps SQLite databases, which are files beside the site: it must be the only web server of platform "php-app" (servers: web1); use mariadb, mysql or postgresql for a site on several servers`},
		},
		{
			name:  "source.path that leaves the repo",
			files: map[string]string{"platforms/php.yaml": "kind: Platform\nname: php-app\ntype: php\nsource:\n  path: ../../etc\nservers: [web1]\n"},
			want:  []string{`platforms/php.yaml:5:9: platform "php-app": source.path: "../../etc" is not a relative path inside the tree (it has a . or .. name); allowed: names of letters, digits and . _ -, separated by single /; no leading /, no . or .. names`},
		},
		{
			name:  "source.path absolute",
			files: map[string]string{"platforms/php.yaml": "kind: Platform\nname: php-app\ntype: php\nsource:\n  path: /etc\nservers: [web1]\n"},
			want:  []string{`platforms/php.yaml:5:9: platform "php-app": source.path: "/etc" is not a relative path inside the tree (it starts with /); allowed: names of letters, digits and . _ -, separated by single /; no leading /, no . or .. names`},
		},
		{
			name:  "source.path missing",
			files: map[string]string{"platforms/php.yaml": "kind: Platform\nname: php-app\ntype: php\nsource:\n  path: code/nope\nservers: [web1]\n"},
			want:  []string{`platforms/php.yaml:5:9: platform "php-app": source.path "code/nope": no such directory in the sites repo; the path is relative to the repo's top`},
		},
		{
			name:  "source.path a file",
			files: map[string]string{"platforms/php.yaml": "kind: Platform\nname: php-app\ntype: php\nsource:\n  path: code/index.php\nservers: [web1]\n"},
			want:  []string{`platforms/php.yaml:5:9: platform "php-app": source.path "code/index.php" is a file, not a directory`},
		},
		{
			name:  "docroot that writes nginx directives",
			files: map[string]string{"platforms/php.yaml": "kind: Platform\nname: php-app\ntype: php\nsource: { path: code }\ndocroot: 'public\"; location /x/ { alias /etc/; } #'\nservers: [web1]\n"},
			want:  []string{`platforms/php.yaml:5:10: platform "php-app": docroot: "public\"; location /x/ { alias /etc/; } #" is not a relative path inside the tree; allowed: names of letters, digits and . _ -, separated by single /; no leading /, no . or .. names`},
		},
		{
			name:  "listen with a sign, and a zone",
			files: map[string]string{"servers/web1.yaml": "kind: Server\nname: web1\naddress: local\nservices:\n  http: { type: nginx, listen: '+80' }\n  php: { type: php-fpm }\n---\nkind: Server\nname: web2\naddress: local\nservices:\n  http: { type: nginx, listen: '[fe80::1%eth0;x]:80' }\n"},
			want: []string{
				`servers/web1.yaml:5:32: server "web1": services.http.listen: "+80" is not a listen address (the port is not a number from 1 to 65535); allowed: a port from 1 to 65535 (80) or IP:port (127.0.0.1:8080, [::1]:8080), without zone`,
				`servers/web1.yaml:12:32: server "web2": services.http.listen: "[fe80::1%eth0;x]:80" is not a listen address (an IPv6 address goes in brackets, without zone); allowed: a port from 1 to 65535 (80) or IP:port (127.0.0.1:8080, [::1]:8080), without zone`,
			},
		},
		{
			name:  "address with text after an IPv6 zone",
			files: map[string]string{"servers/ns1.yaml": "kind: Server\nname: ns1\naddress: 'fe80::1%eth0 -oProxyCommand=x'\nservices:\n  dns: { type: bind }\n"},
			want:  []string{`servers/ns1.yaml:3:10: server "ns1": address: "fe80::1%eth0 -oProxyCommand=x" is not a server address (the zone after % is not an interface name); allowed: "local" (the machine berth runs on), an IP address (IPv6 with an optional zone of letters, digits and . _ -, e.g. fe80::1%eth0) or a host name (letters, digits and hyphens in dot-separated labels, the last one not all digits)`},
		},
		{
			name:  "http user and db host",
			files: map[string]string{"servers/web1.yaml": "kind: Server\nname: web1\naddress: local\nservices:\n  http: { type: nginx, user: 'www-data\\nlisten = 0.0.0.0:9000' }\n  php: { type: php-fpm }\n  db: { type: sqlite }\n", "servers/db.yaml": "kind: Server\nname: db1\naddress: 192.0.2.7\nservices:\n  db: { type: mariadb, host: \"db'; DROP\" }\n"},
			want: []string{
				`servers/db.yaml:5:30: server "db1": services.db.host: "db'; DROP" is not a host; allowed: an IP address (IPv6 with an optional zone of letters, digits and . _ -, e.g. fe80::1%eth0) or a host name (letters, digits and hyphens in dot-separated labels, the last one not all digits)`,
				`servers/web1.yaml:5:30: server "web1": services.http.user: "www-data\\nlisten = 0.0.0.0:9000" is not a user or group name; allowed: letters, digits, '.', '_' and '-', starting with a letter or '_', at most 32 characters`,
			},
		},
		{
			name:  "site name too long with an environment's suffix",
			files: map[string]string{"sites/a.yaml": "kind: Site\nname: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example.com\nplatform: php-app\naliases: [www.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example.com]\n"},
			want: []string{
				`sites/a.yaml:2:7: site "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example.com": on server "web1" in environment "production" its PHP-FPM socket path would be 254 bytes, more than the 107 of a unix socket path; shorten the name or the server's php run_dir ("/run/php")`,
				`sites/a.yaml:2:7: site "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example.com": with environment "staging"'s domain_suffix .staging.example.net this name is 260 characters long, more than the 253 of a domain name; shorten the name or the suffix`,
				`sites/a.yaml:4:11: site "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example.com": with environment "staging"'s domain_suffix .staging.example.net this name is 264 characters long, more than the 253 of a domain name; shorten the name or the suffix`,
			},
		},
		{
			name:  "label over 63 and all-numeric TLD",
			files: map[string]string{"sites/a.yaml": "kind: Site\nname: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example.com\nplatform: php-app\naliases: [a.example.123]\n"},
			want: []string{
				`sites/a.yaml:2:7: site "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example.com": name: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"… (76 bytes) is not a domain name (invalid label "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"); allowed: letters, digits and hyphens in dot-separated labels of at most 63 characters (no hyphen first or last), 253 characters in all, at least two labels, the last one not all digits; international names are converted to punycode`,
				`sites/a.yaml:4:11: site "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example.com": aliases[0]: "a.example.123" is not a domain name (its last label is all digits); allowed: letters, digits and hyphens in dot-separated labels of at most 63 characters (no hyphen first or last), 253 characters in all, at least two labels, the last one not all digits; international names are converted to punycode; a leading *. makes a wildcard`,
			},
		},
		{
			name:  "PHP-FPM socket path too long",
			files: map[string]string{"servers/web1.yaml": "kind: Server\nname: web1\naddress: 192.0.2.1\nservices:\n  http: { type: nginx }\n  php: { type: php-fpm, run_dir: /run/rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr }\n  db: { type: sqlite }\n"},
			want:  []string{`sites/a.yaml:2:7: site "a.example.com": on server "web1" in environment "staging" its PHP-FPM socket path would be 124 bytes, more than the 107 of a unix socket path; shorten the name or the server's php run_dir ("/run/rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr"… (85 bytes))`},
		},
		{
			name: "three separate errors, all reported in file order",
			files: map[string]string{
				"sites/a.yaml":      "kind: Site\nname: a.example.com\nplatform: drupl-10\n",
				"servers/web1.yaml": "kind: Server\nname: web1\naddress: local\nservices:\n  http: { type: nginx, port: 80 }\n  php: { type: php-fpm }\n",
				"berth.yaml":        "environments:\n  production: { branch: main, suffix: .x }\n",
			},
			want: []string{
				`berth.yaml:2:31: environments.production: unknown field "suffix"`,
				`servers/web1.yaml:5:24: server "web1": services.http: unknown field "port"`,
				`sites/a.yaml:3:11: site "a.example.com": platform "drupl-10" does not exist`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(repoFS(tt.files))
			var problems Problems
			if !errors.As(err, &problems) {
				t.Fatalf("Load: got %v, want problems", err)
			}
			var got []string
			for _, p := range problems {
				got = append(got, p.String())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems:\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(tt.want, "\n      "))
			}
		})
	}
}

// A database named in a site, or a site on one server in two environments,
// is fine when only one environment has the site or the names differ.
func TestEnvironmentsKeptApartLoad(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
	}{
		{"named database in one environment", map[string]string{
			"berth.yaml":   "environments:\n  production: { branch: main }\n  staging: { branch: staging, domain_suffix: .staging.example.com }\n",
			"sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: php-app\nenvironments: [production]\ndb: { server: web1, name: shop }\n",
		}},
		{"derived database names, different suffixes", map[string]string{
			"berth.yaml":   "environments:\n  production: { branch: main }\n  staging: { branch: staging, domain_suffix: .staging.example.com }\n",
			"sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: php-app\ndb: { server: web1 }\n",
		}},
		{"one site in two environments on different servers", map[string]string{
			"berth.yaml": "environments:\n  production: { branch: main }\n  staging: { branch: staging }\n",
			"servers/web1.yaml": "kind: Server\nname: web1\naddress: local\nenvironments: [production]\nservices:\n  http: { type: nginx }\n  php: { type: php-fpm }\n" +
				"---\nkind: Server\nname: web2\naddress: 192.0.2.20\nenvironments: [staging]\nservices:\n  http: { type: nginx }\n  php: { type: php-fpm }\n",
			"platforms/php.yaml": "kind: Platform\nname: php-app\ntype: php\nsource: { path: code }\nservers: [web1, web2]\n",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Load(repoFS(tt.files)); err != nil {
				t.Errorf("Load: %v", err)
			}
		})
	}
}
