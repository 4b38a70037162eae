package notify

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berthhq/berth/redact"
)

// Events berth sends (spec.NotifyEvents lists them for berth.yaml).
const (
	EventRunFailed    = "run-failed"
	EventStalled      = "stalled"
	EventDrift        = "drift"
	EventRecovered    = "recovered"
	EventJobFailed    = "job-failed"
	EventJobHealthy   = "job-recovered"
	EventSiteDown     = "site-down"
	EventSiteUp       = "site-up"
	EventCertExpiring = "certificate-expiring"
	EventBackupFailed = "backup-failed"
	EventBackupStale  = "backup-stale"
)

// Message is one notification.
type Message struct {
	Event    string `json:"event"`
	Env      string `json:"env"`
	Subject  string `json:"subject,omitempty"` // a site, a job; "" for the environment
	Revision string `json:"revision,omitempty"`
	// Recovers is the event a recovery (recovered, site-up,
	// job-recovered) ends.
	Recovers string    `json:"recovers,omitempty"`
	Text     string    `json:"text"`
	At       time.Time `json:"at"`
}

// Target is where messages go.
type Target struct {
	Name string
	Kind string // generic | slack
	URL  string
	// Events, when set, are the only events sent there (and the
	// recoveries from them); Envs the only environments.
	Events []string
	Envs   []string
}

// Wants says whether m goes to t.
func (t Target) Wants(m Message) bool {
	if len(t.Envs) > 0 && !slices.Contains(t.Envs, m.Env) {
		return false
	}
	return len(t.Events) == 0 || slices.Contains(t.Events, m.Event) || (m.Recovers != "" && slices.Contains(t.Events, m.Recovers))
}

// ParseTargets reads one target per line, "NAME KIND URL" (KIND generic
// or slack); blank lines and # comments are skipped. Each URL is
// registered with redact.
func ParseTargets(r io.Reader) ([]Target, error) {
	var out []Target
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: want NAME KIND URL, got %d fields", n, len(f))
		}
		redact.Add(f[2])
		u, err := url.Parse(f[2])
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("line %d: target %s: not an http(s) URL", n, f[0])
		}
		if f[1] != "generic" && f[1] != "slack" {
			return nil, fmt.Errorf("line %d: target %s: kind %q, want generic or slack", n, f[0], f[1])
		}
		out = append(out, Target{Name: f[0], Kind: f[1], URL: f[2]})
	}
	return out, sc.Err()
}

// MaxAttempts is how often a message is tried per target.
const MaxAttempts = 5

// Notifier sends messages to its targets in the background: the
// operator's (New), and each environment's from its sites repo
// (SetEnvTargets).
type Notifier struct {
	targets []Target
	mu      sync.Mutex
	env     map[string][]Target // by environment
	client  *http.Client
	queue   chan queued
	// Failed, when set, is told of a message a target did not take after
	// every attempt (the daemon logs it).
	Failed func(t Target, m Message, err error)
	// Wait is how long to wait before attempt n (n ≥ 1); nil: 1 s
	// doubling. A seam for tests.
	Wait func(n int) time.Duration
}

// New returns a Notifier for targets; Run sends.
func New(targets []Target, client *http.Client) *Notifier {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &Notifier{targets: targets, env: map[string][]Target{}, client: client, queue: make(chan queued, 256)}
}

// queued is a message and the targets it goes to, chosen when it was sent.
type queued struct {
	m       Message
	targets []Target
}

// SetEnvTargets makes targets the webhooks of environment env, in place
// of those it had; each URL is registered with redact.
func (n *Notifier) SetEnvTargets(env string, targets []Target) {
	for _, t := range targets {
		redact.Add(t.URL)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(targets) == 0 {
		delete(n.env, env)
		return
	}
	n.env[env] = slices.Clone(targets)
}

// Send queues m for the targets that want it; it never blocks: when the
// queue is full the message is dropped and reported through Failed.
func (n *Notifier) Send(m Message) {
	if n == nil {
		return
	}
	var to []Target
	n.mu.Lock()
	for _, t := range append(slices.Clip(n.targets), n.env[m.Env]...) {
		if t.Wants(m) {
			to = append(to, t)
		}
	}
	n.mu.Unlock()
	if len(to) == 0 {
		return
	}
	if m.At.IsZero() {
		m.At = time.Now().UTC()
	}
	m.Text = redact.String(m.Text)
	select {
	case n.queue <- queued{m: m, targets: to}:
	default:
		if n.Failed != nil {
			n.Failed(Target{Name: "*"}, m, fmt.Errorf("the notification queue is full"))
		}
	}
}

// Run sends queued messages until ctx ends.
func (n *Notifier) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case q := <-n.queue:
			for _, t := range q.targets {
				if err := n.deliver(ctx, t, q.m); err != nil && n.Failed != nil {
					n.Failed(t, q.m, err)
				}
			}
		}
	}
}

func (n *Notifier) wait(attempt int) time.Duration {
	if n.Wait != nil {
		return n.Wait(attempt)
	}
	return time.Second << (attempt - 1)
}

func (n *Notifier) deliver(ctx context.Context, t Target, m Message) error {
	body, err := payload(t.Kind, m)
	if err != nil {
		return err
	}
	var last error
	for attempt := 1; attempt <= MaxAttempts; attempt++ {
		if attempt > 1 {
			timer := time.NewTimer(n.wait(attempt - 1))
			select {
			case <-ctx.Done():
				timer.Stop()
				return ctx.Err()
			case <-timer.C:
			}
		}
		retry, err := n.post(ctx, t, body)
		if err == nil {
			return nil
		}
		last = err
		if !retry {
			break
		}
	}
	return fmt.Errorf("notify %s: %s", t.Name, redact.String(strings.ReplaceAll(last.Error(), t.URL, redact.Mark)))
}

// post sends one attempt; retry says whether another may succeed.
func (n *Notifier) post(ctx context.Context, t Target, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "berth")
	resp, err := n.client.Do(req)
	if err != nil {
		return true, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode/100 == 2:
		return false, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return true, fmt.Errorf("answered %s", resp.Status)
	}
	return false, fmt.Errorf("answered %s; not retried", resp.Status)
}

func payload(kind string, m Message) ([]byte, error) {
	if kind == "slack" {
		text := fmt.Sprintf("*berth* `%s`: %s", m.Env, m.Text)
		if m.Subject != "" {
			text = fmt.Sprintf("*berth* `%s` %s: %s", m.Env, m.Subject, m.Text)
		}
		return json.Marshal(map[string]string{"text": text})
	}
	return json.Marshal(m)
}
