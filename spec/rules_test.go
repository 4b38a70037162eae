package spec

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// stringField is one place of the sites repo types that holds a string.
type stringField struct {
	// id names it: "HTTPService.listen" for a string field,
	// "Platform.build[]" for the elements of a list or the values of a
	// mapping, "WebOptions.headers{}" for the keys of a mapping. The type
	// is the struct whose YAML fields hold it (an inlined struct's fields
	// belong to the struct that inlines it).
	id string
	// rule is the name of the Rule bound to it, "enum" for a field with an
	// enum tag, "" when nothing is bound.
	rule string
}

// repoTypes are the documents of a sites repo; every type they reach is
// walked.
var repoTypes = []reflect.Type{reflect.TypeFor[Config](), reflect.TypeFor[Server](), reflect.TypeFor[Platform](), reflect.TypeFor[Site](), reflect.TypeFor[Zone]()}

// stringFields walks the YAML fields of the given struct types and of every
// struct type they reach, through pointers, lists and mappings.
func stringFields(roots ...reflect.Type) []stringField {
	var out []stringField
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		if seen[t] {
			return
		}
		seen[t] = true
		for _, f := range fieldsOf(t) {
			id := t.Name() + "." + f.name
			valRule, keyRule := "", ""
			if f.rule != nil {
				valRule = f.rule.Name
			}
			if f.keyRule != nil {
				keyRule = f.keyRule.Name
			}
			if len(f.enum) > 0 && valRule == "" {
				valRule = "enum"
			}
			var elem func(e reflect.Type, id string)
			elem = func(e reflect.Type, id string) {
				for e.Kind() == reflect.Pointer {
					e = e.Elem()
				}
				switch e.Kind() {
				case reflect.String:
					out = append(out, stringField{id: id, rule: valRule})
				case reflect.Struct:
					walk(e)
				case reflect.Slice:
					elem(e.Elem(), strings.TrimSuffix(id, "[]")+"[]")
				case reflect.Map:
					if e.Key().Kind() == reflect.String {
						out = append(out, stringField{id: strings.TrimSuffix(id, "[]") + "{}", rule: keyRule})
					}
					elem(e.Elem(), strings.TrimSuffix(id, "[]")+"[]")
				}
			}
			elem(f.typ, id)
		}
	}
	for _, t := range roots {
		walk(t)
	}
	slices.SortFunc(out, func(a, b stringField) int { return strings.Compare(a.id, b.id) })
	return out
}

// unbound returns the ids of the string fields without a rule.
func unbound(fields []stringField) []string {
	var out []string
	for _, f := range fields {
		if f.rule == "" {
			out = append(out, f.id)
		}
	}
	return out
}

// Every string a sites repo can hold, as a value, a list element, a mapping
// key or a mapping value, is bound to a rule or an enum. A new field without
// a rule fails here.
func TestEveryStringHasARule(t *testing.T) {
	fields := stringFields(repoTypes...)
	if len(fields) < 50 {
		t.Fatalf("the walk found only %d string fields; it does not reach every type", len(fields))
	}
	if missing := unbound(fields); len(missing) > 0 {
		t.Fatalf("string fields without a rule (add rule:\"NAME\" or keyrule:\"NAME\", see rules.go): %s", strings.Join(missing, ", "))
	}
}

// The walk itself finds what has no rule, wherever it is.
func TestStringFieldsFindsUnbound(t *testing.T) {
	type inner struct {
		Note string `yaml:"note"`
	}
	type outer struct {
		Name  string            `yaml:"name" rule:"name"`
		Tags  []string          `yaml:"tags"`
		Map   map[string]string `yaml:"map" rule:"text"`
		Deep  *inner            `yaml:"deep"`
		Inner map[string]inner  `yaml:"inner" keyrule:"name"`
	}
	got := unbound(stringFields(reflect.TypeFor[outer]()))
	want := []string{"inner.note", "outer.map{}", "outer.tags[]"}
	if !slices.Equal(got, want) {
		t.Fatalf("unbound: got %v, want %v", got, want)
	}
}

func TestRules(t *testing.T) {
	tests := []struct {
		rule    *Rule
		allowed []string
		refused []string
	}{
		{RuleName, []string{"web1", "a", "php-app"}, []string{"", "Web1", "-a", "a-", "a_b", "a.b", strings.Repeat("a", 64)}},
		{RuleEnvironment, []string{"production", "dev-2"}, []string{"2dev", "Prod", strings.Repeat("a", 33)}},
		{RuleDomain, []string{"example.com", "bücher.example.com", "xn--bcher-kva.example.com", "A.Example.COM"},
			[]string{"", "example", "a..com", "a.example.com.", "*.example.com", "192.0.2.1", "a.123", "a_b.com", strings.Repeat("a", 64) + ".com",
				strings.Repeat("abcdefghi.", 26) + "com", "a.com\u200b", "a.com\u202e", "a b.com", "a.com;"}},
		{RuleDomainAlias, []string{"*.example.com", "www.example.com"}, []string{"*", "a.*.example.com", "*.123"}},
		{RuleDomainSuffix, []string{".staging.example.net"}, []string{"staging.example.net", ".", "..a.net", ".a.99"}},
		{RuleHostname, []string{"example.com", "xn--bcher-kva.example.com"}, []string{"Example.com", "bücher.example.com", "*.example.com", "a.1"}},
		{RuleHostnameAlias, []string{"*.example.com"}, []string{"*.*.example.com"}},
		{RuleAddress, []string{"local", "192.0.2.1", "2001:db8::1", "fe80::1%eth0", "web1.example.com", "db"},
			[]string{"", "fe80::1%eth0; rm x", "fe80::1%eth 0", "192.0.2.300", "a b", "-a.com", "web1.example.com:22", "[::1]"}},
		{RuleHost, []string{"localhost", "127.0.0.1", "::1"}, []string{"local host", "127.0.0.1'", "fe80::1%"}},
		{RuleListen, []string{"80", "65535", "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:80"},
			[]string{"", "+80", "080", "0", "65536", "web:80", ":80", "[::1%lo]:80", "[fe80::1%eth0 x]:80", "::1:80", "127.0.0.1:80 default_server", "[::ffff:1.2.3.4]:80"}},
		{RuleUnixName, []string{"www-data", "_apt", "deploy"}, []string{"-x", "a b", "a@b", "a:b", strings.Repeat("a", 33)}},
		{RuleDBUser, []string{"root", "postgres", "app_user@x"}, []string{"-u", "a b", "a;b"}},
		{RuleDBName, []string{"app_db", "_x"}, []string{"1db", "a-b", strings.Repeat("a", 64)}},
		{RulePHPVersion, []string{"8.2", "7.4", "8.10"}, []string{"8", "latest", "8.2.1", "10.1"}},
		{RuleSize, []string{"0", "64m", "2G", "999999k"}, []string{"64 m", "1t", "1000000", "-1"}},
		{RuleHeaderName, []string{"X-Frame-Options"}, []string{"X Frame", "X_Frame", "X:"}},
		{RuleHeaderValue, []string{"DENY", "max-age=63072000; includeSubDomains", "a 'b' #c"},
			[]string{"", "expr=%{X}", "a\"b", "$host", "a{b}", "a\\b", "a\nb", "é"}},
		{RuleText, []string{"Team", "Équipe (staging) #2", "it's here"}, []string{"a\"b", "a;b", "a$b", "a{b", "a\\b", "a\tb", strings.Repeat("a", 101)}},
		{RuleHtpasswd, []string{"bob:$2y$05$abcdefghijABCDEFGHIJ./", "a:$apr1$xyz$abc", "c:$6$rounds=5000$salt$hash"},
			[]string{"bob:hunter2", "bob", "b b:$2y$05$x", "bob:$2y$05$x y", "bob:$2y$05$x\"", "bob:$2y$05$x\n"}},
		{RuleURLPath, []string{"/", "/old", "/old/*", "/a;b=c"}, []string{"old", "/a b", "/a%20b", "/a\"", "/a$b", "/a{b}", "/*/x"}},
		{RuleRedirectTarget, []string{"/new", "https://example.org/a?b=c#d", "https://x/$1", "/new/$1"}, []string{"", "ftp://x/", "https://", "/new*", "https://x/a$1", "https://x/$2", "https://x/$1/$1", "https://x/?q=$1", "$1", "https://x/$", "https://x/ a", "//evil.example"}},
		{RuleGitURL, []string{"https://git.example.com/a.git", "git@git.example.com:a/b.git", "ssh://git@x/y", "file:///srv/git/a"},
			[]string{"--upload-pack=x", "https://x/a b", "https:///a", "/srv/git/a", "ext::sh -c x"}},
		{RuleGitRef, []string{"main", "v1.2.3", "feature/x", "10.3.1"}, []string{"-x", "a..b", "a b", "a/", "a.lock", "a//b", "@{-1}", "a~1", "a^"}},
		{RuleRelPath, []string{"public", "code/php-app", "web/.well-known"}, []string{"", "/etc", "../x", "a/../b", "a//b", "a/", ".", "a b", `public"; location /x/ { alias /etc/; } #`, "$http_x"}},
		{RuleServerPath, []string{"/var/www", "www", "nginx/sites"}, []string{"/", "/var/www/", "/var/../etc", "/srv/www;x", "/a b", "{version}"}},
		{RuleServerPathPHP, []string{"/etc/php/{version}/fpm/pool.d", "php/run"}, []string{"/etc/php/{v}/x", "/a/${x}"}},
		{RuleAbsPath, []string{"/etc/berth/db.pw"}, []string{"etc/x", "/a/./b"}},
		{RuleCronSchedule, []string{"hourly", "daily", "weekly", "every 1m", "every 15m", "every 6h", "every 168h"}, []string{"", "every", "every 0m", "every 05m", "every 15", "every 15s", "every -1h", "every +1h", "every 169h", "*/5 * * * *", "Hourly", "every 1d"}},
		{RuleArgv, []string{"nginx", "-t", "a b", "$HOME", "php-fpm{version}"}, []string{"", "a\nb", "a\x00", "a\u202eb", "\xff"}},
		{RuleShellCommand, []string{"composer install --no-dev"}, []string{" ", "a\nb", "a\rb"}},
		{RuleEnvVar, []string{"DB_PW", "_X"}, []string{"1X", "A-B", "$PW"}},
		{RuleEmail, []string{"hostmaster@example.com", "first.last+tag@example.org"}, []string{"a@b", "a..b@example.com", ".a@example.com", "a.@example.com", "a b@example.com", "a@example.com;x", "@example.com", "a\"@example.com"}},
		{RuleACMEDirectory, []string{"letsencrypt", "letsencrypt-staging", "https://127.0.0.1:14000/dir", "https://acme.example.net/acme/directory", "https://[::1]:14000/dir"},
			[]string{"", "http://acme.example.net/dir", "https://", "https://u:p@acme.example.net/dir", "https://acme.example.net/dir?x=1", "https://acme.example.net/dir#x", "letsencrypt-prod", "file:///etc/x", "https://a b/"}},
		{RuleProgram, []string{"mariadb", "/usr/bin/psql"}, []string{"-x", ".x", "a b", "a;b"}},
	}
	for _, tt := range tests {
		t.Run(tt.rule.Name, func(t *testing.T) {
			for _, v := range tt.allowed {
				if err := tt.rule.Check(v); err != nil {
					t.Errorf("%q refused: %v", v, err)
				}
			}
			for _, v := range tt.refused {
				err := tt.rule.Check(v)
				if err == nil {
					t.Errorf("%q allowed", v)
					continue
				}
				if msg := err.Error(); !strings.Contains(msg, "; allowed: "+tt.rule.Allows) {
					t.Errorf("%q: message %q does not say what is allowed", v, msg)
				}
			}
		})
	}
}

// Messages show a value escaped and shortened: repo text never reaches a
// terminal raw.
func TestRuleMessageShowsValueSafely(t *testing.T) {
	err := RuleName.Check("a\x1b[31m\n" + strings.Repeat("x", 500))
	msg := err.Error()
	if strings.ContainsAny(msg, "\x1b\n") || len(msg) > 400 {
		t.Fatalf("unsafe or long message: %q", msg)
	}
}
