package daemon

import (
	"bytes"
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
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

// Health of an environment or site, from its last apply.
const (
	HealthHealthy  = "Healthy"
	HealthDegraded = "Degraded"
	HealthUnknown  = "Unknown"
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
	LastRun       *RunSummary    `json:"last_run,omitempty"`
}

// SiteStatus is one site's sync state and health.
type SiteStatus struct {
	Site    string `json:"site"`
	Sync    string `json:"sync"` // Synced | OutOfSync
	Health  string `json:"health"`
	Message string `json:"message,omitempty"`
}

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

	wake chan struct{}

	mu      sync.Mutex
	pending map[string]bool
	status  EnvStatus
	applied string // last revision applied successfully
	stalled string // last revision found invalid
	retry   bool   // the last apply failed: try the same revision again
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
		reasons := slices.Sorted(maps.Keys(w.pending))
		clear(w.pending)
		w.mu.Unlock()
		if len(reasons) == 0 {
			continue
		}
		w.run(ctx, reasons)
		if f := w.d.cfg.AfterRun; f != nil {
			f(w.snapshot())
		}
	}
}

func (w *envWorker) update(f func(s *EnvStatus)) {
	w.mu.Lock()
	f(&w.status)
	st := w.status
	w.mu.Unlock()
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
	rev, err := w.d.cfg.Source.Head(w.branch)
	now := time.Now().UTC()
	if err != nil {
		log.Error().Err(err).Str("step", "fetch").Msg("branch not found")
		w.update(func(s *EnvStatus) { s.Message = err.Error() })
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
		return
	}

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
	w.converge(ctx, log, rev, trigger, fsys, res, has(ReasonDrift) && !has(ReasonManual) && !w.d.cfg.SelfHeal && rev == applied)
}

// stall records an invalid revision: nothing is changed anywhere, the last
// good revision stays applied, the next valid commit recovers.
func (w *envWorker) stall(ctx context.Context, log zerolog.Logger, rev, trigger string, problems spec.Problems, err error) {
	log.Error().Str("step", "validate").Int("problems", len(problems)).Msg("revision is not valid; nothing changed: " + firstLine(err.Error()))
	w.mu.Lock()
	w.stalled = rev
	w.mu.Unlock()
	w.update(func(s *EnvStatus) {
		s.Phase, s.Problems, s.Message = PhaseStalled, problems, "revision "+reconcile.ShortRevision(rev)+" is not valid; "+reconcile.ShortRevision(s.LastApplied)+" stays applied"
	})
	id, serr := w.d.cfg.Store.StartRun(ctx, state.Run{Env: w.env, Revision: rev, Trigger: trigger})
	if serr == nil {
		serr = w.d.cfg.Store.FinishRun(context.WithoutCancel(ctx), id, state.RunResult{Result: state.ResultFailed, Error: err.Error()})
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

// converge plans and, unless reportOnly, applies one valid revision.
func (w *envWorker) converge(ctx context.Context, log zerolog.Logger, rev, trigger string, fsys fs.FS, res *spec.Resolved, reportOnly bool) {
	start := time.Now()
	logs := &logHook{log: log}
	engine, desired, closeHosts, err := w.d.prepare(ctx, rev, fsys, res, logs)
	if err != nil {
		w.stall(ctx, log, rev, trigger, nil, err)
		return
	}
	defer closeHosts()
	// The run is recorded from its start, so its id is in every log line
	// and an interrupted run shows as such.
	run, err := w.d.cfg.Store.StartRun(ctx, state.Run{Env: w.env, Revision: rev, Trigger: trigger})
	if err != nil {
		log.Error().Err(err).Msg("cannot record the run; not running it")
		return
	}
	log = log.With().Int64("run", run).Logger()
	logs.log, logs.run = log, run
	w.update(func(s *EnvStatus) { s.Phase = PhaseProgressing })

	plan, err := engine.Plan(ctx, desired, planOptions())
	if err != nil {
		log.Error().Err(err).Str("step", "plan").Msg("plan failed; nothing changed")
		w.finish(ctx, log, rev, nil, nil, err, start, logs)
		return
	}
	sum := plan.Summary()
	w.d.cfg.Metrics.resources.WithLabelValues(w.env, "synced").Set(float64(plan.Unchanged))
	w.d.cfg.Metrics.resources.WithLabelValues(w.env, "out_of_sync").Set(float64(sum.Add + sum.Change + sum.Destroy + sum.Conflict))
	if reportOnly {
		if !plan.Empty() {
			log.Warn().Str("step", "drift").Int("changes", len(plan.Changes)).Msg("drift found; not repaired (--no-self-heal)")
		}
		w.report(ctx, log, rev, plan, start, logs)
		return
	}
	if plan.Empty() && len(plan.Unreachable) == 0 {
		// Still apply: it records resources found in place; it writes nothing.
		_, err := engine.Apply(ctx, plan)
		w.finish(ctx, log, rev, plan, &reconcile.Result{}, err, start, logs)
		return
	}
	log.Info().Str("step", "apply").Int("add", sum.Add).Int("change", sum.Change).Int("destroy", sum.Destroy).Msg("applying")
	w.d.applyMu.Lock()
	result, err := engine.Apply(ctx, plan)
	w.d.applyMu.Unlock()
	w.finish(ctx, log, rev, plan, result, err, start, logs)
}

// planOptions returns the options of every plan of the daemon: those of
// `berth plan` without flags.
func planOptions() reconcile.PlanOptions { return reconcile.PlanOptions{MaxCreateDiffs: 50} }

// prepare builds the desired state of a revision and the engine for it
// through desired.Prepare, as berth plan and apply do; close releases
// the connections to the servers.
func (d *Daemon) prepare(ctx context.Context, rev string, fsys fs.FS, res *spec.Resolved, hook reconcile.Hook) (*reconcile.Engine, *reconcile.Desired, func(), error) {
	var code desired.Code
	if d.cfg.Code != nil {
		code = d.cfg.Code()
	}
	hosts, closeHosts := d.cfg.Hosts(res)
	e, want, err := desired.Prepare(ctx, desired.Input{Resolved: res, Revision: rev, Repo: fsys, StateDir: d.cfg.StateDir,
		Store: d.cfg.Store, Code: code, Hosts: hosts, Version: d.cfg.Version}, hook)
	if err != nil {
		closeHosts()
		return nil, nil, nil, err
	}
	return e, want, closeHosts, nil
}

// report records a drift check that found (or did not find) changes
// without applying them.
func (w *envWorker) report(ctx context.Context, log zerolog.Logger, rev string, plan *reconcile.Plan, start time.Time, logs *logHook) {
	result := state.ResultNoOp
	phase := PhaseSynced
	if !plan.Empty() {
		result, phase = "drift-detected", PhaseOutOfSync
	}
	changes, _ := json.Marshal(plan)
	w.record(ctx, log, logs.run, state.RunResult{Result: result, Changes: changes, Log: logs.bytes()})
	w.d.cfg.Metrics.runs.WithLabelValues(w.env, result).Inc()
	w.d.cfg.Metrics.runDuration.WithLabelValues(w.env).Observe(time.Since(start).Seconds())
	w.update(func(s *EnvStatus) {
		s.Phase, s.Sites = phase, siteStatuses(plan, nil)
		s.Message = ""
		if phase == PhaseOutOfSync {
			s.Message = fmt.Sprintf("drift: %d resources differ from revision %s (not repaired: self-heal is off)", len(plan.Changes), reconcile.ShortRevision(rev))
		}
	})
}

func (w *envWorker) finish(ctx context.Context, log zerolog.Logger, rev string, plan *reconcile.Plan, res *reconcile.Result, err error, start time.Time, logs *logHook) {
	rr := state.RunResult{Result: state.ResultSucceeded, Log: logs.bytes()}
	if plan != nil {
		rr.Changes, _ = json.Marshal(plan)
		if plan.Empty() {
			rr.Result = state.ResultNoOp
		}
	}
	if err != nil {
		rr.Result, rr.Error = state.ResultFailed, err.Error()
	}
	w.record(ctx, log, logs.run, rr)
	d := time.Since(start)
	w.d.cfg.Metrics.runs.WithLabelValues(w.env, rr.Result).Inc()
	w.d.cfg.Metrics.runDuration.WithLabelValues(w.env).Observe(d.Seconds())
	now := time.Now().UTC()
	w.mu.Lock()
	w.retry = err != nil
	if err == nil {
		w.applied, w.stalled = rev, ""
	}
	w.mu.Unlock()
	w.update(func(s *EnvStatus) {
		s.Problems = nil
		if err != nil {
			s.Phase, s.Health, s.Message = PhaseOutOfSync, HealthDegraded, err.Error()
		} else {
			s.Phase, s.Health, s.Message = PhaseSynced, HealthHealthy, ""
			s.LastApplied, s.LastAppliedAt = rev, &now
		}
		if plan != nil {
			s.Sites = siteStatuses(plan, res)
		}
	})
	if err == nil {
		w.d.cfg.Metrics.lastSuccess.WithLabelValues(w.env).Set(float64(now.Unix()))
		ev := log.Info()
		if plan != nil && !plan.Empty() {
			ev = ev.Int("applied", res.Applied).Strs("reloads", res.Reloads)
		}
		ev.Dur("took", d).Msg("converged")
	} else {
		log.Error().Err(err).Dur("took", d).Msg("run failed")
	}
}

func (w *envWorker) record(ctx context.Context, log zerolog.Logger, run int64, rr state.RunResult) {
	ctx = context.WithoutCancel(ctx)
	if err := w.d.cfg.Store.FinishRun(ctx, run, rr); err != nil {
		log.Error().Err(err).Msg("cannot record the run")
	}
	w.setLastRun(ctx, run)
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

// siteStatuses derives each site's sync and health from a plan and, when
// it was applied, from what failed.
func siteStatuses(plan *reconcile.Plan, res *reconcile.Result) []SiteStatus {
	changed := map[string]string{}
	on := map[string]map[string]bool{} // site -> servers it had changes on
	for _, c := range plan.Changes {
		if c.Site == "" {
			continue
		}
		if _, ok := changed[c.Site]; !ok {
			changed[c.Site] = fmt.Sprintf("%c %s", rune(c.Action), c.ID)
		}
		if on[c.Site] == nil {
			on[c.Site] = map[string]bool{}
		}
		on[c.Site][c.Server] = true
	}
	// A site failed when one of its changes failed, or when a server it
	// had changes on failed as a whole (its check refused them, say).
	failed := map[string]string{}
	if res != nil {
		for _, f := range res.Failures {
			msg := f.Server + ": " + f.Error
			if f.ID != "" {
				msg = f.Server + ": " + f.ID + ": " + f.Error
			}
			switch {
			case f.Site != "":
				if _, seen := failed[f.Site]; !seen {
					failed[f.Site] = msg
				}
			case f.ID == "":
				for site, servers := range on {
					if _, seen := failed[site]; !seen && servers[f.Server] {
						failed[site] = msg
					}
				}
			}
		}
	}
	out := make([]SiteStatus, 0, len(plan.Sites))
	for _, site := range plan.Sites {
		st := SiteStatus{Site: site, Sync: "Synced", Health: HealthHealthy}
		why, differs := changed[site]
		switch {
		case failed[site] != "":
			st.Sync, st.Health, st.Message = "OutOfSync", HealthDegraded, failed[site]
		case differs && res == nil:
			st.Sync, st.Message = "OutOfSync", why
		case conflict(why):
			st.Sync, st.Message = "OutOfSync", why
		}
		out = append(out, st)
	}
	return out
}

func conflict(why string) bool { return strings.HasPrefix(why, "!") }

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
