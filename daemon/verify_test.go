package daemon

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berthhq/berth/backup"
	"github.com/berthhq/berth/internal/testenv"
	"github.com/berthhq/berth/notify"
	"github.com/berthhq/berth/state"
)

// TestBackupVerificationByTheDaemon: on a real MariaDB, the daemon's
// schedule timer (clock seam) takes a site's backup and restore-tests it
// into a scratch database that is dropped afterwards; the verification is
// a run "verify SITE" in the runs API and the site's last verification in
// the status API. Ten minutes later nothing is verified again; a day
// later (verify: daily, the backup weekly) the same backup, now damaged,
// fails its verification: recorded failed with the reason, in the status,
// notified as a failed job; the scratch database is gone and the site's
// own database untouched.
func TestBackupVerificationByTheDaemon(t *testing.T) {
	my := testenv.MariaDB(t)
	got := make(chan notify.Message, 20)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m notify.Message
		json.NewDecoder(r.Body).Decode(&m)
		got <- m
	}))
	defer hook.Close()
	targets, err := notify.ParseTargets(strings.NewReader("ops generic " + hook.URL + "/hook\n"))
	if err != nil {
		t.Fatal(err)
	}
	n := notify.New(targets, hook.Client())
	n.Wait = func(int) time.Duration { return 0 }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.Run(ctx)

	f := newFixture(t, true)
	f.d.cfg.Notifier = n
	server := strings.Replace(serverWithRunDir(f), "  db:\n    type: sqlite\n", "  db:\n    type: mariadb\n    socket: "+my.Socket+"\n", 1)
	f.write("berth.yaml", "environments:\n  production: { branch: main }\nbackups: { server: local, dir: backups }\n")
	f.write("servers/local.yaml", server)
	f.write("platforms/app.yaml", "kind: Platform\nname: app\ntype: php\nsource: { path: app }\nservers: [local]\n")
	f.write("app/index.php", "<?php echo 'hi';\n")
	f.write("sites/b.yaml", "kind: Site\nname: b.example.com\nplatform: app\ndb: { server: local }\nbackup: { schedule: weekly, keep: 2, verify: daily }\n")
	var clock atomic.Int64
	clock.Store(time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC).Unix())
	f.d.cfg.Now = func() time.Time { return time.Unix(clock.Load(), 0) }
	f.start()
	if s := f.next(); s.Phase != PhaseSynced {
		t.Fatalf("first run: %+v", s)
	}
	my.SQL(t, "CREATE TABLE b_example_com.visits (id INT PRIMARY KEY, at TEXT); INSERT INTO b_example_com.visits VALUES (1, 'a'), (2, 'b')")
	scratch := backup.ScratchName("production", "b.example.com")
	scratchGone := func() {
		t.Helper()
		if got := my.SQL(t, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '"+scratch+"'"); strings.TrimSpace(got) != "0" {
			t.Errorf("the scratch database %s is still there", scratch)
		}
	}
	var access Access
	access.Set([]byte("operator-token-1"), []byte("read-token-22"), false)
	srv := httptest.NewServer(f.d.Handler(&access))
	defer srv.Close()
	api := func(path string, v any) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer read-token-22")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			body, _ := io.ReadAll(resp.Body)
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	verifications := func() []runJSON {
		t.Helper()
		var runs struct{ Runs []runJSON }
		api("/api/v1/runs?env=production", &runs)
		var out []runJSON
		for _, r := range runs.Runs {
			if r.Trigger == VerifyTrigger("b.example.com") {
				out = append(out, r)
			}
		}
		return out
	}
	statusOf := func() []VerifyStatus {
		t.Helper()
		var st struct{ Environments []EnvStatus }
		api("/api/v1/status", &st)
		if len(st.Environments) != 1 {
			t.Fatalf("status: %+v", st)
		}
		return st.Environments[0].Verifications
	}

	// The first pass: the backup taken, then verified.
	f.d.TriggerAll(TriggerSchedule)
	f.next()
	backups := filepath.Join(f.state, "backups", "production", "b.example.com")
	es, err := os.ReadDir(backups)
	if err != nil || len(es) != 1 {
		t.Fatalf("backups after the first pass: %v %v", es, err)
	}
	id := es[0].Name()
	vs := verifications()
	if len(vs) != 1 || vs[0].Result != state.ResultJobDone {
		t.Fatalf("verification runs: %+v, want one %s", vs, state.ResultJobDone)
	}
	var run runJSON
	api("/api/v1/runs/"+strconv.FormatInt(vs[0].ID, 10), &run)
	if !strings.Contains(run.Log, "backup "+id+" restores") || !strings.Contains(run.Log, "scratch database "+scratch) || !strings.Contains(run.Log, "1 tables, 2 rows; dropped") {
		t.Errorf("the verification's log:\n%s", run.Log)
	}
	if st := statusOf(); len(st) != 1 || st[0].Site != "b.example.com" || st[0].Backup != id || !st[0].OK || st[0].Run != vs[0].ID || !st[0].Started.Equal(time.Unix(clock.Load(), 0)) {
		t.Errorf("status verifications: %+v, want backup %s ok", st, id)
	}
	scratchGone()

	// Ten minutes later: not due.
	clock.Add(600)
	f.d.TriggerAll(TriggerSchedule)
	f.next()
	if vs := verifications(); len(vs) != 1 {
		t.Errorf("ten minutes later: %d verifications, want 1", len(vs))
	}

	// A day later the backup (weekly) is not due, its verification
	// (daily) is: the backup, damaged meanwhile, fails.
	piece := filepath.Join(backups, id, "db.sql.gz")
	st, err := os.Stat(piece)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(piece, st.Size()/2); err != nil {
		t.Fatal(err)
	}
	clock.Add(24 * 3600)
	f.d.TriggerAll(TriggerSchedule)
	f.next()
	vs = verifications()
	if len(vs) != 2 || vs[0].Result != state.ResultJobFailed || !strings.Contains(vs[0].Error, "db.sql.gz has") || !strings.Contains(vs[0].Error, "backup verification failed") {
		t.Fatalf("verification runs a day later: %+v, want the newest failed for db.sql.gz", vs)
	}
	if st := statusOf(); len(st) != 1 || st[0].OK || st[0].Backup != id || !strings.Contains(st[0].Error, "does not match its manifest") {
		t.Errorf("status verifications: %+v, want backup %s failed", st, id)
	}
	select {
	case m := <-got:
		if m.Event != notify.EventJobFailed || m.Subject != VerifyTrigger("b.example.com") || !strings.Contains(m.Text, "db.sql.gz") {
			t.Errorf("notification %+v, want %s of verify b.example.com", m, notify.EventJobFailed)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no notification of the failed verification within 30s")
	}
	scratchGone()
	if got := my.SQL(t, "SELECT COUNT(*) FROM b_example_com.visits"); strings.TrimSpace(got) != "2" {
		t.Errorf("the site's table holds %q rows, want 2", got)
	}
	failed := statusOf()

	// After a restart the status shows the last verification again, read
	// from the run history; it is not due, so none runs.
	f.stop()
	cfg := f.d.cfg
	if f.d, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	f.start()
	f.next()
	f.d.TriggerAll(TriggerSchedule)
	f.next()
	if got := f.d.Status()[0].Verifications; len(got) != 1 || got[0].Site != failed[0].Site || got[0].Backup != id || got[0].OK || got[0].Error != failed[0].Error || got[0].Run != failed[0].Run {
		t.Errorf("status verifications after a restart: %+v, want %+v", got, failed)
	}
	if vs := verifications(); len(vs) != 2 {
		t.Errorf("after a restart: %d verifications, want 2", len(vs))
	}
}
