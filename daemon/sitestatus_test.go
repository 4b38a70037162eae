package daemon

import (
	"testing"

	"github.com/berthhq/berth/reconcile"
)

// TestSiteStatusesFromFailures: a site is Degraded when its own change
// failed or when a server it had changes on failed as a whole, never
// because its name is part of another site's (a.com in ba.com) or of a
// message.
func TestSiteStatusesFromFailures(t *testing.T) {
	plan := &reconcile.Plan{
		Sites: []string{"a.com", "ba.com", "c.com", "d.com"},
		Changes: []reconcile.Change{
			{ID: "site/a.com/vhost@web1", Server: "web1", Site: "a.com", Action: reconcile.Update},
			{ID: "site/ba.com/vhost@web1", Server: "web1", Site: "ba.com", Action: reconcile.Update},
			{ID: "site/c.com/vhost@web2", Server: "web2", Site: "c.com", Action: reconcile.Create},
		},
	}
	for _, tt := range []struct {
		name     string
		failures []reconcile.Failure
		degraded map[string]bool
	}{
		{"a change of ba.com failed", []reconcile.Failure{
			{Server: "web1", ID: "site/ba.com/vhost@web1", Site: "ba.com", Error: "disk full, a.com was fine"},
		}, map[string]bool{"ba.com": true}},
		{"web2's check failed", []reconcile.Failure{
			{Server: "web2", Error: "http: configuration check failed"},
		}, map[string]bool{"c.com": true}},
		{"nothing failed", nil, map[string]bool{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, st := range siteStatuses(plan, &reconcile.Result{Failures: tt.failures}) {
				if got := st.Health == HealthDegraded; got != tt.degraded[st.Site] {
					t.Errorf("%s: health %s (%s), want degraded %v", st.Site, st.Health, st.Message, tt.degraded[st.Site])
				}
			}
		})
	}
}
