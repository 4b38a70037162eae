package source

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/berthhq/berth/fstree"
)

// TestLinksInBothKinds reads one tree of links as a plain directory
// (DirFS) and as a Git commit (TreeFS): both follow a link only within the
// tree, as the kernel resolves it, and agree on every path. A link that
// leaves the tree is fstree.ErrOutside, never "does not exist" (a reader would
// skip it), and the file it names is not read.
func TestLinksInBothKinds(t *testing.T) {
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	writeFiles(t, outside, map[string]string{"secret.yaml": "outside-secret\n", "dir/x.yaml": "outside-secret\n"})
	work := filepath.Join(base, "work")
	files := map[string]string{
		"berth.yaml":     "top\n",
		"sites/a.yaml":   "a\n",
		"lib/b.yaml":     "b\n",
		"in-file":        "->sites/a.yaml",
		"in-dir":         "->lib",
		"in-up":          "->lib/../sites/a.yaml",
		"lib/top":        "->..",
		"lib/via-top":    "->top/sites/a.yaml",
		"chain1":         "->chain2",
		"chain2":         "->lib/chain3",
		"lib/chain3":     "->../sites/a.yaml",
		"abs":            "->" + filepath.Join(outside, "secret.yaml"),
		"abs-dir":        "->" + filepath.Join(outside, "dir"),
		"abs-inside":     "->/berth.yaml",
		"climb":          "->../outside/secret.yaml",
		"lib/climb":      "->../../outside/secret.yaml",
		"dots-after":     "->lib/top/../outside/secret.yaml",
		"chain-out":      "->lib/chain-out2",
		"lib/chain-out2": "->/etc/passwd",
		"loop1":          "->loop2",
		"loop2":          "->loop1",
		"self":           "->self",
		"dangling":       "->nothing/here",
		"through-file":   "->berth.yaml/x",
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	gitCmd(t, work, "init", "-q", "-b", "main")
	commit(t, work, "links", files)
	g, err := OpenGit(testCtx(t), work, filepath.Join(t.TempDir(), "clone"), Auth{})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := g.Head("main")
	if err != nil {
		t.Fatal(err)
	}
	tree, err := g.FS(rev)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := OpenDirFS(work)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()

	tests := []struct {
		name string
		want string // contents, or an error: "outside", "loop", "missing"
	}{
		{"in-file", "a\n"},
		{"in-dir/b.yaml", "b\n"},
		{"in-up", "a\n"},
		{"lib/via-top", "a\n"},
		{"lib/top/lib/top/berth.yaml", "top\n"},
		{"chain1", "a\n"},
		{"abs", "outside"},
		{"abs-dir/x.yaml", "outside"},
		{"abs-inside", "outside"},
		{"climb", "outside"},
		{"lib/climb", "outside"},
		{"dots-after", "outside"},
		{"lib/top/../x", "invalid"},
		{"chain-out", "outside"},
		{"loop1", "loop"},
		{"self", "loop"},
		{"dangling", "missing"},
		{"through-file", "missing"},
	}
	for _, kind := range []struct {
		name string
		fsys fs.FS
	}{{"directory", dir}, {"commit", tree}} {
		for _, tt := range tests {
			b, err := fs.ReadFile(kind.fsys, tt.name)
			_, statErr := fs.Stat(kind.fsys, tt.name)
			got := string(b)
			switch {
			case errors.Is(err, fstree.ErrOutside):
				got = "outside"
			case errors.Is(err, fstree.ErrLinkLoop):
				got = "loop"
			case errors.Is(err, fs.ErrNotExist):
				got = "missing"
			case errors.Is(err, fs.ErrInvalid):
				got = "invalid"
			case err != nil:
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("%s: ReadFile(%s) = %q, %v; want %s", kind.name, tt.name, b, err, tt.want)
			}
			if (err == nil) != (statErr == nil) || errors.Is(err, fstree.ErrOutside) != errors.Is(statErr, fstree.ErrOutside) {
				t.Errorf("%s: Stat(%s) = %v, ReadFile = %v: they disagree", kind.name, tt.name, statErr, err)
			}
			if errors.Is(err, fstree.ErrOutside) && errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s: %s: a link out of the tree must not look missing: %v", kind.name, tt.name, err)
			}
			if err != nil && strings.Contains(err.Error(), "outside-secret") {
				t.Errorf("%s: %s: the error shows the outside file: %v", kind.name, tt.name, err)
			}
		}
		// Lstat and ReadLink see the link itself, wherever it points.
		if fi, err := fs.Lstat(kind.fsys, "abs"); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			t.Errorf("%s: Lstat(abs) = %v, %v", kind.name, fi, err)
		}
		if tgt, err := fs.ReadLink(kind.fsys, "climb"); err != nil || tgt != "../outside/secret.yaml" {
			t.Errorf("%s: ReadLink(climb) = %q, %v", kind.name, tgt, err)
		}
		// Resolve names the link that leaves.
		_, err := fstree.Resolve(kind.fsys.(fs.ReadLinkFS), "chain-out")
		var le *fstree.LinkError
		if !errors.As(err, &le) || le.Link != "lib/chain-out2" || le.Target != "/etc/passwd" {
			t.Errorf("%s: fstree.Resolve(chain-out) = %v, want the link lib/chain-out2 -> /etc/passwd", kind.name, err)
		}
	}
}

// TestDirFSIrregular: pipes, sockets and devices are refused without
// being opened for reading (a pipe with no writer would block forever),
// and a Dir's revision counts them by name and type only.
func TestDirFSIrregular(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"berth.yaml": "a\n", "sites/link.yaml": "->pipe.yaml"})
	for name, typ := range map[string]uint32{
		"sites/pipe.yaml": syscall.S_IFIFO,
		"sites/sock.yaml": syscall.S_IFSOCK,
		"sites/null.yaml": syscall.S_IFCHR,
		"sites/blk.yaml":  syscall.S_IFBLK,
	} {
		dev := 0
		if typ == syscall.S_IFCHR {
			dev = 1<<8 | 3
		}
		if err := syscall.Mknod(filepath.Join(dir, name), typ|0o644, dev); err != nil {
			t.Fatal(err)
		}
	}
	fsys, err := OpenDirFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	for _, name := range []string{"sites/pipe.yaml", "sites/sock.yaml", "sites/null.yaml", "sites/blk.yaml", "sites/link.yaml"} {
		if _, err := fsys.Open(name); !errors.Is(err, fstree.ErrIrregular) {
			t.Errorf("Open(%s) = %v, want fstree.ErrIrregular", name, err)
		}
		if _, err := fs.ReadFile(fsys, name); !errors.Is(err, fstree.ErrIrregular) {
			t.Errorf("ReadFile(%s) = %v, want fstree.ErrIrregular", name, err)
		}
	}
	ents, err := fs.ReadDir(fsys, "sites")
	if err != nil || len(ents) != 5 || ents[0].Name() != "blk.yaml" {
		t.Errorf("ReadDir(sites) = %v, %v", ents, err)
	}
	if _, err := OpenDir(dir).Head("main"); err != nil {
		t.Errorf("Head with pipes and devices: %v", err)
	}
}
