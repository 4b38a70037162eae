package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/hosttest"
	"github.com/berthhq/berth/host/local"
	"github.com/berthhq/berth/kind/files"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/reconcile/reconciletest"
)

// fakeShell makes a Fake run the release's scripts and rm -rf, from what
// they do on a real host.
type fakeShell struct {
	f    *hosttest.Fake
	mu   sync.Mutex
	dirs map[string]bool // directories the scripts made
	// log, when set, is told "SERVER: ship BUILD" and "SERVER: switch
	// TARGET" as the scripts do them.
	log func(string)
}

func (s *fakeShell) event(e string) {
	if s.log != nil {
		s.log(s.f.Name() + ": " + e)
	}
}

func newFakeShell(f *hosttest.Fake) *fakeShell {
	s := &fakeShell{f: f, dirs: map[string]bool{}}
	f.Handle("sh", s.sh)
	f.Handle("rm", s.rm)
	return s
}

func (s *fakeShell) mkdir(ctx context.Context, p string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for d := p; d != "/" && !s.dirs[d]; d = path.Dir(d) {
		s.dirs[d] = true
	}
	return s.f.MkdirAll(ctx, p, 0o755)
}

func fail(err error) (host.RunResult, error) {
	return host.RunResult{ExitCode: 1, Stderr: []byte(err.Error())}, nil
}

func (s *fakeShell) sh(ctx context.Context, argv []string, stdin []byte) (host.RunResult, error) {
	args := argv[4:]
	switch argv[2] {
	case deployScript:
		// args: build dir, link, target, marker, aside, builds dir,
		// "ship", "hold"
		if args[6] == "ship" {
			if _, err := s.f.ReadFile(ctx, args[3]); err != nil {
				res, err := s.unpack(ctx, args[0], stdin)
				if err != nil || res.ExitCode != 0 {
					res.Stderr = append(res.Stderr, "\n"+stepShip...)
					return res, err
				}
				s.event("ship " + path.Base(args[0]))
			}
		}
		if _, err := s.f.ReadFile(ctx, args[3]); err != nil {
			return fail(fmt.Errorf("%w %s", err, stepSwitch))
		}
		obs, err := s.f.Observe(ctx, []string{args[1]})
		if err != nil {
			return fail(err)
		}
		if obs[0].LinkTarget != args[2] && args[7] != "hold" {
			s.event("switch " + args[2])
			if err := s.f.Remove(ctx, args[1]); err != nil {
				return fail(fmt.Errorf("%w %s", err, stepSwitch))
			}
			if err := s.f.Symlink(args[2], args[1]); err != nil {
				return fail(fmt.Errorf("%w %s", err, stepSwitch))
			}
		}
		return s.list(args[5]), nil
	case switchScript:
		s.event("switch " + args[1])
		if err := s.f.Remove(ctx, args[0]); err != nil {
			return fail(err)
		}
		if err := s.f.Symlink(args[1], args[0]); err != nil {
			return fail(err)
		}
	case listScript:
		return s.list(args[0]), nil
	default:
		return fail(errors.New("the fake shell knows only the release's scripts"))
	}
	return host.RunResult{}, nil
}

// list is listScript: the builds under dir.
func (s *fakeShell) list(dir string) host.RunResult {
	var out strings.Builder
	for p := range s.f.Files() {
		if path.Base(p) == BuildMarker && path.Dir(path.Dir(p)) == dir {
			out.WriteString("1 " + path.Dir(p) + "\x00")
		}
	}
	return host.RunResult{Stdout: []byte(out.String())}
}

// unpack is the ship step: the gzipped tar stream stdin into dir.
func (s *fakeShell) unpack(ctx context.Context, dir string, stdin []byte) (host.RunResult, error) {
	zr, err := gzip.NewReader(bytes.NewReader(stdin))
	if err != nil {
		return fail(err)
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(err)
		}
		p := path.Join(dir, hdr.Name)
		if err := s.mkdir(ctx, path.Dir(p)); err != nil {
			return fail(err)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			err = s.mkdir(ctx, p)
		case tar.TypeSymlink:
			err = s.f.Symlink(hdr.Linkname, p)
		default:
			data, _ := io.ReadAll(tr)
			err = s.f.WriteFile(ctx, p, data, host.WriteOptions{Mode: os.FileMode(hdr.Mode)})
		}
		if err != nil {
			return fail(err)
		}
	}
	return host.RunResult{}, nil
}

func (s *fakeShell) rm(ctx context.Context, argv []string, _ []byte) (host.RunResult, error) {
	for _, root := range argv[3:] {
		for p := range s.f.Files() {
			if strings.HasPrefix(p, root+"/") {
				if err := s.f.Remove(ctx, p); err != nil {
					return fail(err)
				}
			}
		}
		s.mu.Lock()
		var dirs []string
		for d := range s.dirs {
			if d == root || strings.HasPrefix(d, root+"/") {
				dirs = append(dirs, d)
				delete(s.dirs, d)
			}
		}
		s.mu.Unlock()
		slices.SortFunc(dirs, func(a, b string) int { return len(b) - len(a) })
		for _, d := range dirs {
			if err := s.f.Remove(ctx, d); err != nil {
				return fail(err)
			}
		}
	}
	return host.RunResult{}, nil
}

// releaseEnv is an engine over some hosts with one platform "app" whose
// builds count their runs in a file on the controller.
type releaseEnv struct {
	t      *testing.T
	engine *reconcile.Engine
	inv    *reconciletest.MemInventory
	root   string // platform dirs live in root/<server>/app
	state  string // the controller's build directory
	runs   string // one line per build command run
}

func newReleaseEnv(t *testing.T, hosts reconciletest.Hosts, root string) *releaseEnv {
	inv := reconciletest.NewMemInventory()
	state := t.TempDir()
	return &releaseEnv{t: t, engine: &reconcile.Engine{Hosts: hosts, Inventory: inv}, inv: inv, root: root,
		state: state, runs: filepath.Join(state, "runs")}
}

// desired deploys files (and the build commands) to servers, keeping keep.
func (e *releaseEnv) desired(files map[string]string, keep int, build []string, servers ...string) *reconcile.Desired {
	tree := fstest.MapFS{}
	for name, content := range files {
		tree[name] = &fstest.MapFile{Data: []byte(content), Mode: 0o644}
	}
	sum, err := TreeHash(tree)
	if err != nil {
		e.t.Fatal(err)
	}
	art := &Artifact{platform: "app", id: BuildID(sum, build), source: "test tree " + sum[:12], tree: tree,
		build: build, dir: filepath.Join(e.state, "builds", "app"), keep: keep}
	d := &reconcile.Desired{Env: "test", Revision: sum[:12], MaxDeletions: 5,
		Service: func(server, name string) (reconcile.Service, error) { return reconcile.Service{Name: name}, nil }}
	for _, sn := range servers {
		d.Resources = append(d.Resources, New(ReleaseSpec{ID: "platform/app/release@" + sn, Server: sn, Platform: "app",
			Current: e.current(sn), Keep: keep}, art))
	}
	return d
}

func (e *releaseEnv) current(server string) string {
	return path.Join(e.root, server, "app", "current")
}

func (e *releaseEnv) plan(d *reconcile.Desired) *reconcile.Plan {
	e.t.Helper()
	p, err := e.engine.Plan(context.Background(), d, reconcile.PlanOptions{})
	if err != nil {
		e.t.Fatalf("plan: %v", err)
	}
	return p
}

func (e *releaseEnv) apply(d *reconcile.Desired) *reconcile.Plan {
	e.t.Helper()
	p := e.plan(d)
	if _, err := e.engine.Apply(context.Background(), p); err != nil {
		e.t.Fatalf("apply: %v", err)
	}
	return p
}

func (e *releaseEnv) buildRuns() int {
	data, err := os.ReadFile(e.runs)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return strings.Count(string(data), "\n")
}

// TestReleaseIdempotentFake is the timeline on two fake servers: the
// build runs once for both, is shipped to both, and a second apply runs
// nothing at all.
func TestReleaseIdempotentFake(t *testing.T) {
	ctx := context.Background()
	web1, web2 := hosttest.New("web1"), hosttest.New("web2")
	newFakeShell(web1)
	newFakeShell(web2)
	env := newReleaseEnv(t, reconciletest.Hosts{"web1": web1, "web2": web2}, "/srv")
	for _, f := range []*hosttest.Fake{web1, web2} {
		if err := f.MkdirAll(ctx, "/srv/"+f.Name()+"/app", 0o755); err != nil {
			t.Fatal(err)
		}
	}
	build := []string{"echo run >> '" + env.runs + "' && echo built > built.txt"}
	d := env.desired(map[string]string{"index.php": "<?php echo 1;\n"}, 3, build, "web1", "web2")
	id := d.Resources[0].(*Release).buildID

	p := env.apply(d)
	if got, want := reconciletest.Actions(p), "+platform/app/release@web1 +platform/app/release@web2"; got != want {
		t.Fatalf("first plan: %s, want %s", got, want)
	}
	if n := env.buildRuns(); n != 1 {
		t.Errorf("the build ran %d times for two servers, want once", n)
	}
	for _, f := range []*hosttest.Fake{web1, web2} {
		dir := "/srv/" + f.Name() + "/app/builds/" + id
		files := f.Files()
		if string(files[dir+"/built.txt"]) != "built\n" || string(files[dir+"/index.php"]) != "<?php echo 1;\n" || files[dir+"/"+BuildMarker] == nil {
			t.Errorf("%s: build %s not shipped completely: %v", f.Name(), id, slices.Sorted(func(yield func(string) bool) {
				for p := range files {
					if !yield(p) {
						return
					}
				}
			}))
		}
		obs, _ := f.Observe(ctx, []string{env.current(f.Name())})
		if obs[0].LinkTarget != "builds/"+id {
			t.Errorf("%s: current -> %q, want builds/%s", f.Name(), obs[0].LinkTarget, id)
		}
	}

	// Converged: the plan is empty and applying it runs nothing.
	before := len(web1.Commands()) + len(web2.Commands())
	p = env.apply(d)
	if !p.Empty() {
		t.Fatalf("second plan not empty: %s", reconciletest.Actions(p))
	}
	if after := len(web1.Commands()) + len(web2.Commands()); after != before {
		t.Errorf("a converged apply ran %d commands", after-before)
	}

	// A new revision: one more build, switched on both; the old one stays.
	d2 := env.desired(map[string]string{"index.php": "<?php echo 2;\n"}, 3, build, "web1", "web2")
	id2 := d2.Resources[0].(*Release).buildID
	if p := env.apply(d2); reconciletest.Actions(p) != "~platform/app/release@web1 ~platform/app/release@web2" {
		t.Fatalf("new revision: %s", reconciletest.Actions(p))
	}
	if n := env.buildRuns(); n != 2 {
		t.Errorf("build runs: %d, want 2", n)
	}
	obs, _ := web2.Observe(ctx, []string{env.current("web2"), "/srv/web2/app/builds/" + id + "/" + BuildMarker})
	if obs[0].LinkTarget != "builds/"+id2 || !obs[1].Exists {
		t.Errorf("after the new revision: current -> %q (want builds/%s), old build kept: %v", obs[0].LinkTarget, id2, obs[1].Exists)
	}
	if p := env.apply(d2); !p.Empty() {
		t.Fatalf("plan after the new revision not empty: %s", reconciletest.Actions(p))
	}
}

// TestReleaseLocal runs the release's real scripts on this machine: the
// move from a copied current directory to the link, idempotency, pruning
// to keep_builds and a failing build that leaves the live build alone.
func TestReleaseLocal(t *testing.T) {
	root := t.TempDir()
	env := newReleaseEnv(t, reconciletest.Hosts{"web": local.New()}, root)
	current := env.current("web")

	// What an older berth left: code copied into a real current directory,
	// recorded file by file.
	if err := os.MkdirAll(current, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(current, "index.html"), []byte("copied\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	legacy := []reconcile.Record{
		{ID: "platform/app/dir@web", Server: "web", Kind: files.KindDir, Path: current},
		{ID: "platform/app/code:index.html@web", Server: "web", Kind: files.KindFile, Path: current + "/index.html"},
	}
	if err := env.inv.SaveRecords(context.Background(), "test", "r0", legacy); err != nil {
		t.Fatal(err)
	}

	build := []string{"echo run >> '" + env.runs + "'", "printf '%s' \"$BERTH_BUILD\" > id.txt"}
	d := env.desired(map[string]string{"index.html": "v1\n"}, 2, build, "web")
	id := d.Resources[0].(*Release).buildID
	p := env.apply(d)
	if got := reconciletest.Actions(p); got != "~platform/app/release@web" {
		t.Fatalf("plan over the copied directory: %s (the old records must be forgotten, not deleted)", got)
	}
	if got := read(t, filepath.Join(current, "index.html")); got != "v1\n" {
		t.Errorf("served index.html = %q", got)
	}
	if got := read(t, filepath.Join(current, "id.txt")); got != id {
		t.Errorf("the build saw BERTH_BUILD=%q, want %s", got, id)
	}
	aside, _ := filepath.Glob(filepath.Join(root, "web/app/builds/previous-*/index.html"))
	if len(aside) != 1 || read(t, aside[0]) != "copied\n" {
		t.Errorf("the copied directory was not kept aside: %v", aside)
	}
	recs, _ := env.inv.Records(context.Background(), "test")
	if len(recs) != 1 || recs[0].ID != "platform/app/release@web" {
		t.Errorf("inventory after the move: %+v", recs)
	}
	if p := env.apply(d); !p.Empty() {
		t.Fatalf("second plan not empty: %s", reconciletest.Actions(p))
	}

	// Three more revisions with keep_builds 2: the live one and the one
	// before stay; berth's older builds go; the copied directory stays.
	var ids []string
	for _, v := range []string{"v2\n", "v3\n", "v4\n"} {
		d = env.desired(map[string]string{"index.html": v}, 2, build, "web")
		ids = append(ids, d.Resources[0].(*Release).buildID)
		env.apply(d)
		if got := read(t, filepath.Join(current, "index.html")); got != v {
			t.Errorf("served %q, want %q", got, v)
		}
	}
	left, _ := filepath.Glob(filepath.Join(root, "web/app/builds/*"))
	var names []string
	for _, l := range left {
		names = append(names, filepath.Base(l))
	}
	want := []string{ids[1], ids[2]}
	slices.Sort(want)
	if len(names) != 3 || !strings.HasPrefix(names[2], "previous-") || !slices.Equal(names[:2], want) {
		t.Errorf("builds left: %v, want %v and the copied directory", names, want)
	}
	if n := env.buildRuns(); n != 4 {
		t.Errorf("build runs: %d, want 4", n)
	}

	// A failing build ships nothing and switches nothing; the error has
	// the command's output.
	bad := env.desired(map[string]string{"index.html": "v5\n"}, 2, []string{"echo the-build-broke >&2; exit 3"}, "web")
	p = env.plan(bad)
	_, err := env.engine.Apply(context.Background(), p)
	if err == nil || !strings.Contains(err.Error(), "the-build-broke") || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("failing build: %v", err)
	}
	t.Logf("failing build: %v", err)
	if got := read(t, filepath.Join(current, "index.html")); got != "v4\n" {
		t.Errorf("after the failed build, served %q, want v4", got)
	}
	if target, _ := os.Readlink(current); target != "builds/"+ids[2] {
		t.Errorf("current -> %s after the failed build", target)
	}

	// The platform goes away: the link and berth's builds go, the copied
	// directory stays.
	env.apply(&reconcile.Desired{Env: "test", Revision: "gone", MaxDeletions: 5})
	left, _ = filepath.Glob(filepath.Join(root, "web/app/*/*"))
	if _, err := os.Lstat(current); !errors.Is(err, os.ErrNotExist) || len(left) != 1 || !strings.Contains(left[0], "previous-") {
		t.Errorf("after removing the platform: current %v, left %v", err, left)
	}
}

func read(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestReleaseConflicts: a current berth did not make is not replaced
// without --adopt, and a regular file there never.
func TestReleaseConflicts(t *testing.T) {
	ctx := context.Background()
	web := hosttest.New("web")
	newFakeShell(web)
	env := newReleaseEnv(t, reconciletest.Hosts{"web": web}, "/srv")
	if err := web.MkdirAll(ctx, "/srv/web/app/other", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := web.Symlink("other", env.current("web")); err != nil {
		t.Fatal(err)
	}
	d := env.desired(map[string]string{"index.html": "x\n"}, 3, nil, "web")
	p := env.plan(d)
	if len(p.Changes) != 1 || p.Changes[0].Action != reconcile.Conflict || !strings.Contains(p.Changes[0].Reason, "--adopt") {
		t.Fatalf("a foreign link: %+v", p.Changes)
	}
	p, err := env.engine.Plan(ctx, d, reconcile.PlanOptions{Adopt: true})
	if err != nil || reconciletest.Actions(p) != "~platform/app/release@web" {
		t.Fatalf("with --adopt: %v %s", err, reconciletest.Actions(p))
	}
	if err := web.Remove(ctx, env.current("web")); err != nil {
		t.Fatal(err)
	}
	if err := web.WriteFile(ctx, env.current("web"), []byte("file"), host.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	p, _ = env.engine.Plan(ctx, d, reconcile.PlanOptions{Adopt: true})
	if len(p.Changes) != 1 || p.Changes[0].Action != reconcile.Conflict {
		t.Fatalf("a regular file at current: %+v", p.Changes)
	}
}
