package spec

import (
	"errors"
	"fmt"
	"slices"
)

// Hold places a site on another platform than its document says, and its
// database on another db server: where berth rollback-migration moved it
// back while the revision still places it where the migration took it.
// Package desired decides which holds are in force (state keeps them);
// here they are applied to the repo's documents before resolving, so that
// everything derived from the site's placement (its servers, settings,
// database grants, DNS records, load balancer) follows.
type Hold struct {
	Site     string // the site's name in the repo
	Platform string
	// DBServer is where the site's database is held; "" keeps it where
	// the revision places it.
	DBServer string
}

// ErrNoRepo is returned by WithHolds for a resolved environment that was
// not resolved from a repo (ResolveRemoved's, or one built by hand).
var ErrNoRepo = errors.New("the environment was not resolved from a sites repo")

// WithHolds loads res's repo again from the files it was resolved from
// and resolves its environment with holds applied; res itself is not changed. A hold
// that names a site, platform or db server the environment does not have
// is an error saying so: the revision no longer allows it.
func (res *Resolved) WithHolds(holds []Hold) (*Resolved, error) {
	if len(holds) == 0 {
		return res, nil
	}
	if res.fsys == nil {
		return nil, ErrNoRepo
	}
	r, err := Load(res.fsys)
	switch {
	case err != nil:
		return nil, fmt.Errorf("load the repo again to apply the holds of berth rollback-migration: %w", err)
	case r.Digest != res.digest:
		return nil, fmt.Errorf("the sites repo changed while berth read it (to apply the holds of berth rollback-migration); run again")
	}
	held := *r
	held.Sites = slices.Clone(r.Sites)
	held.sites = make(map[string]*Site, len(r.sites))
	for i, s := range held.Sites {
		for _, h := range holds {
			if h.Site != s.Name {
				continue
			}
			if p := r.platforms[h.Platform]; p == nil || !inEnv(p.Environments, res.Environment) {
				return nil, fmt.Errorf("site %s is held on platform %s, which the revision does not declare in environment %s", h.Site, h.Platform, res.Environment)
			}
			c := *s
			c.Platform = h.Platform
			if c.DB != nil && h.DBServer != "" {
				db := *c.DB
				db.Server = h.DBServer
				c.DB = &db
			}
			held.Sites[i] = &c
		}
		held.sites[held.Sites[i].Name] = held.Sites[i]
	}
	for _, h := range holds {
		if held.sites[h.Site] == nil {
			return nil, fmt.Errorf("site %s is held by berth rollback-migration but the revision does not declare it", h.Site)
		}
	}
	out, err := held.resolve(res.Environment, true)
	if err != nil {
		return nil, fmt.Errorf("apply the holds of berth rollback-migration: %w", err)
	}
	out.fsys, out.digest = res.fsys, res.digest
	return out, nil
}
