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

// runDAG applies changes in dependency order with up to Workers at once and
// returns each change's error, and the indexes of the changes that
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
			} else if st := cross.lookup(dep); st != nil {
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

	workers := e.Workers
	if workers <= 0 {
		workers = 4
	}
	ready := make(chan int, len(changes))
	var mu sync.Mutex
	remaining := len(changes)
	var finish func(i int, err error)
	finish = func(i int, err error) { // with mu held
		errs[i] = err
		remaining--
		cross.complete(changes[i].ID, err)
		if remaining == 0 {
			close(ready)
		}
		for _, d := range dependents[i] {
			if err != nil && errs[d] == nil {
				var kept *KeptError
				if !errors.As(err, &kept) || changes[d].Action != Delete {
					errs[d] = fmt.Errorf("skipped: %s failed", changes[i].ID)
				}
			}
			waits[d]--
			if waits[d] == 0 {
				if errs[d] != nil {
					finish(d, errs[d])
				} else {
					ready <- d
				}
			}
		}
	}
	mu.Lock()
	for i := range changes {
		if waits[i] == 0 {
			ready <- i
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
				if errs[x.i] != nil {
					finish(x.i, errs[x.i])
				} else {
					ready <- x.i
				}
			}
		})
	}
	for range workers {
		wg.Go(func() {
			for i := range ready {
				c := changes[i]
				var err error
				if err = ctx.Err(); err == nil {
					e.hook().Applying(c, int(n.Add(1)), total)
					err = e.applyOne(ctx, h, c)
					if err == nil && after != nil {
						err = after(c)
					}
					e.hook().Applied(c, err)
					if err == nil && failpoint.Armed() {
						failpoint.Hit(writePoints(c)...)
					}
				}
				mu.Lock()
				if err == nil {
					order = append(order, i)
				}
				finish(i, err)
				mu.Unlock()
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
