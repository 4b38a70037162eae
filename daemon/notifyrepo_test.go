package daemon

import (
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berthhq/berth/notify"
	"github.com/berthhq/berth/spec"
)

// receiver is a real HTTP webhook receiver: each message as "PATH EVENT
// [RECOVERS] SUBJECT" (JSON) or "PATH slack: TEXT".
func receiver(t *testing.T) (*httptest.Server, chan string) {
	got := make(chan string, 50)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var m struct {
			notify.Message
			Slack string `json:"text"`
		}
		if err := json.Unmarshal(body, &m); err != nil {
			t.Errorf("body %q: %v", body, err)
		}
		switch {
		case m.Event == "":
			got <- r.URL.Path + " slack: " + m.Slack
		case m.Recovers != "":
			got <- r.URL.Path + " " + m.Event + " " + m.Recovers + " " + m.Subject
		default:
			got <- r.URL.Path + " " + m.Event + " " + m.Subject
		}
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

// receive returns the next n messages, sorted by path then order.
func receive(t *testing.T, got chan string, n int) []string {
	t.Helper()
	var out []string
	for len(out) < n {
		select {
		case s := <-got:
			out = append(out, s)
		case <-time.After(30 * time.Second):
			t.Fatalf("%d messages within 30s, want %d: %v", len(out), n, out)
		}
	}
	return out
}

// TestNotificationsFromBerthYAML: the webhooks berth.yaml names get the
// environment's messages — url (to this machine), url_file on the
// controller (Slack's form), url_env — each filtered by its events; one
// whose file is missing is left out while the others still get theirs;
// no URL shows in the status.
func TestNotificationsFromBerthYAML(t *testing.T) {
	srv, got := receiver(t)
	n := notify.New(nil, srv.Client())
	n.Wait = func(int) time.Duration { return 0 }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.Run(ctx)

	urlFile := filepath.Join(t.TempDir(), "chat.url")
	if err := os.WriteFile(urlFile, []byte(srv.URL+"/chat/T0/B0/secret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BERTH_TEST_PAGER_URL", srv.URL+"/pager")
	f := newFixture(t, true)
	f.d.cfg.Notifier = n
	f.write("berth.yaml", `environments:
  production: { branch: main }
notifications:
  - { name: ops, url: "`+srv.URL+`/ops", events: [stalled] }
  - { name: chat, url_file: `+urlFile+`, format: slack }
  - { name: pager, url_env: BERTH_TEST_PAGER_URL, events: [site-down, run-failed] }
  - { name: gone, url_file: /nonexistent/berth/hook.url }
`)
	f.start()
	if s := f.next(); s.Phase != PhaseSynced {
		t.Fatalf("first run: %+v", s)
	}

	f.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: statik\n")
	f.d.TriggerAll(ReasonWatch)
	f.next()
	stalled := receive(t, got, 2)
	f.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: static\n")
	f.d.TriggerAll(ReasonWatch)
	f.next()
	recovered := receive(t, got, 2)
	// A last message through the pager's events: the queue is in order,
	// so nothing else was sent before it.
	n.Send(notify.Message{Event: notify.EventSiteDown, Env: "production", Subject: "marker"})
	last := receive(t, got, 2)

	want := []string{"/ops stalled ", "/chat/T0/B0/secret-token slack: "}
	for i, w := range want {
		if !strings.HasPrefix(stalled[i], w) {
			t.Errorf("stalled message %d: %q, want %q…", i, stalled[i], w)
		}
	}
	if !strings.Contains(stalled[1], "`production`") || !strings.Contains(stalled[1], "is not valid") {
		t.Errorf("Slack text: %q", stalled[1])
	}
	if recovered[0] != "/ops recovered stalled " || !strings.HasPrefix(recovered[1], "/chat/T0/B0/secret-token slack: ") {
		t.Errorf("recovery: %v, want ops (a recovery from stalled) and chat", recovered)
	}
	if !strings.HasPrefix(last[0], "/chat/T0/B0/secret-token slack: ") || last[1] != "/pager site-down marker" {
		t.Errorf("last messages %q, want chat's and the pager's site-down only", last)
	}
	b, _ := json.Marshal(f.d.Status())
	if strings.Contains(string(b), "secret-token") || strings.Contains(string(b), srv.URL) {
		t.Errorf("a webhook URL is in the status: %s", b)
	}
}

// TestBackupStale: with the daemon's clock, an hourly backup that keeps
// failing sends backup-failed once, then backup-stale once when the
// newest backup is more than twice the schedule old (one message per
// site, not per pass), and once backups work again one job-recovered and
// one recovered (from backup-stale).
func TestBackupStale(t *testing.T) {
	srv, got := receiver(t)
	n := notify.New(nil, srv.Client())
	n.Wait = func(int) time.Duration { return 0 }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.Run(ctx)

	f := newFixture(t, true)
	f.d.cfg.Notifier = n
	f.write("berth.yaml", "environments:\n  production: { branch: main }\nbackups: { server: local, dir: backups }\nnotifications:\n  - { name: ops, url: \""+srv.URL+"/ops\" }\n")
	f.write("servers/local.yaml", serverWithRunDir(f))
	f.write("platforms/app.yaml", "kind: Platform\nname: app\ntype: php\nsource: { path: app }\nservers: [local]\n")
	f.write("app/index.php", "<?php echo 'hi';\n")
	f.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: app\ndb: { server: local }\nbackup: { schedule: hourly, keep: 10 }\n")
	var clock atomic.Int64
	clock.Store(time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC).Unix())
	f.d.cfg.Now = func() time.Time { return time.Unix(clock.Load(), 0) }
	f.start()
	if s := f.next(); s.Phase != PhaseSynced {
		t.Fatalf("first run: %+v", s)
	}
	var db string
	filepath.WalkDir(f.state, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(p, "a_example_com") && !strings.Contains(p, "backups") {
			db = p
		}
		return nil
	})
	if db == "" {
		t.Fatalf("no SQLite database of a.example.com under %s", f.state)
	}
	pass := func(hours int) {
		t.Helper()
		clock.Add(int64(hours) * 3600)
		f.d.TriggerAll(TriggerSchedule)
		f.next()
	}
	marker := func() []string {
		t.Helper()
		n.Send(notify.Message{Event: "marker", Env: "production"})
		var out []string
		for {
			m := receive(t, got, 1)[0]
			if m == "/ops marker " {
				return out
			}
			out = append(out, m)
		}
	}

	pass(0) // the first backup
	if m := marker(); len(m) != 0 {
		t.Fatalf("after the first backup: %v", m)
	}
	// A directory in the database's place: sqlite3 cannot open it.
	if err := os.Rename(db, db+".kept"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(db, 0o755); err != nil {
		t.Fatal(err)
	}
	pass(1) // fails; the newest backup is an hour old
	if m := marker(); len(m) != 1 || m[0] != "/ops backup-failed schedule" {
		t.Fatalf("a failed backup: %v, want one backup-failed", m)
	}
	pass(1) // two hours: not more than twice the schedule
	pass(1) // three hours: stale
	pass(1) // still stale: no second message
	if m := marker(); len(m) != 1 || m[0] != "/ops backup-stale a.example.com" {
		t.Fatalf("failing for three and four hours: %v, want one backup-stale", m)
	}
	if err := os.Remove(db); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(db+".kept", db); err != nil {
		t.Fatal(err)
	}
	pass(1)
	want := []string{"/ops job-recovered backup-failed schedule", "/ops recovered backup-stale a.example.com"}
	if m := marker(); strings.Join(m, "; ") != strings.Join(want, "; ") {
		t.Fatalf("backups work again: %v, want %v", m, want)
	}
	pass(1)
	if m := marker(); len(m) != 0 {
		t.Errorf("an hour later: %v, want nothing", m)
	}
}

// TestWebhookURL: a webhook's URL from the controller is checked by the
// rule of url, and an error says what to fix without showing it.
func TestWebhookURL(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("BERTH_TEST_HOOK", " https://hooks.example.net/env-secret-1 \n")
	t.Setenv("BERTH_TEST_PLAIN_HOOK", "http://hooks.example.net/env-secret-2")
	for _, tc := range []struct {
		name string
		rn   spec.ResolvedNotification
		want string // the URL, or an error's text
	}{
		{"file", spec.ResolvedNotification{URLFile: write("ok", "https://hooks.example.net/T/B/file-secret-3\nignored\n")}, "https://hooks.example.net/T/B/file-secret-3"},
		{"env", spec.ResolvedNotification{URLEnv: "BERTH_TEST_HOOK"}, "https://hooks.example.net/env-secret-1"},
		{"repo", spec.ResolvedNotification{URL: "http://127.0.0.1:9/hook"}, "http://127.0.0.1:9/hook"},
		{"missing file", spec.ResolvedNotification{URLFile: filepath.Join(dir, "nope")}, "cannot be read: no such file or directory; write the webhook's URL in it"},
		{"empty file", spec.ResolvedNotification{URLFile: write("empty", "\n")}, "empty; it must hold the webhook's URL"},
		{"unset variable", spec.ResolvedNotification{URLEnv: "BERTH_TEST_UNSET_HOOK"}, "the variable is not set for berth serve"},
		{"plain http elsewhere", spec.ResolvedNotification{URLEnv: "BERTH_TEST_PLAIN_HOOK"}, "url_env BERTH_TEST_PLAIN_HOOK does not hold a webhook URL: an https:// URL"},
		{"not a URL", spec.ResolvedNotification{URLFile: write("shadow", "root:$6$file-secret-4:19000:0:99999:7:::\n")}, "does not hold a webhook URL"},
	} {
		u, err := webhookURL(tc.rn)
		got := u
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
		if err != nil && strings.Contains(got, "secret-") {
			t.Errorf("%s: the error shows what the file or variable holds: %s", tc.name, got)
		}
	}
}
