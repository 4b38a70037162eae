package daemon

import (
	"bytes"
	"context"
	"time"

	"github.com/berthhq/berth/backup"
	"github.com/berthhq/berth/desired"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

// TriggerSchedule, on Config.Schedule's timer, runs the environments'
// scheduled jobs: the scheduled backups of their sites (backup.schedule,
// backup.keep), as `berth backup --due` takes them.
const TriggerSchedule = "schedule"

// now is the daemon's clock (Config.Now, a seam for tests).
func (d *Daemon) now() time.Time {
	if d.cfg.Now != nil {
		return d.cfg.Now().UTC()
	}
	return time.Now().UTC()
}

// jobs runs the scheduled jobs of the revision last applied: the backups
// that are due, and the pruning of scheduled backups beyond keep. A pass
// that took or pruned nothing is not recorded; one that did, or failed,
// is recorded in the run history with the trigger "schedule" and the
// result state.ResultJobDone or state.ResultJobFailed, its output as the
// log. It never applies anything and never changes the environment's
// phase.
func (w *envWorker) jobs(ctx context.Context) {
	w.mu.Lock()
	applied := w.applied
	w.mu.Unlock()
	if applied == "" {
		return // nothing applied yet: no site to back up
	}
	res := w.appliedResolved(applied)
	if res == nil {
		return
	}
	sites := desired.ScheduledBackups(res, w.d.cfg.StateDir)
	if len(sites) == 0 {
		return
	}
	log := w.log.With().Str("rev", applied).Str("step", "backup").Logger()
	// Backups write on the backup server and must not overlap an apply
	// that prunes a site after its deletion backup.
	w.d.applyMu.Lock()
	defer w.d.applyMu.Unlock()
	hosts, closeHosts := w.d.cfg.Hosts(res)
	defer closeHosts()
	b := &backup.Backups{Hosts: hosts, Version: w.d.cfg.Version, Now: w.d.now}
	var out bytes.Buffer
	started := w.d.now()
	did, err := b.Due(ctx, sites, applied, started, &out)
	if did == 0 && err == nil {
		return
	}
	result, msg := state.ResultJobDone, ""
	if err != nil {
		result, msg = state.ResultJobFailed, err.Error()
		log.Error().Err(err).Msg("scheduled backups failed")
	} else {
		log.Info().Int("done", did).Msg("scheduled backups taken")
	}
	store := w.d.cfg.Store
	id, serr := store.StartRun(ctx, state.Run{Env: w.env, Revision: applied, Trigger: TriggerSchedule, Started: started})
	if serr == nil {
		serr = store.FinishRun(ctx, id, state.RunResult{Result: result, Log: out.Bytes(), Error: msg})
	}
	if serr != nil {
		log.Error().Err(serr).Msg("cannot record the scheduled backups")
		return
	}
	w.setLastJob(ctx, id)
}

// appliedResolved is the resolved environment of revision rev: the kept
// desired state's when it is of rev, else rev read again.
func (w *envWorker) appliedResolved(rev string) *spec.Resolved {
	if ws := w.warm; ws != nil && ws.rev == rev {
		return ws.res
	}
	_, res, err := w.d.resolve(rev, w.env)
	if err != nil {
		w.log.Error().Err(err).Str("rev", rev).Msg("cannot read the applied revision for its scheduled jobs")
		return nil
	}
	return res
}

func (w *envWorker) setLastJob(ctx context.Context, id int64) {
	r, err := w.d.cfg.Store.Run(ctx, id)
	if err != nil {
		return
	}
	w.update(func(s *EnvStatus) {
		s.LastJob = &RunSummary{ID: r.ID, Trigger: r.Trigger, Result: r.Result, Revision: r.Revision, Started: r.Started, Finished: r.Finished, Error: r.Error}
	})
}
