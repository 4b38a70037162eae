package source

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/berthhq/berth/internal/testenv"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// checkTree compares fsys with `git ls-tree` and `git cat-file` of rev in
// the repository repo, byte for byte, mode for mode.
func checkTree(t *testing.T, fsys fs.FS, repo, rev string) {
	t.Helper()
	out := gitCmd(t, repo, "ls-tree", "-r", "-z", "--full-tree", rev)
	var files []string
	for _, rec := range strings.Split(strings.TrimRight(out, "\x00"), "\x00") {
		meta, name, ok := strings.Cut(rec, "\t")
		if !ok {
			t.Fatalf("ls-tree record %q", rec)
		}
		f := strings.Fields(meta) // mode type hash
		files = append(files, name)
		want, err := gitRaw(repo, "cat-file", "blob", f[2])
		if err != nil {
			t.Fatalf("cat-file %s: %v", name, err)
		}
		li, err := fs.Lstat(fsys, name)
		if err != nil {
			t.Fatalf("Lstat(%q): %v", name, err)
		}
		switch f[0] {
		case "120000":
			if li.Mode()&fs.ModeSymlink == 0 {
				t.Errorf("%s: mode %v, want a symlink", name, li.Mode())
			}
			got, err := fs.ReadLink(fsys, name)
			if err != nil || got != string(want) {
				t.Errorf("ReadLink(%q) = %q, %v; want %q", name, got, err, want)
			}
			continue
		case "100755":
			if li.Mode() != 0o755 {
				t.Errorf("%s: mode %v, want 0755", name, li.Mode())
			}
		case "100644":
			if li.Mode() != 0o644 {
				t.Errorf("%s: mode %v, want 0644", name, li.Mode())
			}
		}
		got, err := fs.ReadFile(fsys, name)
		if err != nil {
			t.Fatalf("ReadFile(%q): %v", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: FS has %q, git show %s:%s has %q", name, got, rev, name, want)
		}
		if li.Size() != int64(len(want)) {
			t.Errorf("%s: size %d, want %d", name, li.Size(), len(want))
		}
	}
	if err := fstest.TestFS(fsys, files...); err != nil {
		t.Errorf("fstest.TestFS: %v", err)
	}
}

func TestGitLocal(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ name, url string }{
		{"bare path", f.origin},
		{"work tree path", f.work},
		{"file URL", "file://" + f.origin},
		{"relative path", "relative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := tc.url
			if url == "relative" {
				t.Chdir(filepath.Dir(f.origin))
				url = filepath.Base(f.origin)
			}
			g, err := OpenGit(testCtx(t), url, filepath.Join(t.TempDir(), "state", "repo"), Auth{})
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range []string{"main", "dev", "staging"} {
				rev, err := g.Head(b)
				if err != nil {
					t.Fatal(err)
				}
				if rev.Hash != f.heads[b] {
					t.Errorf("Head(%s) = %s, want %s", b, rev.Hash, f.heads[b])
				}
			}
			rev, _ := g.Head("refs/heads/dev")
			if rev.Message != "dev: add dev site" || rev.Author != "Berth Test <test@berth.invalid>" || rev.Time.IsZero() {
				t.Errorf("Head(dev) = %+v", rev)
			}
			if got := strings.Join(g.Branches(), ","); got != "dev,main,staging" {
				t.Errorf("Branches() = %s", got)
			}
			_, err = g.Head("nope")
			if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Head(nope) = %v, want fs.ErrNotExist", err)
			}
			t.Logf("unknown branch: %v", err)
			fsys, err := g.FS(rev)
			if err != nil {
				t.Fatal(err)
			}
			checkTree(t, fsys, f.origin, rev.Hash)
		})
	}
}

func TestTreeFS(t *testing.T) {
	f := newFixture(t)
	g, err := OpenGit(testCtx(t), f.origin, filepath.Join(t.TempDir(), "clone"), Auth{})
	if err != nil {
		t.Fatal(err)
	}
	rev, _ := g.Head("main")
	fsys, err := g.FS(rev)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fsys.(fs.ReadDirFS); !ok {
		t.Error("not an fs.ReadDirFS")
	}
	if _, ok := fsys.(fs.StatFS); !ok {
		t.Error("not an fs.StatFS")
	}

	ents, err := fs.ReadDir(fsys, "sites")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name()+map[bool]string{true: "/"}[e.IsDir()])
	}
	if got := strings.Join(names, " "); got != "deep/ example.com.yaml up.yaml" {
		t.Errorf("ReadDir(sites) = %s", got)
	}
	if fi, err := fs.Stat(fsys, "sites/deep"); err != nil || !fi.IsDir() || fi.Mode() != fs.ModeDir|0o755 {
		t.Errorf("Stat(sites/deep) = %v, %v", fi, err)
	}
	if fi, err := fs.Stat(fsys, "scripts/build.sh"); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("Stat(scripts/build.sh): exec bit missing: %v, %v", fi, err)
	}
	if fi, err := fs.Stat(fsys, "."); err != nil || !fi.IsDir() || !fi.ModTime().Equal(rev.Time) {
		t.Errorf("Stat(.) = %v, %v", fi, err)
	}
	// Links are followed within the tree.
	for _, l := range []string{"link.yaml", "sites/up.yaml"} {
		b, err := fs.ReadFile(fsys, l)
		if err != nil || string(b) != baseFiles["berth.yaml"] {
			t.Errorf("ReadFile(%s) = %q, %v", l, b, err)
		}
	}
	for _, bad := range []string{"missing", "sites/missing.yaml", "berth.yaml/x", "sites/example.com.yaml/"} {
		if _, err := fsys.Open(bad); !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("Open(%q) = %v, want not-exist or invalid", bad, err)
		}
	}
	if _, err := fsys.Open("../x"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("Open(../x) = %v, want fs.ErrInvalid", err)
	}
	if _, err := g.FS(Revision{Hash: strings.Repeat("0", 40)}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("FS(unknown commit) = %v, want fs.ErrNotExist", err)
	}

	// Concurrent readers (run with -race).
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() || d.Type()&fs.ModeSymlink != 0 {
					return err
				}
				_, err = fs.ReadFile(fsys, p)
				return err
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

func TestGitFetch(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)
	dir := filepath.Join(t.TempDir(), "clone")
	g, err := OpenGit(ctx, f.origin, dir, Auth{})
	if err != nil {
		t.Fatal(err)
	}
	old, _ := g.Head("dev")

	// A no-op fetch changes nothing, not even the clone's files.
	before := snapshot(t, dir)
	if err := g.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	if rev, _ := g.Head("dev"); rev != old {
		t.Errorf("no-op Fetch moved dev: %v -> %v", old, rev)
	}
	if after := snapshot(t, dir); after != before {
		t.Errorf("no-op Fetch changed the clone:\n%s\n---\n%s", before, after)
	}

	// A push is seen after Fetch, and only then.
	h := f.push(t, "dev", "dev: second", map[string]string{"sites/dev.example.yaml": "kind: Site\nname: dev.example\n# v2\n"})
	if rev, _ := g.Head("dev"); rev != old {
		t.Errorf("Head moved before Fetch")
	}
	if err := g.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	rev, err := g.Head("dev")
	if err != nil || rev.Hash != h || rev.Message != "dev: second" {
		t.Fatalf("Head(dev) after push = %+v, %v; want %s", rev, err, h)
	}
	checkTree(t, mustFS(t, g, rev), f.origin, h)
	// The older revision is still readable, as it was.
	checkTree(t, mustFS(t, g, old), f.origin, old.Hash)
	if b, _ := fs.ReadFile(mustFS(t, g, old), "sites/dev.example.yaml"); strings.Contains(string(b), "v2") {
		t.Errorf("old revision shows the new file")
	}

	// A new branch appears; a force-push is followed; a deleted branch goes.
	gitCmd(t, f.work, "checkout", "-q", "-b", "feature/x", "main")
	fx := commit(t, f.work, "feature", map[string]string{"x.yaml": "x\n"})
	gitCmd(t, f.work, "push", "-q", "origin", "feature/x")
	gitCmd(t, f.work, "checkout", "-q", "staging")
	gitCmd(t, f.work, "reset", "-q", "--hard", "main")
	forced := commit(t, f.work, "staging: rewritten", map[string]string{"s.yaml": "s\n"})
	gitCmd(t, f.work, "push", "-q", "-f", "origin", "staging")
	gitCmd(t, f.origin, "branch", "-D", "dev")
	if err := g.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	if rev, err := g.Head("feature/x"); err != nil || rev.Hash != fx {
		t.Errorf("Head(feature/x) = %v, %v; want %s", rev.Hash, err, fx)
	}
	if rev, err := g.Head("staging"); err != nil || rev.Hash != forced {
		t.Errorf("Head(staging) after force-push = %v, %v; want %s", rev.Hash, err, forced)
	}
	if _, err := g.Head("dev"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Head(dev) after deletion = %v, want fs.ErrNotExist", err)
	}

	// Reopening the clone needs no network: it serves the branches fetched
	// before, and Fetch reports the unreachable origin.
	if err := os.RemoveAll(f.origin); err != nil {
		t.Fatal(err)
	}
	g2, err := OpenGit(ctx, f.origin, dir, Auth{})
	if err != nil {
		t.Fatal(err)
	}
	if rev, err := g2.Head("staging"); err != nil || rev.Hash != forced {
		t.Errorf("reopened Head(staging) = %v, %v", rev.Hash, err)
	}
	err = g2.Fetch(ctx)
	if err == nil {
		t.Fatal("Fetch from a removed origin succeeded")
	}
	t.Logf("fetch from a removed origin: %v", err)
}

func mustFS(t *testing.T, g *Git, rev Revision) fs.FS {
	t.Helper()
	fsys, err := g.FS(rev)
	if err != nil {
		t.Fatal(err)
	}
	return fsys
}

// snapshot lists every file under dir with its size and modification time.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if !d.IsDir() {
			b.WriteString(p + " " + fi.ModTime().String() + " " + string(rune('0'+fi.Size()%10)) + "\n")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestGitCloneErrors(t *testing.T) {
	ctx := testCtx(t)
	dir := filepath.Join(t.TempDir(), "clone")
	_, err := OpenGit(ctx, filepath.Join(t.TempDir(), "missing.git"), dir, Auth{})
	if err == nil {
		t.Fatal("clone of a missing repository succeeded")
	}
	if _, serr := os.Stat(dir); !errors.Is(serr, fs.ErrNotExist) {
		t.Errorf("a failed clone left %s behind", dir)
	}
	empty := filepath.Join(t.TempDir(), "empty.git")
	gitCmd(t, filepath.Dir(empty), "init", "-q", "--bare", empty)
	if _, err := OpenGit(ctx, empty, dir, Auth{}); err == nil || !strings.Contains(err.Error(), "no commits") {
		t.Errorf("clone of an empty repository: %v", err)
	}
	for _, tc := range []struct {
		url  string
		auth Auth
		want string
	}{
		{"", Auth{}, "empty repository URL"},
		{"ftp://example.com/x.git", Auth{}, "unsupported protocol"},
		{"http://127.0.0.1:1/x.git", Auth{TokenEnv: "X"}, "only sent over https"},
		{"https://127.0.0.1:1/x.git", Auth{SSHKeyFile: "/k"}, "not ssh://"},
		{"ssh://git@127.0.0.1:1/x.git", Auth{SSHKeyFile: "/nonexistent/key"}, "nonexistent"},
	} {
		_, err := OpenGit(ctx, tc.url, dir, tc.auth)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("OpenGit(%q, %+v) = %v, want an error with %q", tc.url, tc.auth, err, tc.want)
		}
	}
}

func TestGitSSH(t *testing.T) {
	s := testenv.SSHD(t)
	f := newFixture(t)
	// A bare repository the ssh user owns, in its directory.
	remote := filepath.Join(s.UserDir, "sites.git")
	gitCmd(t, s.UserDir, "clone", "-q", "--bare", f.origin, remote)
	if out, err := exec.Command("chown", "-R", s.User, remote).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v: %s", err, out)
	}
	host, port, _ := net.SplitHostPort(s.Addr)
	url := "ssh://" + s.User + "@" + host + ":" + port + remote
	ctx := testCtx(t)
	auth := Auth{SSHKeyFile: s.KeyFile, KnownHostsFile: s.KnownHostsFile}

	// An unknown host key is refused, and the failed clone leaves nothing.
	emptyKH := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(emptyKH, []byte("# no keys\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "clone")
	_, err := OpenGit(ctx, url, dir, Auth{SSHKeyFile: s.KeyFile, KnownHostsFile: emptyKH})
	if err == nil || !strings.Contains(err.Error(), "is not in "+emptyKH) {
		t.Fatalf("clone with an unknown host key: %v, want a refusal naming the known_hosts file", err)
	}
	t.Logf("unknown host key: %v", err)
	if _, serr := os.Stat(dir); !errors.Is(serr, fs.ErrNotExist) {
		t.Errorf("a refused clone left %s behind", dir)
	}
	// A different key for the host is refused too.
	other := filepath.Join(t.TempDir(), "other")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, _ := os.ReadFile(other + ".pub")
	wrongKH := filepath.Join(t.TempDir(), "known_hosts")
	fields := strings.Fields(string(pub))
	if err := os.WriteFile(wrongKH, []byte("["+host+"]:"+port+" "+fields[0]+" "+fields[1]+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = OpenGit(ctx, url, dir, Auth{SSHKeyFile: s.KeyFile, KnownHostsFile: wrongKH})
	if err == nil || !strings.Contains(err.Error(), "differs from the one in") {
		t.Fatalf("clone with a changed host key: %v, want a refusal", err)
	}
	t.Logf("changed host key: %v", err)

	g, err := OpenGit(ctx, url, dir, auth)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"main", "dev", "staging"} {
		if rev, err := g.Head(b); err != nil || rev.Hash != f.heads[b] {
			t.Errorf("Head(%s) = %v, %v; want %s", b, rev.Hash, err, f.heads[b])
		}
	}
	rev, _ := g.Head("staging")
	checkTree(t, mustFS(t, g, rev), remote, rev.Hash)

	gitCmd(t, f.work, "remote", "set-url", "origin", remote)
	h := f.push(t, "main", "main: over ssh", map[string]string{"sites/new.yaml": "kind: Site\nname: new\n"})
	if err := g.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	if rev, err := g.Head("main"); err != nil || rev.Hash != h {
		t.Errorf("Head(main) after push = %v, %v; want %s", rev.Hash, err, h)
	}
	if err := g.Fetch(ctx); err != nil {
		t.Fatalf("no-op fetch over ssh: %v", err)
	}
}

// gitDaemon serves the repositories under base with `git daemon --inetd`,
// one process per connection accepted on a loopback listener the test owns
// (so there is no start-up race), and returns the listener's address.
func gitDaemon(t *testing.T, base string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				sock, err := c.(*net.TCPConn).File()
				if err != nil {
					t.Error(err)
					return
				}
				defer sock.Close()
				cmd := exec.Command("git", "daemon", "--inetd", "--export-all", "--base-path="+base, base)
				cmd.Env = gitEnv()
				cmd.Stdin, cmd.Stdout = sock, sock
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				if err := cmd.Run(); err != nil {
					t.Logf("git daemon: %v: %s", err, stderr.String())
				}
			})
		}
	})
	return l.Addr().String()
}

func TestGitDaemon(t *testing.T) {
	f := newFixture(t)
	addr := gitDaemon(t, filepath.Dir(f.origin))
	ctx := testCtx(t)
	g, err := OpenGit(ctx, "git://"+addr+"/"+filepath.Base(f.origin), filepath.Join(t.TempDir(), "clone"), Auth{})
	if err != nil {
		t.Fatal(err)
	}
	if rev, err := g.Head("main"); err != nil || rev.Hash != f.heads["main"] {
		t.Errorf("Head(main) = %v, %v", rev.Hash, err)
	}
	h := f.push(t, "staging", "staging: via git daemon", map[string]string{"g.yaml": "g\n"})
	if err := g.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	rev, err := g.Head("staging")
	if err != nil || rev.Hash != h {
		t.Fatalf("Head(staging) = %v, %v; want %s", rev.Hash, err, h)
	}
	checkTree(t, mustFS(t, g, rev), f.origin, h)
}

func TestFetchCancelled(t *testing.T) {
	f := newFixture(t)
	g, err := OpenGit(testCtx(t), f.origin, filepath.Join(t.TempDir(), "clone"), Auth{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Fetch(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Fetch(cancelled ctx) = %v, want context.Canceled", err)
	}
}

var _ io.Seeker = (*blobFile)(nil)

// TestGitConcurrent reads revisions while Fetch brings new ones (run with
// -race).
func TestGitConcurrent(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)
	g, err := OpenGit(ctx, f.origin, filepath.Join(t.TempDir(), "clone"), Auth{})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				rev, err := g.Head("main")
				if err != nil {
					t.Error(err)
					return
				}
				fsys, err := g.FS(rev)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := fs.ReadFile(fsys, "berth.yaml"); err != nil {
					t.Error(err)
					return
				}
				if _, err := fs.ReadDir(fsys, "sites"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for i := range 5 {
		h := f.push(t, "main", "main: concurrent", map[string]string{"sites/c.yaml": strings.Repeat("c", i+1)})
		if err := g.Fetch(ctx); err != nil {
			t.Error(err)
		}
		if rev, _ := g.Head("main"); rev.Hash != h {
			t.Errorf("Head(main) = %s, want %s", rev.Hash, h)
		}
	}
	close(stop)
	wg.Wait()
}
