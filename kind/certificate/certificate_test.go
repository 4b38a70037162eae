package certificate

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/reconcile/reconciletest"
)

// ledger is an Issuer over an in-memory record of issued certificates and
// orders, with a budget of orders: what the kind decides and runs, apart
// from package acme (tested on Pebble) and the builder (end to end).
type ledger struct {
	mu      sync.Mutex
	issued  map[string]string // key -> names it was issued for
	budget  int               // orders left
	refill  time.Time         // when the budget has room again
	backoff map[string]time.Time
	fail    map[string]bool // Ensure fails its pre-check
	ensured []string
}

func (l *ledger) Decide(_ context.Context, _ string, reqs []Request) ([]Decision, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	left := l.budget
	out := make([]Decision, len(reqs))
	for i, r := range reqs {
		names := strings.Join(r.Names, ",")
		switch {
		case l.issued[r.Key] == names:
		case !l.backoff[r.Key].IsZero():
			out[i] = Decision{Until: l.backoff[r.Key], Reason: "backing off"}
		case left == 0:
			out[i] = Decision{Until: l.refill, Reason: "the CA's limit"}
		default:
			left--
			out[i] = Decision{Order: true, Reason: "no certificate yet", Renewal: l.issued[r.Key] != ""}
		}
	}
	return out, nil
}

func (l *ledger) Ensure(_ context.Context, r Request) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ensured = append(l.ensured, r.Key)
	if l.fail[r.Key] {
		return false, &WaitError{Reason: r.Names[0] + " resolves to 192.0.2.7, not to one of the site's web servers"}
	}
	l.issued[r.Key] = strings.Join(r.Names, ",")
	l.budget--
	return true, nil
}

func cert(l *ledger, site string, names ...string) *Certificate {
	return New(Spec{ID: "site/" + site + "/certificate@web", Server: "web",
		Request: Request{Key: "test/" + site, Site: site, Names: append([]string{site}, names...)}, Issuer: l})
}

// TestCertificateTimeline: an order is planned and run once, then nothing;
// a name change orders again; the CA's limit plans only what fits and
// shows the rest waiting with their time, without calling Ensure for
// them; a failed pre-check is Degraded, not a failure, and orders again
// next run; a removed site's certificate is forgotten, nothing runs on the
// host.
func TestCertificateTimeline(t *testing.T) {
	refill := time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)
	l := &ledger{issued: map[string]string{}, budget: 3, refill: refill, backoff: map[string]time.Time{}, fail: map[string]bool{}}
	h := reconciletest.New(t)
	setup := len(h.Fake.Calls())
	steps := []struct {
		name      string
		certs     []*Certificate
		want      string // plan actions
		wantWhy   []string
		ensured   int // Ensure calls in the apply
		degraded  int
		beforeRun func()
	}{
		{name: "first order", certs: []*Certificate{cert(l, "a.example.com", "www.a.example.com")},
			want: "+site/a.example.com/certificate@web", wantWhy: []string{"order for a.example.com, www.a.example.com: no certificate yet"}, ensured: 1},
		{name: "converged", certs: []*Certificate{cert(l, "a.example.com", "www.a.example.com")}, want: ""},
		{name: "names changed", certs: []*Certificate{cert(l, "a.example.com", "shop.example.com")},
			want: "~site/a.example.com/certificate@web", ensured: 1},
		{name: "converged again", certs: []*Certificate{cert(l, "a.example.com", "shop.example.com")}, want: ""},
		{name: "beyond the budget", certs: []*Certificate{cert(l, "a.example.com", "shop.example.com"), cert(l, "b.example.com"), cert(l, "c.example.com")},
			want: "+site/b.example.com/certificate@web ~site/c.example.com/certificate@web", ensured: 1, degraded: 1,
			wantWhy: []string{"order for b.example.com: no certificate yet", "waiting until 2026-12-02T05:00:00Z: the CA's limit"}},
		{name: "still waiting: no order", certs: []*Certificate{cert(l, "a.example.com", "shop.example.com"), cert(l, "b.example.com"), cert(l, "c.example.com")},
			want: "~site/c.example.com/certificate@web", ensured: 0, degraded: 1},
		{name: "pre-check fails", certs: []*Certificate{cert(l, "a.example.com", "shop.example.com"), cert(l, "b.example.com"), cert(l, "d.example.com")},
			beforeRun: func() { l.budget, l.fail["test/d.example.com"] = 5, true },
			want:      "+site/d.example.com/certificate@web", ensured: 1, degraded: 1},
		{name: "pre-check fails again: checked again", certs: []*Certificate{cert(l, "a.example.com", "shop.example.com"), cert(l, "b.example.com"), cert(l, "d.example.com")},
			want: "+site/d.example.com/certificate@web", ensured: 1, degraded: 1},
		{name: "sites removed: forgotten", certs: []*Certificate{cert(l, "b.example.com")},
			want: "-site/a.example.com/certificate@web", ensured: 0},
		{name: "nothing left to do", certs: []*Certificate{cert(l, "b.example.com")}, want: ""},
	}
	for _, s := range steps {
		if s.beforeRun != nil {
			s.beforeRun()
		}
		var rs []reconcile.Resource
		for _, c := range s.certs {
			rs = append(rs, c)
		}
		p := h.Plan(h.Desired(5, rs...), reconcile.PlanOptions{})
		if got := reconciletest.Actions(p); got != s.want {
			t.Fatalf("%s: plan %q, want %q", s.name, got, s.want)
		}
		for i, why := range s.wantWhy {
			if p.Changes[i].Reason != why {
				t.Errorf("%s: change %d's reason %q, want %q", s.name, i, p.Changes[i].Reason, why)
			}
		}
		before := len(l.ensured)
		res := h.Apply(p)
		if n := len(l.ensured) - before; n != s.ensured {
			t.Errorf("%s: Ensure ran %d times, want %d", s.name, n, s.ensured)
		}
		if len(res.Degraded) != s.degraded || len(res.Failures) != 0 {
			t.Errorf("%s: degraded %v, failures %v", s.name, res.Degraded, res.Failures)
		}
		for _, d := range res.Degraded {
			if !strings.Contains(d.Error, "certificate waiting") || d.Site == "" {
				t.Errorf("%s: degraded %+v", s.name, d)
			}
		}
	}
	if calls := h.Fake.Calls()[setup:]; len(calls) != 0 {
		t.Errorf("the kind touched the host: %v", calls)
	}
}
