package desired

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berthhq/berth/host/hosttest"
	"github.com/berthhq/berth/kind/filesync"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/source"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

// prepareFiles prepares platform app on web1, web2 and web3 with files
// (a YAML flow mapping, "" for none) and returns its resolved environment
// and desired state.
func prepareFiles(t *testing.T, files string) (*spec.Resolved, *reconcile.Desired, string) {
	t.Helper()
	base := t.TempDir()
	repo := filepath.Join(base, "repo")
	var servers []string
	for i := 1; i <= 3; i++ {
		servers = append(servers, fmt.Sprintf("kind: Server\nname: web%d\naddress: 192.0.2.1%d\nservices:\n  http: { type: nginx }\n  php: { type: php-fpm }\n", i, i))
	}
	platform := "kind: Platform\nname: app\ntype: php\nsource: { path: code }\nservers: [web1, web2, web3]\n"
	if files != "" {
		platform += "files: " + files + "\n"
	}
	writeFiles(t, repo, map[string]string{
		"berth.yaml":         "environments:\n  production: { branch: main }\nbackups: { server: web1 }\n",
		"servers/web.yaml":   strings.Join(servers, "---\n"),
		"platforms/app.yaml": platform,
		"code/index.php":     "<?php\n",
		"sites/a.yaml":       "kind: Site\nname: a.example.com\nplatform: app\n",
	})
	fsys, err := source.OpenDirFS(repo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsys.Close() })
	loaded, err := spec.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	res, err := spec.Resolve(loaded, "production")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	stateDir := filepath.Join(base, "state")
	store, err := state.Open(ctx, stateDir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	_, d, err := Prepare(ctx, Input{Resolved: res, Revision: "rev1", Repo: fsys, StateDir: stateDir,
		Store: store, Hosts: oneHost{hosttest.New("web")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res, d, stateDir
}

// TestFileSharing: sync mode adds a copy per server but the primary,
// after the files directories on both ends; shared mode puts the files
// directory on the shared path and makes it wait, on every server but the
// first, for the check of the path; without files nothing is added. The
// site's backups read its files where they are kept: on the primary, or
// on the shared path of the first server.
func TestFileSharing(t *testing.T) {
	tests := []struct {
		name      string
		files     string
		want      map[string][]string // resource ID -> its deps among the files resources
		filesDir  string              // of the site on web3
		backupWeb string
		backupDir string
	}{
		{
			name:      "none",
			want:      map[string][]string{},
			filesDir:  "/var/www/sites/a.example.com/files",
			backupWeb: "web1", backupDir: "/var/www/sites/a.example.com",
		},
		{
			name:  "sync",
			files: "{ mode: sync, primary: web2 }",
			want: map[string][]string{
				FilesSyncID("a.example.com", "web1"): {FilesDirID("a.example.com", "web1"), FilesDirID("a.example.com", "web2")},
				FilesSyncID("a.example.com", "web3"): {FilesDirID("a.example.com", "web3"), FilesDirID("a.example.com", "web2")},
			},
			filesDir:  "/var/www/sites/a.example.com/files",
			backupWeb: "web2", backupDir: "/var/www/sites/a.example.com",
		},
		{
			name:  "shared",
			files: "{ mode: shared, path: /srv/shared }",
			want: map[string][]string{
				SharedFilesID("app", "web2"):        nil,
				SharedFilesID("app", "web3"):        nil,
				FilesDirID("a.example.com", "web2"): {SharedFilesID("app", "web2")},
				FilesDirID("a.example.com", "web3"): {SharedFilesID("app", "web3")},
			},
			filesDir:  "/srv/shared/a.example.com/files",
			backupWeb: "web1", backupDir: "/srv/shared/a.example.com",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, d, stateDir := prepareFiles(t, tt.files)
			got := map[string][]string{}
			for _, r := range d.Resources {
				if r.ID() == FilesDirID("a.example.com", "web3") && r.Path() != tt.filesDir {
					t.Errorf("files dir on web3 at %s, want %s", r.Path(), tt.filesDir)
				}
				var deps []string
				for _, dep := range r.Deps() {
					if strings.Contains(dep, "files-") {
						deps = append(deps, dep)
					}
				}
				if r.Kind() == filesync.KindSync || r.Kind() == filesync.KindShared || deps != nil {
					got[r.ID()] = deps
				}
			}
			if len(got) != len(tt.want) {
				t.Errorf("files resources %v, want %v", got, tt.want)
			}
			for id, deps := range tt.want {
				if !slices.Equal(got[id], deps) {
					t.Errorf("%s: deps %v, want %v", id, got[id], deps)
				}
			}
			data, _, err := SiteDataOf(res, "a.example.com", stateDir)
			if err != nil {
				t.Fatal(err)
			}
			if data.Web != tt.backupWeb || data.SiteDir != tt.backupDir {
				t.Errorf("backups read the files of %s in %s, want %s in %s", data.Web, data.SiteDir, tt.backupWeb, tt.backupDir)
			}
			copies, err := FileSyncsOf(res, "a.example.com", stateDir, nil)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(copies); (n == 2) != (tt.name == "sync") || tt.name != "sync" && n != 0 {
				t.Errorf("%d copies after a restore", n)
			}
		})
	}
}
