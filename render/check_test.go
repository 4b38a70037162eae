package render

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthhq/berth/internal/testenv"
)

// apacheModules loads, in the test harness, the modules berth's
// VirtualHosts need besides those the harness loads itself (see doc.go).
var apacheModules = []string{
	"alias", "headers", "auth_basic", "authn_core", "authn_file", "authz_user", "proxy", "proxy_fcgi",
}

func apacheModulesConf() string {
	var b strings.Builder
	for _, m := range apacheModules {
		fmt.Fprintf(&b, "LoadModule %s_module /usr/lib/apache2/modules/mod_%s.so\n", m, m)
	}
	return b.String()
}

// configsByServer groups a golden case's rendered files by server and
// service: every vhost and every pool, byte for byte as berth writes them.
func configsByServer(gc *goldenCase) map[string]map[string][]File {
	out := map[string]map[string][]File{}
	for _, r := range gc.out {
		if out[r.srv.Name] == nil {
			out[r.srv.Name] = map[string][]File{}
		}
		for _, f := range r.files {
			if f.Service == "" {
				continue
			}
			svc := f.Service
			if svc == ServiceHTTP {
				svc = r.srv.HTTP.Type
			} else {
				svc = "php-fpm"
			}
			out[r.srv.Name][svc] = append(out[r.srv.Name][svc], f)
		}
	}
	return out
}

// replaceConfigs empties dir of *.conf files and writes files into it
// under their base names.
func replaceConfigs(t *testing.T, dir string, files []File, extra map[string]string) {
	t.Helper()
	old, _ := filepath.Glob(filepath.Join(dir, "*.conf"))
	for _, o := range old {
		if err := os.Remove(o); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range extra {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, path.Base(f.Path)), f.Content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestGoldenRealCheckers runs the real nginx -t, apache2 -t and php-fpm -t
// over every vhost and pool of every golden file, as rendered.
func TestGoldenRealCheckers(t *testing.T) {
	cases := loadAllGolden(t)
	var nginxN, apacheN, poolN int
	t.Run("nginx", func(t *testing.T) {
		n := testenv.Nginx(t)
		for _, gc := range cases {
			for srv, bySvc := range configsByServer(gc) {
				if len(bySvc["nginx"]) == 0 {
					continue
				}
				replaceConfigs(t, n.SitesDir, bySvc["nginx"], nil)
				if err := n.Test(); err != nil {
					t.Errorf("%s, server %s: %v", gc.file, srv, err)
				}
				nginxN += len(bySvc["nginx"])
			}
		}
		replaceConfigs(t, n.SitesDir, nil, nil)
	})
	t.Run("apache2", func(t *testing.T) {
		a := testenv.Apache(t)
		for _, gc := range cases {
			for srv, bySvc := range configsByServer(gc) {
				if len(bySvc["apache"]) == 0 {
					continue
				}
				replaceConfigs(t, a.SitesDir, bySvc["apache"], map[string]string{"00-berth-modules.conf": apacheModulesConf()})
				if err := a.Test(); err != nil {
					t.Errorf("%s, server %s: %v", gc.file, srv, err)
				}
				apacheN += len(bySvc["apache"])
			}
		}
		replaceConfigs(t, a.SitesDir, nil, nil)
	})
	t.Run("php-fpm", func(t *testing.T) {
		testenv.PHPFPM(t) // installs php-fpm when it is missing
		bin, err := exec.LookPath("php-fpm8.2")
		if err != nil {
			t.Fatal(err)
		}
		d := t.TempDir()
		pools := filepath.Join(d, "pool.d")
		if err := os.Mkdir(pools, 0o755); err != nil {
			t.Fatal(err)
		}
		cfg := filepath.Join(d, "php-fpm.conf")
		global := fmt.Sprintf("[global]\npid = %[1]s/php-fpm.pid\nerror_log = %[1]s/php-fpm.log\ninclude = %[2]s/*.conf\n", d, pools)
		if err := os.WriteFile(cfg, []byte(global), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, gc := range cases {
			for srv, bySvc := range configsByServer(gc) {
				if len(bySvc["php-fpm"]) == 0 {
					continue
				}
				// Pools of every PHP version are checked by php-fpm 8.2: the
				// pool syntax berth writes is the same for all of them.
				for _, f := range bySvc["php-fpm"] {
					for _, l := range strings.Split(string(f.Content), "\n") {
						if u, ok := strings.CutPrefix(l, "user = "); ok {
							ensureUser(t, u) // php-fpm -t looks the pool's user up
						}
					}
				}
				replaceConfigs(t, pools, bySvc["php-fpm"], nil)
				if out, err := exec.Command(bin, "-t", "-y", cfg).CombinedOutput(); err != nil {
					t.Errorf("%s, server %s: php-fpm -t: %v\n%s", gc.file, srv, err, out)
				}
				poolN += len(bySvc["php-fpm"])
			}
		}
	})
	t.Logf("checked %d nginx vhosts, %d apache vhosts, %d php-fpm pools", nginxN, apacheN, poolN)
	if nginxN < 10 || apacheN < 10 || poolN < 10 {
		t.Errorf("too few configs checked: %d nginx, %d apache, %d pools", nginxN, apacheN, poolN)
	}
}
