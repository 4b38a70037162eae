package spec

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func loadExample(t *testing.T) *Repo {
	t.Helper()
	r, err := Load(os.DirFS("../examples/sites-repo"))
	if err != nil {
		t.Fatalf("examples/sites-repo does not load:\n%v", err)
	}
	return r
}

// golden compares got with testdata/NAME, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./spec -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run go test ./spec -update if the change is intended):\n%s", path, got)
	}
}

func TestResolveExample(t *testing.T) {
	r := loadExample(t)
	for _, env := range []string{"dev", "production", "staging"} {
		t.Run(env, func(t *testing.T) {
			res, err := Resolve(r, env)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(res, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "resolve/"+env+".json", append(got, '\n'))

			// Pure and deterministic: a second resolve of a fresh load is identical.
			again, err := Resolve(loadExample(t), env)
			if err != nil {
				t.Fatal(err)
			}
			got2, _ := json.MarshalIndent(again, "", "  ")
			if !bytes.Equal(got, got2) {
				t.Error("two resolves of the same repo differ")
			}
		})
	}
}

func TestResolveLayers(t *testing.T) {
	files := map[string]string{
		"berth.yaml": `environments:
  production: { branch: main, acme: { directory: letsencrypt, email: hostmaster@example.com } }
  staging:
    branch: staging
    domain_suffix: .stage.example.net
    defaults: { php: "8.1", tls: { acme: false } }
    sites:
      a.example.com: { state: disabled, php: "7.4", migration: { grace_hours: 2 } }
    platforms:
      php-app: { php: "8.3" }
defaults:
  tls: { acme: true }
  web: { headers: { X-Frame-Options: DENY } }
  migration: { grace_hours: 72 }
`,
		"sites/a.yaml": "kind: Site\nname: a.example.com\nplatform: php-app\naliases: [www.a.example.com]\nweb: { headers: { X-Site: a } }\n",
		"sites/b.yaml": "kind: Site\nname: b.example.com\nplatform: php-app\nenvironments: [staging]\n",
	}
	r, err := Load(repoFS(files))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		env, site          string
		domain, php, state string
		acme               bool
		aliases            string
		headers            string
		grace              time.Duration
	}{
		{"production", "a.example.com", "a.example.com", DefaultPHP, "enabled", true, "www.a.example.com", "X-Frame-Options=DENY X-Site=a", 72 * time.Hour},
		{"staging", "a.example.com", "a.example.com.stage.example.net", "7.4", "disabled", false, "www.a.example.com.stage.example.net", "X-Frame-Options=DENY X-Site=a", 2 * time.Hour},
		{"staging", "b.example.com", "b.example.com.stage.example.net", "8.3", "enabled", false, "", "X-Frame-Options=DENY", 72 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.env+"/"+tt.site, func(t *testing.T) {
			res, err := Resolve(r, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			var s *ResolvedSite
			for i := range res.Sites {
				if res.Sites[i].Name == tt.site {
					s = &res.Sites[i]
				}
			}
			if s == nil {
				t.Fatalf("site %s not in %s", tt.site, tt.env)
			}
			var hs []string
			for _, k := range []string{"X-Frame-Options", "X-Site"} {
				if v, ok := s.Web.Headers[k]; ok {
					hs = append(hs, k+"="+v)
				}
			}
			got := []string{s.Domain, s.PHP, s.State, strings.Join(s.Aliases, ","), strings.Join(hs, " ")}
			want := []string{tt.domain, tt.php, tt.state, tt.aliases, tt.headers}
			if strings.Join(got, "|") != strings.Join(want, "|") || s.TLS.ACME != tt.acme || s.MigrationGrace() != tt.grace {
				t.Errorf("got %q acme=%v grace=%v, want %q acme=%v grace=%v", got, s.TLS.ACME, s.MigrationGrace(), want, tt.acme, tt.grace)
			}
		})
	}
	if res, _ := Resolve(r, "production"); len(res.Sites) != 1 {
		t.Errorf("production has %d sites, want 1 (b.example.com is staging only)", len(res.Sites))
	}
	if _, err := Resolve(r, "prod"); err == nil || !strings.Contains(err.Error(), `did you mean "production"`) {
		t.Errorf("Resolve(prod): %v", err)
	}
}

func TestSchemaIsCurrent(t *testing.T) {
	want, err := os.ReadFile("../examples/sites-repo/berth.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(Schema(), want) {
		t.Error("examples/sites-repo/berth.schema.json is stale: run make schema")
	}
	var v map[string]any
	if err := json.Unmarshal(Schema(), &v); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
}

func TestExampleFilesCarrySchemaLine(t *testing.T) {
	r := loadExample(t)
	for _, f := range r.Files {
		data, err := os.ReadFile(filepath.Join("../examples/sites-repo", f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(data, []byte("# yaml-language-server: $schema=")) {
			t.Errorf("%s does not start with the yaml-language-server $schema line", f)
		}
	}
}

// A PHP site is isolated unless its platform says isolation: false; a
// static site never is (it runs no PHP).
func TestResolveIsolation(t *testing.T) {
	const platform = "kind: Platform\nname: php-app\ntype: %s\nsource: { path: code }\nservers: [web1]\n%s"
	tests := []struct {
		name, typ, extra string
		want             bool
	}{
		{"php by default", "php", "", true},
		{"php, isolation: true", "php", "isolation: true\n", true},
		{"php, isolation: false", "php", "isolation: false\n", false},
		{"static", "static", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Load(repoFS(map[string]string{"platforms/php.yaml": fmt.Sprintf(platform, tt.typ, tt.extra)}))
			if err != nil {
				t.Fatal(err)
			}
			res, err := Resolve(r, "production")
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Sites[0].Isolated; got != tt.want {
				t.Errorf("Isolated = %v, want %v", got, tt.want)
			}
		})
	}
}
