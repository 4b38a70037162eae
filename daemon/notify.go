package daemon

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/rs/zerolog"

	"github.com/berthhq/berth/notify"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/redact"
	"github.com/berthhq/berth/spec"
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
		switch {
		case was(stalled):
			m.Recovers = notify.EventStalled
		case was(failed):
			m.Recovers = notify.EventRunFailed
		default:
			m.Recovers = notify.EventDrift
		}
	default:
		return
	}
	n.Send(m)
}

// jobChanged sends a message when a scheduled job failed after running
// well (or for the first time), and when it ran well again. The
// scheduled backups' pass (TriggerSchedule) is backup-failed, the
// others (verify SITE, cron SITE/NAME) job-failed.
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
	failed := notify.EventJobFailed
	if trigger == TriggerSchedule {
		failed = notify.EventBackupFailed
	}
	switch {
	case err != nil && !was:
		m.Event, m.Text = failed, err.Error()
	case err == nil && was:
		m.Event, m.Text, m.Recovers = notify.EventJobHealthy, "ran well again", failed
	default:
		return
	}
	n.Send(m)
}

// envTargets hands the notifier the webhooks berth.yaml names for the
// environment (res.Notifications), their URLs read on the controller
// from url_file or url_env (or url) and checked by the rule of url. A
// webhook whose URL cannot be had is logged, without its URL, and left
// out; the others still get their messages.
func (w *envWorker) envTargets(log zerolog.Logger, res *spec.Resolved) {
	n := w.d.cfg.Notifier
	if n == nil {
		return
	}
	var targets []notify.Target
	for _, rn := range res.Notifications {
		u, err := webhookURL(rn)
		if err != nil {
			log.Error().Str("step", "notify").Str("notification", rn.Name).Msg("notification left out: " + redact.String(err.Error()))
			continue
		}
		kind := "generic"
		if rn.Format == "slack" {
			kind = "slack"
		}
		targets = append(targets, notify.Target{Name: rn.Name, Kind: kind, URL: u, Events: rn.Events, Envs: []string{w.env}})
	}
	n.SetEnvTargets(w.env, targets)
}

// webhookURL is a notification's URL, from the repo (url) or the
// controller (url_file's first line, url_env's value); it is registered
// with redact before it is checked, and never in an error.
func webhookURL(rn spec.ResolvedNotification) (string, error) {
	var u, from string
	switch {
	case rn.URLFile != "":
		from = "url_file " + rn.URLFile
		b, err := os.ReadFile(rn.URLFile)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return "", fmt.Errorf("%s on the controller cannot be read: %w; write the webhook's URL in it (readable by berth serve)", from, err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		u = strings.TrimSpace(line)
	case rn.URLEnv != "":
		from = "url_env " + rn.URLEnv
		v, ok := os.LookupEnv(rn.URLEnv)
		if !ok {
			return "", fmt.Errorf("%s: the variable is not set for berth serve; set it to the webhook's URL", from)
		}
		u = strings.TrimSpace(v)
	default:
		from, u = "url", rn.URL
	}
	redact.Add(u)
	if u == "" {
		return "", fmt.Errorf("%s: empty; it must hold the webhook's URL", from)
	}
	if err := spec.ValidWebhookURL(u); err != nil {
		return "", fmt.Errorf("%s does not hold a webhook URL: %s", from, spec.RuleWebhookURL.Allows)
	}
	return u, nil
}
