package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/internal/failpoint"
)

// runDAG applies changes in dependency order with up to Workers at once,
// the writes of BatchWriters in as few WriteBatch calls as that order
// allows (one when nothing else stands between them), and returns each change's error, and the indexes of the changes that
// succeeded in the order they finished (Undo goes backwards through it).
// A change whose dependency failed is skipped. Creations wait for their
// Deps; deletions wait for deletions beneath them. after, when set, runs
// right after each successful change, before its dependents start; its
// error becomes the change's.
func (e *Engine) runDAG(ctx context.Context, h host.Host, changes []*Change, n *atomic.Int64, total int, cross *crossDeps, after func(*Change) error) ([]error, []int) {
	errs := make([]error, len(changes))
	var order []int
	if len(changes) == 0 {
		return errs, order
	}
	index := make(map[string]int, len(changes))
	for i, c := range changes {
		index[c.ID] = i
	}
	waits := make([]int, len(changes))
	dependents := make([][]int, len(changes))
	edge := func(before, after int) {
		waits[after]++
		dependents[before] = append(dependents[before], after)
	}
	type external struct {
		i   int
		dep string
		st  *crossDep
	}
	var deletes []int
	var externals []external
	for i, c := range changes {
		if c.Action == Delete {
			deletes = append(deletes, i)
			continue
		}
		for _, dep := range c.res.Deps() {
			if j, ok := index[dep]; ok {
				if changes[j].Action != Delete {
					edge(j, i)
				}
			} else if st := cross.waitFor(c, dep); st != nil {
				waits[i]++
				externals = append(externals, external{i, dep, st})
			}
		}
	}
	// Deletions: children first. Sorting by path puts every child right
	// after its parent, so each deletion waits for the deeper ones.
	slices.SortFunc(deletes, func(a, b int) int { return strings.Compare(changes[a].Path, changes[b].Path) })
	for x, i := range deletes {
		parent := changes[i].Path
		if parent == "" {
			continue
		}
		for _, j := range deletes[x+1:] {
			if !strings.HasPrefix(changes[j].Path, parent+"/") {
				break
			}
			edge(j, i)
		}
	}

	// Changes that a BatchWriter writes wait in batch, and go in one
	// WriteBatch once nothing else can run (queue empty, no worker busy):
	// a server's writes take as few round trips as the dependency order
	// allows. A batched change releases at once its dependents that are
	// batched too (WriteBatch orders them); the others wait for the batch.
	ops := make([][]host.BatchOp, len(changes))
	batched := make([]bool, len(changes))
	for i, c := range changes {
		ops[i], batched[i] = batchOps(c)
	}
	released := make([]bool, len(changes)) // i's batched dependents were released with it
	flushed := make([]bool, len(changes))  // i's batch was sent

	workers := e.Workers
	if workers <= 0 {
		workers = 4
	}
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	var queue, batch []int
	running := 0
	remaining := len(changes)
	var finish func(i int, err error)
	var release func(i int)
	release = func(i int) { // with mu held; waits[i] == 0
		switch {
		case errs[i] != nil:
			finish(i, errs[i])
		case batched[i]:
			batch = append(batch, i)
			released[i] = true
			for _, d := range dependents[i] {
				if batched[d] {
					if waits[d]--; waits[d] == 0 {
						release(d)
					}
				}
			}
		default:
			queue = append(queue, i)
		}
		cond.Signal()
	}
	finish = func(i int, err error) { // with mu held
		errs[i] = err
		remaining--
		cross.complete(changes[i].ID, err)
		if remaining == 0 {
			cond.Broadcast()
		}
		for _, d := range dependents[i] {
			// A dependent written in the same batch as i has its own op's
			// result for outcome; one not yet written is skipped.
			if err != nil && errs[d] == nil && !flushed[d] {
				var kept *KeptError
				switch {
				case isWaitErr(err):
					errs[d] = fmt.Errorf("skipped: %s waits: %w", changes[i].ID, err) // it waits too
				case !errors.As(err, &kept) || changes[d].Action != Delete:
					errs[d] = fmt.Errorf("skipped: %s failed", changes[i].ID)
				}
			}
			if released[i] && batched[d] {
				continue // released with i already
			}
			if waits[d]--; waits[d] == 0 {
				release(d)
			}
		}
	}
	mu.Lock()
	for i := range changes {
		if waits[i] == 0 && !released[i] {
			release(i)
		}
	}
	mu.Unlock()
	var wg sync.WaitGroup
	// A dependency on another server's change (of the same phase) is
	// waited for without holding a worker.
	for _, x := range externals {
		wg.Go(func() {
			<-x.st.done
			mu.Lock()
			defer mu.Unlock()
			if x.st.err != nil && errs[x.i] == nil {
				errs[x.i] = fmt.Errorf("skipped: %s failed", x.dep)
			}
			if waits[x.i]--; waits[x.i] == 0 {
				release(x.i)
			}
		})
	}
	// done reports a change's outcome: the hook, the failpoints after a
	// write, after.
	done := func(c *Change, err error) error {
		if err == nil && after != nil {
			err = after(c)
		}
		e.hook().Applied(c, err)
		if err == nil && failpoint.Armed() {
			failpoint.Hit(writePoints(c)...)
		}
		return err
	}
	for range workers {
		wg.Go(func() {
			mu.Lock()
			defer mu.Unlock()
			for {
				for remaining > 0 && len(queue) == 0 && (len(batch) == 0 || running > 0) {
					cond.Wait()
				}
				if remaining == 0 {
					cond.Broadcast()
					return
				}
				if len(queue) > 0 {
					i := queue[0]
					queue = queue[1:]
					running++
					mu.Unlock()
					c := changes[i]
					err := ctx.Err()
					if err == nil {
						e.hook().Applying(c, int(n.Add(1)), total)
						err = done(c, e.applyOne(ctx, h, c))
					}
					mu.Lock()
					running--
					if err == nil {
						order = append(order, i)
					}
					finish(i, err)
					cond.Broadcast()
					continue
				}
				var b []int
				pending := batch
				batch = nil
				for _, i := range pending {
					if errs[i] != nil { // a dependency failed since it was released
						finish(i, errs[i])
						continue
					}
					flushed[i] = true
					b = append(b, i)
				}
				if len(b) == 0 {
					cond.Broadcast()
					continue
				}
				running++
				mu.Unlock()
				berrs := make([]error, len(b))
				if err := ctx.Err(); err != nil {
					for k := range b {
						berrs[k] = err
					}
				} else {
					bc := make([]*Change, len(b))
					bops := make([][]host.BatchOp, len(b))
					for k, i := range b {
						bc[k], bops[k] = changes[i], ops[i]
						e.hook().Applying(bc[k], int(n.Add(1)), total)
					}
					berrs = writeBatch(ctx, h, bc, bops, func(c *Change, res []host.BatchResult) error {
						return c.res.(BatchWriter).BatchDone(c, res)
					})
					for k, c := range bc {
						berrs[k] = done(c, berrs[k])
					}
				}
				mu.Lock()
				running--
				for k, i := range b {
					if berrs[k] == nil {
						order = append(order, i)
					}
					finish(i, berrs[k])
				}
				cond.Broadcast()
			}
		})
	}
	wg.Wait()
	return errs, order
}

// writePoints names the failpoints after a change: after-write: then its
// kind, its service and its role (the ID's last segment before the
// server, e.g. vhost in site/example.com/vhost@web1).
func writePoints(c *Change) []string {
	id, _, _ := strings.Cut(c.ID, "@")
	points := []string{"after-write:" + c.Kind, "after-write:" + id[strings.LastIndex(id, "/")+1:]}
	if c.Service != "" {
		points = append(points, "after-write:"+c.Service)
	}
	return points
}

// applyOne applies one change, turning a panic in a resource into an error
// so that one broken resource cannot take the engine down.
func (e *Engine) applyOne(ctx context.Context, h host.Host, c *Change) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in %s: %v", c.ID, r)
		}
	}()
	return c.res.Apply(ctx, h, c)
}
