package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berthhq/berth/state"
)

// TestScheduledJobs: the daemon's schedule timer takes a site's backup
// when it is due (clock seam), records it in the run history with the
// trigger schedule, shows it in the status, and takes none while the last
// one is recent; a day later it takes the next and prunes beyond keep.
// The site's cron commands run at their schedule as the web server's
// user in the document root, each run recorded with its output and exit
// status.
func TestScheduledJobs(t *testing.T) {
	f := newFixture(t, true)
	f.write("berth.yaml", "environments:\n  production: { branch: main }\nbackups: { server: local, dir: backups }\n")
	f.write("sites/a.yaml", `kind: Site
name: a.example.com
platform: static
backup: { schedule: daily, keep: 1 }
cron:
  stamp: { schedule: hourly, command: [sh, -c, 'echo "$BERTH_SITE" >> "$BERTH_SITE_DIR/cron.log"; pwd'] }
  broken: { schedule: daily, command: [sh, -c, 'echo boom >&2; exit 3'] }
`)
	var clock atomic.Int64
	clock.Store(time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC).Unix())
	f.d.cfg.Now = func() time.Time { return time.Unix(clock.Load(), 0) }
	f.start()
	if s := f.next(); s.Phase != PhaseSynced {
		t.Fatalf("first run: %+v", s)
	}
	backups := filepath.Join(f.state, "backups", "production", "a.example.com")
	count := func() int {
		es, _ := os.ReadDir(backups)
		return len(es)
	}
	jobs := func() []state.Run {
		runs, err := f.store.Runs(t.Context(), "production", 0)
		if err != nil {
			t.Fatal(err)
		}
		var out []state.Run
		for _, r := range runs {
			if r.Trigger == TriggerSchedule || strings.HasPrefix(r.Trigger, "cron ") {
				out = append(out, r)
			}
		}
		return out
	}

	byTrigger := func(js []state.Run, trigger string) []state.Run {
		var out []state.Run
		for _, r := range js {
			if r.Trigger == trigger {
				out = append(out, r)
			}
		}
		return out
	}
	cronLog := filepath.Join(f.state, "www", "sites", "a.example.com", "cron.log")
	stamps := func() int {
		data, _ := os.ReadFile(cronLog)
		return strings.Count(string(data), "a.example.com\n")
	}

	f.d.TriggerAll(TriggerSchedule)
	s := f.next()
	if n := count(); n != 1 {
		t.Fatalf("%d backups in %s after the first scheduled pass, want 1", n, backups)
	}
	js := jobs()
	bs := byTrigger(js, TriggerSchedule)
	if len(bs) != 1 || bs[0].Result != state.ResultJobDone {
		t.Fatalf("scheduled backups recorded: %+v, want one %s", js, state.ResultJobDone)
	}
	if r, err := f.store.Run(t.Context(), bs[0].ID); err != nil || !strings.Contains(string(r.Log), "a.example.com: backup ") {
		t.Errorf("the backup job's log: %q %v", r.Log, err)
	}
	if n := stamps(); n != 1 {
		t.Errorf("cron stamp ran %d times (%s), want 1", n, cronLog)
	}
	st := byTrigger(js, "cron a.example.com/stamp")
	if len(st) != 1 || st[0].Result != state.ResultJobDone {
		t.Fatalf("cron stamp's runs: %+v", st)
	}
	if r, err := f.store.Run(t.Context(), st[0].ID); err != nil || !strings.Contains(string(r.Log), filepath.Join("platforms", "static", "production", "current")) {
		t.Errorf("cron stamp's log (its pwd, the document root): %q %v", r.Log, err)
	}
	br := byTrigger(js, "cron a.example.com/broken")
	if len(br) != 1 || br[0].Result != state.ResultJobFailed || !strings.Contains(br[0].Error, "exit status 3") {
		t.Fatalf("cron broken's runs: %+v, want one failed with exit status 3", br)
	}
	if r, err := f.store.Run(t.Context(), br[0].ID); err != nil || !strings.Contains(string(r.Log), "boom") {
		t.Errorf("cron broken's log: %q %v", r.Log, err)
	}
	if s.LastJob == nil || s.LastJob.ID != js[0].ID {
		t.Errorf("status's last job: %+v, want run %d", s.LastJob, js[0].ID)
	}
	if rev, _, err := f.store.LastApplied(t.Context(), "production"); err != nil || rev != s.LastApplied {
		t.Errorf("last applied after a job: %q %v, want %q (a job applies nothing)", rev, err, s.LastApplied)
	}

	// Ten minutes later nothing is due: nothing runs, nothing is recorded.
	clock.Add(600)
	f.d.TriggerAll(TriggerSchedule)
	f.next()
	if n, j, c := count(), len(jobs()), stamps(); n != 1 || j != 3 || c != 1 {
		t.Errorf("ten minutes later: %d backups, %d jobs, %d stamps; want 1, 3, 1", n, j, c)
	}

	// An hour later: the hourly cron again, not the daily backup.
	clock.Add(3600)
	f.d.TriggerAll(TriggerSchedule)
	f.next()
	if n, j, c := count(), len(jobs()), stamps(); n != 1 || j != 4 || c != 2 {
		t.Errorf("an hour later: %d backups, %d jobs, %d stamps; want 1, 4, 2", n, j, c)
	}

	// A day later: the backup is due; the new one taken, the old one
	// pruned (keep 1).
	clock.Add(24 * 3600)
	f.d.TriggerAll(TriggerSchedule)
	f.next()
	bs = byTrigger(jobs(), TriggerSchedule)
	if n := count(); n != 1 || len(bs) != 2 {
		t.Errorf("a day later: %d backups and %d backup jobs, want 1 (keep 1) and 2", n, len(bs))
	}
	if r, err := f.store.Run(t.Context(), bs[0].ID); err != nil || !strings.Contains(string(r.Log), "pruned backup") {
		t.Errorf("the second backup job's log: %q %v, want a pruned backup", r.Log, err)
	}
}
