package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/berthhq/berth/backup"
	"github.com/berthhq/berth/daemon"
	"github.com/berthhq/berth/internal/testenv"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/source"
	"github.com/berthhq/berth/state"
)

// pipelineRepo is a sites repo with every kind berth builds: files and
// directories, releases of path and git platforms, MariaDB, PostgreSQL and
// SQLite databases with settings files, installs, and (once a site is
// removed) a deletion backup. Its servers are local; their service checks
// and reloads are `true`, so that the test needs no web server.
type pipelineRepo struct {
	t                    *testing.T
	base, repo, stateDir string
	gitWork, gitURL      string
	my                   *testenv.MariaDBServer
	pg                   *testenv.PostgresServer
	logs                 bytes.Buffer
}

func newPipelineRepo(t *testing.T) *pipelineRepo {
	base := t.TempDir()
	for _, d := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r := &pipelineRepo{t: t, base: base, repo: filepath.Join(base, "repo"), stateDir: filepath.Join(base, "state"),
		gitWork: filepath.Join(base, "gitcode"), my: testenv.MariaDB(t), pg: testenv.Postgres(t)}
	r.gitURL = "file://" + r.gitWork
	r.git("init", "-q", "-b", "main", r.gitWork)
	r.gitCommit("<h1>git code 1</h1>\n")

	r.write("berth.yaml", fmt.Sprintf("environments:\n  production: { branch: main }\nbackups: { server: web, dir: %s }\n", filepath.Join(base, "backups")))
	r.write("servers/web.yaml", fmt.Sprintf(`kind: Server
name: web
address: local
services:
  http:
    type: nginx
    listen: 127.0.0.1:8080
    conf_dir: %[1]s/nginx
    web_root: %[1]s/www
    user: nobody
    group: nogroup
    test: ["true"]
    reload: ["true"]
  php:
    type: php-fpm
    pool_dir: %[1]s/php/{version}/pool.d
    run_dir: %[1]s/php/{version}/run
    test: ["true"]
    reload: ["true"]
  db: { type: sqlite }
---
kind: Server
name: mdb
address: local
services:
  db: { type: mariadb, socket: %[2]s }
---
kind: Server
name: pdb
address: local
services:
  db: { type: postgresql, socket_dir: %[3]s, port: %[4]d, client: %[5]s }
`, base, r.my.Socket, r.pg.SocketDir, r.pg.Port, filepath.Join(testenv.PostgresBin, "psql")))
	r.write("platforms/static.yaml", "kind: Platform\nname: static\ntype: static\nsource: { path: code/static }\nservers: [web]\n")
	r.write("platforms/gitapp.yaml", fmt.Sprintf("kind: Platform\nname: gitapp\ntype: static\nsource: { git: %q, ref: main }\nservers: [web]\n", r.gitURL))
	r.write("platforms/app.yaml", "kind: Platform\nname: app\ntype: php\nsource: { path: code/app }\ninstall: [\"true\"]\nservers: [web]\n")
	r.write("code/static/index.html", "<h1>static 1</h1>\n")
	r.write("code/app/index.php", "<?php echo 1;\n")
	r.site("s.example.com", "static", "", "one")
	r.site("g.example.com", "gitapp", "", "")
	r.site("lite.example.com", "app", "web", "")
	r.site("my.example.com", "app", "mdb", "")
	r.site("pg.example.com", "app", "pdb", "")
	r.site("gone.example.com", "app", "mdb", "")
	return r
}

func (r *pipelineRepo) git(args ...string) {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// gitCommit commits index.html of the git platform.
func (r *pipelineRepo) gitCommit(index string) {
	r.t.Helper()
	if err := os.WriteFile(filepath.Join(r.gitWork, "index.html"), []byte(index), 0o644); err != nil {
		r.t.Fatal(err)
	}
	r.git("-C", r.gitWork, "add", "-A")
	r.git("-C", r.gitWork, "commit", "-q", "-m", index)
}

func (r *pipelineRepo) write(name, data string) {
	r.t.Helper()
	p := filepath.Join(r.repo, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// site writes a site of platform; db names its database's server ("" none),
// header an X-Site header ("" none).
func (r *pipelineRepo) site(name, platform, db, header string) {
	doc := fmt.Sprintf("kind: Site\nname: %s\nplatform: %s\n", name, platform)
	if db != "" {
		doc += fmt.Sprintf("db: { server: %s }\n", db)
	}
	if header != "" {
		doc += "web:\n  headers:\n    X-Site: " + header + "\n"
	}
	r.write("sites/"+name+".yaml", doc)
}

// berth runs the CLI on the repo; want is the exit status expected.
func (r *pipelineRepo) berth(want int, args ...string) string {
	r.t.Helper()
	args = append(args, "--env", "production", "--repo", r.repo, "--state-dir", r.stateDir, "--no-color")
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	r.logs.WriteString(stdout.String() + stderr.String())
	if code != want {
		r.t.Fatalf("berth %s: exit %d, want %d\n%s\n%s", strings.Join(args, " "), code, want, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// newDaemon returns the daemon `berth serve --repo <repo> --state-dir
// <state>` runs (daemonConfig), over its own store; stop closes the store.
func (r *pipelineRepo) newDaemon(afterRun func(daemon.EnvStatus)) (d *daemon.Daemon, stop func()) {
	r.t.Helper()
	ctx := context.Background()
	store, err := state.Open(ctx, r.stateDir, state.Options{Command: "berth serve"})
	if err != nil {
		r.t.Fatal(err)
	}
	src, err := source.Open(ctx, r.repo, filepath.Join(r.stateDir, "repo.git"), source.Auth{})
	if err != nil {
		store.Close()
		r.t.Fatal(err)
	}
	f := &serveFlags{repo: r.repo, stateDir: r.stateDir, configBranch: "main", knownHosts: defaultKnownHosts()}
	cfg := daemonConfig(f, src, store, r.stateDir, zerolog.Nop())
	cfg.AfterRun = afterRun
	d, err = daemon.New(cfg)
	if err != nil {
		store.Close()
		r.t.Fatal(err)
	}
	return d, func() { store.Close() }
}

// planJSON is a plan as JSON without its revision: the CLI names a plain
// directory's revision by its spec files, the daemon by all its files.
func planJSON(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("plan JSON: %v\n%s", err, data)
	}
	delete(m, "revision")
	return m
}

// samePlan plans the repo through the daemon (Daemon.Plan) and through
// `berth plan --json`, and fails unless the two are identical (every
// change's ID, action, reason and diff, the warnings, the sites). It
// returns the plan's changes.
func (r *pipelineRepo) samePlan(step string) []reconcile.Change {
	r.t.Helper()
	d, stop := r.newDaemon(nil)
	p, err := d.Plan(context.Background(), "production")
	stop()
	if err != nil {
		r.t.Fatalf("%s: the daemon's plan: %v", step, err)
	}
	daemonJSON, _ := json.Marshal(p)
	cliJSON := r.berth(2, "plan", "--json")
	if got, want := planJSON(r.t, daemonJSON), planJSON(r.t, []byte(cliJSON)); !reflect.DeepEqual(got, want) {
		r.t.Fatalf("%s: the daemon plans otherwise than berth plan.\ndaemon:\n%s\nberth plan:\n%s", step, daemonJSON, cliJSON)
	}
	return p.Changes
}

// TestPlanSameThroughCLIAndDaemon: for a repo with every kind, the plan
// of `berth plan` and the plan of the daemon (`berth serve`'s
// configuration) are identical, on a fresh environment and after a
// revision that changes, adds and removes sites; the daemon then applies
// it, its deletion backup records berth's version as apply's do, and
// `berth plan` finds nothing left to do.
func TestPlanSameThroughCLIAndDaemon(t *testing.T) {
	r := newPipelineRepo(t)

	first := r.samePlan("a fresh environment")
	r.berth(0, "apply", "--auto-approve")
	r.berth(0, "plan")

	// The next revision: a header changed, both platforms' code changed, a
	// site with a database removed, two sites added.
	r.site("s.example.com", "static", "", "two")
	r.write("code/app/index.php", "<?php echo 2;\n")
	r.gitCommit("<h1>git code 2</h1>\n")
	if err := os.Remove(filepath.Join(r.repo, "sites/gone.example.com.yaml")); err != nil {
		t.Fatal(err)
	}
	r.site("new.example.com", "app", "web", "")
	r.site("pg2.example.com", "app", "pdb", "")
	changes := r.samePlan("the next revision")

	// Every kind is in the compared plans, created, changed or deleted.
	kinds := map[string]bool{}
	for _, c := range append(first, changes...) {
		kinds[fmt.Sprintf("%s %s", c.Action, c.Kind)] = true
	}
	for _, want := range []string{"update file", "create file", "delete file", "create dir", "delete dir",
		"create release", "update release", "create sqlite-db", "create postgres-db", "create mysql-db", "delete mysql-db",
		"create install", "delete install", "create backup"} {
		if !kinds[want] {
			t.Errorf("the compared plan has no %q change; it has %v", want, slices.Sorted(maps.Keys(kinds)))
		}
	}

	// The daemon applies it: the removed site is backed up first, the
	// backup stamped with berth's version.
	done := make(chan daemon.EnvStatus, 8)
	d, stop := r.newDaemon(func(s daemon.EnvStatus) { done <- s })
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- d.Run(ctx) }()
	var st daemon.EnvStatus
	select {
	case st = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("the daemon did not finish its first run within 2 minutes")
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	stop()
	if st.Phase != daemon.PhaseSynced {
		t.Fatalf("the daemon's run: %+v", st)
	}
	var manifests []backup.Manifest
	filepath.WalkDir(filepath.Join(r.base, "backups"), func(p string, e fs.DirEntry, err error) error {
		if err == nil && e.Name() == "manifest.json" {
			var m backup.Manifest
			b, _ := os.ReadFile(p)
			if err := json.Unmarshal(b, &m); err != nil {
				t.Errorf("%s: %v", p, err)
			}
			manifests = append(manifests, m)
		}
		return nil
	})
	if len(manifests) != 1 || manifests[0].Site != "gone.example.com" || manifests[0].Reason != backup.ReasonDelete {
		t.Fatalf("backups taken by the daemon: %+v", manifests)
	}
	if manifests[0].Berth != version {
		t.Errorf("the daemon's deletion backup records berth %q, want %q (as berth apply records it)", manifests[0].Berth, version)
	}
	if out := r.berth(0, "plan"); !strings.Contains(out, "No changes") {
		t.Errorf("berth plan after the daemon's run:\n%s", out)
	}
}
