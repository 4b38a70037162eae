package render

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/berthhq/berth/spec"
)

// fuzzValues are the repo values FuzzRenderStructure varies: every one of
// them reaches a vhost, a pool, an htpasswd or a settings file.
type fuzzValues struct {
	name, alias, docroot, listen, user, group, webRoot, confDir, runDir string
	size, realm, htuser, from, to, headerName, headerValue, dbAddress   string
}

// fuzzRepo is a repo with one PHP site served by an nginx and an apache
// server, every option of the site set, and a database on another server.
const fuzzRepo = `-- berth.yaml --
environments:
  production: { branch: main }
-- servers/web.yaml --
kind: Server
name: web1
address: 192.0.2.10
services:
  http:
    type: nginx
    listen: @listen@
    conf_dir: @confDir@
    web_root: @webRoot@
    user: @user@
    group: @group@
  php:
    type: php-fpm
    run_dir: @runDir@
---
kind: Server
name: web2
address: 192.0.2.11
services:
  http:
    type: apache
    listen: @listen@
    conf_dir: @confDir@
    web_root: @webRoot@
    user: @user@
    group: @group@
  php:
    type: php-fpm
    run_dir: @runDir@
---
kind: Server
name: db1
address: @dbAddress@
services:
  db: { type: mariadb }
-- platforms/app.yaml --
kind: Platform
name: app
type: php
source: { path: code }
docroot: @docroot@
servers: [web1, web2]
-- sites/a.yaml --
kind: Site
name: @name@
platform: app
aliases:
  - @alias@
db: { server: db1 }
web:
  client_max_body_size: @size@
  basic_auth:
    realm: @realm@
    users:
      - @htuser@
  redirects:
    - from: @from@
      to: @to@
  headers:
    @headerName@:
      @headerValue@
`

// repoOf writes the fuzz repo with the given values.
func repoOf(v fuzzValues) fstest.MapFS {
	vals := map[string]string{
		"name": v.name, "alias": v.alias, "docroot": v.docroot, "listen": v.listen, "user": v.user, "group": v.group,
		"webRoot": v.webRoot, "confDir": v.confDir, "runDir": v.runDir, "size": v.size, "realm": v.realm,
		"htuser": v.htuser, "from": v.from, "to": v.to, "headerName": v.headerName, "headerValue": v.headerValue,
		"dbAddress": v.dbAddress,
	}
	text := regexp.MustCompile(`@[A-Za-z]+@`).ReplaceAllStringFunc(fuzzRepo, func(p string) string {
		return yamlQuote(vals[strings.Trim(p, "@")])
	})
	fsys := fstest.MapFS{"code/index.php": {Data: []byte("<?php\n")}}
	for _, part := range strings.Split(text, "-- ")[1:] {
		name, body, _ := strings.Cut(part, " --\n")
		fsys[name] = &fstest.MapFile{Data: []byte(body)}
	}
	return fsys
}

// yamlQuote writes s as a YAML double-quoted scalar, everything but
// printable ASCII escaped.
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

// benignTwin returns values of the same shape as v, chosen to be harmless:
// the same options set or unset, the same branches taken by the renderer
// (a zero body size, a prefix redirect, a query string in the target).
func benignTwin(v fuzzValues) fuzzValues {
	or := func(s, b string) string {
		if s == "" {
			return ""
		}
		return b
	}
	b := fuzzValues{
		name: "a.example.com", alias: "www.example.com", docroot: or(v.docroot, "public"), listen: or(v.listen, "8080"),
		user: or(v.user, "web"), group: or(v.group, "web"), webRoot: or(v.webRoot, "/srv/www"), confDir: or(v.confDir, "/etc/web"),
		runDir: or(v.runDir, "/run/fpm"), size: or(v.size, "1m"), realm: or(v.realm, "Team"), htuser: "bob:$2y$05$abcdefghij",
		from: "/old", to: "/new", headerName: "X-A", headerValue: "v", dbAddress: "192.0.2.7",
	}
	if n, err := sizeBytes(v.size); err == nil && n == 0 {
		b.size = "0"
	}
	if strings.HasSuffix(v.from, "*") {
		b.from = "/old/*"
	}
	if strings.Contains(v.to, "?") {
		b.to = "https://example.org/new?a=b"
	}
	return b
}

// renderAll loads, resolves and renders the repo: every file of the site on
// both web servers, and its settings file. An error from Load means the
// input is refused; an error after a clean Load is a validation gap.
func renderAll(v fuzzValues) (map[string][]byte, error, error) {
	repo, err := spec.Load(repoOf(v))
	if err != nil {
		return nil, err, nil
	}
	res, err := spec.Resolve(repo, "production")
	if err != nil {
		return nil, nil, err
	}
	out := map[string][]byte{}
	site := &res.Sites[0]
	for i := range res.Servers {
		srv := &res.Servers[i]
		if srv.HTTP == nil {
			continue
		}
		_, files, err := Site(site, srv)
		if err != nil {
			return nil, nil, err
		}
		for _, f := range files {
			switch {
			case f.Service == ServiceHTTP:
				out[srv.Name+" vhost "+srv.HTTP.Type] = f.Content
			case strings.HasPrefix(f.Service, "php-fpm:"):
				out[srv.Name+" pool"] = f.Content
			case strings.HasSuffix(f.Path, "/htpasswd"):
				out[srv.Name+" htpasswd"] = f.Content
			default:
				return nil, nil, fmt.Errorf("unexpected file %s", f.Path)
			}
		}
		set, err := Settings(site, srv, SiteSecrets{DBPassword: "fuzz-password-1234"})
		if err != nil {
			return nil, nil, err
		}
		out[srv.Name+" env"] = set.Content
	}
	return out, nil, nil
}

// FuzzRenderStructure loads a repo whose values reaching rendered files are
// fuzzed. When the repo loads, it must render without error (validation
// refuses whatever render refuses), and every rendered file must have the
// structure of a benign render of the same shape: the same directives and
// blocks, each with the same number of arguments and the same web server
// variables, the same pool keys, .env keys and htpasswd lines. A value that
// ends a quoted string, opens a block, adds a directive or a variable
// shows up as a difference.
//
// The seed corpus is in testdata/fuzz/FuzzRenderStructure; run with
// go test ./render -run '^$' -fuzz FuzzRenderStructure -fuzztime 60s (make fuzz).
func FuzzRenderStructure(f *testing.F) {
	seeds := []fuzzValues{
		{name: "a.example.com", alias: "www.example.com", htuser: "bob:$2y$05$abc", from: "/a", to: "/b", headerName: "X-A", headerValue: "v", dbAddress: "192.0.2.7"},
		{name: "bücher.example.com", alias: "*.example.org", docroot: "web/public", listen: "[::1]:8080", user: "www-data", group: "www-data",
			webRoot: "/var/www", confDir: "/etc/nginx/sites-enabled", runDir: "/run/php", size: "0", realm: "Équipe #1",
			htuser: "a:$apr1$xyz$abc", from: "/old/*", to: "https://example.org/x?y=1#z", headerName: "Content-Security-Policy",
			headerValue: "default-src 'self'; img-src *", dbAddress: "fe80::1%eth0"},
		{name: "a.example.com", alias: "www.example.com", docroot: `public"; location /x/ { alias /etc/; } #`, htuser: "bob:$2y$05$abc",
			from: "/a", to: "/b", headerName: "X-A", headerValue: "$http_x", dbAddress: "192.0.2.7"},
		{name: "a.example.com", alias: "www.example.com", listen: "+80", realm: "a\";\n}", htuser: "bob:$2y$05$abc\nroot:x",
			from: "/a b", to: "/b;}", headerName: "X-A", headerValue: "v%{ENV:x}", dbAddress: "db'; x"},
	}
	for _, s := range seeds {
		f.Add(s.name, s.alias, s.docroot, s.listen, s.user, s.group, s.webRoot, s.confDir, s.runDir,
			s.size, s.realm, s.htuser, s.from, s.to, s.headerName, s.headerValue, s.dbAddress)
	}
	f.Fuzz(func(t *testing.T, name, alias, docroot, listen, user, group, webRoot, confDir, runDir,
		size, realm, htuser, from, to, headerName, headerValue, dbAddress string) {
		v := fuzzValues{name, alias, docroot, listen, user, group, webRoot, confDir, runDir,
			size, realm, htuser, from, to, headerName, headerValue, dbAddress}
		got, refused, err := renderAll(v)
		if refused != nil {
			var problems spec.Problems
			if !errors.As(refused, &problems) {
				t.Fatalf("Load returned %T, want Problems: %v", refused, refused)
			}
			return
		}
		if err != nil {
			t.Fatalf("the repo validates but does not render (validation must refuse it first): %v", err)
		}
		want, refused, err := renderAll(benignTwin(v))
		if refused != nil || err != nil {
			t.Fatalf("the benign twin does not render: %v %v", refused, err)
		}
		for name, content := range got {
			gs, err := structureOf(name, content)
			if err != nil {
				t.Fatalf("%s does not parse: %v\n%s", name, err, content)
			}
			ws, err := structureOf(name, want[name])
			if err != nil {
				t.Fatalf("benign %s does not parse: %v\n%s", name, err, want[name])
			}
			if d := firstDiff(gs, ws); d != "" {
				t.Fatalf("%s has another structure than a benign render: %s\n--- got:\n%s\n--- benign:\n%s", name, d, content, want[name])
			}
		}
		if len(got) != len(want) {
			t.Fatalf("rendered %d files, the benign twin %d", len(got), len(want))
		}
	})
}

func firstDiff(got, want []string) string {
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			return fmt.Sprintf("statement %d is %q, benign %q", i+1, g, w)
		}
	}
	return ""
}

// structureOf returns the structure of a rendered file, by its kind.
func structureOf(name string, content []byte) ([]string, error) {
	switch kind := name[strings.IndexByte(name, ' ')+1:]; kind {
	case "vhost nginx":
		return nginxStructure(string(content))
	case "vhost apache":
		return apacheStructure(string(content))
	case "pool":
		return iniStructure(string(content))
	case "env":
		return envStructure(string(content))
	case "htpasswd":
		return htpasswdStructure(string(content))
	}
	return nil, fmt.Errorf("no structure for %s", name)
}

var nginxVarRE = regexp.MustCompile(`\$(\{[A-Za-z0-9_]+\}|[A-Za-z0-9_]+)`)

// nginxStructure tokenizes an nginx configuration as nginx does
// (ngx_conf_read_token: quotes with backslash escapes, # comments at a
// token's start, ; { } ending a statement) and returns one line per
// statement: its depth, its name, and for each argument the variables it
// references.
func nginxStructure(s string) ([]string, error) {
	var out, words []string
	depth := 0
	flush := func(end string) error {
		if len(words) == 0 {
			if end == "}" {
				return nil
			}
			return fmt.Errorf("%q without a directive", end)
		}
		line := fmt.Sprintf("%d %s", depth, words[0])
		for _, w := range words[1:] {
			line += " [" + strings.Join(nginxVarRE.FindAllString(w, -1), "") + "]"
		}
		out = append(out, line+" "+end)
		words = nil
		return nil
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == ';':
			if err := flush(";"); err != nil {
				return nil, err
			}
			i++
		case c == '{':
			if err := flush("{"); err != nil {
				return nil, err
			}
			depth++
			i++
		case c == '}':
			if len(words) > 0 {
				return nil, fmt.Errorf("} after %q without ;", words)
			}
			depth--
			if depth < 0 {
				return nil, errors.New("unbalanced }")
			}
			out = append(out, fmt.Sprintf("%d }", depth))
			i++
		case c == '"' || c == '\'':
			var w strings.Builder
			j := i + 1
			for ; j < len(s) && s[j] != c; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				w.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, errors.New("unterminated quoted string")
			}
			words = append(words, w.String())
			i = j + 1
		default:
			var w strings.Builder
			j := i
			for ; j < len(s) && !strings.ContainsRune(" \t\r\n;{", rune(s[j])); j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				w.WriteByte(s[j])
			}
			words = append(words, w.String())
			i = j
		}
	}
	if len(words) > 0 || depth != 0 {
		return nil, fmt.Errorf("unterminated statement or block (depth %d)", depth)
	}
	return out, nil
}

// apacheStructure splits an apache configuration as apache does (one
// directive a line, a trailing backslash continues it, # comments at a
// line's start, arguments quoted with " or ' and backslash escapes) and
// returns one line per directive or section: depth, name, argument count,
// and the %{...} expressions each argument holds.
func apacheStructure(s string) ([]string, error) {
	var out []string
	var stack []string
	s = strings.ReplaceAll(s, "\\\n", " ")
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if name, ok := strings.CutPrefix(line, "</"); ok {
			name = strings.TrimSuffix(name, ">")
			if len(stack) == 0 || !strings.EqualFold(stack[len(stack)-1], name) {
				return nil, fmt.Errorf("%s closes no open section", line)
			}
			stack = stack[:len(stack)-1]
			out = append(out, fmt.Sprintf("%d </%s>", len(stack), name))
			continue
		}
		section := strings.HasPrefix(line, "<")
		if section {
			if !strings.HasSuffix(line, ">") {
				return nil, fmt.Errorf("section %q does not end with >", line)
			}
			line = strings.TrimSuffix(strings.TrimPrefix(line, "<"), ">")
		}
		words, err := apacheWords(line)
		if err != nil {
			return nil, err
		}
		desc := fmt.Sprintf("%d %s", len(stack), words[0])
		if section {
			desc = fmt.Sprintf("%d <%s>", len(stack), words[0])
			stack = append(stack, words[0])
		}
		for _, w := range words[1:] {
			desc += fmt.Sprintf(" [%d]", strings.Count(w, "%{")-strings.Count(w, "%%{"))
		}
		out = append(out, desc)
	}
	if len(stack) > 0 {
		return nil, fmt.Errorf("sections left open: %v", stack)
	}
	return out, nil
}

// apacheWords splits a directive line like ap_getword_conf.
func apacheWords(line string) ([]string, error) {
	var words []string
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '"' || c == '\'':
			var w strings.Builder
			j := i + 1
			for ; j < len(line) && line[j] != c; j++ {
				if line[j] == '\\' && j+1 < len(line) && (line[j+1] == c || line[j+1] == '\\') {
					j++
				}
				w.WriteByte(line[j])
			}
			if j >= len(line) {
				return nil, fmt.Errorf("unterminated quote in %q", line)
			}
			words = append(words, w.String())
			i = j + 1
		default:
			j := i
			for j < len(line) && line[j] != ' ' && line[j] != '\t' {
				j++
			}
			words = append(words, line[i:j])
			i = j
		}
	}
	if len(words) == 0 {
		return nil, errors.New("empty directive")
	}
	return words, nil
}

// iniStructure reads a php-fpm pool: [section] lines and key = value lines,
// each value a list of words and of :-separated parts (open_basedir), and
// nothing INI reads as an operator, a quote, a variable or a comment.
func iniStructure(s string) ([]string, error) {
	var out []string
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, ";"):
			continue
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			if strings.ContainsAny(line[1:len(line)-1], "[]; =\"$") {
				return nil, fmt.Errorf("section %q", line)
			}
			out = append(out, "section")
			continue
		}
		key, value, ok := strings.Cut(line, " = ")
		if !ok || strings.ContainsAny(value, ";\"'$={}|&~!^()") || strings.Contains(value, " = ") {
			return nil, fmt.Errorf("line %q is not key = plain value", line)
		}
		out = append(out, fmt.Sprintf("%s %d %d", key, len(strings.Fields(value)), strings.Count(value, ":")))
	}
	return out, nil
}

var envLineRE = regexp.MustCompile(`^([A-Z_]+)='([^'\\\n]*)'$`)

// envStructure reads a .env file: one KEY='value' line each, no quote or
// backslash inside a value.
func envStructure(s string) ([]string, error) {
	var out []string
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		m := envLineRE.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("line %q is not KEY='value'", line)
		}
		out = append(out, m[1]+" "+strconv.Itoa(strings.Count(m[2], ",")))
	}
	return out, nil
}

// htpasswdStructure reads an htpasswd file: one name:hash line per user.
func htpasswdStructure(s string) ([]string, error) {
	var out []string
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if strings.Count(line, ":") != 1 || strings.ContainsAny(line, " \t\r") {
			return nil, fmt.Errorf("line %q is not name:hash", line)
		}
		out = append(out, "user")
	}
	return out, nil
}

// The structure comparison sees what an injected value would do to each
// kind of file: the fuzz target is only as good as it.
func TestStructureSeesInjections(t *testing.T) {
	files, refused, err := renderAll(benignTwin(fuzzValues{docroot: "x", listen: "x", webRoot: "x", confDir: "x", runDir: "x", realm: "x"}))
	if refused != nil || err != nil {
		t.Fatalf("benign repo: %v %v", refused, err)
	}
	tests := []struct {
		file, old, new string
	}{
		{"web1 vhost nginx", `root "/srv/www/platforms/app/production/current/public";`, `root "/srv/www/platforms/app/production/current/public"; location /x/ { alias /etc/; } #";`},
		{"web1 vhost nginx", `auth_basic "Team";`, `auth_basic "Team" "x";`},
		{"web1 vhost nginx", `add_header "X-A" "v" always;`, `add_header "X-A" "$http_x" always;`},
		{"web1 vhost nginx", `server_name "a.example.com" "www.example.com";`, `server_name "a.example.com" "www.example.com"; }`},
		{"web2 vhost apache", `DocumentRoot "/srv/www/platforms/app/production/current/public"`, "DocumentRoot \"/srv/www/platforms/app/production/current/public\"\nAlias /x /etc"},
		{"web2 vhost apache", `AuthName "Team"`, `AuthName "Team" x`},
		{"web2 vhost apache", `Header always set "X-A" "v"`, `Header always set "X-A" "%{ENV:x}"`},
		{"web2 vhost apache", `ServerName "a.example.com"`, "ServerName \"a.example.com\">\n</VirtualHost>\n<VirtualHost *:80"},
		{"web1 pool", "listen.owner = www-data", "listen.owner = www-data\nlisten = 0.0.0.0:9000"},
		{"web1 pool", "listen.owner = www-data", "listen.owner = www-data ; x"},
		{"web1 env", "SITE_DOMAIN='a.example.com'", "SITE_DOMAIN='a.example.com'\nX='1'"},
		{"web1 env", "SITE_DOMAIN='a.example.com'", "SITE_DOMAIN='a.example.com'x'"},
		{"web1 htpasswd", "bob:", "root:x\nbob:"},
	}
	for _, tt := range tests {
		t.Run(tt.file+" "+tt.new, func(t *testing.T) {
			benign := string(files[tt.file])
			if !strings.Contains(benign, tt.old) {
				t.Fatalf("%s does not hold %q:\n%s", tt.file, tt.old, benign)
			}
			want, err := structureOf(tt.file, []byte(benign))
			if err != nil {
				t.Fatalf("benign %s: %v", tt.file, err)
			}
			got, err := structureOf(tt.file, []byte(strings.Replace(benign, tt.old, tt.new, 1)))
			if err == nil && firstDiff(got, want) == "" {
				t.Fatalf("the injection is not seen:\n%s", strings.Replace(benign, tt.old, tt.new, 1))
			}
		})
	}
}
