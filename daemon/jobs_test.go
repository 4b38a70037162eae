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

// TestScheduledBackups: the daemon's schedule timer takes a site's backup
// when it is due (clock seam), records it in the run history with the
// trigger schedule, shows it in the status, and takes none while the last
// one is recent; a day later it takes the next and prunes beyond keep.
func TestScheduledBackups(t *testing.T) {
	f := newFixture(t, true)
	f.write("berth.yaml", "environments:\n  production: { branch: main }\nbackups: { server: local, dir: backups }\n")
	f.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: static\nbackup: { schedule: daily, keep: 1 }\n")
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
			if r.Trigger == TriggerSchedule {
				out = append(out, r)
			}
		}
		return out
	}

	f.d.TriggerAll(TriggerSchedule)
	s := f.next()
	if n := count(); n != 1 {
		t.Fatalf("%d backups in %s after the first scheduled pass, want 1", n, backups)
	}
	js := jobs()
	if len(js) != 1 || js[0].Result != state.ResultJobDone {
		t.Fatalf("scheduled jobs recorded: %+v, want one %s", js, state.ResultJobDone)
	}
	if s.LastJob == nil || s.LastJob.ID != js[0].ID || s.LastJob.Result != state.ResultJobDone {
		t.Errorf("status's last job: %+v, want run %d", s.LastJob, js[0].ID)
	}
	if r, err := f.store.Run(t.Context(), js[0].ID); err != nil || !strings.Contains(string(r.Log), "a.example.com: backup ") {
		t.Errorf("the job's log: %q %v", r.Log, err)
	}
	if rev, _, err := f.store.LastApplied(t.Context(), "production"); err != nil || rev != s.LastApplied {
		t.Errorf("last applied after a job: %q %v, want %q (a job applies nothing)", rev, err, s.LastApplied)
	}

	// An hour later: not due; nothing taken, nothing recorded.
	clock.Add(3600)
	f.d.TriggerAll(TriggerSchedule)
	f.next()
	if n, j := count(), len(jobs()); n != 1 || j != 1 {
		t.Errorf("an hour later: %d backups and %d jobs, want 1 and 1", n, j)
	}

	// A day later: due; the new one taken, the old one pruned (keep 1).
	clock.Add(24 * 3600)
	f.d.TriggerAll(TriggerSchedule)
	f.next()
	js = jobs()
	if n := count(); n != 1 || len(js) != 2 {
		t.Errorf("a day later: %d backups and %d jobs, want 1 (keep 1) and 2", n, len(js))
	}
	if r, err := f.store.Run(t.Context(), js[0].ID); err != nil || !strings.Contains(string(r.Log), "pruned backup") {
		t.Errorf("the second job's log: %q %v, want a pruned backup", r.Log, err)
	}
}
