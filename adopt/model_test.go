package adopt

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/berthhq/berth/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

// web is the server of the model tests, as Resolve gives it.
func web(db string) spec.ResolvedServer {
	s := spec.ResolvedServer{Name: "web", Address: "local",
		HTTP: &spec.ResolvedHTTP{Type: "nginx", Listen: "80", ConfDir: "/etc/nginx/sites-enabled", WebRoot: "/var/www", User: "www-data", Group: "www-data", CertDir: "/etc/ssl/berth"},
		PHP:  &spec.ResolvedPHP{PoolDir: "/etc/php/{version}/fpm/pool.d", RunDir: "/run/php"}}
	if db != "" {
		s.DB = &spec.ResolvedDBService{Type: db, Socket: "/run/mysqld/mysqld.sock", AdminUser: "root", Client: "mariadb"}
	}
	return s
}

const serverDoc = `kind: Server
name: web
address: local
services:
  http: { type: nginx, conf_dir: /etc/nginx/sites-enabled }
  php: { type: php-fpm }
  db: { type: mariadb }
`

// TestModelGolden models hand-made servers (nginx text, pools,
// databases) and compares the documents and the list of what was not
// imported with testdata/golden/CASE.golden (go test -update rewrites
// them). The documents, with a berth.yaml and the server, must load: every
// value passed the loader's rules.
func TestModelGolden(t *testing.T) {
	const conf = "/etc/nginx/sites-enabled/"
	for _, tc := range []struct {
		name   string
		vhosts map[string]string // file name in conf_dir -> text
		pools  string            // one pool file, /etc/php/8.2/fpm/pool.d/hand.conf
		dbs    []string
		users  []string // the db server's users
		dbType string
		pairs  map[string]string
		dirs   []string // document roots that are directories
		suffix string
		taken  []string
	}{
		{
			name: "static and php",
			vhosts: map[string]string{
				"a.example.com.conf":    "server { listen 80; server_name a.example.com www.a.example.com; root /srv/a; index index.html; }",
				"t.example.com.conf":    "server { listen 80; server_name t.example.com; root /srv/a; }",
				"shop.example.com.conf": "server { listen *:80; server_name shop.example.com; root /srv/shop; client_max_body_size 32m;\n location ~ \\.php$ { include fastcgi_params; fastcgi_pass unix:/run/php/shop.sock; } }",
			},
			pools:  "[shop]\nlisten = /run/php/$pool.sock\n[unused]\nlisten = /run/php/unused.sock\n",
			dbs:    []string{"shop_example_com", "wp", "left_over", "taken_user_com"},
			users:  []string{"root", "shopapp", "taken_user_com"},
			dbType: "mariadb",
			pairs:  map[string]string{"a.example.com": "wp", "t.example.com": "taken_user_com"},
			dirs:   []string{"/srv/a", "/srv/shop"},
		},
		{
			name: "what cannot be modelled",
			vhosts: map[string]string{
				"other-name.conf":     "server { listen 80; server_name b.example.com; root /srv/b; }",
				"c.example.com.conf":  "server { listen 8080; server_name c.example.com; root /srv/c; }",
				"d.example.com.conf":  "server { listen 80; server_name d.example.com; root /srv/missing; }",
				"e.example.com.conf":  "server { listen 80; server_name e.example.com; root /srv/e; location ~ \\.php$ { fastcgi_pass unix:/run/php/none.sock; } }",
				"f.example.com.conf":  "server { listen 80; server_name \"f example.com\"; root /srv/f; }",
				"g.example.com.conf":  "server { listen 80; server_name g.example.com; root \"/srv/g\\\\..\"; }",
				"h.example.com.conf":  "server { listen 80; server_name h.example.com; root /srv/h; client_max_body_size lots; }",
				"i.example.com.conf":  "server { listen 80; server_name i.example.com; root /srv/i; return 301 https://x.test; }",
				"taken.example.conf":  "server { listen 80; server_name taken.example; root /srv/t; }",
				"j.example.com.conf":  "server { listen 80; server_name j.example.com; }",
				"k.example.com.conf":  "server { listen 80; server_name *.k.example.com; root /srv/k; }",
				"broken.conf":         "server { listen 80;",
				"l.example.com.conf":  "server { listen 80; server_name l\x1b[31m.example.com; root /srv/l; }",
				"pg.example.com.conf": "server { listen 80; server_name pg.example.com; root /srv/pg; }",
			},
			dbs:    []string{"pg_example_com", "bad`name", "esc\x1b\xff"},
			dbType: "postgresql",
			dirs:   []string{"/srv/b", "/srv/c", "/srv/e", "/srv/f", "/srv/g\\..", "/srv/h", "/srv/i", "/srv/t", "/srv/k", "/srv/pg"},
			taken:  []string{"site/taken.example"},
		},
		{
			name:   "environment suffix",
			vhosts: map[string]string{"a.example.com.staging.test.conf": "server { listen 80; server_name a.example.com.staging.test; root /srv/a; }", "b.conf": "server { listen 80; server_name b.example.com; root /srv/a; }"},
			dirs:   []string{"/srv/a"},
			suffix: ".staging.test",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			found := &Found{Dirs: map[string]bool{}}
			for _, name := range sortedKeys(tc.vhosts) {
				vs, err := ParseNginx(conf+name, []byte(tc.vhosts[name]))
				if err != nil {
					found.Problems = append(found.Problems, Skip{What: conf + name, Reason: "does not parse: " + err.Error()})
				}
				found.Vhosts = append(found.Vhosts, vs...)
			}
			if tc.pools != "" {
				ps, err := ParsePools("/etc/php/8.2/fpm/pool.d/hand.conf", []byte(tc.pools))
				if err != nil {
					t.Fatal(err)
				}
				found.Pools = ps
			}
			for _, d := range tc.dirs {
				found.Dirs[d] = true
			}
			found.Databases, found.DBUsers = tc.dbs, tc.users
			taken := map[string]bool{}
			for _, k := range tc.taken {
				taken[k] = true
			}
			env := "production"
			if tc.suffix != "" {
				env = "staging"
			}
			res := Model(Input{Found: found, Server: web(tc.dbType), Env: env, Suffix: tc.suffix, PHP: "8.2", Pairs: tc.pairs, Taken: taken})

			var got bytes.Buffer
			repo := fstest.MapFS{
				"berth.yaml":       {Data: []byte("environments:\n  production: { branch: main }\n  staging: { branch: staging, domain_suffix: .staging.test }\n")},
				"servers/web.yaml": {Data: []byte(serverDoc)},
			}
			for _, f := range res.Files {
				fmt.Fprintf(&got, "=== %s\n%s", f.Path, f.Data)
				repo[f.Path] = &fstest.MapFile{Data: f.Data}
			}
			fmt.Fprintf(&got, "=== adopted\n")
			for _, s := range res.Sites {
				fmt.Fprintf(&got, "%s: vhost %s, pool %q, database %q\n", s.Name, s.Vhost, s.Pool, s.Database)
			}
			fmt.Fprintf(&got, "=== not imported\n")
			for _, s := range res.Skipped {
				fmt.Fprintf(&got, "%s: %s\n", s.What, s.Reason)
			}
			if _, err := spec.Load(repo); err != nil {
				t.Errorf("the imported documents do not load:\n%v", err)
			}

			golden := filepath.Join("testdata", "golden", strings.ReplaceAll(tc.name, " ", "-")+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test -update writes it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("%s differs (go test -update rewrites it); got:\n%s", golden, got.String())
			}
		})
	}
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}
