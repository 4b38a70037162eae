package daemon

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/berthhq/berth/desired"
	"github.com/berthhq/berth/notify"
	berthrun "github.com/berthhq/berth/run"
	"github.com/berthhq/berth/spec"
)

// Site health as the daemon's checks find it: a site is Healthy when
// every web server of it (not drained) answers its health check as
// expected, Down when none does, Degraded in between.
const (
	SiteHealthy  = "Healthy"
	SiteDegraded = "Degraded"
	SiteDown     = "Down"
)

// CertWarning is how long before its expiry a certificate is notified
// as expiring.
const CertWarning = 14 * 24 * time.Hour

// siteCheck is the last health check of one site.
type siteCheck struct {
	health string
	why    string
	nodes  []berthrun.NodeHealth
	at     time.Time
}

// healthMetrics are the checks' metrics.
type healthMetrics struct {
	up      *prometheus.GaugeVec
	latency *prometheus.HistogramVec
}

func newHealthMetrics(reg *prometheus.Registry) *healthMetrics {
	m := &healthMetrics{
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "berth_site_up", Help: "1 when the site answered its health check on the web server as expected at the last check, else 0.",
		}, []string{"env", "site", "server"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "berth_site_check_duration_seconds", Help: "Duration of the sites' health checks, per web server.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"env"}),
	}
	reg.MustRegister(m.up, m.latency)
	return m
}

// healthLoop checks env's sites on every one of their web servers every
// interval and after each run that applied, from the desired state of the
// revision last built; it keeps the result for the status, sets the
// metrics and notifies when a site goes down or comes back.
func (w *envWorker) healthLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.checkNow:
		}
		w.mu.Lock()
		res := w.healthRes
		w.mu.Unlock()
		if res != nil {
			w.checkSites(ctx, res)
		}
	}
}

// checkSites runs one round of checks of res's sites.
func (w *envWorker) checkSites(ctx context.Context, res *spec.Resolved) {
	// A disabled site answers 503 on purpose: it is not checked.
	enabled := *res
	enabled.Sites = slices.DeleteFunc(slices.Clone(res.Sites), func(s spec.ResolvedSite) bool { return s.State != "enabled" })
	res = &enabled
	start := time.Now()
	nodes := berthrun.CheckNodes(ctx, res)
	if ctx.Err() != nil {
		return
	}
	took := time.Since(start)
	nodes = confirm(ctx, res, nodes)
	if ctx.Err() != nil {
		return
	}
	m := w.d.cfg.Metrics.health
	by := map[string][]berthrun.NodeHealth{}
	for _, n := range nodes {
		by[n.Site] = append(by[n.Site], n)
		up := 0.0
		if n.Health == berthrun.HealthHealthy {
			up = 1
		}
		m.up.WithLabelValues(w.env, n.Site, n.Server).Set(up)
		m.latency.WithLabelValues(w.env).Observe(took.Seconds() / float64(max(1, len(nodes))))
	}
	now := time.Now()
	checks := make(map[string]siteCheck, len(by))
	for site, ns := range by {
		checks[site] = judge(ns, now)
	}
	w.mu.Lock()
	prev := w.checks
	w.checks = checks
	w.mu.Unlock()
	for _, site := range slices.Sorted(maps.Keys(checks)) {
		c, was := checks[site], prev[site]
		switch {
		case c.health == SiteDown && was.health != SiteDown:
			w.send(notify.EventSiteDown, site, c.why)
		case c.health != SiteDown && was.health == SiteDown:
			w.send(notify.EventSiteUp, site, "answers again ("+strings.ToLower(c.health)+")")
		}
	}
}

func (w *envWorker) send(event, site, text string) {
	w.log.Warn().Str("step", "health").Str("site", site).Msg(event + ": " + text)
	if n := w.d.cfg.Notifier; n != nil {
		n.Send(notify.Message{Event: event, Env: w.env, Subject: site, Text: text, Recovers: recovers[event]})
	}
}

// recovers says which event a recovery sent by send ends.
var recovers = map[string]string{notify.EventSiteUp: notify.EventSiteDown}

// judge is a site's health from its nodes' answers; drained nodes do not
// count (they are out of the load balancer on purpose).
func judge(ns []berthrun.NodeHealth, at time.Time) siteCheck {
	c := siteCheck{nodes: ns, at: at}
	var ok, counted int
	var bad []string
	for _, n := range ns {
		if n.Drained {
			continue
		}
		counted++
		if n.Health == berthrun.HealthHealthy {
			ok++
		} else {
			bad = append(bad, fmt.Sprintf("%s: %s", n.Server, n.Why))
		}
	}
	switch {
	case counted == 0:
		c.health, c.why = SiteDegraded, "every web server of the site is drained"
	case ok == counted:
		c.health = SiteHealthy
	case ok == 0:
		c.health, c.why = SiteDown, strings.Join(bad, "; ")
	default:
		c.health, c.why = SiteDegraded, strings.Join(bad, "; ")
	}
	return c
}

// withChecks puts the last checks' health of each site into its status:
// what the site answered, over what the last run left.
func (w *envWorker) withChecks(st *EnvStatus) {
	if len(w.checks) == 0 {
		return
	}
	for i := range st.Sites {
		c, ok := w.checks[st.Sites[i].Site]
		if !ok {
			continue
		}
		s := &st.Sites[i]
		s.Health = c.health
		s.Nodes = c.nodes
		if c.why != "" {
			s.Message = c.why
		}
		at := c.at
		s.CheckedAt = &at
	}
}

// confirmAfter is how long a failed check waits before it is asked again:
// a site fails only when it fails twice, so a reload that has not reached
// every worker yet (nginx's old workers answer with the old configuration
// for a moment) is not a site down.
const confirmAfter = time.Second

// confirm checks the sites that failed once more after confirmAfter and
// returns the nodes with the second answers of those sites.
func confirm(ctx context.Context, res *spec.Resolved, nodes []berthrun.NodeHealth) []berthrun.NodeHealth {
	failed := map[string]bool{}
	for _, n := range nodes {
		if n.Health != berthrun.HealthHealthy {
			failed[n.Site] = true
		}
	}
	if len(failed) == 0 {
		return nodes
	}
	select {
	case <-ctx.Done():
		return nodes
	case <-time.After(confirmAfter):
	}
	sub := *res
	sub.Sites = nil
	for _, s := range res.Sites {
		if failed[s.Domain] {
			sub.Sites = append(sub.Sites, s)
		}
	}
	again := map[[2]string]berthrun.NodeHealth{}
	for _, n := range berthrun.CheckNodes(ctx, &sub) {
		again[[2]string{n.Site, n.Server}] = n
	}
	out := slices.Clone(nodes)
	for i, n := range out {
		if a, ok := again[[2]string{n.Site, n.Server}]; ok {
			out[i] = a
		}
	}
	return out
}

// expiringNow returns the sites whose certificate is in its last
// CertWarning at now, and the certificates that entered it since was
// (one message each, not one per run; berth renews long before, so this
// is renewal failing).
func expiringNow(was map[string]bool, certs []desired.CertificateLine, now time.Time) (map[string]bool, []desired.CertificateLine) {
	is := map[string]bool{}
	var entered []desired.CertificateLine
	for _, c := range certs {
		if c.NotAfter.IsZero() || c.NotAfter.Sub(now) >= CertWarning {
			continue
		}
		is[c.Site] = true
		if !was[c.Site] {
			entered = append(entered, c)
		}
	}
	return is, entered
}
