package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/internal/failpoint"
)

// staged is a file of a batch written to its temporary name, not yet
// renamed into place.
type staged struct {
	i        int // index in ops
	tmp, dst string
}

// WriteBatch implements host.Host. Files are written to temporary files
// without an fsync each; then one syncfs(2) per file system makes all of
// them durable, the renames follow, and one more syncfs per file system
// (or one fsync, when every file went to one directory) makes the renames
// durable.
func (h *Host) WriteBatch(ctx context.Context, ops []host.BatchOp) ([]host.BatchResult, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	if err := h.check(ctx); err != nil {
		return host.FailAll(ops, err), err
	}
	if err := host.CheckBatch(ops); err != nil {
		err = fmt.Errorf("local: %w", err)
		return host.FailAll(ops, err), err
	}
	res := make([]host.BatchResult, len(ops))
	var files []staged
	// On any way out, temporary files not renamed are removed.
	defer func() {
		for _, f := range files {
			if f.tmp != "" {
				os.Remove(f.tmp)
			}
		}
	}()
	stop := func(err error) ([]host.BatchResult, error) {
		err = fmt.Errorf("local: batch: %w", err)
		for i := range res {
			if !res[i].Done && res[i].Err == nil {
				res[i].Err = err
			}
		}
		for i := range res {
			res[i].Kind, res[i].Path = ops[i].Kind, ops[i].Path
		}
		return res, err
	}
	for _, i := range host.BatchOrder(ops) {
		if err := ctx.Err(); err != nil {
			return stop(err)
		}
		op := ops[i]
		switch op.Kind {
		case host.OpDir:
			res[i].Err = h.ensureDir(op.Path, op.Opts)
			res[i].Done = res[i].Err == nil
		case host.OpFile:
			tmp, err := h.writeTemp(op.Path, op.Data, op.Opts, false)
			if err != nil {
				res[i].Err = err
				continue
			}
			files = append(files, staged{i: i, tmp: tmp, dst: op.Path})
		}
	}
	// Make every temporary file durable before any rename: one syncfs per
	// file system.
	if err := syncFileSystems(files, false); err != nil {
		return stop(err)
	}
	dirs := map[string]bool{}
	for k := range files {
		f := &files[k]
		if err := ctx.Err(); err != nil {
			return stop(err)
		}
		failpoint.Hit("mid-batch") // a crash here: earlier files new, later ones old, their temporary files left
		if err := os.Rename(f.tmp, f.dst); err != nil {
			res[f.i].Err = fmt.Errorf("local: write %s: rename into place: %w", f.dst, err)
			continue
		}
		f.tmp = ""
		res[f.i].Done = true
		dirs[filepath.Dir(f.dst)] = true
	}
	// Make the renames durable: one directory fsync when they all went to
	// one directory, else one syncfs per file system (cheaper than an
	// fsync per directory when a batch touches thousands of them).
	if len(dirs) == 1 {
		for dir := range dirs {
			if err := syncDir(dir); err != nil {
				return stop(err)
			}
		}
	} else if err := syncFileSystems(files, true); err != nil {
		return stop(err)
	}
	for _, i := range host.BatchOrder(ops) {
		if ops[i].Kind != host.OpRemove {
			continue
		}
		if err := ctx.Err(); err != nil {
			return stop(err)
		}
		res[i].Err = h.remove(ops[i].Path)
		res[i].Done = res[i].Err == nil
	}
	return res, host.BatchOutcome("local", ops, res)
}

// syncFileSystems calls syncfs(2) once for each file system holding one
// of the files: their temporary files (renamed false) or the files
// renamed into place (renamed true).
func syncFileSystems(files []staged, renamed bool) error {
	seen := map[uint64]bool{}
	for _, f := range files {
		name := f.tmp
		if renamed {
			name = f.dst
		}
		if name == "" || (renamed && f.tmp != "") {
			continue
		}
		var st syscall.Stat_t
		if err := syscall.Stat(name, &st); err != nil {
			return fmt.Errorf("stat %s: %w", name, err)
		}
		if seen[st.Dev] {
			continue
		}
		seen[st.Dev] = true
		fd, err := unix.Open(filepath.Dir(name), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", filepath.Dir(name), err)
		}
		err = unix.Syncfs(fd)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("syncfs of the file system holding %s: %w", f.dst, err)
		}
	}
	return nil
}

// syncDir makes the entries of dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	err = d.Sync()
	d.Close()
	if err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// ReadFiles implements host.Host.
func (h *Host) ReadFiles(ctx context.Context, paths []string) ([]host.FileData, error) {
	if err := h.check(ctx); err != nil {
		return nil, err
	}
	for _, p := range paths {
		if err := host.CheckPath(p); err != nil {
			return nil, fmt.Errorf("local: read files: %w", err)
		}
	}
	out := make([]host.FileData, len(paths))
	for i, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("local: read files: %w", err)
		}
		out[i].Path = p
		b, err := os.ReadFile(p)
		if err != nil {
			out[i].Err = fmt.Errorf("local: read %s: %w", p, err)
			continue
		}
		out[i].Data = b
	}
	return out, nil
}
