package render

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/berthhq/berth/spec"
)

func testServer(typ string) *spec.ResolvedServer {
	return &spec.ResolvedServer{
		Name:    "web1",
		Address: "192.0.2.10",
		HTTP: &spec.ResolvedHTTP{Type: typ, Listen: "80", ConfDir: "/etc/" + typ + "/sites-enabled", WebRoot: "/var/www",
			User: "www-data", Group: "www-data"},
		PHP: &spec.ResolvedPHP{PoolDir: "/etc/php/{version}/fpm/pool.d", RunDir: "/run/php"},
	}
}

func testSite() *spec.ResolvedSite {
	return &spec.ResolvedSite{
		Name: "example.com", Environment: "production", Domain: "example.com", Aliases: []string{"www.example.com"},
		Platform: "php-app", Type: "php", Servers: []string{"web1"}, PHP: "8.2", State: "enabled",
		Web: spec.WebOptions{
			ClientMaxBodySize: "64m",
			BasicAuth:         &spec.BasicAuth{Realm: "Team", Users: []string{"a:$2y$05$abc", "b:$2y$05$def"}},
			Redirects:         []spec.Redirect{{From: "/a", To: "/b"}, {From: "/c/*", To: "https://example.org/", Code: 308}},
		},
	}
}

// The same input renders to the same bytes, however Go orders the map of
// headers; and rendering does not change its input.
func TestDeterministic(t *testing.T) {
	headers := map[string]string{}
	for i := range 40 {
		headers[fmt.Sprintf("X-Header-%02d", i)] = fmt.Sprintf("value %d", i)
	}
	for _, typ := range []string{"nginx", "apache"} {
		t.Run(typ, func(t *testing.T) {
			site, srv := testSite(), testServer(typ)
			site.Web.Headers = headers
			_, first, err := Site(site, srv)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 50 {
				// A fresh map each time: a new iteration seed.
				site.Web.Headers = map[string]string{}
				for k, v := range headers {
					site.Web.Headers[k] = v
				}
				_, again, err := Site(site, srv)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(first, again) {
					t.Fatalf("render %d differs from the first", i)
				}
			}
			var vhost []byte
			for _, f := range first {
				if f.Service == ServiceHTTP {
					vhost = f.Content
				}
			}
			last := -1
			for i := range 40 {
				at := bytes.Index(vhost, fmt.Appendf(nil, "X-Header-%02d", i))
				if at < last {
					t.Fatalf("header %d is written before header %d", i, i-1)
				}
				last = at
			}
			if !reflect.DeepEqual(site, func() *spec.ResolvedSite { s := testSite(); s.Web.Headers = site.Web.Headers; return s }()) {
				t.Fatal("Site changed its input")
			}
		})
	}
	// Every golden input, rendered twice.
	for _, gc := range loadAllGolden(t) {
		for _, r := range gc.out {
			if r.lb != nil {
				files, err := LB(r.lb, r.srv, goldenLBOptions(r.lb, gc.opts))
				if err != nil || !reflect.DeepEqual(files, r.files) {
					t.Errorf("%s: second render of load balancer %s differs (err %v)", gc.file, r.srv.Name, err)
				}
				continue
			}
			dirs, files, err := SiteWith(r.site, r.srv, gc.opts)
			if err != nil || !reflect.DeepEqual(dirs, r.dirs) || !reflect.DeepEqual(files, r.files) {
				t.Errorf("%s: second render of %s differs (err %v)", gc.file, r.site.Domain, err)
			}
		}
	}
}

func TestSorted(t *testing.T) {
	site := testSite()
	site.State = "disabled"
	dirs, files, err := Site(site, testServer("nginx"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(dirs); i++ {
		if dirs[i-1].Path >= dirs[i].Path {
			t.Errorf("dirs not sorted: %s before %s", dirs[i-1].Path, dirs[i].Path)
		}
	}
	for i := 1; i < len(files); i++ {
		if files[i-1].Path >= files[i].Path {
			t.Errorf("files not sorted: %s before %s", files[i-1].Path, files[i].Path)
		}
	}
	if len(files) != 4 { // vhost, pool, htpasswd, disabled page
		t.Errorf("got %d files, want 4", len(files))
	}
}

func TestPaths(t *testing.T) {
	site := testSite()
	site.Docroot = "public"
	got := Paths(site, testServer("nginx"))
	want := SitePaths{
		SiteDir:     "/var/www/sites/example.com",
		FilesDir:    "/var/www/sites/example.com/files",
		TmpDir:      "/var/www/sites/example.com/tmp",
		PlatformDir: "/var/www/platforms/php-app/production",
		Current:     "/var/www/platforms/php-app/production/current",
		Docroot:     "/var/www/platforms/php-app/production/current/public",
		Vhost:       "/etc/nginx/sites-enabled/example.com.conf",
		Pool:        "/etc/php/8.2/fpm/pool.d/example.com.conf",
		Socket:      "/run/php/example.com.sock",
		Htpasswd:    "/var/www/sites/example.com/htpasswd",
		DisabledDir: "/var/www/sites/example.com/disabled",
		ACMEDir:     "/var/www/sites/example.com/acme",
	}
	if got != want {
		t.Errorf("Paths:\n got %+v\nwant %+v", got, want)
	}
	site.PHP = ""
	if p := Paths(site, testServer("nginx")); p.Pool != "" || p.Socket != "" {
		t.Errorf("a static site has a pool: %+v", p)
	}
}

// Inputs spec validation refuses never reach a file: Site says what is
// wrong instead.
func TestSiteErrors(t *testing.T) {
	cases := []struct {
		name string
		edit func(*spec.ResolvedSite, *spec.ResolvedServer)
		want string
	}{
		{"no http", func(s *spec.ResolvedSite, v *spec.ResolvedServer) { v.HTTP = nil }, "no http service"},
		{"unknown type", func(s *spec.ResolvedSite, v *spec.ResolvedServer) { v.HTTP.Type = "caddy" }, `"caddy" is neither nginx nor apache`},
		{"traversal domain", func(s *spec.ResolvedSite, v *spec.ResolvedServer) { s.Domain = "../../etc" }, "not a lower-case ASCII domain"},
		{"unicode domain", func(s *spec.ResolvedSite, v *spec.ResolvedServer) { s.Domain = "bücher.example.com" }, "not a lower-case ASCII domain"},
		{"bad alias", func(s *spec.ResolvedSite, v *spec.ResolvedServer) { s.Aliases = []string{"a b.com"} }, `aliases[0]: "a b.com"`},
		{"redirect without aliases", func(s *spec.ResolvedSite, v *spec.ResolvedServer) { s.Aliases, s.RedirectAliases = nil, true }, "no aliases"},
		{"platform", func(s *spec.ResolvedSite, v *spec.ResolvedServer) { s.Platform = "a/b" }, `platform: "a/b"`},
		{"docroot escapes", func(s *spec.ResolvedSite, v *spec.ResolvedServer) { s.Docroot = "../x" }, "docroot"},
		{"docroot absolute", func(s *spec.ResolvedSite, v *spec.ResolvedServer) { s.Docroot = "/etc" }, "docroot"},
		{"state", func(s *spec.ResolvedSite, v *spec.ResolvedServer) { s.State = "" }, "state"},
		{"relative conf_dir", func(s *spec.ResolvedSite, v *spec.ResolvedServer) { v.HTTP.ConfDir = "nginx/sites" }, `http.conf_dir: "nginx/sites" is not an absolute path`},
		{"unclean web_root", func(s *spec.ResolvedSite, v *spec.ResolvedServer) { v.HTTP.WebRoot = "/var/www/" }, "http.web_root"},
		{"listen", func(s *spec.ResolvedSite, v *spec.ResolvedServer) { v.HTTP.Listen = "localhost:80" }, "not an IPv4 address"},
		{"listen port", func(s *spec.ResolvedSite, v *spec.ResolvedServer) { v.HTTP.Listen = "99999" }, "port"},
		{"user", func(s *spec.ResolvedSite, v *spec.ResolvedServer) { v.HTTP.User = "a b" }, "http.user"},
		{"no php service", func(s *spec.ResolvedSite, v *spec.ResolvedServer) { v.PHP = nil }, "no php service"},
		{"php version", func(s *spec.ResolvedSite, v *spec.ResolvedServer) { s.PHP = "8" }, "PHP version"},
		{"pool dir", func(s *spec.ResolvedSite, v *spec.ResolvedServer) { v.PHP.PoolDir = "pool.d" }, "php.pool_dir"},
		{"long socket", func(s *spec.ResolvedSite, v *spec.ResolvedServer) { v.PHP.RunDir = "/" + strings.Repeat("r", 100) }, "107 bytes"},
		{"size", func(s *spec.ResolvedSite, v *spec.ResolvedServer) { s.Web.ClientMaxBodySize = "1t" }, "client_max_body_size"},
		{"realm", func(s *spec.ResolvedSite, v *spec.ResolvedServer) { s.Web.BasicAuth.Realm = `a"b` }, "basic_auth.realm"},
		{"realm semicolon", func(s *spec.ResolvedSite, v *spec.ResolvedServer) { s.Web.BasicAuth.Realm = `a;b` }, "basic_auth.realm"},
		{"no users", func(s *spec.ResolvedSite, v *spec.ResolvedServer) { s.Web.BasicAuth.Users = nil }, "no users"},
		{"user line", func(s *spec.ResolvedSite, v *spec.ResolvedServer) { s.Web.BasicAuth.Users = []string{"a:b\nc:d"} }, "users[0]"},
		{"from", func(s *spec.ResolvedSite, v *spec.ResolvedServer) { s.Web.Redirects[0].From = "a" }, "redirects[0].from"},
		{"to space", func(s *spec.ResolvedSite, v *spec.ResolvedServer) { s.Web.Redirects[1].To = "/a b" }, "redirects[1].to"},
		{"to dollar", func(s *spec.ResolvedSite, v *spec.ResolvedServer) { s.Web.Redirects[1].To = "/a$b" }, "redirects[1].to"},
		{"to $1 without a wildcard", func(s *spec.ResolvedSite, v *spec.ResolvedServer) {
			s.Web.Redirects[1].From, s.Web.Redirects[1].To = "/x", "/$1"
		}, "redirects[1].to ends with $1"},
		{"code", func(s *spec.ResolvedSite, v *spec.ResolvedServer) { s.Web.Redirects[0].Code = 303 }, "redirects[0].code"},
		{"header name", func(s *spec.ResolvedSite, v *spec.ResolvedServer) { s.Web.Headers = map[string]string{"X Y": "v"} }, "header name"},
		{"header value", func(s *spec.ResolvedSite, v *spec.ResolvedServer) { s.Web.Headers = map[string]string{"X": "a\nb"} }, "headers.X"},
		{"header empty", func(s *spec.ResolvedSite, v *spec.ResolvedServer) { s.Web.Headers = map[string]string{"X": ""} }, "(empty)"},
		{"header expr apache", func(s *spec.ResolvedSite, v *spec.ResolvedServer) {
			v.HTTP.Type = "apache"
			s.Web.Headers = map[string]string{"X": "expr=1"}
		}, "expression"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			site, srv := testSite(), testServer("nginx")
			tc.edit(site, srv)
			dirs, files, err := Site(site, srv)
			if err == nil {
				t.Fatalf("no error; rendered %d dirs, %d files", len(dirs), len(files))
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "render site ") {
				t.Fatalf("error %q does not say which site", err)
			}
		})
	}
}

func TestSizeBytes(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "100": 100, "1k": 1024, "64m": 64 << 20, "64M": 64 << 20, "2G": 2 << 30, "999999g": 999999 << 30} {
		if got, err := sizeBytes(in); err != nil || got != want {
			t.Errorf("sizeBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}

// Behind a load balancer, redirect_aliases sends an alias to the main
// name at the balancer's listen, not at the web server's own, on nginx
// and apache alike.
func TestAliasRedirectBehindLB(t *testing.T) {
	for _, typ := range []string{"nginx", "apache"} {
		site, srv := testSite(), testServer(typ)
		site.Web = spec.WebOptions{}
		site.RedirectAliases = true
		srv.HTTP.Listen = "9001"
		site.LB = &spec.ResolvedSiteLB{Server: "lb1", From: "192.0.2.1", Listen: "8080"}
		_, files, err := Site(site, srv)
		if err != nil {
			t.Fatal(err)
		}
		var all strings.Builder
		for _, f := range files {
			all.Write(f.Content)
		}
		if !strings.Contains(all.String(), "://example.com:8080") || strings.Contains(all.String(), "example.com:9001") {
			t.Errorf("%s: the alias redirect does not go to the load balancer's listen:\n%s", typ, all.String())
		}
	}
}
