package reconcile

import (
	"context"
	"fmt"
)

// Follower is implemented by a resource whose change follows from the
// changes the plan holds for its dependencies on other servers: a
// platform's roll, on its load balancer, rolls the releases its web
// servers' changes ship. Its own server observes it like any resource;
// then:
//
//  1. its Check runs as any resource's (its change may be None);
//  2. once every server of the plan was checked, the engine calls Follow
//     with that change and the planned changes of the resource's Deps, by
//     ID (a dependency that is converged, or on a server the plan could
//     not observe, has none);
//  3. the plan holds what Follow returns instead (None: unchanged).
//
// Follow must only read: what Apply needs from the dependencies' changes
// (their Found) it puts in the change it returns. At Apply the change
// waits for its dependencies like any other.
type Follower interface {
	Resource
	Follow(ctx context.Context, own Change, deps map[string]*Change) (Change, error)
}

// follow completes the changes of the followers checked on every server
// (p.Changes holds all the others by then): it returns the changes to
// plan, and adds the records of the unchanged ones to save now to pl.
func follow(ctx context.Context, p *Plan, pl *planned, followers []Change, adopt bool) ([]Change, error) {
	if len(followers) == 0 {
		return nil, nil
	}
	byID := make(map[string]*Change, len(p.Changes))
	for i := range p.Changes {
		byID[p.Changes[i].ID] = &p.Changes[i]
	}
	var out []Change
	for _, own := range followers {
		deps := map[string]*Change{}
		for _, d := range own.res.Deps() {
			if c, ok := byID[d]; ok {
				deps[d] = c
			}
		}
		c, err := own.res.(Follower).Follow(ctx, own, deps)
		if err != nil {
			return nil, fmt.Errorf("check %s: %w", own.ID, err)
		}
		c.res, c.before = own.res, own.before
		if nr := c.keep(adopt); nr != nil {
			pl.records[c.Server] = append(pl.records[c.Server], *nr)
		}
		if c.Action == None {
			p.Unchanged++
			continue
		}
		out = append(out, c)
	}
	return out, nil
}
