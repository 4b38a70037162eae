package state

import (
	"context"
	"encoding/base64"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"
)

func TestRunLifecycle(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

	id, err := s.StartRun(ctx, Run{Env: "prod", Revision: "r1", Trigger: "webhook", Started: start})
	must(t, err)
	r, err := s.Run(ctx, id)
	must(t, err)
	if r.Result != ResultRunning || !r.Finished.IsZero() || !r.Started.Equal(start) || r.Trigger != "webhook" {
		t.Errorf("started run = %+v", r)
	}

	end := start.Add(3 * time.Second)
	must(t, s.FinishRun(ctx, id, RunResult{Result: ResultFailed, Finished: end, Changes: []byte(`{"add":1}`), Log: []byte("nginx -t failed\n"), Error: "nginx -t: unknown directive"}))
	r, err = s.Run(ctx, id)
	must(t, err)
	if r.Result != ResultFailed || !r.Finished.Equal(end) || string(r.Changes) != `{"add":1}` || string(r.Log) != "nginx -t failed\n" || r.Error != "nginx -t: unknown directive" || r.Revision != "r1" {
		t.Errorf("finished run = %+v", r)
	}

	if err := s.FinishRun(ctx, id, RunResult{Result: ResultSucceeded}); err == nil || !strings.Contains(err.Error(), "already ended") {
		t.Errorf("finishing twice = %v", err)
	}
	if err := s.FinishRun(ctx, id+100, RunResult{Result: ResultSucceeded}); !errors.Is(err, ErrNotFound) {
		t.Errorf("finishing a missing run = %v, want ErrNotFound", err)
	}
	if err := s.FinishRun(ctx, id, RunResult{}); err == nil {
		t.Error("finishing without a result succeeded")
	}
	if _, err := s.Run(ctx, id+100); !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, ErrNotFound) {
		t.Errorf("Run of a missing id = %v, want fs.ErrNotExist", err)
	}
	if _, err := s.StartRun(ctx, Run{}); err == nil {
		t.Error("starting a run without environment succeeded")
	}

	// A revision learned after starting replaces the recorded one.
	id2, err := s.StartRun(ctx, Run{Env: "prod", Trigger: "poll"})
	must(t, err)
	must(t, s.FinishRun(ctx, id2, RunResult{Result: ResultNoOp, Revision: "r2"}))
	r, err = s.Run(ctx, id2)
	must(t, err)
	if r.Revision != "r2" || r.Started.IsZero() || r.Finished.IsZero() {
		t.Errorf("run with late revision = %+v", r)
	}
}

func TestRunsList(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	var want []int64
	for i, env := range []string{"prod", "dev", "prod", "prod"} {
		id, err := s.StartRun(ctx, Run{Env: env, Revision: string(rune('a' + i))})
		must(t, err)
		must(t, s.FinishRun(ctx, id, RunResult{Result: ResultSucceeded, Log: []byte("log")}))
		if env == "prod" {
			want = append([]int64{id}, want...)
		}
	}
	for _, c := range []struct {
		env   string
		limit int
		want  []int64
	}{
		{"prod", 0, want},
		{"prod", 2, want[:2]},
		{"prod", 10, want},
		{"staging", 0, nil},
		{"", 0, []int64{4, 3, 2, 1}},
		{"", 1, []int64{4}},
	} {
		runs, err := s.Runs(ctx, c.env, c.limit)
		must(t, err)
		var got []int64
		for _, r := range runs {
			got = append(got, r.ID)
			if r.Log != nil || r.Changes != nil {
				t.Errorf("Runs filled in Log/Changes of run %d", r.ID)
			}
		}
		if !equalIDs(got, c.want) {
			t.Errorf("Runs(%q, %d) = %v, want %v", c.env, c.limit, got, c.want)
		}
	}
}

func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLastApplied(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name    string
		runs    []RunResult // in order, all of env "prod"
		wantRev string
		wantErr error
	}{
		{name: "no runs", wantErr: ErrNotFound},
		{name: "only failures", runs: []RunResult{{Result: ResultFailed, Revision: "a"}}, wantErr: ErrNotFound},
		{name: "newest success", runs: []RunResult{{Result: ResultSucceeded, Revision: "a"}, {Result: ResultSucceeded, Revision: "b"}}, wantRev: "b"},
		{name: "a later failure keeps the last success", runs: []RunResult{{Result: ResultSucceeded, Revision: "a"}, {Result: ResultFailed, Revision: "b"}}, wantRev: "a"},
		{name: "no-op counts as applied", runs: []RunResult{{Result: ResultSucceeded, Revision: "a"}, {Result: ResultNoOp, Revision: "b"}}, wantRev: "b"},
		{name: "unfinished does not count", runs: []RunResult{{Result: ResultSucceeded, Revision: "a"}, {Revision: "b"}}, wantRev: "a"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := open(t, t.TempDir())
			finished := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			var wantAt time.Time
			for _, rr := range c.runs {
				id, err := s.StartRun(ctx, Run{Env: "prod", Revision: rr.Revision})
				must(t, err)
				if rr.Result == "" {
					continue
				}
				finished = finished.Add(time.Minute)
				rr.Finished = finished
				must(t, s.FinishRun(ctx, id, rr))
				if rr.Revision == c.wantRev {
					wantAt = finished
				}
			}
			// Another environment's success is not this one's.
			id, err := s.StartRun(ctx, Run{Env: "dev", Revision: "dev-rev"})
			must(t, err)
			must(t, s.FinishRun(ctx, id, RunResult{Result: ResultSucceeded}))

			rev, at, err := s.LastApplied(ctx, "prod")
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("LastApplied = %q, %v; want error %v", rev, err, c.wantErr)
				}
				return
			}
			if err != nil || rev != c.wantRev || !at.Equal(wantAt) {
				t.Errorf("LastApplied = %q, %v, %v; want %q, %v", rev, at, err, c.wantRev, wantAt)
			}
		})
	}
}

// TestInterruptedRun: a berth process starts a run and is killed. Readers see
// the run as running while the process lives and as interrupted once it is
// gone; the next writer records it as interrupted for good.
func TestInterruptedRun(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// The database must exist before the read-only Store opens.
	open(t, dir).Close()

	h := startHelper(t, dir, "prod")
	ro, err := Open(ctx, dir, Options{ReadOnly: true})
	must(t, err)
	defer ro.Close()
	r, err := ro.Run(ctx, h.runID)
	must(t, err)
	if r.Result != ResultRunning || r.PID != h.cmd.Process.Pid || r.Revision != "rev-helper" {
		t.Errorf("run of a live process = %+v, want running", r)
	}

	h.kill(t)
	r, err = ro.Run(ctx, h.runID)
	must(t, err)
	if r.Result != ResultInterrupted {
		t.Errorf("run of a killed process read by a reader = %q, want interrupted", r.Result)
	}

	w := open(t, dir)
	runs, err := w.Runs(ctx, "prod", 0)
	must(t, err)
	if len(runs) != 1 || runs[0].Result != ResultInterrupted || !strings.Contains(runs[0].Error, "stopped before finishing") {
		t.Errorf("runs after reopen = %+v", runs)
	}
	if err := w.FinishRun(ctx, h.runID, RunResult{Result: ResultSucceeded}); err == nil {
		t.Error("finishing an interrupted run succeeded")
	}
	// A run this writer starts is running, not interrupted.
	id, err := w.StartRun(ctx, Run{Env: "prod"})
	must(t, err)
	for _, s := range []*Store{w, ro} {
		r, err := s.Run(ctx, id)
		must(t, err)
		if r.Result != ResultRunning {
			t.Errorf("ReadOnly=%v: own unfinished run = %q, want running", s.ReadOnly(), r.Result)
		}
	}
	// Closed cleanly but unfinished: interrupted for readers at once.
	must(t, w.Close())
	r, err = ro.Run(ctx, id)
	must(t, err)
	if r.Result != ResultInterrupted {
		t.Errorf("unfinished run after its Store closed = %q, want interrupted", r.Result)
	}
}

func TestEnvStatus(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	sts, err := s.EnvStatuses(ctx)
	must(t, err)
	if len(sts) != 0 {
		t.Fatalf("fresh store has statuses %+v", sts)
	}
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	must(t, s.SetEnvStatus(ctx, EnvStatus{Env: "staging", Phase: PhaseStalled, LastFetched: "b", LastApplied: "a", Problems: []byte(`["sites/x.yaml:3:1: unknown field"]`), Updated: at}))
	must(t, s.SetEnvStatus(ctx, EnvStatus{Env: "prod", Phase: PhaseOutOfSync}))
	must(t, s.SetEnvStatus(ctx, EnvStatus{Env: "prod", Phase: PhaseSynced, LastFetched: "c", LastApplied: "c"}))
	if err := s.SetEnvStatus(ctx, EnvStatus{}); err == nil {
		t.Error("status without environment accepted")
	}
	sts, err = s.EnvStatuses(ctx)
	must(t, err)
	if len(sts) != 2 || sts[0].Env != "prod" || sts[1].Env != "staging" {
		t.Fatalf("statuses = %+v", sts)
	}
	if p := sts[0]; p.Phase != PhaseSynced || p.LastApplied != "c" || p.Updated.IsZero() || p.Problems != nil {
		t.Errorf("prod = %+v", p)
	}
	if st := sts[1]; st.Phase != PhaseStalled || st.LastFetched != "b" || !st.Updated.Equal(at) || string(st.Problems) != `["sites/x.yaml:3:1: unknown field"]` {
		t.Errorf("staging = %+v", st)
	}
}

// A secret the store handed out is redacted from the run records: plan,
// log and error, also base64-encoded and truncated.
func TestRunRecordsRedactSecrets(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	pw, err := s.Secret(ctx, "db/prod/records.example.com", func() (string, error) { return GeneratePassword(32) })
	must(t, err)
	id, err := s.StartRun(ctx, Run{Env: "prod", Revision: "r1", Trigger: "cli"})
	must(t, err)
	b64 := base64.StdEncoding.EncodeToString([]byte("DB_PASSWORD=" + pw))
	must(t, s.FinishRun(ctx, id, RunResult{Result: ResultFailed,
		Changes: []byte(`{"output":"DB_PASSWORD='` + pw + `'"}`), Log: []byte("install printed " + b64 + "\n"), Error: "install failed: " + pw[:20] + "..."}))
	r, err := s.Run(ctx, id)
	must(t, err)
	for _, field := range []string{string(r.Changes), string(r.Log), r.Error} {
		if strings.Contains(field, pw[:12]) || strings.Contains(field, b64[16:32]) || !strings.Contains(field, "[redacted]") {
			t.Errorf("run record field not redacted: %q", field)
		}
	}
	if !strings.Contains(string(r.Changes), `{"output":"DB_PASSWORD='[redacted]'"}`) {
		t.Errorf("plan = %s", r.Changes)
	}
}
