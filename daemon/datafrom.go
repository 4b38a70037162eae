package daemon

import (
	"context"
	"fmt"
	"slices"

	"github.com/berthhq/berth/backup"
	"github.com/berthhq/berth/cron"
	"github.com/berthhq/berth/desired"
	"github.com/berthhq/berth/spec"
)

// dataFromJobs copies down the data of every site of res's data_from
// (the environment's or its own) whose copy is due (its own schedule,
// from the newest run with the trigger
// desired.DataFromTrigger(site) in the run history, so a restart does
// not copy early), as berth sync-data does: desired.SyncData, a fresh
// backup of the source restored into the site after its own backup, its
// sanitize step, the site's database emptied again on a failure. Each
// copy is recorded as a job run and logged with its env, rev, site and
// step; a failure is notified like any failed job. The caller holds the
// daemon's apply lock: no apply of any environment runs meanwhile.
func (w *envWorker) dataFromJobs(ctx context.Context, res *spec.Resolved, rev string) {
	if len(res.DataFrom) == 0 {
		return
	}
	now := w.d.now()
	var due []string
	for _, d := range res.DataFrom {
		last, err := desired.DataFromLast(ctx, w.d.cfg.Store, w.env, d.Site)
		if err != nil {
			w.log.Error().Err(err).Str("rev", rev).Str("step", "sync-data").Str("site", d.Site).Msg("cannot read the last copy of the site's data; not copying it")
			continue
		}
		if cron.Due(d.Every, last, now) {
			due = append(due, d.Site)
		}
	}
	if len(due) == 0 {
		return
	}
	// The source's resolution needs the repo of the revision: the same
	// one berth sync-data reads (spec.DataFrom for each site).
	fail := func(err error) {
		for _, site := range due {
			log := w.log.With().Str("rev", rev).Str("step", "sync-data").Str("site", site).Logger()
			log.Error().Err(err).Msg("data_from failed")
			w.recordJob(ctx, log, rev, desired.DataFromTrigger(site), w.d.now(), nil, err)
		}
	}
	fsys, err := w.d.cfg.Source.FS(rev)
	if err != nil {
		fail(fmt.Errorf("read revision %s for data_from: %w", rev, err))
		return
	}
	repo, err := spec.Load(fsys)
	if err != nil {
		fail(fmt.Errorf("load revision %s for data_from: %w", rev, err))
		return
	}
	clones, err := spec.DataFromSites(repo, res)
	if err != nil {
		fail(err)
		return
	}
	// One connection to the servers of the environment and those the
	// copies read from.
	all := *res
	all.Sites = slices.Clone(res.Sites)
	for i := range all.Sites {
		if cl := clones[all.Sites[i].Name]; cl != nil && slices.Contains(due, all.Sites[i].Name) {
			all.Sites[i].Clone = cl
		}
	}
	hosts, closeHosts := w.d.cfg.Hosts(&all)
	defer closeHosts()
	b := &backup.Backups{Hosts: hosts, Version: w.d.cfg.Version, Now: w.d.now}
	for _, site := range due {
		if ctx.Err() != nil {
			return
		}
		cl := clones[site]
		log := w.log.With().Str("rev", rev).Str("step", "sync-data").Str("site", site).Str("from", cl.Env+"/"+cl.Site).Logger()
		started := w.d.now()
		err := desired.SyncData(ctx, &all, w.d.cfg.StateDir, rev, fsys, b, hosts, site, cl, w.d.dataConsent())
		var out string
		if err != nil {
			log.Error().Err(err).Msg("data_from failed")
		} else {
			how := "as it is (no sanitize step)"
			if cl.Sanitize != nil && cl.Sanitize.Shown() != "" {
				how = "sanitized with " + cl.Sanitize.Shown()
			}
			out = fmt.Sprintf("Copied the data of %s/%s into %s/%s, %s.\n", cl.Env, cl.Site, w.env, site, how)
			log.Info().Msg("data copied down")
		}
		w.recordJob(ctx, log, rev, desired.DataFromTrigger(site), started, []byte(out), err)
	}
}

// dataConsent reads whether an environment gives its data to another
// from berth.yaml at the head of the config branch (the one listing the
// environments), never from the revision that asks for the data.
func (d *Daemon) dataConsent() desired.DataConsent {
	return desired.ConfigConsent("branch "+d.cfg.ConfigBranch, func(context.Context) (*spec.Config, error) {
		rev, err := d.cfg.Source.Head(d.cfg.ConfigBranch)
		if err != nil {
			return nil, err
		}
		fsys, err := d.cfg.Source.FS(rev)
		if err != nil {
			return nil, err
		}
		return spec.LoadConfig(fsys)
	})
}
