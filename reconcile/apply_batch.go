package reconcile

import (
	"context"
	"errors"
	"fmt"

	"github.com/berthhq/berth/host"
)

// BatchWriter is implemented by a kind whose Apply, for some changes, only
// writes files and directories or removes paths (kind/files). The engine
// then does not call Apply for those changes: it collects the ops of every
// such change of a server that is ready to run and sends them in one
// Host.WriteBatch (over SSH one session), and asks the kind what the
// results mean. Likewise a failed configuration check undoes them in one
// batch. Other kinds, and changes for which BatchOps says no, Apply and
// Undo one by one as before.
//
// The engine keeps every guarantee of a run: the records of what a batch
// will write are saved Pending before it (recordIntent); a change is
// applied only once every change it depends on is, so a batch holds the
// changes whose dependencies are done or in the same batch (WriteBatch
// makes directories, then writes files, then removes, each in the order
// given: parents before children, and children's removals before their
// parents'); a failed op fails its change and what depends on it only.
type BatchWriter interface {
	Resource
	// BatchOps returns the ops that Apply would do for c, with ok; ok is
	// false when Apply must run instead (the change does more than write).
	BatchOps(c *Change) (ops []host.BatchOp, ok bool)
	// BatchDone returns what Apply would have returned, from the results
	// of the ops BatchOps gave, in their order.
	BatchDone(c *Change, res []host.BatchResult) error
	// UndoOps returns the ops that Undo would do for c (after a
	// successful Apply), with ok; false: Undo runs instead.
	UndoOps(c *Change) (ops []host.BatchOp, ok bool)
	// UndoDone returns what Undo would have returned, from the results of
	// the ops UndoOps gave.
	UndoDone(c *Change, res []host.BatchResult) error
}

// ContentReader is implemented by a resource whose Check needs the
// contents of some paths (a file's old contents, for its diff and for
// Undo). The engine asks every resource of a server, after Observe and
// before any Check, and reads all the paths in one Host.ReadFiles round
// trip; Check finds them in CheckInput.Files. A path missing from Files
// (a resource that is not a ContentReader, a path it did not ask for) is
// for Check to read itself.
type ContentReader interface {
	Resource
	// ReadPaths returns the paths whose contents Check will need, given
	// what it can see of in (Obs, Record, Adopt, Guarded; not Files nor
	// Batch).
	ReadPaths(in CheckInput) []string
}

// unsureError is the error of a batched change whose batch was cut off
// as a whole (the host unreachable, berth's context cancelled): its write
// may have been done. Its record stays Pending, so that the next run
// takes the file for berth's.
type unsureError struct{ err error }

func (e *unsureError) Error() string { return e.err.Error() }
func (e *unsureError) Unwrap() error { return e.err }

// batchOps returns c's ops when its kind writes it in a batch.
func batchOps(c *Change) (ops []host.BatchOp, ok bool) {
	defer func() {
		if recover() != nil {
			ops, ok = nil, false // Apply runs, and reports the panic
		}
	}()
	bw, isBW := c.res.(BatchWriter)
	if !isBW {
		return nil, false
	}
	return bw.BatchOps(c)
}

// writeBatch sends the ops of changes (ops[i] for changes[i]) in one
// WriteBatch and returns each change's error, from done (BatchDone or
// UndoDone). A batch cut off as a whole makes the error of every change
// not done an *unsureError.
func writeBatch(ctx context.Context, h host.Host, changes []*Change, ops [][]host.BatchOp, done func(*Change, []host.BatchResult) error) []error {
	errs := make([]error, len(changes))
	var all []host.BatchOp
	for _, o := range ops {
		all = append(all, o...)
	}
	res, err := h.WriteBatch(ctx, all)
	var be *host.BatchError
	whole := err != nil && !errors.As(err, &be)
	if len(res) != len(all) {
		if err == nil {
			err = fmt.Errorf("%s: the batch returned %d results for %d ops", h.Name(), len(res), len(all))
		}
		res = host.FailAll(all, err)
		whole = true
	}
	at := 0
	for i, c := range changes {
		r := res[at : at+len(ops[i])]
		at += len(ops[i])
		errs[i] = safeDone(c, r, done)
		if errs[i] != nil && whole {
			errs[i] = &unsureError{errs[i]}
		}
	}
	return errs
}

// safeDone calls done, turning a panic into an error.
func safeDone(c *Change, res []host.BatchResult, done func(*Change, []host.BatchResult) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in %s: %v", c.ID, r)
		}
	}()
	return done(c, res)
}

// readContents reads, in one round trip, the paths that the
// ContentReaders among rs ask for; nil when none does.
func readContents(ctx context.Context, h host.Host, rs []Resource, input func(Resource) CheckInput) (map[string]host.FileData, error) {
	seen := map[string]bool{}
	var paths []string
	for _, r := range rs {
		cr, ok := r.(ContentReader)
		if !ok {
			continue
		}
		for _, p := range cr.ReadPaths(input(r)) {
			if !seen[p] {
				seen[p] = true
				paths = append(paths, p)
			}
		}
	}
	if len(paths) == 0 {
		return nil, nil
	}
	data, err := h.ReadFiles(ctx, paths)
	if err != nil {
		return nil, fmt.Errorf("read %d changed files: %w", len(paths), err)
	}
	out := make(map[string]host.FileData, len(data))
	for _, d := range data {
		out[d.Path] = d
	}
	return out, nil
}
