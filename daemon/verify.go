package daemon

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/berthhq/berth/backup"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

// VerifyTrigger is the trigger of the run that records the verification
// of site's newest backup (backup.verify).
func VerifyTrigger(site string) string { return "verify " + site }

// VerifyStatus is the last verification of one site's backups: when,
// which backup, and whether it restored (Error says why not). It holds
// no secret.
type VerifyStatus struct {
	Site    string    `json:"site"`
	Backup  string    `json:"backup,omitempty"`
	Started time.Time `json:"started"`
	OK      bool      `json:"ok"`
	Error   string    `json:"error,omitempty"`
	Run     int64     `json:"run,omitempty"` // the run that records it
}

// verifyJobs restore-tests the newest backup of every site with a backup
// schedule whose verification is due (backup.verify, weekly by default),
// as berth backup verify does (backup.Backups.Verify): each is recorded
// as a run with the trigger VerifyTrigger(site), shown in the status's
// verifications, and a failure notified like any failed job. A site
// without a backup yet is not tested, and nothing is recorded.
func (w *envWorker) verifyJobs(ctx context.Context, res *spec.Resolved, sites []backup.Scheduled, hosts reconcile.Hosts, rev string) {
	w.seedVerifications(ctx, sites)
	setting := map[string]string{}
	for _, s := range res.Sites {
		if s.Backup != nil {
			setting[s.Name] = s.Backup.Verify
		}
	}
	for _, s := range sites {
		if ctx.Err() != nil {
			return
		}
		if s.Err != nil {
			continue // the backup pass reported it
		}
		trigger := VerifyTrigger(s.Data.Site)
		log := w.log.With().Str("rev", rev).Str("step", "verify").Str("site", s.Data.Site).Logger()
		last, err := w.d.cfg.Store.LastStarted(ctx, w.env, trigger)
		if err != nil {
			log.Error().Err(err).Msg("cannot read the last verification; not verifying")
			continue
		}
		started := w.d.now()
		if !backup.VerifyDue(setting[s.Name], last, started) {
			continue
		}
		b := &backup.Backups{Hosts: hosts, Version: w.d.cfg.Version, Now: w.d.now}
		var out bytes.Buffer
		v, err := b.Verify(ctx, s.Data, s.Store, "", &out)
		if errors.Is(err, backup.ErrNoBackup) {
			continue
		}
		if err != nil {
			log.Error().Err(err).Str("backup", v.Backup).Msg("backup verification failed")
		} else {
			log.Info().Str("backup", v.Backup).Msg("backup verified")
		}
		id := w.recordJob(ctx, log, rev, trigger, started, out.Bytes(), err)
		vs := VerifyStatus{Site: s.Data.Site, Backup: v.Backup, Started: started, OK: err == nil, Run: id}
		if err != nil {
			vs.Error = err.Error()
		}
		w.setVerifications([]VerifyStatus{vs})
	}
}

// setVerifications puts each of vs in the status, in place of the same
// site's.
func (w *envWorker) setVerifications(vs []VerifyStatus) {
	w.update(func(st *EnvStatus) {
		all := slices.Clone(st.Verifications)
		for _, v := range vs {
			if i := slices.IndexFunc(all, func(x VerifyStatus) bool { return x.Site == v.Site }); i >= 0 {
				all[i] = v
			} else {
				all = append(all, v)
			}
		}
		slices.SortFunc(all, func(a, b VerifyStatus) int { return strings.Compare(a.Site, b.Site) })
		st.Verifications = all
	})
}

// backupIDInText finds the first backup ID a verification's log or error
// names.
var backupIDInText = regexp.MustCompile(`backup ([0-9]{8}T[0-9]{6}Z(?:-[0-9]+)?)`)

// seedVerifications fills, once per worker (after a restart), the
// status's verifications of the sites of sites from the run history: the
// newest run "verify SITE" of each.
func (w *envWorker) seedVerifications(ctx context.Context, sites []backup.Scheduled) {
	if w.verifySeeded {
		return
	}
	w.verifySeeded = true
	want := map[string]bool{}
	for _, s := range sites {
		want[VerifyTrigger(s.Data.Site)] = true
	}
	store := w.d.cfg.Store
	runs, err := store.Runs(ctx, w.env, 0)
	if err != nil {
		w.log.Error().Err(err).Msg("cannot read the run history for the last backup verifications")
		return
	}
	var vs []VerifyStatus
	for _, r := range runs {
		if !want[r.Trigger] || !r.IsJob() {
			continue
		}
		delete(want, r.Trigger)
		v := VerifyStatus{Site: strings.TrimPrefix(r.Trigger, "verify "), Started: r.Started, OK: r.Result == state.ResultJobDone, Error: r.Error, Run: r.ID}
		text := r.Error
		if full, err := store.Run(ctx, r.ID); err == nil {
			text = string(full.Log) + "\n" + text
		}
		if m := backupIDInText.FindStringSubmatch(text); m != nil {
			v.Backup = m[1]
		}
		vs = append(vs, v)
	}
	if len(vs) > 0 {
		w.setVerifications(vs)
	}
}
