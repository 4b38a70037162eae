package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/berthhq/berth/desired"
	"github.com/berthhq/berth/notify"
	"github.com/berthhq/berth/reconcile"
	berthrun "github.com/berthhq/berth/run"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

// Phases of an environment.
const (
	PhaseSynced      = state.PhaseSynced
	PhaseOutOfSync   = state.PhaseOutOfSync
	PhaseProgressing = state.PhaseProgressing
	PhaseStalled     = state.PhaseStalled
	// PhaseOrphaned is an environment berth.yaml on the config branch no
	// longer declares whose resources are still on the servers. The
	// daemon runs nothing for it and removes nothing of it: `berth apply
	// --env ENV` does, through the same pipeline as any run (package run).
	PhaseOrphaned = "Orphaned"
)

// Reasons a run starts; a run's trigger lists them, comma-separated.
const (
	ReasonStartup = "startup"
	ReasonPoll    = "poll"
	ReasonWebhook = "webhook"
	ReasonWatch   = "watch"
	ReasonDrift   = "drift"
	ReasonManual  = "manual"
	// ReasonWait runs an environment again when a change of its last run
	// waited until a time (reconcile.WaitError: a migration waiting for
	// the DNS caches).
	ReasonWait = "wait"
	// ReasonConfig starts an environment berth.yaml on the config branch
	// newly declares (or whose branch it changed) while the daemon runs.
	ReasonConfig = "config"
)

// Source is where revisions come from: a Git repository (each environment
// follows its branch) or a plain directory (every branch is its content).
// Implementations must be safe for concurrent use.
type Source interface {
	// Fetch brings the source up to date; it honours ctx.
	Fetch(ctx context.Context) error
	// Head returns the revision at the tip of branch; an unknown branch is
	// an error wrapping fs.ErrNotExist.
	Head(branch string) (string, error)
	// FS returns the files of a revision, read-only.
	FS(rev string) (fs.FS, error)
}

// HostsFunc connects to the servers of a resolved environment; close
// releases the connections when the run is over.
type HostsFunc func(res *spec.Resolved) (hosts reconcile.Hosts, close func())

// Config is what a Daemon needs. Source, Store, StateDir and Hosts are
// required.
type Config struct {
	Source   Source
	Store    *state.Store
	StateDir string // berth's state directory: base of local servers' relative paths
	Hosts    HostsFunc
	// Code, when set, returns what resolves git platforms for one run
	// (a new one per run, so each run fetches their repositories); nil
	// deploys no git platform.
	Code func() desired.Code
	// Version is berth's version, recorded in the manifests of the backups
	// runs take (before a site's deletion), as berth apply records it.
	Version string
	// ConfigBranch is the branch whose berth.yaml lists the environments
	// (default main). Each environment then runs its own branch's revision.
	ConfigBranch string
	// Envs limits the daemon to these environments; empty means all.
	Envs []string
	// Poll and Drift are the intervals of the poll and drift timers;
	// Schedule that of the scheduled jobs (backups that are due); zero
	// disables a timer.
	Poll, Drift, Schedule time.Duration
	// Health is how often every site is checked on each of its web
	// servers (health.go); 0: never.
	Health time.Duration
	// Now is the clock of scheduled jobs; nil: time.Now.
	Now func() time.Time
	// Notifier, when set, is sent a message per change of an
	// environment's state (stalled, run failed, drift found, recovered)
	// and of a scheduled job's (failed, recovered).
	Notifier *notify.Notifier
	// Statuses, when set, gets a commit status per environment on the
	// commit a run applies: pending when it starts, success or failure
	// when it ends, linking to the run's page under PublicURL (the
	// dashboard's address as the forge's users reach it).
	Statuses  Statuses
	PublicURL string
	// SelfHeal applies drift found by the drift timer; without it drift is
	// only reported (phase OutOfSync).
	SelfHeal bool
	Logger   zerolog.Logger
	Metrics  *Metrics
	// TLS is the controller's configuration of certificate ordering (the
	// trust roots of a private ACME CA, the pre-checks' resolver); each
	// environment's ACME client is built from it and berth.yaml's acme.
	// Its drift checks renew certificates when they are due.
	TLS berthrun.TLS
	// AfterRun, when set, is called after every pass of an environment's
	// loop that got past the fetch, with the environment's status (tests
	// and the benchmarks wait on it).
	AfterRun func(EnvStatus)
}

// Daemon keeps environments converged. Create it with New, start it with
// Run; its methods are safe for concurrent use.
type Daemon struct {
	cfg     Config
	applyMu sync.Mutex // one apply at a time across environments
	fetchMu sync.Mutex

	mu   sync.Mutex
	envs map[string]*envWorker
	// live are the logs of the runs in progress, by run ID (LiveLog).
	live     map[int64]*logHook
	declared []string // the environments berth.yaml on the config branch declares
	ready    bool
	started  time.Time

	// configWake asks the config loop to read berth.yaml of the config
	// branch again; configRev is the revision it last read.
	configWake chan struct{}
	configRev  string
}

// New checks cfg and returns a daemon; nothing runs until Run.
func New(cfg Config) (*Daemon, error) {
	if cfg.Source == nil || cfg.Store == nil || cfg.Hosts == nil || cfg.StateDir == "" {
		return nil, errors.New("daemon: Source, Store, Hosts and StateDir are required")
	}
	if cfg.ConfigBranch == "" {
		cfg.ConfigBranch = "main"
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	return &Daemon{cfg: cfg, envs: map[string]*envWorker{}, configWake: make(chan struct{}, 1)}, nil
}

// Run discovers the environments, starts one worker per environment and
// the timers, and blocks until ctx ends. A worker that is applying when ctx
// ends finishes the current step (see reconcile.Engine.Apply) before Run
// returns.
func (d *Daemon) Run(ctx context.Context) error {
	d.mu.Lock()
	d.started = time.Now()
	d.mu.Unlock()
	envs, rev, err := d.discover(ctx)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	d.mu.Lock()
	d.configRev = rev
	d.mu.Unlock()
	d.follow(ctx, &wg, envs, ReasonStartup)
	d.mu.Lock()
	d.ready = true
	d.mu.Unlock()
	wg.Go(func() { d.configLoop(ctx, &wg) })
	if d.cfg.Poll > 0 {
		wg.Go(func() { d.every(ctx, d.cfg.Poll, ReasonPoll) })
	}
	if d.cfg.Drift > 0 {
		wg.Go(func() { d.every(ctx, d.cfg.Drift, ReasonDrift) })
	}
	if d.cfg.Schedule > 0 {
		wg.Go(func() { d.every(ctx, d.cfg.Schedule, TriggerSchedule) })
	}
	<-ctx.Done()
	wg.Wait()
	return nil
}

// envConfig is an environment as the config branch's berth.yaml declares it.
type envConfig struct{ name, branch string }

// discover fetches and reads the environments from the config branch's
// berth.yaml; it returns them with the revision read.
func (d *Daemon) discover(ctx context.Context) ([]envConfig, string, error) {
	if err := d.fetch(ctx); err != nil {
		return nil, "", err
	}
	return d.discoverFetched()
}

// discoverFetched is discover without the fetch.
func (d *Daemon) discoverFetched() ([]envConfig, string, error) {
	rev, err := d.cfg.Source.Head(d.cfg.ConfigBranch)
	if err != nil {
		return nil, "", fmt.Errorf("read the environments from branch %s: %w (set --config-branch to the branch whose berth.yaml lists them)", d.cfg.ConfigBranch, err)
	}
	fsys, err := d.cfg.Source.FS(rev)
	if err != nil {
		return nil, "", err
	}
	cfg, lerr := spec.LoadConfig(fsys)
	if lerr != nil || len(cfg.Environments) == 0 {
		return nil, "", fmt.Errorf("branch %s at %s declares no environments: %w", d.cfg.ConfigBranch, reconcile.ShortRevision(rev), lerr)
	}
	var out []envConfig
	declared := slices.Sorted(maps.Keys(cfg.Environments))
	for _, name := range declared {
		if len(d.cfg.Envs) > 0 && !slices.Contains(d.cfg.Envs, name) {
			continue
		}
		out = append(out, envConfig{name: name, branch: cfg.Environments[name].Branch})
	}
	for _, want := range d.cfg.Envs {
		if !slices.ContainsFunc(out, func(e envConfig) bool { return e.name == want }) {
			return nil, "", fmt.Errorf("environment %q is not declared in berth.yaml on branch %s", want, d.cfg.ConfigBranch)
		}
	}
	d.mu.Lock()
	d.declared = declared
	d.mu.Unlock()
	return out, rev, nil
}

// follow makes the running workers those of envs: it starts (and
// triggers) a worker for a new environment or one whose branch changed,
// and stops the worker of an environment no longer declared. A stopped
// worker finishes the step it is in (its context ends); nothing of its
// environment is removed: Status lists it as Orphaned while its resources
// are on the servers.
func (d *Daemon) follow(ctx context.Context, wg *sync.WaitGroup, envs []envConfig, reason string) {
	d.mu.Lock()
	var stop []*envWorker
	want := map[string]envConfig{}
	for _, e := range envs {
		want[e.name] = e
	}
	for name, w := range d.envs {
		if e, ok := want[name]; !ok || e.branch != w.branch {
			stop = append(stop, w)
			delete(d.envs, name)
		}
	}
	d.mu.Unlock()
	for _, w := range stop {
		w.log.Info().Str("branch", w.branch).Msg("berth.yaml no longer declares this environment on this branch: its worker stops, its resources stay")
		w.cancel()
	}
	for _, e := range envs {
		d.mu.Lock()
		_, running := d.envs[e.name]
		d.mu.Unlock()
		if running {
			continue
		}
		wctx, cancel := context.WithCancel(ctx)
		w := d.worker(e, cancel)
		wg.Go(func() { w.loop(wctx) })
		if d.cfg.Health > 0 {
			wg.Go(func() { w.healthLoop(wctx, d.cfg.Health) })
		}
		w.trigger(reason)
	}
}

// configLoop reads berth.yaml of the config branch again after each fetch
// an environment's pass made (so a push, a poll or a watched change
// reaches it without a fetch of its own) when the branch moved, and
// follows the environments it declares: a new one starts without a
// restart, a removed one stops. A config branch that cannot be read or
// declares no environment changes nothing; the error is logged.
func (d *Daemon) configLoop(ctx context.Context, wg *sync.WaitGroup) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.configWake:
		}
		rev, err := d.cfg.Source.Head(d.cfg.ConfigBranch)
		d.mu.Lock()
		same := err == nil && rev == d.configRev
		d.mu.Unlock()
		if err != nil || same {
			continue
		}
		envs, rev, err := d.discoverFetched()
		if err != nil {
			d.cfg.Logger.Error().Err(err).Str("step", "config").Msg("the environments stay as they are")
			continue
		}
		d.mu.Lock()
		d.configRev = rev
		d.mu.Unlock()
		d.follow(ctx, wg, envs, ReasonConfig)
	}
}

// rereadConfig asks the config loop to look at the config branch again.
func (d *Daemon) rereadConfig() {
	select {
	case d.configWake <- struct{}{}:
	default:
	}
}

func (d *Daemon) fetch(ctx context.Context) error {
	d.fetchMu.Lock()
	defer d.fetchMu.Unlock()
	if err := d.cfg.Source.Fetch(ctx); err != nil {
		return fmt.Errorf("fetch the sites repo: %w", err)
	}
	return nil
}

func (d *Daemon) worker(e envConfig, cancel context.CancelFunc) *envWorker {
	d.mu.Lock()
	defer d.mu.Unlock()
	w := &envWorker{d: d, env: e.name, branch: e.branch, cancel: cancel, wake: make(chan struct{}, 1), checkNow: make(chan struct{}, 1), pending: map[string]bool{},
		log: d.cfg.Logger.With().Str("env", e.name).Logger()}
	w.status = EnvStatus{Env: e.name, Branch: e.branch, Phase: PhaseProgressing, Health: HealthUnknown}
	if rev, at, err := d.cfg.Store.LastApplied(context.Background(), e.name); err == nil {
		w.applied, w.status.LastApplied, w.status.LastAppliedAt = rev, rev, &at
	}
	d.envs[e.name] = w
	return w
}

// every triggers all environments at interval, with ±10% jitter so that
// many daemons do not poll one Git server in step.
func (d *Daemon) every(ctx context.Context, interval time.Duration, reason string) {
	for {
		jitter := time.Duration((rand.Float64()*0.2 - 0.1) * float64(interval))
		t := time.NewTimer(interval + jitter)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
			d.TriggerAll(reason)
		}
	}
}

// TriggerAll asks every environment for a run.
func (d *Daemon) TriggerAll(reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, w := range d.envs {
		w.trigger(reason)
	}
}

// TriggerBranch asks the environments following branch for a run and
// reports how many there are.
func (d *Daemon) TriggerBranch(branch, reason string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, w := range d.envs {
		if w.branch == branch {
			w.trigger(reason)
			n++
		}
	}
	return n
}

// Trigger asks one environment for a run; fs.ErrNotExist when the daemon
// does not run that environment.
func (d *Daemon) Trigger(env, reason string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	w, ok := d.envs[env]
	if !ok {
		return fmt.Errorf("environment %q: %w", env, fs.ErrNotExist)
	}
	w.trigger(reason)
	return nil
}

// Ready reports whether the environments were discovered and started.
func (d *Daemon) Ready() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ready
}

// Status returns every environment's status, sorted by name: those the
// daemon runs, and those berth.yaml no longer declares whose resources are
// still on the servers (PhaseOrphaned).
func (d *Daemon) Status() []EnvStatus {
	d.mu.Lock()
	ws := slices.Collect(maps.Values(d.envs))
	declared := d.declared
	d.mu.Unlock()
	out := make([]EnvStatus, 0, len(ws))
	for _, w := range ws {
		out = append(out, w.snapshot())
	}
	if declared != nil {
		orphans, err := berthrun.Orphans(context.Background(), d.cfg.Store, declared)
		if err != nil {
			d.cfg.Logger.Error().Err(err).Msg("cannot read the inventory's environments")
		}
		for _, o := range orphans {
			out = append(out, EnvStatus{Env: o.Env, Phase: PhaseOrphaned, Health: HealthUnknown, Message: berthrun.OrphanMessage(o)})
		}
	}
	slices.SortFunc(out, func(a, b EnvStatus) int { return strings.Compare(a.Env, b.Env) })
	return out
}
