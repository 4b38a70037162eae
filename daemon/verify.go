package daemon

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/berthhq/berth/backup"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/spec"
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
		w.update(func(st *EnvStatus) {
			i := slices.IndexFunc(st.Verifications, func(x VerifyStatus) bool { return x.Site == vs.Site })
			if i < 0 {
				st.Verifications = append(slices.Clone(st.Verifications), vs)
				slices.SortFunc(st.Verifications, func(a, b VerifyStatus) int { return strings.Compare(a.Site, b.Site) })
			} else {
				st.Verifications = slices.Clone(st.Verifications)
				st.Verifications[i] = vs
			}
		})
	}
}
