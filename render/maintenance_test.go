package render

import (
	"path"
	"strings"
	"testing"
)

// TestMaintenance: the maintenance window of a site (a migration's final
// copy) answers every request 503 with Retry-After and the maintenance
// page, from the site's disabled directory, on nginx and apache; the
// site's own state is not changed.
func TestMaintenance(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		want []string
	}{
		{"nginx", []string{"return 503;", "error_page 503 @disabled;", "add_header Retry-After 120 always;", `root "/var/www/sites/example.com/disabled";`}},
		{"apache", []string{"Redirect 503", `Header always set "Retry-After" "120"`, "ErrorDocument 503 /index.html", `DocumentRoot "/var/www/sites/example.com/disabled"`}},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			site, srv := testSite(), testServer(tc.typ)
			_, files, err := SiteWith(site, srv, Options{Maintenance: true})
			if err != nil {
				t.Fatal(err)
			}
			if site.State != "enabled" {
				t.Errorf("the site's state became %q", site.State)
			}
			p := Paths(site, srv)
			got := map[string]string{}
			for _, f := range files {
				got[f.Path] = string(f.Content)
			}
			for _, w := range tc.want {
				if !strings.Contains(got[p.Vhost], w) {
					t.Errorf("vhost lacks %q:\n%s", w, got[p.Vhost])
				}
			}
			if page := got[path.Join(p.DisabledDir, "index.html")]; !strings.Contains(page, "example.com is under maintenance") {
				t.Errorf("maintenance page:\n%s", page)
			}
			if _, ok := got[p.Pool]; !ok {
				t.Error("the maintenance window drops the site's pool")
			}
		})
	}
}

// TestMovedTo: a renamed site's old vhost, once the rename is switched,
// answers every request with a 301 to the same path on the new name, on
// nginx and apache; a name breaking the rules is refused.
func TestMovedTo(t *testing.T) {
	for _, tc := range []struct {
		typ, want string
	}{
		{"nginx", `location / { return 301 "$scheme://new.example.com$request_uri"; }`},
		{"apache", `RedirectMatch permanent "^/(?!\.well-known/acme-challenge/)(.*)$" "http://new.example.com/$1"`},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			site, srv := testSite(), testServer(tc.typ)
			_, files, err := SiteWith(site, srv, Options{MovedTo: "new.example.com"})
			if err != nil {
				t.Fatal(err)
			}
			p := Paths(site, srv)
			for _, f := range files {
				if f.Path == p.Vhost {
					if !strings.Contains(string(f.Content), tc.want) || strings.Contains(string(f.Content), "root \"/var/www/platforms") {
						t.Errorf("vhost:\n%s\nwant %q and nothing served", f.Content, tc.want)
					}
				}
			}
			if _, _, err := SiteWith(site, srv, Options{MovedTo: "new.example.com;\n}"}); err == nil {
				t.Error("a hostile name was rendered")
			}
		})
	}
}
