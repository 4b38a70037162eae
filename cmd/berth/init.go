package main

import (
	"embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/berthhq/berth/spec"
)

// initRepo is the sites repo berth init writes: valid as it is, with a
// README of the next steps. berth.schema.json is added from spec.Schema,
// so it is always the schema of this berth.
//
//go:embed initrepo
var initRepo embed.FS

func runInit(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("init", flag.ContinueOnError)
	flags.SetOutput(stderr)
	force := flags.Bool("force", false, "write into a directory that is not empty (files of the same name are replaced)")
	flags.Usage = func() {
		fmt.Fprintln(stderr, "Usage: berth init [--force] [DIR]\n\nWrites a new sites repo into DIR (default .): berth.yaml with production\nand staging, one local server, a static and a PHP platform, one site and\na README of the next steps. Refuses a directory that is not empty unless\n--force.")
		fmt.Fprintf(stderr, "Exit status: %d written, %d error, %d usage error.\n", exitOK, exitError, exitUsage)
		flags.PrintDefaults()
	}
	pos, code, ok := parse(flags, args)
	if !ok {
		return code
	}
	if len(pos) > 1 {
		fmt.Fprintf(stderr, "berth init: want at most one directory, got %d\n", len(pos))
		return exitUsage
	}
	dir := "."
	if len(pos) == 1 {
		dir = pos[0]
	}
	if err := writeInitRepo(dir, *force); err != nil {
		fmt.Fprintf(stderr, "berth init: %v\n", err)
		return exitError
	}
	fmt.Fprintf(stdout, "berth init: wrote a sites repo into %s; next: berth validate %s, then read %s\n",
		dir, dir, filepath.Join(dir, "README.md"))
	return exitOK
}

// writeInitRepo writes initRepo into dir, creating dir when missing.
func writeInitRepo(dir string, force bool) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	case err != nil:
		return err
	case len(entries) > 0 && !force:
		return fmt.Errorf("%s is not empty; give an empty or new directory, or --force to write into it anyway", dir)
	}
	files, err := fs.Sub(initRepo, "initrepo")
	if err != nil {
		return err
	}
	err = fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == "." {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		return writeNew(dst, data)
	})
	if err != nil {
		return err
	}
	return writeNew(filepath.Join(dir, "berth.schema.json"), spec.Schema())
}

// writeNew writes a file of the new repo, replacing a regular file of the
// same name (--force) but never following a symlink there.
func writeNew(path string, data []byte) error {
	if st, err := os.Lstat(path); err == nil && !st.Mode().IsRegular() {
		return fmt.Errorf("%s exists and is not a regular file; remove it first", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	return errors.Join(err, f.Close())
}
