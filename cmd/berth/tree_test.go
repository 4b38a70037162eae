package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/berthhq/berth/source"
)

// treeBase is a valid sites repo with a platform whose code is in the repo.
var treeBase = map[string]string{
	"berth.yaml":        "environments:\n  production: { branch: main }\n",
	"servers/web1.yaml": "kind: Server\nname: web1\naddress: local\nservices:\n  http: { type: nginx }\n",
	"platforms/app.yaml": "kind: Platform\nname: app\ntype: static\n" +
		"source: { path: code }\nservers: [web1]\n",
	"sites/a.yaml":         "kind: Site\nname: a.example.com\nplatform: app\n",
	"code/index.html":      "<p>hello</p>\n",
	"code/lib/app.css":     "p {}\n",
	"extra/b.yaml":         "kind: Site\nname: b.example.com\nplatform: app\n",
	"README.md":            "Prose, not a document.\n",
	"sites/deep/er/c.yaml": "kind: Site\nname: c.example.com\nplatform: app\n",
}

// sourcePathPos is where platforms/app.yaml names its code directory: a
// problem of the code is reported there.
const sourcePathPos = "platforms/app.yaml:4:17:"

// outsideFixture is a directory beside the repo holding what a hostile repo
// would like to read: every file carries marker, which must never appear in
// berth's output.
type outsideFixture struct {
	dir    string
	marker string
}

func newOutside(t *testing.T, base string) outsideFixture {
	t.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	o := outsideFixture{dir: filepath.Join(base, "outside"), marker: "leakmarker" + hex.EncodeToString(b)}
	m := o.marker
	files := map[string]string{
		"secret.txt":    "root:x:0:0:" + m + ":/root:/bin/bash\n" + m + "\n",
		"site.yaml":     "kind: Site\nname: " + m + ".example.com\nplatform: " + m + "\n",
		"berth.yaml":    "environments:\n  " + m + ": { branch: " + m + " }\n",
		"dir/x.yaml":    "kind: Site\nname: x.example.com\nplatform: " + m + "\n",
		"dir/web.yaml":  "kind: Server\nname: " + m + "\naddress: local\n",
		"code/index.js": "// " + m + "\n",
	}
	for name, data := range files {
		p := filepath.Join(o.dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(o.dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	return o
}

// openWatch reports every open and read of a file or directory under the
// outside directories (inotify IN_OPEN, IN_ACCESS): the proof that nothing
// outside the repo is read, not merely not printed. lstat and readlink of a
// link inside the repo do not touch the target.
type openWatch struct {
	fd  int
	wds map[int32]string
}

func watchOpens(t *testing.T, dirs ...string) *openWatch {
	t.Helper()
	fd, err := syscall.InotifyInit1(syscall.IN_NONBLOCK | syscall.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	w := &openWatch{fd: fd, wds: map[int32]string{}}
	for _, root := range dirs {
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return err
			}
			wd, err := syscall.InotifyAddWatch(fd, p, syscall.IN_OPEN|syscall.IN_ACCESS)
			w.wds[int32(wd)] = p
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// events returns the opens and reads since the last call.
func (w *openWatch) events(t *testing.T) []string {
	t.Helper()
	var out []string
	buf := make([]byte, 64<<10)
	for {
		n, err := syscall.Read(w.fd, buf)
		if errors.Is(err, syscall.EAGAIN) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
			ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := string(bytes.TrimRight(buf[off+syscall.SizeofInotifyEvent:off+syscall.SizeofInotifyEvent+int(ev.Len)], "\x00"))
			out = append(out, fmt.Sprintf("%#x %s", ev.Mask, filepath.Join(w.wds[ev.Wd], name)))
			off += syscall.SizeofInotifyEvent + int(ev.Len)
		}
	}
}

// treeCase is one hostile repo: the base repo changed by setup.
type treeCase struct {
	name  string
	setup func(t *testing.T, repo string)
	want  string // the problem's file:line:column:, at the start of a line of stderr
	noGit bool   // a pipe, socket or device: Git cannot hold it
	plan  bool   // plan refuses it too (the path is the build's)
}

// place is a position for a symbolic link in the repo.
type place struct {
	path string
	want string // the problem's position
	dir  bool   // a directory belongs there
	yaml bool   // a YAML file belongs there (it is read)
	code bool   // inside the platform's code: plan refuses it too
}

var linkPlaces = []place{
	{path: "berth.yaml", want: "berth.yaml:1:1:", yaml: true},
	{path: "sites", want: "sites:1:1:", dir: true},
	{path: "servers", want: "servers:1:1:", dir: true},
	{path: "platforms", want: "platforms:1:1:", dir: true},
	{path: "sites/x.yaml", want: "sites/x.yaml:1:1:", yaml: true},
	{path: "servers/y.yml", want: "servers/y.yml:1:1:", yaml: true},
	{path: "sites/deep/er/z.yaml", want: "sites/deep/er/z.yaml:1:1:", yaml: true},
	{path: "sites/sub", want: "sites/sub:1:1:", dir: true},
	{path: "platforms/notes", want: "platforms/notes:1:1:"},
	{path: "code", want: sourcePathPos, dir: true, code: true},
	{path: "code/leak", want: sourcePathPos, code: true},
	{path: "code/lib/leak.css", want: sourcePathPos, code: true},
	{path: "code/lib", want: sourcePathPos, dir: true, code: true},
}

// target is where a link points: a function of the link's path in the repo.
type target struct {
	name string
	to   func(repo, link string, o outsideFixture, pl place) string
	pre  func(t *testing.T, repo string, o outsideFixture, pl place) // links the target needs
	// only, when set, limits the target to places it applies to.
	only func(pl place) bool
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// outsideFor is the outside file or directory that suits a place.
func outsideFor(o outsideFixture, pl place) string {
	switch {
	case pl.path == "code":
		return filepath.Join(o.dir, "code")
	case pl.dir:
		return filepath.Join(o.dir, "dir")
	case pl.path == "berth.yaml":
		return filepath.Join(o.dir, "berth.yaml")
	case pl.yaml:
		return filepath.Join(o.dir, "site.yaml")
	}
	return filepath.Join(o.dir, "secret.txt")
}

var linkTargets = []target{
	{name: "absolute", to: func(repo, link string, o outsideFixture, pl place) string { return outsideFor(o, pl) }},
	{name: "relative", to: func(repo, link string, o outsideFixture, pl place) string {
		r, _ := filepath.Rel(filepath.Dir(link), outsideFor(o, pl))
		return r
	}},
	{name: "secret file", to: func(repo, link string, o outsideFixture, pl place) string { return filepath.Join(o.dir, "secret.txt") }},
	{name: "the system's passwd", to: func(repo, link string, o outsideFixture, pl place) string { return "/etc/passwd" }},
	{name: "the root directory", to: func(repo, link string, o outsideFixture, pl place) string { return "/" }},
	{name: "climbing dots", to: func(repo, link string, o outsideFixture, pl place) string {
		return strings.Repeat("../", 12) + strings.TrimPrefix(outsideFor(o, pl), "/")
	}},
	{name: "outside pipe", to: func(repo, link string, o outsideFixture, pl place) string { return filepath.Join(o.dir, "fifo") }},
	{
		// Through an in-repo link to the repo's top, "..": inside by
		// name (sites/up/../outside), outside for the kernel.
		name: "dotdot after a link",
		pre: func(t *testing.T, repo string, o outsideFixture, pl place) {
			symlink(t, "..", filepath.Join(repo, "extra/up"))
		},
		to: func(repo, link string, o outsideFixture, pl place) string {
			r, _ := filepath.Rel(filepath.Dir(link), filepath.Join(repo, "extra/up"))
			out, _ := filepath.Rel(filepath.Dir(repo), outsideFor(o, pl))
			return r + "/../" + out
		},
	},
	{
		name: "chain of links",
		pre: func(t *testing.T, repo string, o outsideFixture, pl place) {
			symlink(t, "hop2", filepath.Join(repo, "extra/hop1"))
			symlink(t, "../extra/hop3", filepath.Join(repo, "extra/hop2"))
			symlink(t, outsideFor(o, pl), filepath.Join(repo, "extra/hop3"))
		},
		to: func(repo, link string, o outsideFixture, pl place) string {
			r, _ := filepath.Rel(filepath.Dir(link), filepath.Join(repo, "extra/hop1"))
			return r
		},
	},
	{
		name: "loop",
		pre: func(t *testing.T, repo string, o outsideFixture, pl place) {
			symlink(t, "loopB", filepath.Join(repo, "extra/loopA"))
			symlink(t, "loopA", filepath.Join(repo, "extra/loopB"))
		},
		to: func(repo, link string, o outsideFixture, pl place) string {
			r, _ := filepath.Rel(filepath.Dir(link), filepath.Join(repo, "extra/loopA"))
			return r
		},
	},
	{name: "itself", to: func(repo, link string, o outsideFixture, pl place) string { return filepath.Base(link) }},
	{
		name: "a pipe in the repo",
		pre: func(t *testing.T, repo string, o outsideFixture, pl place) {
			mknod(t, filepath.Join(repo, "extra/pipe"), syscall.S_IFIFO, 0)
		},
		to: func(repo, link string, o outsideFixture, pl place) string {
			r, _ := filepath.Rel(filepath.Dir(link), filepath.Join(repo, "extra/pipe"))
			return r
		},
		only: func(pl place) bool { return pl.yaml || pl.path == "code" || pl.path == "sites" },
	},
	{
		name: "a non-YAML file in the repo",
		to: func(repo, link string, o outsideFixture, pl place) string {
			r, _ := filepath.Rel(filepath.Dir(link), filepath.Join(repo, "README.md"))
			return r
		},
		only: func(pl place) bool { return pl.yaml },
	},
	{
		name: "the repo, from the code",
		to: func(repo, link string, o outsideFixture, pl place) string {
			r, _ := filepath.Rel(filepath.Dir(link), filepath.Join(repo, "sites/a.yaml"))
			return r
		},
		only: func(pl place) bool { return pl.code && pl.path != "code" },
	},
}

func mknod(t *testing.T, p string, typ uint32, dev int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(p)
	if err := syscall.Mknod(p, typ|0o644, dev); err != nil {
		t.Fatalf("mknod %s: %v", p, err)
	}
}

// treeCases generates the corpus: every link place with every target,
// then pipes, sockets, devices and over-size files in every file place.
func treeCases(o outsideFixture) []treeCase {
	var cases []treeCase
	for _, pl := range linkPlaces {
		for _, tg := range linkTargets {
			if tg.only != nil && !tg.only(pl) {
				continue
			}
			noGit := tg.name == "a pipe in the repo"
			cases = append(cases, treeCase{
				name: "link " + pl.path + " to " + tg.name,
				setup: func(t *testing.T, repo string) {
					link := filepath.Join(repo, pl.path)
					if tg.pre != nil {
						tg.pre(t, repo, o, pl)
					}
					symlink(t, tg.to(repo, link, o, pl), link)
				},
				want: pl.want, noGit: noGit, plan: pl.code,
			})
		}
	}
	specials := []struct {
		name string
		typ  uint32
		dev  int
	}{
		{"pipe", syscall.S_IFIFO, 0},
		{"socket", syscall.S_IFSOCK, 0},
		{"character device", syscall.S_IFCHR, 1<<8 | 3}, // as /dev/null
		{"block device", syscall.S_IFBLK, 7 << 8},       // as /dev/loop0
	}
	for _, sp := range specials {
		for _, p := range []struct{ path, want string }{
			{"berth.yaml", "berth.yaml:1:1:"},
			{"sites/special.yaml", "sites/special.yaml:1:1:"},
			{"servers/special.yml", "servers/special.yml:1:1:"},
			{"platforms/app.yaml", "platforms/app.yaml:1:1:"},
			{"sites", "sites:1:1:"},
			{"code/special", sourcePathPos},
			{"code", sourcePathPos},
		} {
			cases = append(cases, treeCase{
				name:  sp.name + " as " + p.path,
				setup: func(t *testing.T, repo string) { mknod(t, filepath.Join(repo, p.path), sp.typ, sp.dev) },
				want:  p.want, noGit: true, plan: strings.HasPrefix(p.path, "code"),
			})
		}
	}
	for _, p := range []string{"berth.yaml", "sites/a.yaml", "servers/big.yaml", "platforms/big.yml", "sites/deep/er/c.yaml"} {
		cases = append(cases, treeCase{
			name: "over-size " + p,
			setup: func(t *testing.T, repo string) {
				// Valid YAML (a comment) one byte over the limit: only the
				// size is wrong.
				data := bytes.Repeat([]byte("#234567\n"), (4<<20)/8)
				data = append(data, '\n')
				writeFile(t, filepath.Join(repo, p), data)
			},
			want: p + ":1:1:",
		})
	}
	return cases
}

func writeFile(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// bounded runs f on its own goroutine and fails the test if it has not
// returned after a generous time: a safety net against a hang (a FIFO
// opened for reading), not a timing assertion.
func bounded(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("%s did not return: blocked on a file it should not have opened", what)
	}
}

// TestRepoTreeCorpus refuses every case of a generated corpus of hostile
// repos — symbolic links in every position, to every kind of target, pipes,
// sockets and devices where files are read, over-size files — with the
// file (and line:column where a field names it), read as a plain directory
// by validate (and plan where the path is the build's) and as a Git
// commit, and proves that no file outside the repo is opened or read and
// that the contents of none appear in any output.
func TestRepoTreeCorpus(t *testing.T) {
	base := t.TempDir()
	o := newOutside(t, base)
	watch := watchOpens(t, o.dir)
	cases := treeCases(o)
	if len(cases) < 150 {
		t.Fatalf("the corpus has %d cases; the generator lost some", len(cases))
	}
	passwd, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	passwdLine, _, _ := strings.Cut(string(passwd), "\n")
	watch.events(t) // the reads above

	// leaks fails the test if outside content reached out or anything
	// outside was opened.
	leaks := func(t *testing.T, out string) {
		t.Helper()
		if strings.Contains(out, o.marker) {
			t.Errorf("the contents of a file outside the repo reached the output:\n%s", out)
		}
		if passwdLine != "" && strings.Contains(out, passwdLine) {
			t.Errorf("/etc/passwd reached the output:\n%s", out)
		}
		if ev := watch.events(t); len(ev) > 0 {
			t.Errorf("files outside the repo were opened or read: %v", ev)
		}
	}

	// The base repo is valid, as a directory and as a commit, so every
	// refusal below is the case's.
	clean := filepath.Join(base, "clean")
	writeTree(t, clean, treeBase)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"validate", clean}, &stdout, &stderr); code != 0 {
		t.Fatalf("the base repo is not valid: %d\n%s", code, &stderr)
	}
	// Links that stay inside are followed: a site file linked from
	// elsewhere in the repo, a code link within the code.
	inside := filepath.Join(base, "inside")
	writeTree(t, inside, treeBase)
	symlink(t, "../extra/b.yaml", filepath.Join(inside, "sites/b.yaml"))
	symlink(t, "lib/app.css", filepath.Join(inside, "code/style.css"))
	symlink(t, "../code/lib", filepath.Join(inside, "extra/lib"))
	symlink(t, "../extra/lib/../../code", filepath.Join(inside, "extra/code"))
	symlink(t, "missing-at-build-time", filepath.Join(inside, "code/storage"))
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"validate", inside}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "3 sites") {
		t.Fatalf("links within the repo: exit %d, want 0 and 3 sites\n%s%s", code, &stdout, &stderr)
	}

	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			repo := filepath.Join(base, fmt.Sprintf("repo%03d", i))
			writeTree(t, repo, treeBase)
			tc.setup(t, repo)
			defer os.RemoveAll(repo)

			var stdout, stderr bytes.Buffer
			var code int
			bounded(t, "berth validate", func() { code = run([]string{"validate", repo}, &stdout, &stderr) })
			if code != 1 || !hasLinePrefix(stderr.String(), tc.want) {
				t.Errorf("validate: exit %d, want 1 with a problem at %s\n%s%s", code, tc.want, &stdout, &stderr)
			}
			leaks(t, stdout.String()+stderr.String())

			if tc.plan {
				stdout.Reset()
				stderr.Reset()
				state := t.TempDir()
				bounded(t, "berth plan", func() {
					code = run([]string{"plan", "--repo", repo, "--env", "production", "--state-dir", state}, &stdout, &stderr)
				})
				if code != 1 || !hasLinePrefix(stderr.String(), tc.want) {
					t.Errorf("plan: exit %d, want 1 with a problem at %s\n%s%s", code, tc.want, &stdout, &stderr)
				}
				leaks(t, stdout.String()+stderr.String())
			}

			if tc.noGit {
				return
			}
			fsys := commitTree(t, repo)
			var problems string
			bounded(t, "loading the commit", func() {
				_, ps, _, err := checkRepo(fsys)
				if err != nil {
					problems = err.Error()
					return
				}
				for _, p := range ps {
					problems += p.String() + "\n"
				}
			})
			if !hasLinePrefix(problems, tc.want) {
				t.Errorf("the commit: want a problem at %s, got:\n%s", tc.want, problems)
			}
			leaks(t, problems)
		})
	}
}

func hasLinePrefix(out, prefix string) bool {
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, prefix) {
			return true
		}
	}
	return false
}

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		writeFile(t, filepath.Join(dir, name), []byte(data))
	}
}

// commitTree commits the work tree dir (links as links) and returns the
// commit's tree as berth serve reads it, from a bare clone.
func commitTree(t *testing.T, dir string) *source.TreeFS {
	t.Helper()
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"add", "-A"},
		{"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "hostile"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	g, err := source.OpenGit(ctx, dir, filepath.Join(t.TempDir(), "clone"), source.Auth{})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := g.Head("main")
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := g.FS(rev)
	if err != nil {
		t.Fatal(err)
	}
	return fsys.(*source.TreeFS)
}
