package spec

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Notification is one outgoing webhook of berth.yaml's notifications:
// where berth serve sends a message when something changes (a run
// failed, a site went down...). The URL of a Slack-compatible webhook is
// a credential: it is named from the controller (url_file, url_env),
// never written in the repo; url in the repo is for an endpoint whose
// address is no secret. berth never shows a webhook's URL.
type Notification struct {
	Name         string   `yaml:"name" json:"name,omitempty" berth:"required" doc:"A short name for the webhook, in berth's logs (its URL is never shown)." rule:"name"`
	URL          string   `yaml:"url" json:"url,omitempty" doc:"The webhook's address, when it is no secret: https, or http to this machine (localhost, 127.0.0.1, [::1]). A Slack-compatible URL is a secret: use url_file or url_env." rule:"webhook-url"`
	URLFile      string   `yaml:"url_file" json:"url_file,omitempty" doc:"File on the controller holding the webhook's URL (its first line); the URL stays out of the repo." rule:"abs-path"`
	URLEnv       string   `yaml:"url_env" json:"url_env,omitempty" doc:"Environment variable of berth's process holding the webhook's URL." rule:"env-var"`
	Format       string   `yaml:"format" json:"format,omitempty" berth:"enum=json|slack" doc:"json: berth's JSON message (event, env, subject, revision, text, at); slack: Slack's incoming-webhook body, which Mattermost and Rocket.Chat take too (default json)."`
	Events       []string `yaml:"events" json:"events,omitempty" doc:"Only these events (default: all): run-failed, stalled, drift, recovered, site-down, site-up, certificate-expiring, backup-failed, backup-stale, job-failed, job-recovered. A recovery from a listed event is sent too." rule:"notify-event"`
	Environments []string `yaml:"environments" json:"environments,omitempty" doc:"Only the messages of these environments (default: all)." rule:"environment"`
}

// NotifyEvents are the events a notification's events may name, as
// package notify sends them.
var NotifyEvents = []string{"run-failed", "stalled", "drift", "recovered", "site-down", "site-up",
	"certificate-expiring", "backup-failed", "backup-stale", "job-failed", "job-recovered"}

// RuleNotifyEvent is an event of a notification's events.
var RuleNotifyEvent = newMatchRule("notify-event", "an event",
	strings.Join(NotifyEvents, ", "),
	regexp.MustCompile(`^(`+strings.Join(NotifyEvents, "|")+`)$`), 32, nil)

// webhookRE is what a webhook URL may be written with: no quote,
// semicolon, fragment or space.
var webhookRE = regexp.MustCompile(`^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9._~:/?&=%+,!*()\[\]-]+$`)

// RuleWebhookURL is a notification's url: https, or http to this machine,
// with no credentials in it (they would be a secret in the repo).
var RuleWebhookURL = newRule("webhook-url", "a webhook URL",
	"an https:// URL, or an http:// URL to localhost, 127.0.0.1 or [::1], of letters, digits and - . _ ~ : / ? & = % + , ! * ( ) [ ], without user or password, at most 2048 characters",
	ValidWebhookURL,
	ruleSchema{pattern: unanchored(webhookRE), maxLength: 2048})

// ValidWebhookURL checks a webhook's URL by the rule of url (the URLs
// read from url_file and url_env are checked by it too): https, or
// http to a loopback host; no user information.
func ValidWebhookURL(s string) error {
	if len(s) > 2048 || !webhookRE.MatchString(s) {
		return errShape
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil {
		return errShape
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		h := u.Hostname()
		if strings.EqualFold(h, "localhost") {
			return nil
		}
		if a, err := netip.ParseAddr(h); err == nil && a.IsLoopback() {
			return nil
		}
		return errors.New("http only to this machine; use https")
	}
	return errShape
}

// notifications checks berth.yaml's notifications: one URL source each,
// known environments, no name twice, no Slack URL in clear.
func (c *checker) notifications(cfg *Config, envs []string) {
	m := &cfg.Meta
	names := map[string]bool{}
	for i, n := range cfg.Notifications {
		p := fmt.Sprintf("notifications[%d]", i)
		if n == nil {
			c.at(m, p, "", "a notification needs at least name: NAME and one of url, url_file, url_env")
			continue
		}
		subject := subjectOf("notification", n.Name)
		if n.Name != "" {
			if names[n.Name] {
				c.at(m, p+".name", subject, "notification %q is declared twice", n.Name)
			}
			names[n.Name] = true
		}
		set := 0
		for _, v := range []string{n.URL, n.URLFile, n.URLEnv} {
			if v != "" {
				set++
			}
		}
		switch {
		case set == 0:
			c.at(m, p, subject, "needs one of url_file (a file on the controller holding the URL), url_env (a variable of berth's process) or url")
		case set > 1:
			c.at(m, p, subject, "url, url_file and url_env: set only one")
		}
		if n.URL != "" && n.Format == "slack" {
			c.at(m, p+".url", subject, "a Slack-compatible webhook's URL is a secret and does not belong in the repo: put it in a file on the controller (url_file) or in berth's environment (url_env)")
		}
		seen := map[string]bool{}
		for j, e := range n.Events {
			if seen[e] {
				c.at(m, fmt.Sprintf("%s.events[%d]", p, j), subject, "event %q is listed twice", e)
			}
			seen[e] = true
		}
		for j, e := range n.Environments {
			if RuleEnvironment.Check(e) == nil && len(envs) > 0 && !slices.Contains(envs, e) {
				c.missing(m, fmt.Sprintf("%s.environments[%d]", p, j), subject, "environment %q is not declared in berth.yaml%s", e, didYouMean(e, envs))
			}
		}
	}
}

// ResolvedNotification is a notification of one environment. Its URL,
// when written in the repo, is kept out of every JSON form (plans,
// records, the API).
type ResolvedNotification struct {
	Name    string   `json:"name"`
	URL     string   `json:"-"`
	URLFile string   `json:"url_file,omitempty"`
	URLEnv  string   `json:"url_env,omitempty"`
	Format  string   `json:"format"`
	Events  []string `json:"events,omitempty"`
}

// resolveNotifications returns the notifications of env.
func resolveNotifications(cfg *Config, env string) []ResolvedNotification {
	var out []ResolvedNotification
	for _, n := range cfg.Notifications {
		if n == nil || !inEnv(n.Environments, env) {
			continue
		}
		format := n.Format
		if format == "" {
			format = "json"
		}
		out = append(out, ResolvedNotification{Name: n.Name, URL: n.URL, URLFile: n.URLFile, URLEnv: n.URLEnv, Format: format, Events: slices.Clone(n.Events)})
	}
	return out
}
