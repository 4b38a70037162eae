package spec

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestDataFrom: an environment's data_from resolves to its sites (those
// it names, else every one whose source exists in the source
// environment) and its schedule; each mistake is refused at load, at
// its file:line:column: an unknown or the same environment, a
// production environment receiving data, a schedule of no known shape,
// a site missing from either environment or listed twice, a site with a
// database and no sanitize step, a sanitize step neither sql nor none.
func TestDataFrom(t *testing.T) {
	const envs = "environments:\n  production: { branch: main }\n  staging:\n    branch: staging\n    domain_suffix: .staging.example.net\n"
	const dbSite = "kind: Site\nname: b.example.com\nplatform: php-app\ndb: { server: web1 }\n"
	const sanitized = dbSite + "sanitize: { sql: sanitize/b.sql }\n"
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  []string // problems; none: valid
		sites string   // staging's data_from sites when valid
		every time.Duration
	}{
		{
			name:  "every site by default, weekly",
			files: map[string]string{"berth.yaml": envs + "    data_from: { env: production, schedule: weekly }\n", "sites/b.yaml": sanitized},
			sites: "a.example.com,b.example.com", every: 7 * 24 * time.Hour,
		},
		{
			name:  "the sites named, every 6h",
			files: map[string]string{"berth.yaml": envs + "    data_from: { env: production, schedule: every 6h, sites: [b.example.com] }\n", "sites/b.yaml": sanitized},
			sites: "b.example.com", every: 6 * time.Hour,
		},
		{
			name:  "the platform's sanitize step",
			files: map[string]string{"berth.yaml": envs + "    data_from: { env: production, schedule: daily }\n", "sites/b.yaml": dbSite, "platforms/php.yaml": base["platforms/php.yaml"] + "sanitize: { sql: sanitize/b.sql }\n"},
			sites: "a.example.com,b.example.com", every: 24 * time.Hour,
		},
		{
			name:  "none: true on purpose",
			files: map[string]string{"berth.yaml": envs + "    data_from: { env: production, schedule: daily }\n", "sites/b.yaml": dbSite + "sanitize: { none: true }\n"},
			sites: "a.example.com,b.example.com", every: 24 * time.Hour,
		},
		{
			name:  "a site only in staging is not in the default",
			files: map[string]string{"berth.yaml": envs + "    data_from: { env: production, schedule: daily }\n", "sites/b.yaml": dbSite + "environments: [staging]\n"},
			sites: "a.example.com", every: 24 * time.Hour,
		},
		{
			name:  "unknown environment",
			files: map[string]string{"berth.yaml": envs + "    data_from: { env: prod, schedule: daily }\n"},
			want:  []string{`berth.yaml:6:23: environment "staging": environment "prod" is not declared in berth.yaml (did you mean "production"?)`},
		},
		{
			name:  "from itself",
			files: map[string]string{"berth.yaml": envs + "    data_from: { env: staging, schedule: daily }\n"},
			want:  []string{`berth.yaml:6:23: environment "staging": data_from names this environment itself; name the environment the data comes from, e.g. production`},
		},
		{
			name:  "into production",
			files: map[string]string{"berth.yaml": "environments:\n  production:\n    branch: main\n    data_from: { env: staging, schedule: daily }\n  staging: { branch: staging, domain_suffix: .staging.example.net }\n"},
			want:  []string{`berth.yaml:4:5: environment "production": data_from copies data into this environment, and "production" is a production environment (named production, or following main or master): berth copies data down, never up; declare data_from on the environment that receives the data (staging), or copy once with berth sync-data --into-production`},
		},
		{
			name:  "into an environment following master",
			files: map[string]string{"berth.yaml": "environments:\n  live:\n    branch: master\n    data_from: { env: staging, schedule: daily }\n  staging: { branch: staging, domain_suffix: .staging.example.net }\n"},
			want:  []string{`berth.yaml:4:5: environment "live": data_from copies data into this environment, and "live" is a production environment (named production, or following main or master): berth copies data down, never up; declare data_from on the environment that receives the data (staging), or copy once with berth sync-data --into-production`},
		},
		{
			name:  "schedule of no known shape",
			files: map[string]string{"berth.yaml": envs + "    data_from: { env: production, schedule: fortnightly }\n"},
			want:  []string{`berth.yaml:6:45: environments.staging.data_from.schedule: "fortnightly" is not a schedule; allowed: hourly, daily, weekly, or every N minutes or hours: every 15m, every 6h (at least 1m, at most 168h)`},
		},
		{
			name:  "no schedule",
			files: map[string]string{"berth.yaml": envs + "    data_from: { env: production }\n"},
			want:  []string{`berth.yaml:6:16: environments.staging.data_from: missing required field "schedule"`},
		},
		{
			name:  "unknown site",
			files: map[string]string{"berth.yaml": envs + "    data_from: { env: production, schedule: daily, sites: [a.example.org] }\n"},
			want:  []string{`berth.yaml:6:60: environment "staging": site "a.example.org" does not exist (did you mean "a.example.com"?)`},
		},
		{
			name:  "listed twice",
			files: map[string]string{"berth.yaml": envs + "    data_from: { env: production, schedule: daily, sites: [a.example.com, a.example.com] }\n"},
			want:  []string{`berth.yaml:6:75: environment "staging": site "a.example.com" is listed twice`},
		},
		{
			name:  "not in the environment",
			files: map[string]string{"berth.yaml": envs + "    data_from: { env: production, schedule: daily, sites: [b.example.com] }\n", "sites/b.yaml": dbSite + "environments: [production]\n"},
			want:  []string{`berth.yaml:6:60: environment "staging": site "b.example.com" is not in environment "staging" (its environments: at sites/b.yaml:5:15); remove it from data_from.sites`},
		},
		{
			name:  "no source in the source environment",
			files: map[string]string{"berth.yaml": envs + "    data_from: { env: production, schedule: daily, sites: [b.example.com] }\n", "sites/b.yaml": sanitized + "environments: [staging]\n"},
			want:  []string{`berth.yaml:6:60: environment "staging": the data of site "b.example.com" would come from site "b.example.com" of environment "production", which has no such site; remove it from data_from.sites, or add the site to "production"`},
		},
		{
			name:  "a database without a sanitize step, named",
			files: map[string]string{"berth.yaml": envs + "    data_from: { env: production, schedule: daily, sites: [a.example.com, b.example.com] }\n", "sites/b.yaml": dbSite},
			want:  []string{`berth.yaml:6:75: environment "staging": site "b.example.com" gets its database from data_from, and neither it nor its platform "php-app" has a sanitize step: production data carries personal data (e-mail addresses, password hashes); give the site or its platform sanitize: { sql: FILE }, or sanitize: { none: true } if its data holds nothing personal, or name the other sites in data_from.sites`},
		},
		{
			name:  "a database without a sanitize step, by default",
			files: map[string]string{"berth.yaml": envs + "    data_from: { env: production, schedule: daily }\n", "sites/b.yaml": dbSite},
			want:  []string{`berth.yaml:6:16: environment "staging": site "b.example.com" gets its database from data_from, and neither it nor its platform "php-app" has a sanitize step: production data carries personal data (e-mail addresses, password hashes); give the site or its platform sanitize: { sql: FILE }, or sanitize: { none: true } if its data holds nothing personal, or name the other sites in data_from.sites`},
		},
		{
			name:  "sanitize with sql and none",
			files: map[string]string{"berth.yaml": envs + "    data_from: { env: production, schedule: daily }\n", "sites/b.yaml": dbSite + "sanitize: { sql: sanitize/b.sql, none: true }\n"},
			want:  []string{`sites/b.yaml:5:40: site "b.example.com": sanitize has none: true and a step (sql or command); keep the step to sanitize the copies, or none: true to serve them as they are`},
		},
		{
			name:  "sanitize with neither",
			files: map[string]string{"berth.yaml": envs + "    data_from: { env: production, schedule: daily }\n", "sites/b.yaml": dbSite + "sanitize: { check_tables: true }\n"},
			want:  []string{`sites/b.yaml:5:1: site "b.example.com": sanitize needs sql: FILE (an SQL file of the repo run against the copy), command: [ARGV] (run against the copy), or none: true if the data holds nothing personal`},
		},
		{
			name:  "a site's sanitize without clone_from or data_from",
			files: map[string]string{"sites/b.yaml": sanitized},
			want:  []string{`sites/b.yaml:5:11: site "b.example.com": sanitize runs against a clone or data copied down; set clone_from, or name the site in an environment's data_from, or remove sanitize`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"sanitize/b.sql": "UPDATE users SET mail = 'x@example.invalid';\n"}
			for k, v := range tc.files {
				files[k] = v
			}
			r, err := Load(repoFS(files))
			if tc.want != nil {
				var problems Problems
				if !errors.As(err, &problems) {
					t.Fatalf("Load: got %v, want problems", err)
				}
				var got []string
				for _, p := range problems {
					got = append(got, p.String())
				}
				if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
					t.Errorf("problems:\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(tc.want, "\n      "))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			res, err := Resolve(r, "staging")
			if err != nil {
				t.Fatal(err)
			}
			d := res.DataFrom
			if d == nil || d.Env != "production" || strings.Join(d.Sites, ",") != tc.sites || d.Every != tc.every {
				t.Fatalf("data_from: %+v, want from production, sites %s, every %s", d, tc.sites, tc.every)
			}
			if prod, err := Resolve(r, "production"); err != nil || prod.DataFrom != nil {
				t.Errorf("production's data_from: %+v %v, want none", prod.DataFrom, err)
			}
			cls, err := DataFromSites(r, res)
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range d.Sites {
				cl := cls[name]
				if cl == nil || cl.Env != "production" || cl.Site != name || cl.Source == nil || cl.Source.Domain != name {
					t.Errorf("site %s's source: %+v", name, cl)
				}
			}
			if cl := cls["b.example.com"]; cl != nil && cl.Sanitize == nil {
				t.Errorf("b.example.com's copy has no sanitize step")
			}
		})
	}
}
