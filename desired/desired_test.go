package desired

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthhq/berth/backup"
	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/hosttest"
	"github.com/berthhq/berth/kind/database"
	"github.com/berthhq/berth/kind/files"
	"github.com/berthhq/berth/kind/install"
	"github.com/berthhq/berth/kind/release"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/render"
	"github.com/berthhq/berth/source"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

type oneHost struct{ h host.Host }

func (o oneHost) Host(context.Context, string) (host.Host, error) { return o.h, nil }

// TestPrepareBuildsEveryPart: Prepare's desired state holds every part a
// run needs (files, directories, the release, the SQLite database, the
// settings file, the install), prunes databases and backs a removed site
// up through the Input's hosts, stamped with its version; its engine
// plans over the store's inventory through the same hosts and hook.
func TestPrepareBuildsEveryPart(t *testing.T) {
	base := t.TempDir()
	repo := filepath.Join(base, "repo")
	writeFiles(t, repo, map[string]string{
		"berth.yaml":               "environments:\n  production: { branch: main }\nbackups: { dir: backups }\n",
		"servers/web.yaml":         "kind: Server\nname: web\naddress: local\nservices:\n  http: { type: nginx, conf_dir: sites, web_root: www, user: root }\n  php: { type: php-fpm }\n  db: { type: sqlite }\n",
		"platforms/app.yaml":       "kind: Platform\nname: app\ntype: php\nsource: { path: code }\ninstall: [\"true\"]\nservers: [web]\n",
		"code/index.php":           "<?php echo 1;\n",
		"sites/a.example.com.yaml": "kind: Site\nname: a.example.com\nplatform: app\ndb: { server: web }\n",
	})
	fsys, err := source.OpenDirFS(repo)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	loaded, err := spec.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	res, err := spec.Resolve(loaded, "production")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	store, err := state.Open(ctx, filepath.Join(base, "state"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	hosts := oneHost{hosttest.New("web")}
	hook := &reconcile.NopHook{}
	e, d, err := Prepare(ctx, Input{Resolved: res, Revision: "rev1", Repo: fsys, StateDir: filepath.Join(base, "state"),
		Store: store, Hosts: hosts, Version: "v-test"}, hook)
	if err != nil {
		t.Fatal(err)
	}

	kinds := map[string]bool{}
	for _, r := range d.Resources {
		kinds[r.Kind()] = true
	}
	for _, want := range []string{files.KindDir, files.KindFile, release.KindRelease, database.KindSQLite, install.KindInstall} {
		if !kinds[want] {
			t.Errorf("the desired state has no %s resource; kinds: %v", want, kinds)
		}
	}
	if d.Env != "production" || d.Revision != "rev1" || d.Prune == nil || d.BeforeDelete == nil {
		t.Errorf("desired: env %q revision %q prune set %v before-delete set %v", d.Env, d.Revision, d.Prune != nil, d.BeforeDelete != nil)
	}
	guard, err := d.BeforeDelete("gone.example.com", []reconcile.Record{{ID: SiteDirID("gone.example.com", "web"), Server: "web", Kind: files.KindDir,
		Site: "gone.example.com", Path: "/srv/www/sites/gone.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if guard == nil || guard.ID() != BackupID("gone.example.com", "web") || guard.Kind() != backup.KindBackup {
		t.Errorf("the deletion backup: %#v", guard)
	}
	if e.Hosts != hosts || e.Hook != hook || e.Inventory == nil {
		t.Errorf("engine: %+v", e)
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDirPlatformServedInPlace: a platform with source.dir gets no
// release, and its site's vhost serves that directory, with nothing of
// the desired state under it.
func TestDirPlatformServedInPlace(t *testing.T) {
	base := t.TempDir()
	repo := filepath.Join(base, "repo")
	writeFiles(t, repo, map[string]string{
		"berth.yaml":               "environments:\n  production: { branch: main }\n",
		"servers/web.yaml":         "kind: Server\nname: web\naddress: local\nservices:\n  http: { type: nginx, conf_dir: sites, web_root: www, user: root }\n",
		"platforms/hand.yaml":      "kind: Platform\nname: hand\ntype: static\nsource: { dir: /srv/hand/a }\nservers: [web]\n",
		"sites/a.example.com.yaml": "kind: Site\nname: a.example.com\nplatform: hand\n",
	})
	fsys, err := source.OpenDirFS(repo)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	loaded, err := spec.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	res, err := spec.Resolve(loaded, "production")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	store, err := state.Open(ctx, filepath.Join(base, "state"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	_, d, err := Prepare(ctx, Input{Resolved: res, Revision: "rev1", Repo: fsys, StateDir: filepath.Join(base, "state"),
		Store: store, Hosts: oneHost{hosttest.New("web")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range d.Resources {
		if r.Kind() == release.KindRelease {
			t.Errorf("a source.dir platform gets a release: %s", r.ID())
		}
		if p := r.Path(); p == "/srv/hand/a" || strings.HasPrefix(p, "/srv/hand/a/") {
			t.Errorf("%s manages %s, inside the platform's own directory", r.ID(), p)
		}
	}
	srv := res.Servers[0].WithBase(filepath.Join(base, "state"))
	_, rendered, err := render.Site(&res.Sites[0], &srv)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rendered {
		if f.Path == render.Paths(&res.Sites[0], &srv).Vhost && !strings.Contains(string(f.Content), `root "/srv/hand/a";`) {
			t.Errorf("the vhost does not serve the platform's directory:\n%s", f.Content)
		}
	}
}
