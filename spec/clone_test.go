package spec

import (
	"strings"
	"testing"
	"testing/fstest"
)

// TestClones: a staging site cloned from a production site resolves to
// the production site (its suffix, servers and database) and its
// platform's sanitize step; the servers only production has are the
// clone's to read; mistakes are refused at load or resolve.
func TestClones(t *testing.T) {
	repo := func(site, platformExtra string) fstest.MapFS {
		return fstest.MapFS{
			"berth.yaml": {Data: []byte("environments:\n  production: { branch: main }\n  staging: { branch: staging, domain_suffix: .staging.example.net }\n")},
			"servers/web.yaml": {Data: []byte("kind: Server\nname: web\naddress: 192.0.2.1\nenvironments: [production]\nservices:\n  http: { type: nginx }\n  php: { type: php-fpm }\n" +
				"---\nkind: Server\nname: db\naddress: 192.0.2.2\nenvironments: [production]\nservices:\n  db: { type: mariadb }\n" +
				"---\nkind: Server\nname: stage\naddress: 192.0.2.3\nenvironments: [staging]\nservices:\n  http: { type: nginx }\n  php: { type: php-fpm }\n  db: { type: mariadb }\n")},
			"platforms/app.yaml":       {Data: []byte("kind: Platform\nname: app\ntype: php\nsource: { path: code }\nservers: [web]\nenvironments: [production]\n")},
			"platforms/app-stage.yaml": {Data: []byte("kind: Platform\nname: app-stage\ntype: php\nsource: { path: code }\nservers: [stage]\nenvironments: [staging]\n" + platformExtra)},
			"code/index.php":           {Data: []byte("<?php\n")},
			"sanitize/app.sql":         {Data: []byte("UPDATE users SET mail = 'x@example.invalid';\n")},
			"sites/shop.yaml":          {Data: []byte("kind: Site\nname: shop.example.com\nplatform: app\nenvironments: [production]\ndb: { server: db }\n")},
			"sites/shop-stage.yaml":    {Data: []byte("kind: Site\nname: shop-copy.example.com\nplatform: app-stage\nenvironments: [staging]\ndb: { server: stage }\n" + site)},
		}
	}
	for _, tc := range []struct {
		name, site, platform, want string
	}{
		{name: "from production", site: "clone_from: shop.example.com\nfrom_env: production\n", platform: "sanitize: { sql: sanitize/app.sql, check_tables: true }\n"},
		{name: "unknown site", site: "clone_from: shoe.example.com\nfrom_env: production\n", want: `clone_from "shoe.example.com" is no site of environment "production"`},
		{name: "unknown environment", site: "clone_from: shop.example.com\nfrom_env: prod\n", want: `environment "prod" is not declared in berth.yaml`},
		{name: "from_env alone", site: "from_env: production\n", want: "set clone_from too"},
		{name: "missing sanitize file", site: "clone_from: shop.example.com\nfrom_env: production\nsanitize: { sql: sanitize/nope.sql }\n", want: `sanitize.sql "sanitize/nope.sql": no such file`},
		{name: "itself", site: "clone_from: shop-copy.example.com\n", want: "cannot be cloned from itself"},
		{name: "sql and command", site: "clone_from: shop.example.com\nfrom_env: production\nsanitize: { sql: sanitize/app.sql, command: [vendor/bin/drush, sql:sanitize, -y] }\n",
			want: "sanitize has both sql and command; keep one"},
		{name: "check_tables with a command", site: "clone_from: shop.example.com\nfrom_env: production\nsanitize: { command: [vendor/bin/drush, sql:sanitize, -y], check_tables: true }\n",
			want: "check_tables checks the tables the sql file mentions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Load(repo(tc.site, tc.platform))
			var res *Resolved
			if err == nil {
				res, err = Resolve(r, "staging")
			}
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cl := res.Sites[0].Clone
			if cl == nil || cl.Env != "production" || cl.Site != "shop.example.com" || cl.Source.Domain != "shop.example.com" ||
				cl.Source.DB == nil || cl.Source.DB.Server != "db" || cl.Sanitize == nil || cl.Sanitize.SQL != "sanitize/app.sql" || !cl.Sanitize.CheckTables {
				t.Fatalf("clone %+v", cl)
			}
			var names []string
			for _, s := range res.CloneServers() {
				names = append(names, s.Name)
			}
			if strings.Join(names, ",") != "db,web" {
				t.Errorf("servers the clone reads: %v, want db,web", names)
			}
			if res.Sites[0].Domain != "shop-copy.example.com.staging.example.net" {
				t.Errorf("the clone's own name: %s", res.Sites[0].Domain)
			}
		})
	}
}
