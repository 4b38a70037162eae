package reconcile

import (
	"fmt"
	"strings"
)

// Prune comes only from the inventory: berth deletes what it recorded as
// created, when the revision no longer declares it.

// prune adds to servers, for every inventory record of recs that the
// revision (desired, by ID) no longer declares, the resource that deletes
// it: the builder's (Desired.Prune) or the kind's registered pruner. A
// record at the path of a desired resource, or at or under a path that a
// desired resource supersedes, is not pruned but forgotten once that
// resource converged (forget, by server).
// deletedSites are the sites of which the revision declares nothing any
// more (adopted records aside), siteRecs the records of the sites it no
// longer declares. sitesNow are the sites the revision declares.
func prune(d *Desired, resources []Resource, recs []Record, desired map[string]Resource, sitesNow map[string]bool, servers map[string][]Resource) (forget map[string][]forgotten, deletedSites map[string]bool, siteRecs map[string][]Record, err error) {
	type claim struct{ prefix, by string }
	claims := map[string][]claim{}
	owner := map[[2]string]string{} // server, path -> the desired resource at that path
	for _, r := range resources {
		if p := r.Path(); p != "" {
			owner[[2]string{r.Server(), p}] = r.ID()
		}
		if s, ok := r.(superseder); ok {
			for _, prefix := range s.Supersedes() {
				claims[r.Server()] = append(claims[r.Server()], claim{prefix, r.ID()})
			}
		}
	}
	forget = map[string][]forgotten{}
	deletedSites = map[string]bool{}
	siteRecs = map[string][]Record{}
	retiring := retired(d)
records:
	for _, rec := range recs {
		if _, ok := desired[rec.ID]; ok {
			continue
		}
		if held(d, rec) {
			continue // a migration's source: kept until its grace is over
		}
		// A record at the path a desired resource owns (its ID changed,
		// its path did not) is that resource's now: deleting it would
		// delete what the revision declares.
		if by, ok := owner[[2]string{rec.Server, rec.Path}]; ok && rec.Path != "" {
			forget[rec.Server] = append(forget[rec.Server], forgotten{id: rec.ID, by: by})
			continue records
		}
		for _, c := range claims[rec.Server] {
			if rec.Path == c.prefix || strings.HasPrefix(rec.Path, c.prefix+"/") {
				forget[rec.Server] = append(forget[rec.Server], forgotten{id: rec.ID, by: c.by})
				continue records
			}
		}
		var r Resource
		if d.Prune != nil {
			r, _ = d.Prune(rec)
		}
		if r == nil {
			prune, err := prunerFor(rec.Kind)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("%s: %w", rec.ID, err)
			}
			r = prune(rec)
		}
		servers[rec.Server] = append(servers[rec.Server], r)
		if rec.Site != "" && !sitesNow[rec.Site] && !rec.Adopted {
			deletedSites[rec.Site] = true
		}
		if rec.Site != "" && (!sitesNow[rec.Site] || retiring[rec.Site]) {
			siteRecs[rec.Site] = append(siteRecs[rec.Site], rec)
		}
	}
	return forget, deletedSites, siteRecs, nil
}

// scope returns the resources of sites and, transitively, what they
// depend on, and the inventory records of sites.
func scope(d *Desired, recs []Record, sites []string) ([]Resource, []Record, error) {
	want := map[string]bool{}
	for _, s := range sites {
		want[s] = true
	}
	byID := make(map[string]Resource, len(d.Resources))
	found := map[string]bool{}
	var queue []string
	for _, r := range d.Resources {
		byID[r.ID()] = r
		if want[r.Site()] {
			found[r.Site()] = true
			queue = append(queue, r.ID())
		}
	}
	for _, s := range sites {
		if !found[s] {
			return nil, nil, fmt.Errorf("environment %s has no site %s: check its name (berth status lists the sites)", d.Env, s)
		}
	}
	in := map[string]bool{}
	var out []Resource
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		r, ok := byID[id]
		if !ok || in[id] {
			continue
		}
		in[id] = true
		out = append(out, r)
		queue = append(queue, r.Deps()...)
	}
	var kept []Record
	for _, rec := range recs {
		if want[rec.Site] {
			kept = append(kept, rec)
		}
	}
	return out, kept, nil
}
