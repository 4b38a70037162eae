package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/berthhq/berth/backup"
	"github.com/berthhq/berth/notify"
	"github.com/berthhq/berth/reconcile"
)

// backupEvery is how often each backup schedule takes a backup (as
// berth.yaml's backup.schedule says: hourly, daily, weekly).
var backupEvery = map[string]time.Duration{"hourly": time.Hour, "daily": 24 * time.Hour, "weekly": 7 * 24 * time.Hour}

// StaleFactor times a site's backup schedule is how old its newest
// backup may grow before it is stale.
const StaleFactor = 2

// backupStaleness, after the schedule pass's backups, reads the manifests
// of each scheduled site's backups (backup.Backups.Manifests: one round
// trip, nothing hashed) and sends backup-stale once when a site's newest
// backup is older than StaleFactor times its schedule, and recovered once
// when a fresh one exists again. A site whose backups cannot be listed,
// or that has none yet, keeps the state it had: it is not judged.
func (w *envWorker) backupStaleness(ctx context.Context, log zerolog.Logger, b *backup.Backups, sites []backup.Scheduled, rev string) {
	now := w.d.now()
	w.mu.Lock()
	prev := w.stale
	w.mu.Unlock()
	stale := map[string]bool{}
	var msgs []notify.Message
	for _, s := range sites {
		every := backupEvery[s.Schedule]
		if s.Err != nil || every == 0 {
			stale[s.Name] = prev[s.Name]
			continue
		}
		list, err := b.Manifests(ctx, s.Data.Env, s.Data.Site, s.Store)
		var newest time.Time
		for _, l := range list {
			if l.Problem == "" && l.Time.After(newest) {
				newest = l.Time
			}
		}
		if err != nil || newest.IsZero() {
			if err != nil {
				log.Warn().Err(err).Str("site", s.Name).Msg("cannot list the backups to see whether they are stale")
			}
			stale[s.Name] = prev[s.Name]
			continue
		}
		age := now.Sub(newest)
		stale[s.Name] = age > StaleFactor*every
		m := notify.Message{Env: w.env, Subject: s.Name, Revision: reconcile.ShortRevision(rev)}
		switch {
		case stale[s.Name] && !prev[s.Name]:
			m.Event = notify.EventBackupStale
			m.Text = fmt.Sprintf("the newest backup is from %s, %s old: more than %d× its %s schedule", newest.UTC().Format(time.RFC3339), age.Round(time.Minute), StaleFactor, s.Schedule)
		case !stale[s.Name] && prev[s.Name]:
			m.Event, m.Recovers = notify.EventRecovered, notify.EventBackupStale
			m.Text = fmt.Sprintf("a fresh backup exists again (from %s)", newest.UTC().Format(time.RFC3339))
		default:
			continue
		}
		log.Warn().Str("step", "backup").Str("site", s.Name).Msg(m.Event + ": " + m.Text)
		msgs = append(msgs, m)
	}
	w.mu.Lock()
	w.stale = stale
	w.mu.Unlock()
	if n := w.d.cfg.Notifier; n != nil {
		for _, m := range msgs {
			n.Send(m)
		}
	}
}
