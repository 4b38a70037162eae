package dashboard

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/berthhq/berth/daemon"
	berthrun "github.com/berthhq/berth/run"
)

// PageSize is how many sites one page of the list shows.
const PageSize = 50

// Row is one site of the list: what the revision declares and what the
// last run found.
type Row struct {
	*daemon.SiteView
	Sync, Health, Message string
	// Nodes are its web servers' answers to the last health check.
	Nodes     []berthrun.NodeHealth
	CheckedAt *time.Time
	// Waiting is set while its move waits for its time (the DNS caches):
	// until when, and why; Message then holds more only when a health
	// check said more.
	Waiting *berthrun.Wait
}

// Query is the site list's filter, sort and page, from the URL.
type Query struct {
	// Name matches a substring of the domain, an alias or the repo name.
	Name string
	// Server keeps the sites served by it (or whose database is on it).
	Server string
	// Status keeps the sites whose sync, health or state is it
	// (case-insensitive): Synced, OutOfSync, Healthy, Degraded, disabled...
	Status string
	// Sort is "name" (default), "status" or "server".
	Sort string
	// Page counts from 1.
	Page int
}

// Result is one page of the filtered, sorted list.
type Result struct {
	Rows         []Row
	Total, Pages int
	Page         int
	First, Last  int // 1-based positions of the page's rows in Total
}

// rows joins the views and the statuses of an environment's sites.
func rows(views []daemon.SiteView, st []daemon.SiteStatus) []Row {
	by := make(map[string]daemon.SiteStatus, len(st))
	for _, s := range st {
		by[s.Site] = s
	}
	out := make([]Row, len(views))
	for i := range views {
		v := &views[i]
		s, ok := by[v.Domain]
		if !ok {
			s = by[v.Name]
		}
		out[i] = Row{SiteView: v, Sync: s.Sync, Health: s.Health, Message: s.Message, Nodes: s.Nodes, CheckedAt: s.CheckedAt, Waiting: s.Waiting}
		if s.Waiting != nil && s.Message == s.Waiting.Message() {
			out[i].Message = "" // shown as the move's wait
		}
	}
	return out
}

// List filters, sorts and pages all. It copies only the rows that pass
// the filter, and sorts them only when the order is not the list's own
// (by domain).
func List(all []Row, q Query) Result {
	name := strings.ToLower(strings.TrimSpace(q.Name))
	status := strings.ToLower(strings.TrimSpace(q.Status))
	server := strings.TrimSpace(q.Server)
	kept := all
	if name != "" || status != "" || server != "" {
		kept = make([]Row, 0, len(all))
		for _, r := range all {
			if matchName(r, name) && matchStatus(r, status) && matchServer(r, server) {
				kept = append(kept, r)
			}
		}
	}
	switch q.Sort {
	case "status":
		kept = slices.Clone(kept)
		slices.SortStableFunc(kept, func(a, b Row) int { return cmp.Compare(rank(a), rank(b)) })
	case "server":
		kept = slices.Clone(kept)
		slices.SortStableFunc(kept, func(a, b Row) int { return cmp.Compare(first(a.Servers), first(b.Servers)) })
	}
	res := Result{Total: len(kept), Pages: max(1, (len(kept)+PageSize-1)/PageSize), Page: max(1, q.Page)}
	res.Page = min(res.Page, res.Pages)
	lo := (res.Page - 1) * PageSize
	hi := min(lo+PageSize, len(kept))
	res.Rows = kept[lo:hi]
	if hi > lo {
		res.First, res.Last = lo+1, hi
	}
	return res
}

func matchName(r Row, name string) bool {
	if name == "" || strings.Contains(r.Domain, name) || strings.Contains(strings.ToLower(r.Name), name) {
		return true
	}
	return slices.ContainsFunc(r.Aliases, func(a string) bool { return strings.Contains(a, name) })
}

func matchStatus(r Row, status string) bool {
	return status == "" || strings.EqualFold(r.Sync, status) || strings.EqualFold(r.Health, status) || strings.EqualFold(r.State, status)
}

func matchServer(r Row, server string) bool {
	return server == "" || slices.Contains(r.Servers, server) || r.LB == server || strings.HasSuffix(r.DB, " on "+server)
}

// rank orders the sites that need attention first: down, degraded, then
// out of sync, then the rest.
func rank(r Row) int {
	switch {
	case r.Health == daemon.SiteDown:
		return -1
	case r.Health == "Degraded":
		return 0
	case r.Sync == "OutOfSync":
		return 1
	case r.Health == "":
		return 2
	}
	return 3
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
