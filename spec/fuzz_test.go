package spec

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"testing/fstest"
)

// FuzzLoad feeds arbitrary berth.yaml and site files to Load. Whatever the
// input, Load must not panic, every problem must carry a file and a position,
// problems must come sorted, and a repo that loads without problems must
// resolve in every environment (validation catches what Resolve would refuse).
//
// The seed corpus is in testdata/fuzz/FuzzLoad; run with
// go test ./spec -run '^$' -fuzz FuzzLoad -fuzztime 60s (make fuzz).
func FuzzLoad(f *testing.F) {
	f.Add(base["berth.yaml"], base["sites/a.yaml"])
	f.Add("environments:\n  production: { branch: main }\n  dev: { branch: dev, domain_suffix: .dev.example.net }\n",
		"kind: Site\nname: bücher.example.com\nplatform: php-app\naliases: ['*.x.example.com']\ndb: { server: web1 }\n")
	f.Add("environments: &e\n  production: { <<: {branch: main} }\n", "kind: Site\nname: a.example.com\nplatform: php-app\n<<: &x { aliases: [b.example.com] }\n")
	f.Fuzz(func(t *testing.T, config, site string) {
		fsys := fstest.MapFS{
			"berth.yaml":         {Data: []byte(config)},
			"sites/a.yaml":       {Data: []byte(site)},
			"servers/web1.yaml":  {Data: []byte(base["servers/web1.yaml"])},
			"servers/ns1.yaml":   {Data: []byte(base["servers/ns1.yaml"])},
			"platforms/php.yaml": {Data: []byte(base["platforms/php.yaml"])},
			"code/index.php":     {Data: []byte(base["code/index.php"])},
		}
		r, err := Load(fsys)
		if err != nil {
			var problems Problems
			if !errors.As(err, &problems) {
				t.Fatalf("Load returned %T, want Problems: %v", err, err)
			}
			if len(problems) == 0 {
				t.Fatal("Load returned an empty Problems error")
			}
			for i, p := range problems {
				if p.File == "" || p.Line < 1 || p.Column < 1 || p.Message == "" {
					t.Fatalf("problem without a position or message: %+v", p)
				}
				if i > 0 && problems[i-1].File == p.File && problems[i-1].Line > p.Line {
					t.Fatalf("problems not sorted: %v then %v", problems[i-1], p)
				}
			}
			return
		}
		for _, env := range slices.Sorted(maps.Keys(r.Config.Environments)) {
			if _, err := Resolve(r, env); err != nil {
				t.Fatalf("valid repo does not resolve in %s: %v", env, err)
			}
		}
	})
}
