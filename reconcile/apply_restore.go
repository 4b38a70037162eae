package reconcile

import (
	"context"
	"slices"

	"github.com/berthhq/berth/host"
)

// restore puts back every change of this run on a server whose
// configuration check failed, newest first (order: the indexes of the
// changes that succeeded, as they finished), so that it serves and holds
// what it did before the run; each change restored is no longer ok.
// Every kind's Undo works from what its Check found (Change.Found).
func (e *Engine) restore(ctx context.Context, h host.Host, changes []*Change, order []int, ok []bool, res *Result) (restored, unrestored int) {
	// Put back every change of this run on this server, newest first,
	// so that it serves and holds what it did before the run.
	for _, i := range slices.Backward(order) {
		if !ok[i] {
			continue
		}
		if uerr := changes[i].res.Undo(ctx, h, changes[i]); uerr != nil {
			res.failChange(changes[i], "restore after the failed check: %v", uerr)
			unrestored++
			continue
		}
		ok[i] = false
		res.Applied--
		res.Restored++
		restored++
	}
	return restored, unrestored
}
