package daemon

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the daemon's Prometheus metrics, in their own registry.
type Metrics struct {
	Registry      *prometheus.Registry
	runs          *prometheus.CounterVec
	runDuration   *prometheus.HistogramVec
	lastSuccess   *prometheus.GaugeVec
	resources     *prometheus.GaugeVec
	webhooks      *prometheus.CounterVec
	phase         *prometheus.GaugeVec
	CertExpiry    *prometheus.GaugeVec // set by the TLS feature: expiry of each certificate
	skippedChecks prometheus.Counter
	health        *healthMetrics
}

// NewMetrics registers the daemon's metrics (and the Go runtime's) in a
// new registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_runs_total", Help: "Runs by environment and result (succeeded, failed, no-op, stalled, drift-detected).",
		}, []string{"env", "result"}),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "berth_run_duration_seconds", Help: "Duration of runs that planned or applied.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
		}, []string{"env"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "berth_last_success_timestamp_seconds", Help: "When the environment last converged successfully (Unix time).",
		}, []string{"env"}),
		resources: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "berth_resources", Help: "Managed resources by sync state, as of the last plan.",
		}, []string{"env", "sync"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_webhook_requests_total", Help: "Webhook requests by provider and HTTP status answered.",
		}, []string{"provider", "code"}),
		phase: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "berth_environment_phase", Help: "1 for the environment's current phase (Synced, OutOfSync, Progressing, Stalled).",
		}, []string{"env", "phase"}),
		CertExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "berth_certificate_expiry_timestamp_seconds", Help: "When each managed certificate expires (Unix time).",
		}, []string{"env", "domain"}),
		skippedChecks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "berth_runs_skipped_total", Help: "Triggers that found the branch head already applied and did nothing.",
		}),
	}
	m.health = newHealthMetrics(m.Registry)
	m.Registry.MustRegister(m.runs, m.runDuration, m.lastSuccess, m.resources, m.webhooks, m.phase, m.CertExpiry, m.skippedChecks,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *Metrics) setPhase(env, phase string) {
	for _, p := range []string{PhaseSynced, PhaseOutOfSync, PhaseProgressing, PhaseStalled} {
		v := 0.0
		if p == phase {
			v = 1
		}
		m.phase.WithLabelValues(env, p).Set(v)
	}
}
