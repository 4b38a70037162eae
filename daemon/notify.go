package daemon

import (
	"fmt"

	"github.com/berthhq/berth/notify"
	"github.com/berthhq/berth/reconcile"
)

// notifyChange sends a message when an environment's settled state
// changed: one per change, never one per poll or drift check that finds
// the same state.
func (d *Daemon) notifyChange(prev *EnvStatus, now EnvStatus) {
	n := d.cfg.Notifier
	if n == nil {
		return
	}
	m := notify.Message{Env: now.Env, Revision: reconcile.ShortRevision(now.LastFetched)}
	was := func(f func(s *EnvStatus) bool) bool { return prev != nil && f(prev) }
	stalled := func(s *EnvStatus) bool { return s.Phase == PhaseStalled }
	failed := func(s *EnvStatus) bool { return s.Health == HealthDegraded && s.Phase != PhaseStalled }
	drifted := func(s *EnvStatus) bool { return s.Phase == PhaseOutOfSync && s.Health != HealthDegraded }
	switch {
	case stalled(&now) && !was(stalled):
		m.Event, m.Text = notify.EventStalled, now.Message
	case failed(&now) && !was(failed):
		m.Event, m.Text = notify.EventRunFailed, now.Message
	case drifted(&now) && !was(drifted):
		m.Event, m.Text = notify.EventDrift, now.Message
	case now.Phase == PhaseSynced && now.Health == HealthHealthy && (was(stalled) || was(failed) || was(drifted)):
		m.Event, m.Text = notify.EventRecovered, fmt.Sprintf("synced and healthy at %s", reconcile.ShortRevision(now.LastApplied))
	default:
		return
	}
	n.Send(m)
}

// jobChanged sends a message when a scheduled job failed after running
// well (or for the first time), and when it ran well again.
func (w *envWorker) jobChanged(rev, trigger string, err error) {
	n := w.d.cfg.Notifier
	w.mu.Lock()
	if w.failing == nil {
		w.failing = map[string]bool{}
	}
	was := w.failing[trigger]
	w.failing[trigger] = err != nil
	w.mu.Unlock()
	m := notify.Message{Env: w.env, Subject: trigger, Revision: reconcile.ShortRevision(rev)}
	switch {
	case err != nil && !was:
		m.Event, m.Text = notify.EventJobFailed, err.Error()
	case err == nil && was:
		m.Event, m.Text = notify.EventJobHealthy, "ran well again"
	default:
		return
	}
	n.Send(m)
}
