package hosttest

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"slices"

	"github.com/berthhq/berth/host"
)

// InterruptBatch makes the next WriteBatch stop after n of its files were
// renamed into place, as if the host's side was killed there: the later
// files keep their old contents, their temporary files stay behind (for
// SweepTemp), the removals are not done, and WriteBatch returns an error
// wrapping host.ErrUnreachable.
func (f *Fake) InterruptBatch(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.interruptAfter = n
}

// WriteBatch implements host.Host; it records one call ("batch") naming
// every op's path, in the order of ops, with the files' contents
// concatenated as Stdin.
func (f *Fake) WriteBatch(ctx context.Context, ops []host.BatchOp) ([]host.BatchResult, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := Call{Op: "batch"}
	for _, op := range ops {
		c.Paths = append(c.Paths, op.Path)
		c.Stdin = append(c.Stdin, op.Data...)
	}
	if err := f.begin(ctx, c); err != nil {
		return host.FailAll(ops, err), err
	}
	if err := host.CheckBatch(ops); err != nil {
		err = fmt.Errorf("%s: %w", f.name, err)
		return host.FailAll(ops, err), err
	}
	interrupt := f.interruptAfter
	f.interruptAfter = -1
	res := make([]host.BatchResult, len(ops))
	type staged struct {
		i        int
		tmp, dst string
	}
	var files []staged
	order := host.BatchOrder(ops)
	for _, i := range order {
		op := ops[i]
		switch op.Kind {
		case host.OpDir:
			res[i].Err = f.ensureDir(op.Path, op.Opts)
		case host.OpFile:
			f.tmpSeq++
			tmp := path.Join(path.Dir(path.Clean(op.Path)), fmt.Sprintf("%sfake%06d", host.TempPrefix, f.tmpSeq))
			if res[i].Err = f.write(tmp, op.Data, op.Opts); res[i].Err == nil {
				files = append(files, staged{i, tmp, path.Clean(op.Path)})
			}
			continue
		default:
			continue
		}
		res[i].Done = res[i].Err == nil
	}
	for k, s := range files {
		if k == interrupt {
			err := fmt.Errorf("%s: batch cut off after %d files: %w (fake host interrupted)", f.name, k, host.ErrUnreachable)
			for i := range res {
				if !res[i].Done && res[i].Err == nil {
					res[i].Err = err
				}
				res[i].Kind, res[i].Path = ops[i].Kind, ops[i].Path
			}
			return res, err
		}
		if old := f.files[s.dst]; old != nil && old.mode.IsDir() {
			delete(f.files, s.tmp)
			res[s.i].Err = fmt.Errorf("%s: write %s: rename into place: is a directory", f.name, s.dst)
			continue
		}
		f.files[s.dst] = f.files[s.tmp]
		delete(f.files, s.tmp)
		res[s.i].Done = true
	}
	for _, i := range order {
		if ops[i].Kind == host.OpRemove {
			res[i].Err = f.remove(ops[i].Path)
			res[i].Done = res[i].Err == nil
		}
	}
	return res, host.BatchOutcome(f.name, ops, res)
}

// ReadFiles implements host.Host; it records one call ("readfiles").
func (f *Fake) ReadFiles(ctx context.Context, paths []string) ([]host.FileData, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, Call{Op: "readfiles", Paths: slices.Clone(paths)}); err != nil {
		return nil, err
	}
	out := make([]host.FileData, len(paths))
	for i, p := range paths {
		out[i].Path = p
		out[i].Data, out[i].Err = f.read(p)
		out[i].Data = bytes.Clone(out[i].Data)
	}
	return out, nil
}
