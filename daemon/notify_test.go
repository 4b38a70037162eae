package daemon

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berthhq/berth/notify"
)

// TestNotifications: a real HTTP receiver gets one message per change of
// state — stalled, then recovered — and none for a repeated check of the
// same state; a receiver answering 503 first gets the message on a retry;
// a scheduled job that keeps failing sends one message; the Slack form
// carries the text.
func TestNotifications(t *testing.T) {
	got := make(chan notify.Message, 20)
	slack := make(chan string, 20)
	var fails atomic.Int32
	fails.Store(1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fails.Add(-1) >= 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/slack/T000/B000/secret-token" {
			var s struct{ Text string }
			json.Unmarshal(body, &s)
			slack <- s.Text
			return
		}
		var m notify.Message
		if err := json.Unmarshal(body, &m); err != nil {
			t.Errorf("generic body %q: %v", body, err)
		}
		got <- m
	}))
	defer srv.Close()
	targets, err := notify.ParseTargets(strings.NewReader("# ops\nops generic " + srv.URL + "/hook\nchat slack " + srv.URL + "/slack/T000/B000/secret-token\n"))
	if err != nil {
		t.Fatal(err)
	}
	n := notify.New(targets, srv.Client())
	n.Wait = func(int) time.Duration { return 0 } // retry at once: the test's receiver is local
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.Run(ctx)

	f := newFixture(t, true)
	f.d.cfg.Notifier = n
	var clock atomic.Int64
	clock.Store(time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC).Unix())
	f.d.cfg.Now = func() time.Time { return time.Unix(clock.Load(), 0) }
	f.start()
	if s := f.next(); s.Phase != PhaseSynced {
		t.Fatalf("first run: %+v", s)
	}
	expect := func(event string) notify.Message {
		t.Helper()
		select {
		case m := <-got:
			if m.Event != event || m.Env != "production" {
				t.Errorf("message %+v, want %s of production", m, event)
			}
			if text := <-slack; !strings.Contains(text, "`production`") || !strings.Contains(text, m.Text) {
				t.Errorf("slack text %q lacks the environment or %q", text, m.Text)
			}
			return m
		case <-time.After(30 * time.Second):
			t.Fatalf("no %s message within 30s; status %+v", event, f.d.Status())
		}
		return notify.Message{}
	}
	// none checks that nothing was sent since the last expect: messages go
	// out in order from one queue, so whatever was sent before a marker
	// arrives before it.
	none := func(what string) {
		t.Helper()
		n.Send(notify.Message{Event: "marker", Env: "production", Text: what})
		for {
			select {
			case m := <-got:
				<-slack
				if m.Event == "marker" {
					return
				}
				t.Errorf("%s: unexpected message %+v", what, m)
			case <-time.After(30 * time.Second):
				t.Fatalf("%s: the marker did not arrive within 30s", what)
			}
		}
	}
	none("a first converge")

	f.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: statik\n")
	f.d.TriggerAll(ReasonWatch)
	f.next()
	if m := expect(notify.EventStalled); !strings.Contains(m.Text, "is not valid") {
		t.Errorf("stalled message: %q", m.Text)
	}
	f.d.TriggerAll(ReasonManual)
	f.next()
	// The manual run of the same invalid revision is still Stalled: no
	// second message (the stalled one was retried after a 503: still one).

	f.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: static\n")
	f.d.TriggerAll(ReasonWatch)
	f.next()
	expect(notify.EventRecovered)
	none("after the recovery")

	// A cron job that keeps failing: one message, not one per run.
	f.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: static\ncron:\n  broken: { schedule: every 1m, command: [sh, -c, 'exit 3'] }\n")
	f.d.TriggerAll(ReasonWatch)
	f.next()
	for range 2 {
		f.d.TriggerAll(TriggerSchedule)
		f.next()
		clock.Add(120)
	}
	if m := expect(notify.EventJobFailed); m.Subject != "cron a.example.com/broken" || !strings.Contains(m.Text, "exit status 3") {
		t.Errorf("job message: %+v", m)
	}
	if runs, _ := f.store.Runs(t.Context(), "production", 0); len(runs) == 0 || runs[0].Trigger != "cron a.example.com/broken" || runs[1].Trigger != "cron a.example.com/broken" {
		t.Errorf("the job did not run twice: %+v", runs[:min(2, len(runs))])
	}
	none("a job failing again")
}
