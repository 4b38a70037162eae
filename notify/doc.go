// Package notify sends berth's notifications to outgoing webhooks: a
// generic JSON body, or Slack's incoming-webhook format ({"text": ...},
// which Mattermost and Rocket.Chat accept too).
//
// Targets are the operator's, read on the controller (ParseTargets, from
// berth serve's --notify-file), never from the sites repo: a webhook URL
// is a credential. Every URL is registered with package redact, so no
// log line, error or API answer shows one; a message is redacted before
// it is sent.
//
// A Notifier queues messages and sends them from one goroutine, each to
// every target, retrying a target that fails (a transport error, 429 or
// 5xx) with backoff (1 s, doubling, at most MaxAttempts tries); a 4xx
// other than 429 is not retried. Deciding what is worth a message, and
// sending one per change of state, is the daemon's business.
//
// It imports redact only.
package notify
