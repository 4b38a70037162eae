package daemon

import (
	"testing"
	"time"

	"github.com/berthhq/berth/desired"
	berthrun "github.com/berthhq/berth/run"
)

func TestJudge(t *testing.T) {
	ok := berthrun.NodeHealth{Server: "web1", Health: berthrun.HealthHealthy}
	bad := berthrun.NodeHealth{Server: "web2", Health: berthrun.HealthDegraded, Why: "GET / answered 502 Bad Gateway"}
	drained := berthrun.NodeHealth{Server: "web3", Health: berthrun.HealthDegraded, Drained: true}
	for _, tc := range []struct {
		name  string
		nodes []berthrun.NodeHealth
		want  string
	}{
		{"all answer", []berthrun.NodeHealth{ok}, SiteHealthy},
		{"one of two", []berthrun.NodeHealth{ok, bad}, SiteDegraded},
		{"none", []berthrun.NodeHealth{bad}, SiteDown},
		{"a drained node does not count", []berthrun.NodeHealth{ok, drained}, SiteHealthy},
		{"every node drained", []berthrun.NodeHealth{drained}, SiteDegraded},
	} {
		if got := judge(tc.nodes, time.Now()); got.health != tc.want {
			t.Errorf("%s: %s (%s), want %s", tc.name, got.health, got.why, tc.want)
		}
	}
}

func TestExpiringNow(t *testing.T) {
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	certs := []desired.CertificateLine{
		{Site: "a.example.com", NotAfter: now.Add(13 * 24 * time.Hour)},
		{Site: "b.example.com", NotAfter: now.Add(40 * 24 * time.Hour)},
		{Site: "c.example.com"}, // not issued yet
	}
	is, entered := expiringNow(nil, certs, now)
	if len(entered) != 1 || entered[0].Site != "a.example.com" || !is["a.example.com"] || len(is) != 1 {
		t.Fatalf("first run: %v %v", is, entered)
	}
	if is, entered = expiringNow(is, certs, now.Add(time.Hour)); len(entered) != 0 || !is["a.example.com"] {
		t.Fatalf("second run notifies again: %v", entered)
	}
	certs[0].NotAfter = now.Add(60 * 24 * time.Hour) // renewed
	if is, entered = expiringNow(is, certs, now.Add(2*time.Hour)); len(entered) != 0 || len(is) != 0 {
		t.Fatalf("after the renewal: %v %v", is, entered)
	}
	certs[0].NotAfter = now.Add(24 * time.Hour)
	if _, entered = expiringNow(is, certs, now.Add(3*time.Hour)); len(entered) != 1 {
		t.Fatalf("expiring again is notified again: %v", entered)
	}
}
