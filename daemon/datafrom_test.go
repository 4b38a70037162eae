package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berthhq/berth/desired"
	"github.com/berthhq/berth/notify"
	"github.com/berthhq/berth/state"
)

// TestDataFromSchedule: staging's data_from (daily, from production)
// copies the site's files down at the first scheduled pass (clock seam),
// recorded as a job run "sync-data SITE" in staging's history; ten
// minutes later, and after a restart of the daemon, it is not due and
// nothing is copied; a day later it copies production's new content.
// Production's files are only read. A copy that fails is recorded as a
// failed job and notified.
func TestDataFromSchedule(t *testing.T) {
	f := newFixture(t, true)
	f.write("berth.yaml", `environments:
  production: { branch: main, data_to: [staging] }
  staging:
    branch: staging
    domain_suffix: .staging.test
    data_from: { env: production, schedule: daily }
backups: { server: local, dir: backups }
`)
	failed := make(chan notify.Message, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m notify.Message
		if err := json.NewDecoder(r.Body).Decode(&m); err == nil && m.Event == notify.EventJobFailed {
			failed <- m
		}
	}))
	defer srv.Close()
	targets, err := notify.ParseTargets(strings.NewReader("ops generic " + srv.URL + "/hook\n"))
	if err != nil {
		t.Fatal(err)
	}
	n := notify.New(targets, srv.Client())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.Run(ctx)
	f.d.cfg.Notifier = n
	var clock atomic.Int64
	clock.Store(time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC).Unix())
	f.d.cfg.Now = func() time.Time { return time.Unix(clock.Load(), 0) }
	// Each pass of the loop runs for both environments; until the
	// restart, both are Synced (after it, the revisions applied already,
	// their phase is not the point here).
	restarted := false
	both := func(what string) {
		t.Helper()
		for range 2 {
			if s := f.next(); !restarted && s.Phase != PhaseSynced {
				t.Fatalf("%s: %s is %s: %s %v", what, s.Env, s.Phase, s.Message, s.Problems)
			}
		}
	}
	f.start()
	both("start-up")

	prodFiles := filepath.Join(f.state, "www", "sites", "a.example.com", "files")
	stageFiles := filepath.Join(f.state, "www", "sites", "a.example.com.staging.test", "files")
	if err := os.MkdirAll(prodFiles, 0o755); err != nil {
		t.Fatal(err)
	}
	upload := func(data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(prodFiles, "upload.txt"), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copied := func() string {
		data, err := os.ReadFile(filepath.Join(stageFiles, "upload.txt"))
		if err != nil {
			return ""
		}
		return string(data)
	}
	syncs := func(env string) []state.Run {
		t.Helper()
		runs, err := f.store.Runs(t.Context(), env, 0)
		if err != nil {
			t.Fatal(err)
		}
		var out []state.Run
		for _, r := range runs {
			if r.Trigger == desired.DataFromTrigger("a.example.com") {
				out = append(out, r)
			}
		}
		return out
	}
	upload("first\n")

	f.d.TriggerAll(TriggerSchedule)
	both("first scheduled pass")
	if got := copied(); got != "first\n" {
		t.Fatalf("staging's copy after the first scheduled pass: %q, want production's %q", got, "first\n")
	}
	rs := syncs("staging")
	if len(rs) != 1 || rs[0].Result != state.ResultJobDone || !rs[0].IsJob() {
		t.Fatalf("staging's sync-data runs: %+v, want one %s", rs, state.ResultJobDone)
	}
	if r, err := f.store.Run(t.Context(), rs[0].ID); err != nil || !strings.Contains(string(r.Log), "Copied the data of production/a.example.com into staging/a.example.com") {
		t.Errorf("the job's log: %q %v", r.Log, err)
	}
	if rs := syncs("production"); len(rs) != 0 {
		t.Errorf("production has sync-data runs: %+v", rs)
	}
	if data, err := os.ReadFile(filepath.Join(prodFiles, "upload.txt")); err != nil || string(data) != "first\n" {
		t.Errorf("production's file: %q %v", data, err)
	}

	// Ten minutes later: not due.
	upload("second\n")
	clock.Add(600)
	f.d.TriggerAll(TriggerSchedule)
	both("ten minutes later")
	if got, n := copied(), len(syncs("staging")); got != "first\n" || n != 1 {
		t.Errorf("ten minutes later: staging has %q after %d copies, want %q after 1", got, n, "first\n")
	}

	// A restart: the last copy is read from the run history; not due.
	f.stop()
	d, err := New(f.d.cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.d = d
	f.start()
	restarted = true
	both("restart")
	clock.Add(3600)
	f.d.TriggerAll(TriggerSchedule)
	both("an hour after the restart")
	if got, n := copied(), len(syncs("staging")); got != "first\n" || n != 1 {
		t.Errorf("after a restart: staging has %q after %d copies, want %q after 1", got, n, "first\n")
	}

	// A day later: due again; production's new content comes down.
	clock.Add(24 * 3600)
	f.d.TriggerAll(TriggerSchedule)
	both("a day later")
	if got, n := copied(), len(syncs("staging")); got != "second\n" || n != 2 {
		t.Errorf("a day later: staging has %q after %d copies, want %q after 2", got, n, "second\n")
	}

	// Another day later the source's fresh backup cannot be written: the
	// copy fails, recorded and notified as a failed job; staging keeps
	// what it had.
	store := filepath.Join(f.state, "backups", "production", "a.example.com")
	if err := os.Rename(store, store+".aside"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(store, []byte("in the way\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	upload("third\n")
	clock.Add(24 * 3600)
	f.d.TriggerAll(TriggerSchedule)
	both("a failing copy")
	rs = syncs("staging")
	if len(rs) != 3 || rs[0].Result != state.ResultJobFailed || !strings.Contains(rs[0].Error, "fresh backup of the source") {
		t.Fatalf("staging's sync-data runs after a failing copy: %+v, want the newest %s for the source's backup", rs, state.ResultJobFailed)
	}
	if got := copied(); got != "second\n" {
		t.Errorf("staging's copy after a failing one: %q, want %q", got, "second\n")
	}
	select {
	case m := <-failed:
		if m.Env != "staging" || m.Subject != desired.DataFromTrigger("a.example.com") || !strings.Contains(m.Text, "fresh backup of the source") {
			t.Errorf("notification %+v, want staging's failed sync-data a.example.com", m)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no job-failed notification within 30s")
	}
}

// TestDataFromSiteSchedule: in staging, a.example.com gets its data by
// the environment's data_from (daily) and b.example.com by its own
// (every 6h, in staging's override of it): the first scheduled pass
// copies both; seven hours later only b's copy is due, on its own clock,
// and only b gets production's new content; a day later both again.
func TestDataFromSiteSchedule(t *testing.T) {
	f := newFixture(t, true)
	f.write("berth.yaml", `environments:
  production: { branch: main, data_to: [staging] }
  staging:
    branch: staging
    domain_suffix: .staging.test
    data_from: { env: production, schedule: daily }
    sites:
      b.example.com:
        data_from: { env: production, schedule: every 6h }
backups: { server: local, dir: backups }
`)
	f.write("sites/b.yaml", "kind: Site\nname: b.example.com\nplatform: static\n")
	var clock atomic.Int64
	clock.Store(time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC).Unix())
	f.d.cfg.Now = func() time.Time { return time.Unix(clock.Load(), 0) }
	both := func(what string) {
		t.Helper()
		for range 2 {
			if s := f.next(); s.Phase != PhaseSynced {
				t.Fatalf("%s: %s is %s: %s %v", what, s.Env, s.Phase, s.Message, s.Problems)
			}
		}
	}
	f.start()
	both("start-up")

	files := func(env, site string) string {
		name := site
		if env == "staging" {
			name += ".staging.test"
		}
		return filepath.Join(f.state, "www", "sites", name, "files", "upload.txt")
	}
	upload := func(data string) {
		t.Helper()
		for _, site := range []string{"a.example.com", "b.example.com"} {
			if err := os.MkdirAll(filepath.Dir(files("production", site)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(files("production", site), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// copies is each site's copy in staging and how many copies of it
	// the run history records, "a=first/1 b=first/1".
	copies := func() string {
		t.Helper()
		runs, err := f.store.Runs(t.Context(), "staging", 0)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, site := range []string{"a.example.com", "b.example.com"} {
			n := 0
			for _, r := range runs {
				if r.Trigger == desired.DataFromTrigger(site) && r.Result == state.ResultJobDone {
					n++
				}
			}
			data, _ := os.ReadFile(files("staging", site))
			out = append(out, fmt.Sprintf("%s=%s/%d", site[:1], strings.TrimSpace(string(data)), n))
		}
		return strings.Join(out, " ")
	}
	for _, step := range []struct {
		what    string
		upload  string
		advance time.Duration
		want    string
	}{
		{"the first scheduled pass", "first", 0, "a=first/1 b=first/1"},
		{"seven hours later", "second", 7 * time.Hour, "a=first/1 b=second/2"},
		{"a day later", "third", 24 * time.Hour, "a=third/2 b=third/3"},
	} {
		upload(step.upload + "\n")
		clock.Add(int64(step.advance / time.Second))
		f.d.TriggerAll(TriggerSchedule)
		both(step.what)
		if got := copies(); got != step.want {
			t.Errorf("%s: staging's copies %s, want %s", step.what, got, step.want)
		}
	}
}
