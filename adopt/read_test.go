package adopt

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthhq/berth/host/local"
	"github.com/berthhq/berth/spec"
)

// TestRead reads a server through the local host driver: the *.conf files
// of conf_dir (not others, not subdirectories), the pools of a pool_dir,
// which document roots are directories; a missing pool_dir is no error,
// a missing conf_dir is one that says what to set.
func TestRead(t *testing.T) {
	base := t.TempDir()
	conf, pools, root := filepath.Join(base, "sites"), filepath.Join(base, "php", "8.2", "pool.d"), filepath.Join(base, "srv", "a")
	files := map[string]string{
		filepath.Join(conf, "a.example.com.conf"):     "server { listen 80; server_name a.example.com; root " + root + "; }\n",
		filepath.Join(conf, "b.example.com.conf"):     "server { listen 80; server_name b.example.com; root /nonexistent/b; }\n",
		filepath.Join(conf, "broken.conf"):            "server {\n",
		filepath.Join(conf, "notes.txt"):              "server { server_name ignored.example.com; }\n",
		filepath.Join(conf, "sub", "deep.conf"):       "server { server_name deep.example.com; }\n",
		filepath.Join(pools, "shop.conf"):             "[shop]\nlisten = /run/php/shop.sock\n",
		filepath.Join(root, "index.html"):             "a\n",
		filepath.Join(base, "php", "8.3", "x.conf"):   "[other]\n",
		filepath.Join(conf, "odd\nname.example.conf"): "server { server_name odd.example.com; root /srv; }\n",
	}
	for p, data := range files {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srv := spec.ResolvedServer{Name: "web", HTTP: &spec.ResolvedHTTP{Type: "nginx", Listen: "80", ConfDir: conf},
		PHP: &spec.ResolvedPHP{PoolDir: filepath.Join(base, "php", "{version}", "pool.d"), RunDir: "/run/php"}}
	ctx := context.Background()
	f, err := Read(ctx, local.New(), srv, "8.2")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range f.Vhosts {
		names = append(names, strings.Join(v.Names, " "))
	}
	if got := strings.Join(names, ","); got != "a.example.com,b.example.com,odd.example.com" {
		t.Errorf("vhosts %s", got)
	}
	if len(f.Pools) != 1 || f.Pools[0].Name != "shop" {
		t.Errorf("pools %+v", f.Pools)
	}
	if !f.Dirs[root] || f.Dirs["/nonexistent/b"] {
		t.Errorf("document roots %v", f.Dirs)
	}
	if len(f.Problems) != 1 || !strings.Contains(f.Problems[0].What, "broken.conf") {
		t.Errorf("problems %+v", f.Problems)
	}

	// Without PHP-FPM's pool directory: no pools, no error.
	srv.PHP.PoolDir = filepath.Join(base, "nowhere", "{version}")
	if f, err := Read(ctx, local.New(), srv, "8.2"); err != nil || len(f.Pools) != 0 {
		t.Errorf("missing pool_dir: %v %+v", err, f)
	}
	srv.HTTP.ConfDir = filepath.Join(base, "missing")
	if _, err := Read(ctx, local.New(), srv, "8.2"); err == nil || !strings.Contains(err.Error(), "set services.http.conf_dir") {
		t.Errorf("missing conf_dir: %v", err)
	}
}
