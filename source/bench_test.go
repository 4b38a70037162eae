package source

import (
	"context"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/berthhq/berth/internal/testenv"
)

// bigRepo returns a bare repository whose main branch holds n files of
// about 200 bytes in directories of 100.
func bigRepo(b *testing.B, n int) string {
	b.Helper()
	root := b.TempDir()
	work := filepath.Join(root, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		b.Fatal(err)
	}
	testenv.SmallFiles(b, work, n, 200)
	gitCmd(b, work, "init", "-q")
	gitCmd(b, work, "add", "-A")
	gitCmd(b, work, "commit", "-q", "-m", "many files")
	bare := filepath.Join(root, "big.git")
	gitCmd(b, root, "clone", "-q", "--bare", work, bare)
	return bare
}

func readAll(b *testing.B, fsys fs.FS) int {
	n := 0
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		_, err = fs.ReadFile(fsys, p)
		n++
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkTreeFSReadAll reads every file of a 10,000-file commit from the
// object store: through a handle that has read it before (warm caches) and
// through a freshly opened one, as after a Fetch that brought objects.
func BenchmarkTreeFSReadAll(b *testing.B) {
	bare := bigRepo(b, 10_000)
	dir := filepath.Join(b.TempDir(), "clone")
	g, err := OpenGit(context.Background(), bare, dir, Auth{})
	if err != nil {
		b.Fatal(err)
	}
	rev, err := g.Head("main")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("warm", func(b *testing.B) {
		for b.Loop() {
			fsys, err := g.FS(rev)
			if err != nil {
				b.Fatal(err)
			}
			if n := readAll(b, fsys); n != 10_000 {
				b.Fatalf("read %d files", n)
			}
		}
	})
	b.Run("fresh-handle", func(b *testing.B) {
		for b.Loop() {
			st, err := newObjectStore(dir)
			if err != nil {
				b.Fatal(err)
			}
			fsys, err := st.treeFS(plumbing.NewHash(rev.Hash))
			if err != nil {
				b.Fatal(err)
			}
			if n := readAll(b, fsys); n != 10_000 {
				b.Fatalf("read %d files", n)
			}
		}
	})
}

// BenchmarkClone clones a 10,000-file repository (bare, no checkout).
func BenchmarkClone(b *testing.B) {
	bare := bigRepo(b, 10_000)
	for b.Loop() {
		dir := filepath.Join(b.TempDir(), "clone")
		if _, err := OpenGit(context.Background(), bare, dir, Auth{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFetchNoop fetches a repository that has not changed, from a
// local path (go-git runs git-upload-pack) and over ssh to a local sshd.
func BenchmarkFetchNoop(b *testing.B) {
	bare := bigRepo(b, 10_000)
	b.Run("local", func(b *testing.B) {
		g, err := OpenGit(context.Background(), bare, filepath.Join(b.TempDir(), "clone"), Auth{})
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if err := g.Fetch(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ssh", func(b *testing.B) {
		s := testenv.SSHD(b)
		remote := filepath.Join(s.UserDir, "big.git")
		gitCmd(b, s.UserDir, "clone", "-q", "--bare", bare, remote)
		if out, err := exec.Command("chown", "-R", s.User, remote).CombinedOutput(); err != nil {
			b.Fatalf("chown: %v: %s", err, out)
		}
		host, port, _ := net.SplitHostPort(s.Addr)
		url := "ssh://" + s.User + "@" + host + ":" + port + remote
		g, err := OpenGit(context.Background(), url, filepath.Join(b.TempDir(), "clone"), Auth{SSHKeyFile: s.KeyFile, KnownHostsFile: s.KnownHostsFile})
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if err := g.Fetch(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
