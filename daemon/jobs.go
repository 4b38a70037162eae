package daemon

import (
	"bytes"
	"context"
	"time"

	"github.com/berthhq/berth/backup"
	"github.com/berthhq/berth/cron"
	"github.com/berthhq/berth/desired"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
	"github.com/rs/zerolog"
)

// TriggerSchedule, on Config.Schedule's timer, runs the environments'
// scheduled jobs: the scheduled backups of their sites (backup.schedule,
// backup.keep), as `berth backup --due` takes them, the restore tests of
// their newest backups (backup.verify), as `berth backup verify` runs
// them, their cron commands (package cron), and the copies of data down
// of their data_from and their sites' own (datafrom.go).
const TriggerSchedule = "schedule"

// now is the daemon's clock (Config.Now, a seam for tests).
func (d *Daemon) now() time.Time {
	if d.cfg.Now != nil {
		return d.cfg.Now().UTC()
	}
	return time.Now().UTC()
}

// jobs runs the scheduled jobs of the revision last applied: the backups
// that are due with the pruning of scheduled backups beyond keep, the
// verifications of the newest backups that are due (verify.go), then the
// sites' cron commands that are due. A backup pass that took or
// pruned nothing is not recorded; one that did, or failed, is recorded in
// the run history with the trigger "schedule", each verification with
// "verify SITE", each cron run with the trigger "cron SITE/NAME", each
// copy of data down with "sync-data SITE"; the result is state.ResultJobDone or
// state.ResultJobFailed, the output the log. Jobs never apply anything
// and never change the environment's phase; they do not overlap an apply
// (backups write on the backup server, which an apply may prune after a
// deletion backup; a cron command may read what an apply writes).
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
	crons := desired.CronJobs(res, w.d.cfg.StateDir)
	if len(sites) == 0 && len(crons) == 0 && len(res.DataFrom) == 0 {
		return
	}
	w.d.applyMu.Lock()
	defer w.d.applyMu.Unlock()
	hosts, closeHosts := w.d.cfg.Hosts(res)
	defer closeHosts()
	if len(sites) > 0 {
		log := w.log.With().Str("rev", applied).Str("step", "backup").Logger()
		b := &backup.Backups{Hosts: hosts, Version: w.d.cfg.Version, Now: w.d.now}
		var out bytes.Buffer
		started := w.d.now()
		did, err := b.Due(ctx, sites, applied, started, &out)
		if did > 0 || err != nil {
			if err != nil {
				log.Error().Err(err).Msg("scheduled backups failed")
			} else {
				log.Info().Int("done", did).Msg("scheduled backups taken")
			}
			w.recordJob(ctx, log, applied, TriggerSchedule, started, out.Bytes(), err)
		}
		w.backupStaleness(ctx, log, b, sites, applied)
		w.verifyJobs(ctx, res, sites, hosts, applied)
	}
	for _, j := range crons {
		if ctx.Err() != nil {
			return
		}
		log := w.log.With().Str("rev", applied).Str("step", "cron").Str("site", j.Site).Str("job", j.Name).Logger()
		last, err := w.d.cfg.Store.LastStarted(ctx, w.env, j.Trigger())
		if err != nil {
			log.Error().Err(err).Msg("cannot read the job's last run; not running it")
			continue
		}
		started := w.d.now()
		if !j.Due(last, started) {
			continue
		}
		var res cron.Result
		h, err := hosts.Host(ctx, j.Server)
		if err == nil {
			res, err = j.Run(ctx, h)
		}
		if err != nil {
			log.Error().Err(err).Msg("cron failed")
		} else {
			log.Info().Msg("cron ran")
		}
		w.recordJob(ctx, log, applied, j.Trigger(), started, res.Output, err)
	}
	w.dataFromJobs(ctx, res, applied) // datafrom.go
}

// recordJob records one job's run in the run history and as the
// environment's last job, and returns the run's ID (0 when it could not
// be recorded).
func (w *envWorker) recordJob(ctx context.Context, log zerolog.Logger, rev, trigger string, started time.Time, output []byte, err error) int64 {
	result, msg := state.ResultJobDone, ""
	if err != nil {
		result, msg = state.ResultJobFailed, err.Error()
	}
	store := w.d.cfg.Store
	id, serr := store.StartRun(ctx, state.Run{Env: w.env, Revision: rev, Trigger: trigger, Started: started})
	if serr == nil {
		serr = store.FinishRun(ctx, id, state.RunResult{Result: result, Finished: w.d.now(), Log: output, Error: msg})
	}
	if serr != nil {
		log.Error().Err(serr).Msg("cannot record the job")
		id = 0
	} else {
		w.setLastJob(ctx, id)
	}
	w.jobChanged(rev, trigger, err)
	return id
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
