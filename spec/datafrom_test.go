package spec

import (
	"errors"
	"fmt"
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
// A site's own data_from, in the environment's override of it, wins over
// the environment's for that site, with its own source and schedule; it
// gets the same checks, is refused when the environment's data_from.sites
// names the site too, and exists nowhere else: a Site file or defaults
// with data_from are refused as an unknown field.
func TestDataFrom(t *testing.T) {
	const envs = "environments:\n  production: { branch: main }\n  staging:\n    branch: staging\n    domain_suffix: .staging.example.net\n"
	const qaEnvs = "environments:\n  production: { branch: main }\n  qa: { branch: qa, domain_suffix: .qa.example.net }\n  staging:\n    branch: staging\n    domain_suffix: .staging.example.net\n"
	const own = "    sites:\n      b.example.com:\n        data_from: { env: production, schedule: daily }\n"
	const dbSite = "kind: Site\nname: b.example.com\nplatform: php-app\ndb: { server: web1 }\n"
	const sanitized = dbSite + "sanitize: { sql: sanitize/b.sql }\n"
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  []string // problems; none: valid
		sites string   // staging's data_from sites when valid
		every time.Duration
		// data is staging's data_from when valid, if not from production
		// to sites, every every: "SITE<ENV/EVERY" for each site.
		data string
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
			name:  "a site's own, over the environment's",
			files: map[string]string{"berth.yaml": qaEnvs + "    data_from: { env: production, schedule: weekly }\n    sites:\n      b.example.com:\n        data_from: { env: qa, schedule: every 6h }\n", "sites/b.yaml": sanitized},
			data:  "a.example.com<production/168h0m0s,b.example.com<qa/6h0m0s",
		},
		{
			name:  "a site's own only",
			files: map[string]string{"berth.yaml": envs + own, "sites/b.yaml": sanitized},
			data:  "b.example.com<production/24h0m0s",
		},
		{
			name:  "a site's own into production",
			files: map[string]string{"berth.yaml": "environments:\n  production:\n    branch: main\n    sites:\n      a.example.com:\n        data_from: { env: staging, schedule: daily }\n  staging: { branch: staging, domain_suffix: .staging.example.net }\n"},
			want:  []string{`berth.yaml:6:9: environment "production": the data_from of site "a.example.com" copies data into this environment, and "production" is a production environment (named production, or following main or master): berth copies data down, never up; declare it on the site's override in the environment that receives the data (staging), or copy once with berth sync-data --into-production`},
		},
		{
			name:  "a site's own from an unknown environment",
			files: map[string]string{"berth.yaml": envs + "    sites:\n      a.example.com:\n        data_from: { env: prod, schedule: daily }\n"},
			want:  []string{`berth.yaml:8:27: environment "staging": environment "prod" is not declared in berth.yaml (did you mean "production"?)`},
		},
		{
			name:  "a site's own from itself",
			files: map[string]string{"berth.yaml": envs + "    sites:\n      a.example.com:\n        data_from: { env: staging, schedule: daily }\n"},
			want:  []string{`berth.yaml:8:27: environment "staging": data_from names this environment itself; name the environment the data comes from, e.g. production`},
		},
		{
			name:  "a site's own with a database and no sanitize step",
			files: map[string]string{"berth.yaml": envs + own, "sites/b.yaml": dbSite},
			want:  []string{`berth.yaml:8:20: environment "staging": site "b.example.com" gets its database from data_from, and neither it nor its platform "php-app" has a sanitize step: production data carries personal data (e-mail addresses, password hashes); give the site or its platform sanitize: { sql: FILE }, or sanitize: { none: true } if its data holds nothing personal, or remove the site's data_from`},
		},
		{
			name:  "a site's own schedule of no known shape",
			files: map[string]string{"berth.yaml": envs + "    sites:\n      a.example.com:\n        data_from: { env: production, schedule: fortnightly }\n"},
			want:  []string{`berth.yaml:8:49: environments.staging.sites.a.example.com.data_from.schedule: "fortnightly" is not a schedule; allowed: hourly, daily, weekly, or every N minutes or hours: every 15m, every 6h (at least 1m, at most 168h)`},
		},
		{
			name:  "a site's own, its source not in the source environment",
			files: map[string]string{"berth.yaml": envs + own, "sites/b.yaml": sanitized + "environments: [staging]\n"},
			want:  []string{`berth.yaml:8:27: environment "staging": the data of site "b.example.com" would come from site "b.example.com" of environment "production", which has no such site; name another environment, or add the site to "production"`},
		},
		{
			name:  "a site's own, the site not in the environment",
			files: map[string]string{"berth.yaml": envs + own, "sites/b.yaml": dbSite + "environments: [production]\n"},
			want:  []string{`berth.yaml:8:9: environment "staging": site "b.example.com" is not in environment "staging" (its environments: at sites/b.yaml:5:15); remove its data_from, or add the environment to the site`},
		},
		{
			name:  "a site's own and named in the environment's",
			files: map[string]string{"berth.yaml": envs + "    data_from: { env: production, schedule: daily, sites: [b.example.com] }\n" + own, "sites/b.yaml": sanitized},
			want:  []string{`berth.yaml:6:60: environment "staging": site "b.example.com" has a data_from of its own (at berth.yaml:9:9), which wins for it; remove it from data_from.sites, or remove its own`},
		},
		{
			name:  "data_from in a Site file",
			files: map[string]string{"berth.yaml": envs, "sites/b.yaml": dbSite + "data_from: { env: production, schedule: daily }\n"},
			want:  []string{`sites/b.yaml:5:1: site "b.example.com": unknown field "data_from"; data_from is berth.yaml's, for an environment (environments.NAME.data_from) or one of its sites (environments.NAME.sites.SITE.data_from)`},
		},
		{
			name:  "data_from in defaults",
			files: map[string]string{"berth.yaml": envs + "defaults:\n  data_from: { env: production, schedule: daily }\n"},
			want:  []string{`berth.yaml:7:3: defaults: unknown field "data_from"; data_from is berth.yaml's, for an environment (environments.NAME.data_from) or one of its sites (environments.NAME.sites.SITE.data_from)`},
		},
		{
			name:  "data_from in an environment's defaults",
			files: map[string]string{"berth.yaml": envs + "    defaults:\n      data_from: { env: production, schedule: daily }\n"},
			want:  []string{`berth.yaml:7:7: environments.staging.defaults: unknown field "data_from"; data_from is berth.yaml's, for an environment (environments.NAME.data_from) or one of its sites (environments.NAME.sites.SITE.data_from)`},
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
			want:  []string{`sites/b.yaml:5:11: site "b.example.com": sanitize runs against a clone or data copied down; set clone_from, or name the site in an environment's data_from (or give it data_from in an environment's sites: override), or remove sanitize`},
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
			want := tc.data
			if want == "" {
				var each []string
				for site := range strings.SplitSeq(tc.sites, ",") {
					each = append(each, fmt.Sprintf("%s<production/%s", site, tc.every))
				}
				want = strings.Join(each, ",")
			}
			var got []string
			for _, d := range res.DataFrom {
				got = append(got, fmt.Sprintf("%s<%s/%s", d.Site, d.Env, d.Every))
			}
			if strings.Join(got, ",") != want || res.DataFromNone != "" {
				t.Fatalf("data_from: %+v (none: %q), want %s", res.DataFrom, res.DataFromNone, want)
			}
			if prod, err := Resolve(r, "production"); err != nil || prod.DataFrom != nil {
				t.Errorf("production's data_from: %+v %v, want none", prod.DataFrom, err)
			}
			cls, err := DataFromSites(r, res)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range res.DataFrom {
				cl := cls[d.Site]
				if cl == nil || cl.Env != d.Env || cl.Site != d.Site || cl.Source == nil || cl.Source.Name != d.Site {
					t.Errorf("site %s's source: %+v", d.Site, cl)
				}
			}
			if cl := cls["b.example.com"]; cl != nil && cl.Sanitize == nil {
				t.Errorf("b.example.com's copy has no sanitize step")
			}
		})
	}
}
