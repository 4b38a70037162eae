// Package notify sends berth's notifications to outgoing webhooks: a
// generic JSON body, or Slack's incoming-webhook format ({"text": ...},
// which Mattermost and Rocket.Chat accept too).
//
// Targets come from two places: the operator's, read on the controller
// (ParseTargets, from berth serve's --notify-file), and each
// environment's, from berth.yaml's notifications (the daemon reads their
// URLs from url_file or url_env on the controller, or url, and hands
// them over with SetEnvTargets each time it reads a revision). A target
// may take only some events (and the recoveries from them: a recovery's
// Message.Recovers names what it ends) and only some environments
// (Target.Wants). A webhook URL is a credential: every URL is registered
// with package redact, so no log line, error or API answer shows one; a
// message is redacted before it is sent.
//
// A Notifier queues messages and sends them from one goroutine, each to
// every target that wants it, retrying a target that fails (a transport
// error, 429 or 5xx) with backoff (1 s, doubling, at most MaxAttempts
// tries); a 4xx other than 429 is not retried. Deciding what is worth a
// message, and sending one per change of state, is the daemon's business.
//
// It imports redact only.
package notify
