package reconcile

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/berthhq/berth/host/hosttest"
	"github.com/berthhq/berth/source"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

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
	hook := &NopHook{}
	e, d, err := Prepare(ctx, Input{Resolved: res, Revision: "rev1", Repo: fsys, StateDir: filepath.Join(base, "state"),
		Store: store, Hosts: hosts, Version: "v-test"}, hook)
	if err != nil {
		t.Fatal(err)
	}

	kinds := map[string]bool{}
	for _, r := range d.Resources {
		kinds[r.Kind()] = true
	}
	for _, want := range []string{KindDir, KindFile, KindRelease, KindSQLite, KindInstall} {
		if !kinds[want] {
			t.Errorf("the desired state has no %s resource; kinds: %v", want, kinds)
		}
	}
	if d.Env != "production" || d.Revision != "rev1" || d.Prune == nil || d.BeforeDelete == nil {
		t.Errorf("desired: env %q revision %q prune set %v before-delete set %v", d.Env, d.Revision, d.Prune != nil, d.BeforeDelete != nil)
	}
	guard, err := d.BeforeDelete("gone.example.com", []Record{{ID: "site/gone.example.com/dir@web", Server: "web", Kind: KindDir,
		Site: "gone.example.com", Path: "/srv/www/sites/gone.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := guard.(*siteBackup); !ok || b.b.Version != "v-test" || b.b.Hosts != hosts || b.rev != "rev1" {
		t.Errorf("the deletion backup: %#v", guard)
	}
	if e.Hosts != hosts || e.Hook != hook || e.Inventory == nil {
		t.Errorf("engine: %+v", e)
	}
}
