package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/berthhq/berth/internal/failpoint"
)

// applyData is phase 2 of Apply on one server: deletions of data, each
// forgotten by the inventory as soon as it is done, so that a crash
// between two of them leaves no record of something already gone.
func (e *Engine) applyData(ctx context.Context, p *Plan, server string, changes []*Change, n *atomic.Int64, total int) *Result {
	res := &Result{}
	h, err := e.Hosts.Host(ctx, server)
	if err != nil {
		res.failServer(server, "connect: %v", err)
		res.Failed = len(changes)
		return res
	}
	forget := func(c *Change) error {
		err := e.Inventory.DeleteRecords(context.WithoutCancel(ctx), p.Env, []string{c.ID})
		failpoint.Hit("mid-delete")
		return err
	}
	errs, _ := e.runDAG(ctx, h, changes, n, total, nil, forget)
	for i, c := range changes {
		var kept *KeptError
		switch {
		case errs[i] == nil:
			res.Applied++
		case errors.As(errs[i], &kept):
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s: %v", server, kept))
		default:
			res.Failed++
			res.failChange(c, "%v", errs[i])
		}
	}
	return res
}
