package release

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/berthhq/berth/fstree"
)

func link(target string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink | 0o777}
}

// TestCodeLinks: a link in a platform's code is shipped only when its
// target, resolved as the server's kernel resolves it, stays in the code
// tree; the refusal comes at plan (treeHash) and again at the build's
// export, and names the link.
func TestCodeLinks(t *testing.T) {
	tests := []struct {
		name    string
		links   map[string]*fstest.MapFile
		refused string // the entry named in the error; "" when shipped
		loop    bool
	}{
		{name: "to a file beside it", links: map[string]*fstest.MapFile{"a": link("index.php")}},
		{name: "up and down inside", links: map[string]*fstest.MapFile{"lib/a": link("../index.php")}},
		{name: "to a directory inside", links: map[string]*fstest.MapFile{"b": link("lib")}},
		{name: "dangling inside", links: map[string]*fstest.MapFile{"storage": link("var/storage/app")}},
		{name: "to the top of the tree", links: map[string]*fstest.MapFile{"lib/top": link("..")}},
		{name: "absolute", links: map[string]*fstest.MapFile{"a": link("/etc/passwd")}, refused: "a"},
		{name: "absolute inside by name", links: map[string]*fstest.MapFile{"a": link("/index.php")}, refused: "a"},
		{name: "the root directory", links: map[string]*fstest.MapFile{"lib/root": link("/")}, refused: "lib/root"},
		{name: "climbing out", links: map[string]*fstest.MapFile{"lib/a": link("../../x")}, refused: "lib/a"},
		{name: "climbing far", links: map[string]*fstest.MapFile{"a": link(strings.Repeat("../", 20) + "etc/shadow")}, refused: "a"},
		{name: "dangling then climbing", links: map[string]*fstest.MapFile{"a": link("missing/../../x")}, refused: "a"},
		{
			// Inside by name (lib/top/../y is lib/y), outside for the kernel:
			// lib/top is the tree's top, and .. climbs above it.
			name:    "dots after a link to the top",
			links:   map[string]*fstest.MapFile{"lib/top": link(".."), "x": link("lib/top/../y")},
			refused: "x",
		},
		{name: "chain leading out", links: map[string]*fstest.MapFile{"a": link("b"), "b": link("lib/c"), "lib/c": link("../../out")}, refused: "a"},
		{name: "loop", links: map[string]*fstest.MapFile{"a": link("b"), "b": link("a")}, refused: "a", loop: true},
		{name: "itself", links: map[string]*fstest.MapFile{"a": link("a")}, refused: "a", loop: true},
		{name: "a pipe", links: map[string]*fstest.MapFile{"p": {Mode: fs.ModeNamedPipe | 0o644}}, refused: "p"},
		{name: "a device", links: map[string]*fstest.MapFile{"d": {Mode: fs.ModeDevice | fs.ModeCharDevice | 0o644}}, refused: "d"},
		{name: "a socket", links: map[string]*fstest.MapFile{"s": {Mode: fs.ModeSocket | 0o644}}, refused: "s"},
		{name: "a submodule is left out", links: map[string]*fstest.MapFile{"vendor/mod": {Mode: fs.ModeIrregular}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := fstest.MapFS{
				"index.php":   {Data: []byte("<?php\n"), Mode: 0o644},
				"lib/app.php": {Data: []byte("<?php\n"), Mode: 0o644},
			}
			for p, f := range tt.links {
				tree[p] = f
			}
			_, hashErr := TreeHash(tree)
			dir := filepath.Join(t.TempDir(), "tree")
			exportErr := export(tree, dir)
			for what, err := range map[string]error{"plan (treeHash)": hashErr, "build (export)": exportErr} {
				if tt.refused == "" {
					if err != nil {
						t.Errorf("%s: %v, want it shipped", what, err)
					}
					continue
				}
				if !errors.Is(err, fstree.ErrUnshippable) || !strings.HasPrefix(err.Error(), tt.refused+": ") {
					t.Errorf("%s: %v, want %s refused (fstree.ErrUnshippable)", what, err, tt.refused)
				}
				if tt.loop && !strings.Contains(err.Error(), "loop") {
					t.Errorf("%s: %v, want a loop named", what, err)
				}
			}
			if tt.refused == "" {
				for p, f := range tt.links {
					if f.Mode&fs.ModeSymlink == 0 {
						continue
					}
					if got, err := os.Readlink(filepath.Join(dir, p)); err != nil || got != string(f.Data) {
						t.Errorf("exported %s -> %q, %v; want -> %q", p, got, err, f.Data)
					}
				}
			}
		})
	}
}

// TestBuildRefusesLinksItMade: links the build commands make are checked
// before anything is packed: one leading out of the build fails it and no
// archive is left to ship; one within it is packed as a link.
func TestBuildRefusesLinksItMade(t *testing.T) {
	tests := []struct {
		name  string
		build string
		ok    bool
	}{
		{name: "a link within the build", build: "mkdir -p public && ln -s ../index.php public/index.php", ok: true},
		{name: "an absolute link", build: "ln -s /etc/passwd passwd"},
		{name: "a link climbing out", build: "mkdir -p a && ln -s ../../.. a/up"},
		{name: "a link to the build directory by its path", build: `ln -s "$PWD/index.php" abs`},
		{name: "a loop", build: "ln -s y x && ln -s x y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tree := fstest.MapFS{"index.php": {Data: []byte("<?php\n"), Mode: 0o644}}
			art := &Artifact{platform: "app", id: "b1", source: "test", tree: tree, build: []string{tt.build}, dir: dir, keep: 3}
			archive, err := art.prepare(context.Background())
			if !tt.ok {
				if !errors.Is(err, fstree.ErrUnshippable) {
					t.Fatalf("prepare = %q, %v; want fstree.ErrUnshippable", archive, err)
				}
				if m, _ := filepath.Glob(filepath.Join(dir, "*.tar.gz")); len(m) > 0 {
					t.Errorf("an archive was left to ship: %v", m)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(archive)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			zr, err := gzip.NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			tr := tar.NewReader(zr)
			found := false
			for {
				h, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if h.Name == "public/index.php" {
					found = h.Typeflag == tar.TypeSymlink && h.Linkname == "../index.php"
				}
			}
			if !found {
				t.Error("the link within the build was not packed as a link")
			}
		})
	}
}
