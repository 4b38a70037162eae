package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/redact"
)

func TestParseTargets(t *testing.T) {
	for _, tc := range []struct {
		in, err string
		n       int
	}{
		{"# none\n\n", "", 0},
		{"ops generic https://hooks.example.com/a\nchat slack https://hooks.slack.com/services/T/B/tok\n", "", 2},
		{"ops generic\n", "want NAME KIND URL", 0},
		{"ops teams https://x.example.com/\n", `kind "teams"`, 0},
		{"ops generic ftp://x.example.com/\n", "not an http(s) URL", 0},
	} {
		got, err := ParseTargets(strings.NewReader(tc.in))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, want an error with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || len(got) != tc.n {
			t.Errorf("%q: %d targets, %v; want %d", tc.in, len(got), err, tc.n)
		}
	}
	// A URL is a credential: it is redacted wherever berth prints it.
	if s := redact.String("posting to https://hooks.slack.com/services/T/B/tok failed"); strings.Contains(s, "services/T/B/tok") {
		t.Errorf("the URL is not redacted: %q", s)
	}
}

func TestWants(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target Target
		m      Message
		want   bool
	}{
		{"no filter", Target{}, Message{Event: EventStalled, Env: "production"}, true},
		{"listed event", Target{Events: []string{EventSiteDown}}, Message{Event: EventSiteDown, Env: "production"}, true},
		{"other event", Target{Events: []string{EventSiteDown}}, Message{Event: EventStalled, Env: "production"}, false},
		{"recovery from a listed event", Target{Events: []string{EventBackupStale}}, Message{Event: EventRecovered, Recovers: EventBackupStale}, true},
		{"recovery from another", Target{Events: []string{EventBackupStale}}, Message{Event: EventRecovered, Recovers: EventStalled}, false},
		{"other environment", Target{Envs: []string{"staging"}}, Message{Event: EventStalled, Env: "production"}, false},
		{"listed environment", Target{Envs: []string{"staging"}, Events: []string{EventStalled}}, Message{Event: EventStalled, Env: "staging"}, true},
	} {
		if got := tc.target.Wants(tc.m); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestEnvTargets: a real receiver gets an environment's messages on the
// targets its sites repo names, filtered by event, beside the operator's
// target; a target that refuses is reported without its URL.
func TestEnvTargets(t *testing.T) {
	got := make(chan string, 20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/refuse/secret-path" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var m Message
		json.Unmarshal(body, &m)
		got <- r.URL.Path + " " + m.Event + " " + m.Env
	}))
	defer srv.Close()
	n := New([]Target{{Name: "ops", Kind: "generic", URL: srv.URL + "/ops"}}, srv.Client())
	failed := make(chan error, 5)
	n.Failed = func(_ Target, _ Message, err error) { failed <- err }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.Run(ctx)

	n.SetEnvTargets("production", []Target{
		{Name: "pager", Kind: "generic", URL: srv.URL + "/pager", Events: []string{EventSiteDown}},
		{Name: "broken", Kind: "generic", URL: srv.URL + "/refuse/secret-path", Events: []string{EventStalled}},
	})
	n.Send(Message{Event: EventSiteDown, Env: "production", Subject: "a.example.com", Text: "down"})
	n.Send(Message{Event: EventDrift, Env: "production", Text: "drift"})
	n.Send(Message{Event: EventSiteDown, Env: "staging", Text: "down"})
	n.Send(Message{Event: EventStalled, Env: "production", Text: "stalled"})
	var seen []string
	for range 5 {
		select {
		case s := <-got:
			seen = append(seen, s)
		case <-time.After(30 * time.Second):
			t.Fatalf("messages received: %v; want 5", seen)
		}
	}
	want := []string{"/ops site-down production", "/pager site-down production", "/ops drift production", "/ops site-down staging", "/ops stalled production"}
	if strings.Join(seen, "; ") != strings.Join(want, "; ") {
		t.Errorf("received %v, want %v", seen, want)
	}
	select {
	case err := <-failed:
		if !strings.Contains(err.Error(), "403") || strings.Contains(err.Error(), "secret-path") {
			t.Errorf("failure %v: want the 403, without the URL", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the refused message was not reported")
	}
	// Replaced: the environment's old targets get nothing more.
	n.SetEnvTargets("production", nil)
	n.Send(Message{Event: EventSiteDown, Env: "production", Text: "down again"})
	n.Send(Message{Event: EventDrift, Env: "production", Text: "drift again"})
	if a, b := <-got, <-got; a != "/ops site-down production" || b != "/ops drift production" {
		t.Errorf("after the targets were dropped: %s, %s; want the operator's target only", a, b)
	}
}
