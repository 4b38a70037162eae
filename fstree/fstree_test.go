package fstree

import (
	"errors"
	"io/fs"
	"testing"
	"testing/fstest"
)

func link(target string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink | 0o777}
}

// tree is a small repo: code/ with a file, links inside and out, a loop
// and a pipe.
var tree = fstest.MapFS{
	"berth.yaml":      {Data: []byte("environments: {}\n")},
	"code/index.php":  {Data: []byte("<?php\n")},
	"code/lib/a.php":  {Data: []byte("<?php\n")},
	"code/self":       link("index.php"),
	"code/up":         link("lib/../index.php"),
	"code/dangling":   link("cache/current"),
	"code/toRepo":     link("../berth.yaml"),
	"code/out":        link("../../etc/passwd"),
	"code/abs":        link("/etc/passwd"),
	"code/loop1":      link("loop2"),
	"code/loop2":      link("loop1"),
	"code/viaDocs":    link("../docs/../index.php"),
	"code/missingOut": link("missing/../../../x"),
	"docs":            link("code/lib"),
	"pipe":            {Mode: fs.ModeNamedPipe},
}

func TestResolve(t *testing.T) {
	for _, tt := range []struct {
		name, want string
		err        error
	}{
		{name: "code/self", want: "code/index.php"},
		{name: "code/up", want: "code/index.php"},
		{name: "docs/a.php", want: "code/lib/a.php"},
		{name: "code/viaDocs", want: "code/index.php"}, // .. after a link climbs from its target
		{name: "code/toRepo", want: "berth.yaml"},
		{name: "code/dangling", want: "code/cache/current", err: fs.ErrNotExist},
		{name: "code/out", err: ErrOutside},
		{name: "code/abs", err: ErrOutside},
		{name: "code/loop1", err: ErrLinkLoop},
		{name: "code/missingOut", err: ErrOutside},
	} {
		got, err := Resolve(tree, tt.name)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("Resolve(%s) = %q, %v; want %v", tt.name, got, err, tt.err)
			}
			if tt.err != fs.ErrNotExist && errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Resolve(%s): a link leading out must not read as missing: %v", tt.name, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Resolve(%s) = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

func TestCheckTree(t *testing.T) {
	ok := fstest.MapFS{
		"code/index.php": {Data: []byte("<?php\n")},
		"code/self":      link("index.php"),
		"code/dangling":  link("cache/current"),
	}
	if err := CheckTree(ok, "code"); err != nil {
		t.Errorf("a tree with links inside: %v", err)
	}
	for name, entry := range map[string]*fstest.MapFile{
		"toRepo": link("../berth.yaml"), // inside the repo, outside the code
		"abs":    link("/etc/passwd"),
		"loop":   link("loop"),
		"pipe":   {Mode: fs.ModeNamedPipe},
		"socket": {Mode: fs.ModeSocket},
	} {
		bad := fstest.MapFS{"berth.yaml": {}, "code/index.php": {}, "code/" + name: entry}
		if err := CheckTree(bad, "code"); !errors.Is(err, ErrUnshippable) {
			t.Errorf("code/%s: %v, want ErrUnshippable", name, err)
		}
	}
}
