package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/berthhq/berth/backup"
	"github.com/berthhq/berth/desired"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/spec"
)

// BackupTimeout bounds a backup an operator starts.
const BackupTimeout = time.Hour

// appliedSite returns env's worker, the revision it last applied and its
// desired state, which must declare site: what an operator's action on a
// site works from.
func (d *Daemon) appliedSite(env, site string) (*envWorker, string, *spec.Resolved, error) {
	d.mu.Lock()
	w := d.envs[env]
	d.mu.Unlock()
	if w == nil {
		return nil, "", nil, fmt.Errorf("no environment %s", env)
	}
	w.mu.Lock()
	applied := w.applied
	w.mu.Unlock()
	if applied == "" {
		return nil, "", nil, errors.New("nothing applied in " + env + " yet: no site to act on")
	}
	_, res, err := d.resolve(applied, env)
	if err != nil {
		return nil, "", nil, err
	}
	if _, _, err := desired.SiteDataOf(res, site, d.cfg.StateDir); err != nil {
		return nil, "", nil, err
	}
	return w, applied, res, nil
}

// BackupNow takes a backup of site in env at once (the dashboard's "Back
// up now"), as berth backup does, from the revision last applied, in the
// background (siteJob), recorded in the run history as "backup SITE".
func (d *Daemon) BackupNow(env, site, who string) error {
	return d.siteJob(env, site, "backup", who, func(ctx context.Context, j siteJobEnv) (string, error) {
		data, store, err := desired.SiteDataOf(j.res, site, d.cfg.StateDir)
		if err != nil {
			return "", err
		}
		m, err := j.backups.Take(ctx, data, store, backup.Options{Revision: j.applied, Reason: backup.ReasonManual})
		if err != nil {
			return "", err
		}
		fmt.Fprintf(j.out, "backup %s taken\n", m.ID)
		return "backup " + m.ID + " taken", nil
	})
}

// RestoreNow restores site in env from backup id (the dashboard's restore,
// after its confirmation), as berth restore does (desired.RestoreSite: a
// fresh backup first, then the database and files, then the other web
// servers re-synced), in the background (siteJob), recorded as the run
// "restore SITE".
func (d *Daemon) RestoreNow(env, site, id, who string) error {
	if !backup.ValidID(id) {
		return fmt.Errorf("%q is not a backup ID (like 20261125T123456Z)", id)
	}
	return d.siteJob(env, site, "restore", who, func(ctx context.Context, j siteJobEnv) (string, error) {
		fmt.Fprintf(j.out, "from backup %s\n", id)
		_, err := desired.RestoreSite(ctx, j.backups, j.res, d.cfg.StateDir, j.hosts, site, id, j.applied, j.out)
		return "restored from backup " + id, err
	})
}

// RollbackMigration moves site of env back to the server a finished
// migration took it from, within the migration's grace period, as berth
// rollback-migration does: the hold (desired.Rollback) is recorded as the
// job "rollback-migration SITE", then a run of env moves the site back
// through the one pipeline (the hold is applied by desired.Prepare).
func (d *Daemon) RollbackMigration(env, site, who string) error {
	return d.siteJob(env, site, "rollback-migration", who, func(ctx context.Context, j siteJobEnv) (string, error) {
		hold, err := desired.Rollback(ctx, j.res, d.cfg.Store, j.hosts, d.cfg.StateDir, site, "", d.now())
		if err != nil {
			return "", err
		}
		hold.By = who
		if err := d.cfg.Store.PutHold(ctx, hold); err != nil {
			return "", err
		}
		if err := d.Trigger(env, ReasonManual); err != nil {
			return "", err
		}
		fmt.Fprintf(j.out, "site %s held on platform %s; a run of %s moves it back\n", hold.Site, hold.Platform, env)
		return "site held on platform " + hold.Platform + "; moving it back", nil
	})
}

// siteJobEnv is what an operator's action on a site works with.
type siteJobEnv struct {
	applied string
	res     *spec.Resolved
	hosts   reconcile.Hosts
	backups *backup.Backups
	out     io.Writer
}

// siteJob runs an operator's action (step: backup, restore) on site of
// env from the revision last applied, in the background: it waits for a
// run in progress and never overlaps one, and it is recorded in the run
// history as "STEP SITE" with who asked and its output in the log. It
// returns at once; an error means nothing was started.
func (d *Daemon) siteJob(env, site, step, who string, do func(context.Context, siteJobEnv) (string, error)) error {
	w, applied, res, err := d.appliedSite(env, site)
	if err != nil {
		return err
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), BackupTimeout)
		defer cancel()
		d.applyMu.Lock()
		defer d.applyMu.Unlock()
		hosts, closeHosts := d.cfg.Hosts(res)
		defer closeHosts()
		log := w.log.With().Str("rev", applied).Str("step", step).Str("site", site).Logger()
		started := d.now()
		var out bytes.Buffer
		fmt.Fprintf(&out, "%s of %s asked for by %s\n", step, site, who)
		done, err := do(ctx, siteJobEnv{applied: applied, res: res, hosts: hosts, out: &out,
			backups: &backup.Backups{Hosts: hosts, Version: d.cfg.Version, Now: d.now}})
		if err != nil {
			log.Error().Err(err).Msg(step + " failed")
		} else {
			log.Info().Msg(done)
		}
		w.recordJob(ctx, log, applied, step+" "+site, started, out.Bytes(), err)
	}()
	return nil
}

// setLive makes h the live log of run id, or forgets it (h nil).
func (d *Daemon) setLive(id int64, h *logHook) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if h == nil {
		delete(d.live, id)
		return
	}
	if d.live == nil {
		d.live = map[int64]*logHook{}
	}
	d.live[id] = h
}

// LiveLog returns the log so far of run id while it runs, and false once
// it has ended (its log is then in the run history).
func (d *Daemon) LiveLog(id int64) ([]byte, bool) {
	d.mu.Lock()
	h := d.live[id]
	d.mu.Unlock()
	if h == nil {
		return nil, false
	}
	return h.bytes(), true
}
