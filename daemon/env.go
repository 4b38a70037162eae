package daemon

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/berthhq/berth/desired"
	"github.com/berthhq/berth/forge"
	"github.com/berthhq/berth/notify"
	"github.com/berthhq/berth/reconcile"
	berthrun "github.com/berthhq/berth/run"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

// Health of an environment or site, from its last apply (package run
// derives it).
const (
	HealthHealthy  = berthrun.HealthHealthy
	HealthDegraded = berthrun.HealthDegraded
	HealthUnknown  = berthrun.HealthUnknown
)

// EnvStatus is what the status API shows of one environment.
type EnvStatus struct {
	Env           string         `json:"env"`
	Branch        string         `json:"branch"`
	Phase         string         `json:"phase"`
	Health        string         `json:"health"`
	Message       string         `json:"message,omitempty"`
	LastFetched   string         `json:"last_fetched,omitempty"`
	LastFetchedAt *time.Time     `json:"last_fetched_at,omitempty"`
	LastApplied   string         `json:"last_applied,omitempty"`
	LastAppliedAt *time.Time     `json:"last_applied_at,omitempty"`
	Problems      []spec.Problem `json:"problems,omitempty"`
	Sites         []SiteStatus   `json:"sites,omitempty"`
	// Certificates are the sites' certificates (tls.acme): expiry,
	// issuer, next renewal or next attempt, last error.
	Certificates []desired.CertificateLine `json:"certificates,omitempty"`
	LastRun      *RunSummary               `json:"last_run,omitempty"`
	// LastJob is the newest scheduled job that did something (a backup
	// taken or pruned) or failed.
	LastJob *RunSummary `json:"last_job,omitempty"`
	// Verifications are the last restore test of each site's backups
	// (backup.verify), read back from the run history after a restart;
	// the runs API holds every one.
	Verifications []VerifyStatus `json:"verifications,omitempty"`
}

// SiteStatus is one site's sync state and health, as package run derives
// it for the daemon and berth status alike.
type SiteStatus = berthrun.SiteStatus

// RunSummary is the last run of an environment.
type RunSummary struct {
	ID       int64     `json:"id"`
	Trigger  string    `json:"trigger"`
	Result   string    `json:"result"`
	Revision string    `json:"revision"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Error    string    `json:"error,omitempty"`
}

// envWorker runs one environment: triggers set pending reasons and wake it;
// it runs once per wake with every reason pending since the last run, so a
// burst of triggers makes one run in flight and at most one queued.
type envWorker struct {
	d      *Daemon
	env    string
	branch string
	log    zerolog.Logger
	cancel context.CancelFunc // stops the worker's loop

	wake chan struct{}

	mu      sync.Mutex
	pending map[string]bool
	status  EnvStatus
	applied string // last revision applied successfully
	// warm is the desired state of the revision last built (only the
	// worker's loop reads and writes it).
	warm    *warmState
	stalled string // last revision found invalid
	// sites are the views of the sites of the revision last built (for
	// the dashboard), kept when a later revision fails to build.
	sites   []SiteView
	clients map[string]ClientView
	// healthRes is the desired state the health checks check (that of
	// the revision last built), checks their last results by site, and
	// checkNow asks for a round after a run.
	healthRes *spec.Resolved
	checks    map[string]siteCheck
	checkNow  chan struct{}
	// expiring are the sites whose certificate is in its last
	// CertWarning (notified once).
	expiring map[string]bool
	retry    bool // the last apply failed or waits: try the same revision again
	// waitTimer runs the environment again when its last run waits
	// (ReasonWait).
	waitTimer *time.Timer
	// settled is the last status that was not Progressing: a
	// notification goes out when the next one differs (notify.go).
	settled *EnvStatus
	// failing are the scheduled jobs (by trigger) whose last run failed.
	failing map[string]bool
	// stale are the sites whose newest backup is older than twice their
	// schedule (notified once; backupstale.go).
	stale map[string]bool
	// verifySeeded: the status's verifications were read from the run
	// history (once, at the first scheduled pass; only the loop reads and
	// writes it).
	verifySeeded bool
}

func (w *envWorker) trigger(reason string) {
	w.mu.Lock()
	w.pending[reason] = true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default: // a run is already queued; it will see this reason too
	}
}

func (w *envWorker) snapshot() EnvStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.status
	s.Problems = slices.Clone(s.Problems)
	s.Sites = slices.Clone(s.Sites)
	s.Verifications = slices.Clone(s.Verifications)
	w.withChecks(&s)
	return s
}

func (w *envWorker) loop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		}
		w.mu.Lock()
		schedule := w.pending[TriggerSchedule]
		delete(w.pending, TriggerSchedule)
		reasons := slices.Sorted(maps.Keys(w.pending))
		clear(w.pending)
		w.mu.Unlock()
		if len(reasons) == 0 && !schedule {
			continue
		}
		if len(reasons) > 0 {
			w.run(ctx, reasons)
		}
		if schedule {
			w.jobs(ctx)
		}
		if f := w.d.cfg.AfterRun; f != nil {
			f(w.snapshot())
		}
	}
}

func (w *envWorker) update(f func(s *EnvStatus)) {
	w.mu.Lock()
	f(&w.status)
	st := w.status
	prev, settled := w.settled, st.Phase != PhaseProgressing
	if settled {
		w.settled = &st
	}
	w.mu.Unlock()
	if settled {
		w.d.notifyChange(prev, st)
	}
	w.d.cfg.Metrics.setPhase(w.env, st.Phase)
	problems, _ := json.Marshal(st.Problems)
	err := w.d.cfg.Store.SetEnvStatus(context.WithoutCancel(context.Background()), state.EnvStatus{
		Env: w.env, Phase: st.Phase, LastFetched: st.LastFetched, LastApplied: st.LastApplied, Problems: problems})
	if err != nil {
		w.log.Error().Err(err).Msg("cannot save the environment's status")
	}
}

// run is one pass of the loop for this environment.
func (w *envWorker) run(ctx context.Context, reasons []string) {
	has := func(r string) bool { return slices.Contains(reasons, r) }
	trigger := strings.Join(reasons, ",")
	log := w.log.With().Str("trigger", trigger).Logger()

	if err := w.d.fetch(ctx); err != nil {
		log.Error().Err(err).Str("step", "fetch").Msg("fetch failed; the last applied revision stays")
		w.update(func(s *EnvStatus) { s.Message = err.Error() })
		return
	}
	w.d.rereadConfig()
	rev, err := w.d.cfg.Source.Head(w.branch)
	now := time.Now().UTC()
	if err != nil {
		// A deleted branch: nothing to converge to. The environment is
		// Stalled (not Synced) until the branch is back or berth.yaml
		// stops declaring it; what was applied stays.
		log.Error().Err(err).Str("step", "fetch").Msg("branch not found")
		w.update(func(s *EnvStatus) {
			s.Phase = PhaseStalled
			s.Message = fmt.Sprintf("branch %s not found (%v); %s stays applied: push the branch again, or remove the environment from berth.yaml", w.branch, err, cmp.Or(reconcile.ShortRevision(s.LastApplied), "nothing"))
		})
		return
	}
	log = log.With().Str("rev", reconcile.ShortRevision(rev)).Logger()
	w.mu.Lock()
	applied, stalled, retry := w.applied, w.stalled, w.retry
	w.mu.Unlock()
	w.update(func(s *EnvStatus) { s.LastFetched, s.LastFetchedAt = rev, &now })

	switch {
	case has(ReasonManual) || has(ReasonDrift):
	case rev == stalled:
		log.Debug().Msg("revision already found invalid; waiting for a new commit")
		w.d.cfg.Metrics.skippedChecks.Inc()
		return
	case rev == applied && !retry:
		log.Debug().Msg("revision already applied")
		w.d.cfg.Metrics.skippedChecks.Inc()
		if stalled != "" {
			// The branch went back to the revision applied (a directory
			// reverted, a reset): nothing to do, and no longer Stalled.
			w.mu.Lock()
			w.stalled = ""
			w.mu.Unlock()
			w.update(func(s *EnvStatus) { s.Phase, s.Problems, s.Message = PhaseSynced, nil, "" })
		}
		return
	}

	reportOnly := has(ReasonDrift) && !has(ReasonManual) && !w.d.cfg.SelfHeal && rev == applied
	var given map[string]resolvedCode
	if !has(ReasonManual) {
		var ok bool
		if ok, given = w.reusable(ctx, w.warm, rev); ok {
			log.Debug().Msg("revision unchanged: its desired state is reused")
			w.converge(ctx, log, rev, trigger, w.warm, reportOnly)
			return
		}
	}
	w.warm = nil
	fsys, err := w.d.cfg.Source.FS(rev)
	if err != nil {
		log.Error().Err(err).Str("step", "load").Msg("cannot read the revision")
		w.update(func(s *EnvStatus) { s.Message = err.Error() })
		return
	}
	repo, err := spec.Load(fsys)
	var problems spec.Problems
	if errors.As(err, &problems) {
		w.stall(ctx, log, rev, trigger, problems, err)
		return
	}
	res, err := spec.Resolve(repo, w.env)
	if err != nil {
		w.stall(ctx, log, rev, trigger, nil, err)
		return
	}
	w.envTargets(log, res)
	ws, err := w.build(ctx, rev, fsys, res, given)
	if err != nil {
		w.stall(ctx, log, rev, trigger, nil, err)
		return
	}
	w.warm = ws
	views, clients := siteViews(res), clientViews(repo.Config, fsys)
	w.mu.Lock()
	w.sites, w.clients = views, clients
	w.mu.Unlock()
	w.converge(ctx, log, rev, trigger, ws, reportOnly)
}

// stall records an invalid revision: nothing is changed anywhere, the last
// good revision stays applied, the next valid commit recovers.
func (w *envWorker) stall(ctx context.Context, log zerolog.Logger, rev, trigger string, problems spec.Problems, err error) {
	log.Error().Str("step", "validate").Int("problems", len(problems)).Msg("revision is not valid; nothing changed: " + firstLine(err.Error()))
	if reportsStatus(trigger, rev) {
		w.postStatus(log, rev, 0, forge.StateFailure, "not valid, nothing changed: "+firstLine(err.Error()))
	}
	w.mu.Lock()
	w.stalled = rev
	w.mu.Unlock()
	w.update(func(s *EnvStatus) {
		s.Phase, s.Problems, s.Message = PhaseStalled, problems, "revision "+reconcile.ShortRevision(rev)+" is not valid; "+reconcile.ShortRevision(s.LastApplied)+" stays applied"
	})
	id, serr := berthrun.Failed(ctx, w.d.cfg.Store, w.env, rev, trigger, err)
	if id != 0 {
		w.setLastRun(ctx, id)
	}
	if serr != nil {
		log.Error().Err(serr).Msg("cannot record the run")
	}
	w.d.cfg.Metrics.runs.WithLabelValues(w.env, "stalled").Inc()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// converge runs one valid revision, whose desired state ws holds,
// through package run's life cycle, the one berth apply runs: start,
// plan, apply (unless reportOnly), record; then status and metrics.
func (w *envWorker) converge(ctx context.Context, log zerolog.Logger, rev, trigger string, ws *warmState, reportOnly bool) {
	start := time.Now()
	logs := &logHook{log: log}
	prepared := ws.runOf(logs)
	defer w.d.connect(ws.hosts, ws.res)()
	status := !reportOnly && reportsStatus(trigger, rev)
	out, err := prepared.Converge(ctx, berthrun.Options{
		Trigger:    trigger,
		Plan:       planOptions(),
		ReportOnly: reportOnly,
		Serialize:  &w.d.applyMu,
		Log:        logs.bytes,
		// The run is recorded from its start, so its id is in every log
		// line and an interrupted run shows as such.
		Started: func(id int64) {
			log = log.With().Int64("run", id).Logger()
			logs.log, logs.run = log, id
			w.d.setLive(id, logs)
			w.update(func(s *EnvStatus) { s.Phase = PhaseProgressing })
			if status {
				w.postStatus(log, rev, id, forge.StatePending, "berth is converging "+w.env)
			}
		},
		// The daemon approves every plan; it logs what it applies.
		Approve: func(plan *reconcile.Plan) error {
			sum := plan.Summary()
			if !plan.Empty() {
				log.Info().Str("step", "apply").Int("add", sum.Add).Int("change", sum.Change).Int("destroy", sum.Destroy).Msg("applying")
			}
			return nil
		},
	})
	if out == nil {
		log.Error().Err(err).Msg("cannot record the run; not running it")
		return
	}
	defer w.d.setLive(out.Run, nil)
	if out.RecordErr != nil {
		log.Error().Err(out.RecordErr).Msg("cannot record the run")
	}
	w.setLastRun(ctx, out.Run)
	if status {
		if out.Err != nil {
			w.postStatus(log, rev, out.Run, forge.StateFailure, firstLine(out.Err.Error()))
		} else {
			w.postStatus(log, rev, out.Run, forge.StateSuccess, w.env+" converged")
		}
	}
	if plan := out.Plan; plan != nil {
		sum := plan.Summary()
		w.d.cfg.Metrics.resources.WithLabelValues(w.env, "synced").Set(float64(plan.Unchanged))
		w.d.cfg.Metrics.resources.WithLabelValues(w.env, "out_of_sync").Set(float64(sum.Add + sum.Change + sum.Destroy + sum.Conflict))
	}
	w.d.cfg.Metrics.runs.WithLabelValues(w.env, out.Record.Result).Inc()
	w.d.cfg.Metrics.runDuration.WithLabelValues(w.env).Observe(time.Since(start).Seconds())
	w.certificates(ctx, log, ws.res)
	w.mu.Lock()
	unchecked := w.checks == nil
	w.healthRes = ws.res // checked once a run of it ended, not while it applies
	w.mu.Unlock()
	if unchecked || (!reportOnly && out.Plan != nil && !out.Plan.Empty()) {
		select { // the sites as they answer after the run
		case w.checkNow <- struct{}{}:
		default:
		}
	}
	if reportOnly && out.Plan != nil {
		w.report(log, rev, out)
		return
	}
	w.finish(log, rev, out, time.Since(start))
}

// certificates shows the environment's certificates as the store holds
// them after a run, in its status and in the expiry metric.
func (w *envWorker) certificates(ctx context.Context, log zerolog.Logger, res *spec.Resolved) {
	certs, err := desired.Certificates(context.WithoutCancel(ctx), w.d.cfg.Store, res)
	if err != nil {
		log.Error().Err(err).Msg("cannot read the certificates")
		return
	}
	for _, c := range certs {
		if !c.NotAfter.IsZero() {
			w.d.cfg.Metrics.CertExpiry.WithLabelValues(w.env, c.Site).Set(float64(c.NotAfter.Unix()))
		}
	}
	w.mu.Lock()
	var warn []desired.CertificateLine
	w.expiring, warn = expiringNow(w.expiring, certs, w.d.now())
	w.mu.Unlock()
	for _, c := range warn {
		msg := fmt.Sprintf("the certificate of %s expires on %s", strings.Join(c.Names, ", "), c.NotAfter.UTC().Format(time.RFC3339))
		if c.LastError != "" {
			msg += "; its renewal failed: " + c.LastError
		}
		w.send(notify.EventCertExpiring, c.Site, msg)
	}
	w.update(func(s *EnvStatus) { s.Certificates = certs })
}

// planOptions returns the options of every plan of the daemon: those of
// `berth plan` without flags.
func planOptions() reconcile.PlanOptions { return reconcile.PlanOptions{MaxCreateDiffs: 50} }

// prepare builds the desired state of a revision and the engine for it
// through run.Prepare, as berth plan and apply do; close releases the
// connections to the servers.
func (d *Daemon) prepare(ctx context.Context, rev string, fsys fs.FS, res *spec.Resolved, hook reconcile.Hook) (*berthrun.Prepared, func(), error) {
	var code desired.Code
	if d.cfg.Code != nil {
		code = d.cfg.Code()
	}
	hosts, closeHosts := d.cfg.Hosts(res)
	p, err := berthrun.Prepare(ctx, berthrun.Input{Input: desired.Input{Resolved: res, Revision: rev, Repo: fsys, StateDir: d.cfg.StateDir,
		Store: d.cfg.Store, Code: code, Hosts: hosts, Version: d.cfg.Version, DataConsent: d.dataConsent()}, Hook: hook, TLS: d.cfg.TLS})
	if err != nil {
		closeHosts()
		return nil, nil, err
	}
	return p, closeHosts, nil
}

// report shows a drift check that found (or did not find) changes
// without applying them.
func (w *envWorker) report(log zerolog.Logger, rev string, out *berthrun.Outcome) {
	phase := PhaseSynced
	if !out.Plan.Empty() {
		phase = PhaseOutOfSync
		log.Warn().Str("step", "drift").Int("changes", len(out.Plan.Changes)).Msg("drift found; not repaired (--no-self-heal)")
	}
	w.update(func(s *EnvStatus) {
		s.Phase, s.Sites = phase, out.Status.Sites
		s.Message = ""
		if phase == PhaseOutOfSync {
			s.Message = fmt.Sprintf("drift: %d resources differ from revision %s (not repaired: self-heal is off)", len(out.Plan.Changes), reconcile.ShortRevision(rev))
		}
	})
}

func (w *envWorker) finish(log zerolog.Logger, rev string, out *berthrun.Outcome, took time.Duration) {
	err := out.Err
	if out.Plan == nil {
		log.Error().Err(err).Str("step", "plan").Msg("plan failed; nothing changed")
	}
	now := time.Now().UTC()
	var waitUntil time.Time
	if out.Result != nil {
		waitUntil = out.Result.RetryAt()
	}
	w.mu.Lock()
	w.retry = err != nil || !waitUntil.IsZero()
	if err == nil {
		w.applied, w.stalled = rev, ""
	}
	if w.waitTimer != nil {
		w.waitTimer.Stop()
		w.waitTimer = nil
	}
	if !waitUntil.IsZero() {
		// Not failed, not converged: the same revision again at its time.
		w.waitTimer = time.AfterFunc(max(time.Until(waitUntil), 0), func() { w.trigger(ReasonWait) })
	}
	w.mu.Unlock()
	w.update(func(s *EnvStatus) {
		s.Problems = nil
		if err != nil {
			s.Phase, s.Health, s.Message = PhaseOutOfSync, HealthDegraded, err.Error()
		} else {
			s.Phase, s.Health, s.Message = PhaseSynced, HealthHealthy, ""
			if out.Status.Health == HealthDegraded {
				// Applied, short of it: a certificate that waits, a DNS
				// secondary that lags.
				s.Health, s.Message = HealthDegraded, out.Status.Why
			}
			s.LastApplied, s.LastAppliedAt = rev, &now
			if !waitUntil.IsZero() {
				first := out.Result.Waiting[0]
				s.Phase, s.Message = PhaseOutOfSync, fmt.Sprintf("waiting until %s, then runs again: %s: %s", waitUntil.UTC().Format(time.RFC3339), first.Site, first.Reason)
			}
		}
		if out.Plan != nil {
			s.Sites = out.Status.Sites
		}
	})
	if err == nil {
		w.d.cfg.Metrics.lastSuccess.WithLabelValues(w.env).Set(float64(now.Unix()))
		ev := log.Info()
		if out.Plan != nil && !out.Plan.Empty() {
			ev = ev.Int("applied", out.Result.Applied).Strs("reloads", out.Result.Reloads)
		}
		ev.Dur("took_ms", took).Msg("converged")
	} else {
		log.Error().Err(err).Dur("took_ms", took).Msg("run failed")
	}
}

func (w *envWorker) setLastRun(ctx context.Context, id int64) {
	r, err := w.d.cfg.Store.Run(context.WithoutCancel(ctx), id)
	if err != nil {
		return
	}
	w.update(func(s *EnvStatus) {
		s.LastRun = &RunSummary{ID: r.ID, Trigger: r.Trigger, Result: r.Result, Revision: r.Revision, Started: r.Started, Finished: r.Finished, Error: r.Error}
	})
}

// logHook logs the engine's progress with zerolog (fields host and step)
// and keeps the lines for the run's record.
type logHook struct {
	reconcile.NopHook
	log zerolog.Logger
	run int64
	mu  sync.Mutex
	buf bytes.Buffer
}

func (h *logHook) line(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fmt.Fprintf(&h.buf, "%s "+format+"\n", append([]any{time.Now().UTC().Format(time.RFC3339)}, args...)...)
}

func (h *logHook) bytes() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return bytes.Clone(h.buf.Bytes())
}

func (h *logHook) Observed(server string, paths int, err error) {
	if err != nil {
		h.log.Error().Str("host", server).Str("step", "observe").Err(err).Msg("cannot observe")
		h.line("%s: observe failed: %v", server, err)
		return
	}
	h.log.Debug().Str("host", server).Str("step", "observe").Int("paths", paths).Msg("observed")
}

func (h *logHook) Applied(c *reconcile.Change, err error) {
	ev := h.log.Info()
	if err != nil {
		ev = h.log.Error().Err(err)
	}
	if c.Output != "" && err == nil { // an install's output (a failed one's is in err)
		ev = ev.Str("output", c.Output)
	}
	ev.Str("host", c.Server).Str("step", c.Action.String()).Str("resource", c.ID).Msg(c.Reason)
	switch {
	case err != nil:
		h.line("%s: %c %s: %v", c.Server, rune(c.Action), c.ID, err)
	case c.Output != "":
		h.line("%s: %c %s:\n  %s", c.Server, rune(c.Action), c.ID, strings.ReplaceAll(c.Output, "\n", "\n  "))
	default:
		h.line("%s: %c %s", c.Server, rune(c.Action), c.ID)
	}
}

func (h *logHook) ServiceChecked(server, service string, err error) {
	if err != nil {
		h.log.Error().Str("host", server).Str("step", "check").Str("service", service).Err(err).Msg("configuration check failed; files restored")
		h.line("%s: %s: check failed: %v", server, service, err)
		return
	}
	h.line("%s: %s: check passed", server, service)
}

func (h *logHook) Reloaded(server, service string, err error) {
	if err != nil {
		h.log.Error().Str("host", server).Str("step", "reload").Str("service", service).Err(err).Msg("reload failed")
		h.line("%s: %s: reload failed: %v", server, service, err)
		return
	}
	h.log.Info().Str("host", server).Str("step", "reload").Str("service", service).Msg("reloaded")
	h.line("%s: %s: reloaded", server, service)
}
