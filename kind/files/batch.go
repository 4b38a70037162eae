package files

import (
	"errors"
	"fmt"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/reconcile"
)

// Files and directories are reconcile.BatchWriters: the engine writes
// every one of a server in one WriteBatch instead of calling Apply, and
// undoes them in one after a failed configuration check. A file is also a
// reconcile.ContentReader: the old contents of every changed file of a
// server (for its diff and its Undo) are read in one ReadFiles.

var (
	_ reconcile.BatchWriter   = (*File)(nil)
	_ reconcile.ContentReader = (*File)(nil)
	_ reconcile.BatchWriter   = (*Dir)(nil)
)

// ReadPaths names the file when Check will read its contents: a file
// berth deletes, or one it updates (whose old contents Undo puts back).
func (f *File) ReadPaths(in reconcile.CheckInput) []string {
	obs := in.Obs[f.Path()]
	if !obs.IsRegular() {
		return nil
	}
	if f.Absent() {
		if in.Record != nil && in.Record.Adopted {
			return nil
		}
		return []string{f.Path()}
	}
	if obs.SHA256 == f.hash && len(attrDiffs(obs, f.mode, f.owner, f.group)) == 0 || keptAsFound(in, f.hash) {
		return nil
	}
	if in.Record == nil && !in.Adopt {
		return nil // a conflict: nothing is read
	}
	return []string{f.Path()}
}

// read returns the contents of p: from in.Files when the engine read
// them, else from the host.
func read(in reconcile.CheckInput, p string, readFile func() ([]byte, error)) ([]byte, error) {
	if d, ok := in.Files[p]; ok {
		return d.Data, d.Err
	}
	return readFile()
}

// BatchOps returns the op of the file's Apply.
func (f *File) BatchOps(c *reconcile.Change) ([]host.BatchOp, bool) {
	switch c.Action {
	case reconcile.Delete:
		return []host.BatchOp{host.RemoveOp(f.Path())}, true
	case reconcile.Create, reconcile.Update:
		return []host.BatchOp{host.FileOp(f.Path(), f.content, host.WriteOptions{Mode: f.mode, Owner: f.owner, Group: f.group})}, true
	}
	return nil, false
}

// BatchDone returns the error of the file's op.
func (f *File) BatchDone(_ *reconcile.Change, res []host.BatchResult) error { return opErr(res) }

// UndoOps returns the op of the file's Undo: its old contents, mode and
// owner back, or its removal when it was new.
func (f *File) UndoOps(c *reconcile.Change) ([]host.BatchOp, bool) {
	p, _ := c.Found.(*prior)
	switch {
	case p == nil:
		return nil, false // Undo says why
	case !p.exists:
		return []host.BatchOp{host.RemoveOp(f.Path())}, true
	}
	return []host.BatchOp{host.FileOp(f.Path(), p.data, host.WriteOptions{Mode: p.obs.Mode.Perm(), Owner: p.obs.Owner, Group: p.obs.Group})}, true
}

// UndoDone returns the error of the file's undo op.
func (f *File) UndoDone(_ *reconcile.Change, res []host.BatchResult) error { return opErr(res) }

// BatchOps returns the op of the directory's Apply; a removed site's
// directory, removed with its contents, is Applied instead.
func (d *Dir) BatchOps(c *reconcile.Change) ([]host.BatchOp, bool) {
	switch c.Action {
	case reconcile.Delete:
		if p, _ := c.Found.(*prior); p != nil && p.purge {
			return nil, false
		}
		return []host.BatchOp{host.RemoveOp(d.Path())}, true
	case reconcile.Create, reconcile.Update:
		return []host.BatchOp{host.DirOp(d.Path(), host.WriteOptions{Mode: d.mode, Owner: d.owner, Group: d.group})}, true
	}
	return nil, false
}

// BatchDone returns the error of the directory's op, as Apply would: a
// directory that is not empty is kept (a shared one is forgotten).
func (d *Dir) BatchDone(c *reconcile.Change, res []host.BatchResult) error {
	err := opErr(res)
	if c.Action == reconcile.Delete && errors.Is(err, host.ErrNotEmpty) {
		if d.Absent() && d.shared() {
			return nil // left in place for what it holds; the record goes
		}
		return &reconcile.KeptError{Path: d.Path(), Reason: "directory is not empty"}
	}
	return err
}

// UndoOps returns the ops of the directory's Undo: the directory and the
// parents its creation made removed (nearest first; one that is not empty
// is kept), or its old mode and owner back.
func (d *Dir) UndoOps(c *reconcile.Change) ([]host.BatchOp, bool) {
	p, _ := c.Found.(*prior)
	switch {
	case p == nil:
		return nil, false
	case !p.exists:
		ops := []host.BatchOp{host.RemoveOp(d.Path())}
		for _, dir := range p.parents {
			ops = append(ops, host.RemoveOp(dir))
		}
		return ops, true
	}
	return []host.BatchOp{host.DirOp(d.Path(), host.WriteOptions{Mode: p.obs.Mode.Perm(), Owner: p.obs.Owner, Group: p.obs.Group})}, true
}

// UndoDone returns the error of the directory's undo: a removal stopped
// by a directory that is not empty keeps it and its parents.
func (d *Dir) UndoDone(_ *reconcile.Change, res []host.BatchResult) error {
	for _, r := range res {
		if errors.Is(r.Err, host.ErrNotEmpty) {
			return nil
		}
		if r.Err != nil {
			return r.Err
		}
	}
	return nil
}

// opErr is the error of a change's one op.
func opErr(res []host.BatchResult) error {
	if len(res) != 1 {
		return fmt.Errorf("%d results for one op", len(res))
	}
	if res[0].Done {
		return nil
	}
	if res[0].Err == nil {
		return fmt.Errorf("%s: not applied", res[0].Path)
	}
	return res[0].Err
}
