package reconcile

import (
	"errors"
	"sync"
)

// crossDeps lets a change wait for the changes it depends on that run on
// other servers in the same phase of Apply: a site's install on its web
// server waits for its database on the database server. Each server's DAG
// still runs in parallel with the others'; only such a change waits,
// without holding a worker. A nil *crossDeps has no changes.
type crossDeps struct {
	byID map[string]*crossDep
}

// crossDep is one change's outcome, published once.
type crossDep struct {
	once sync.Once
	done chan struct{} // closed when err is set
	err  error
	// late: the change runs after the reloads; only a change that does
	// too waits for it.
	late bool
}

// errNotRun completes a change its server never ran (it could not be
// reached, its run stopped before it, or its check refused the run).
var errNotRun = errors.New("not run on its server")

func newCrossDeps(byServer map[string][]*Change) *crossDeps {
	// Only a change that a change in another DAG waits for gets an entry:
	// one of another server, or of the same server in the other stage
	// (afterRank: runAfter's DAG waits for the first DAG's changes through
	// these entries). One channel per change was 8 MB of a 10,000-site
	// first converge, where no change waits across DAGs.
	type where struct {
		server string
		rank   int
	}
	// An after-reload change runs after every server's reloads: only
	// another after-reload change may wait for it (one of another server:
	// a migration's switch waits for the load balancer's configuration of
	// the run); a change of an earlier stage waiting for it would never
	// let the reloads happen.
	of := map[string]where{}
	for server, changes := range byServer {
		for _, c := range changes {
			of[c.ID] = where{server, afterRank(c)}
		}
	}
	x := &crossDeps{byID: map[string]*crossDep{}}
	for server, changes := range byServer {
		for _, c := range changes {
			if c.Action == Delete || c.res == nil {
				continue // a deletion waits for no dependency (runDAG)
			}
			for _, dep := range c.res.Deps() {
				w, ok := of[dep]
				if ok && w.rank == 2 && !c.afterReload() {
					continue // see above: it does not wait
				}
				if ok && w != (where{server, afterRank(c)}) && x.byID[dep] == nil {
					x.byID[dep] = &crossDep{done: make(chan struct{}), late: w.rank == 2}
				}
			}
		}
	}
	return x
}

// lookup returns the outcome to wait for of the change id, nil when id is
// not a change of this phase (nothing to wait for).
func (x *crossDeps) lookup(id string) *crossDep {
	if x == nil {
		return nil
	}
	return x.byID[id]
}

// waitFor returns the outcome c waits for of the change id: lookup's,
// nil when that one runs after the reloads and c does not.
func (x *crossDeps) waitFor(c *Change, id string) *crossDep {
	st := x.lookup(id)
	if st != nil && st.late && !c.afterReload() {
		return nil
	}
	return st
}

// complete publishes the outcome of the change id; only the first counts.
func (x *crossDeps) complete(id string, err error) {
	if st := x.lookup(id); st != nil {
		st.once.Do(func() {
			st.err = err
			close(st.done)
		})
	}
}

// completeAll publishes errNotRun for every change of changes not yet
// completed, so that no change on another server waits for it forever.
func (x *crossDeps) completeAll(changes []*Change) {
	for _, c := range changes {
		x.complete(c.ID, errNotRun)
	}
}

// reloadBarrier lets a server's after-reload changes (afterReloader) wait
// until every server of phase 1 finished its reloads, or stopped before
// them. A nil *reloadBarrier waits for nothing.
type reloadBarrier struct {
	wg sync.WaitGroup
}

func newReloadBarrier(servers int) *reloadBarrier {
	b := &reloadBarrier{}
	b.wg.Add(servers)
	return b
}

// arrive returns the function that marks one server's reloads done; only
// its first call counts.
func (b *reloadBarrier) arrive() func() {
	var once sync.Once
	return func() {
		if b != nil {
			once.Do(b.wg.Done)
		}
	}
}

// wait returns once every server arrived.
func (b *reloadBarrier) wait() {
	if b != nil {
		b.wg.Wait()
	}
}
