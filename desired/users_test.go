package desired

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/berthhq/berth/kind/account"
	"github.com/berthhq/berth/render"
	"github.com/berthhq/berth/spec"
)

// isolate keeps a PHP site isolated only where berth can create users,
// and says once per server where it cannot.
func TestIsolate(t *testing.T) {
	root := os.Geteuid() == 0
	php := func(name string, servers ...string) spec.ResolvedSite {
		return spec.ResolvedSite{Name: name, Domain: name, Environment: "production", PHP: "8.2", Isolated: true, Servers: servers}
	}
	tests := []struct {
		name     string
		servers  []spec.ResolvedServer
		sites    []spec.ResolvedSite
		isolated []bool
		warnings int
	}{
		{"remote as root", []spec.ResolvedServer{{Name: "web1", Address: "192.0.2.1"}},
			[]spec.ResolvedSite{php("a.example.com", "web1")}, []bool{true}, 0},
		{"remote through sudo", []spec.ResolvedServer{{Name: "web1", Address: "192.0.2.1", SSH: spec.SSH{User: "deploy", Sudo: true}}},
			[]spec.ResolvedSite{php("a.example.com", "web1")}, []bool{true}, 0},
		{"remote user without sudo", []spec.ResolvedServer{{Name: "web1", Address: "192.0.2.1", SSH: spec.SSH{User: "deploy"}}},
			[]spec.ResolvedSite{php("a.example.com", "web1"), php("b.example.com", "web1")}, []bool{false, false}, 1},
		{"one server of a cluster without sudo", []spec.ResolvedServer{{Name: "web1", Address: "192.0.2.1"}, {Name: "web2", Address: "192.0.2.2", SSH: spec.SSH{User: "deploy"}}},
			[]spec.ResolvedSite{php("a.example.com", "web1"), php("b.example.com", "web1", "web2")}, []bool{true, false}, 1},
		{"local", []spec.ResolvedServer{{Name: "web", Address: "local"}},
			[]spec.ResolvedSite{php("a.example.com", "web")}, []bool{root}, map[bool]int{true: 0, false: 1}[root]},
		{"SQLite in a shared directory", []spec.ResolvedServer{{Name: "web1", Address: "192.0.2.1", DB: &spec.ResolvedDBService{Type: "sqlite", Dir: "/var/lib/sqlite"}}},
			[]spec.ResolvedSite{func() spec.ResolvedSite {
				s := php("a.example.com", "web1")
				s.DB = &spec.ResolvedDB{Server: "web1", Type: "sqlite", Name: "a"}
				return s
			}()}, []bool{false}, 1},
		{"opted out", []spec.ResolvedServer{{Name: "web1", Address: "192.0.2.1", SSH: spec.SSH{User: "deploy"}}},
			[]spec.ResolvedSite{{Name: "a.example.com", PHP: "8.2", Servers: []string{"web1"}}}, []bool{false}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := &spec.Resolved{Environment: "production", Servers: tt.servers, Sites: tt.sites}
			before := slices.Clone(res.Sites)
			got, warnings := isolate(res)
			for i, want := range tt.isolated {
				if got.Sites[i].Isolated != want {
					t.Errorf("site %s isolated %v, want %v", got.Sites[i].Name, got.Sites[i].Isolated, want)
				}
			}
			if len(warnings) != tt.warnings {
				t.Errorf("warnings %q, want %d", warnings, tt.warnings)
			}
			for _, w := range warnings {
				if !strings.Contains(w, "not isolated") || !strings.Contains(w, "isolation: false") && !strings.Contains(w, "remove db.dir") {
					t.Errorf("warning does not say what and what to do: %s", w)
				}
			}
			if !slices.EqualFunc(before, res.Sites, func(a, b spec.ResolvedSite) bool { return a.Isolated == b.Isolated }) {
				t.Error("isolate changed its input")
			}
		})
	}
}

// An isolated site's user is declared on each of its web servers; its
// directory and its pool depend on it, and its directories and settings
// file belong to it.
func TestBuildDeclaresSiteUser(t *testing.T) {
	srv := spec.ResolvedServer{Name: "web1", Address: "192.0.2.1",
		HTTP: &spec.ResolvedHTTP{Type: "nginx", Listen: "80", ConfDir: "/etc/nginx/sites-enabled", WebRoot: "/var/www", User: "www-data", Group: "www-data"},
		PHP:  &spec.ResolvedPHP{PoolDir: "/etc/php/{version}/fpm/pool.d", RunDir: "/run/php"}}
	site := spec.ResolvedSite{Name: "a.example.com", Domain: "a.example.com", Environment: "production", Platform: "app", Type: "php",
		PHP: "8.2", Isolated: true, State: "enabled", Servers: []string{"web1"}}
	res := &spec.Resolved{Environment: "production", Servers: []spec.ResolvedServer{srv}, Sites: []spec.ResolvedSite{site}}
	d, err := buildDesired(res, "r1", nil, t.TempDir(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	name := render.SiteUser(&site)
	id := UserID(site.Domain, name, "web1")
	byID := map[string]bool{}
	for _, r := range d.Resources {
		byID[r.ID()] = true
		switch r.ID() {
		case id:
			if u, ok := r.(*account.User); !ok || u.Name() != name {
				t.Errorf("%s is %T", id, r)
			}
		case SiteDirID(site.Domain, "web1"), SiteID(site.Domain, "php-pool", "web1"):
			if !slices.Contains(r.Deps(), id) {
				t.Errorf("%s does not depend on the site's user: %v", r.ID(), r.Deps())
			}
		}
	}
	if !byID[id] {
		t.Fatalf("no user %s among %v", id, byID)
	}
	if got := account.NameOfID(id); got != name {
		t.Errorf("NameOfID(%s) = %q", id, got)
	}
}
