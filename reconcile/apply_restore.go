package reconcile

import (
	"context"
	"slices"

	"github.com/berthhq/berth/host"
)

// restore puts back every change of this run on a server whose
// configuration check failed (order: the indexes of the changes that
// succeeded, as they finished), so that it serves and holds what it did
// before the run; each change restored is no longer ok. Every kind's Undo
// works from what its Check found (Change.Found): the old contents of the
// files were read in the plan's one ReadFiles round trip.
//
// The changes of kinds that are not BatchWriters are undone first, newest
// first (a release or a database file goes before the directory it was
// put in); then every BatchWriter's undo goes in one WriteBatch (the old
// files and modes back, the new files and directories removed, newest
// first: children before their parents).
func (e *Engine) restore(ctx context.Context, h host.Host, changes []*Change, order []int, ok []bool, res *Result) (restored, unrestored int) {
	done := func(i int, err error) {
		if err != nil {
			res.failChange(changes[i], "restore after the failed check: %v", err)
			unrestored++
			return
		}
		ok[i] = false
		res.Applied--
		res.Restored++
		restored++
	}
	var batched []*Change
	var bi []int
	var ops [][]host.BatchOp
	for _, i := range slices.Backward(order) {
		if !ok[i] {
			continue
		}
		c := changes[i]
		if bw, isBW := c.res.(BatchWriter); isBW {
			if o, can := undoOps(bw, c); can {
				batched, bi, ops = append(batched, c), append(bi, i), append(ops, o)
				continue
			}
		}
		done(i, c.res.Undo(ctx, h, c))
	}
	if len(batched) > 0 {
		errs := writeBatch(ctx, h, batched, ops, func(c *Change, r []host.BatchResult) error {
			return c.res.(BatchWriter).UndoDone(c, r)
		})
		for k, i := range bi {
			done(i, errs[k])
		}
	}
	return restored, unrestored
}

// undoOps returns c's undo ops, false when its Undo must run (or UndoOps
// panicked: Undo then reports it).
func undoOps(bw BatchWriter, c *Change) (ops []host.BatchOp, ok bool) {
	defer func() {
		if recover() != nil {
			ops, ok = nil, false
		}
	}()
	return bw.UndoOps(c)
}
