package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/berthhq/berth/redact"
)

// Results of a run. Callers of FinishRun may record other results too; these
// are the ones berth's engine and status use.
const (
	// ResultRunning is reported for a run that is still in progress.
	ResultRunning = "running"
	// ResultInterrupted is reported for a run whose process ended before
	// finishing it (see the package documentation).
	ResultInterrupted = "interrupted"
	ResultSucceeded   = "succeeded"
	ResultFailed      = "failed"
	// ResultJobDone and ResultJobFailed end a scheduled job the daemon
	// recorded (trigger "schedule": backups taken or pruned). A job applies
	// nothing: neither counts as applied (LastApplied) nor as the
	// environment's health.
	ResultJobDone   = "job-done"
	ResultJobFailed = "job-failed"
	// ResultNoOp is a run whose plan was empty: the hosts already matched
	// its revision.
	ResultNoOp = "no-op"
)

// Run is one plan-and-apply of an environment.
type Run struct {
	// ID is assigned by StartRun; IDs grow, so a larger ID is a newer run.
	ID       int64
	Env      string
	Revision string
	// Trigger says what started the run: "webhook", "poll", "watch",
	// "drift", "manual", "cli"...
	Trigger string
	Started time.Time
	// Finished is zero while the run is running or when it was interrupted.
	Finished time.Time
	// Result is ResultRunning or ResultInterrupted for an unfinished run,
	// otherwise what FinishRun recorded.
	Result string
	// Error is the run's failure, for the operator to read.
	Error string
	// Changes is the plan the run applied (JSON) and Log its log; Runs
	// leaves both nil, Run fills them in.
	Changes []byte
	Log     []byte
	// PID is the process that started the run.
	PID int
}

// RunResult is how a run ended, for FinishRun.
type RunResult struct {
	// Result is required: ResultSucceeded, ResultFailed, ResultNoOp...
	Result string
	// Finished defaults to the current time.
	Finished time.Time
	// Revision, when not empty, replaces the revision StartRun recorded (a
	// run may learn its revision only after fetching).
	Revision string
	Changes  []byte
	Log      []byte
	// Error is shown by berth status and the API. Changes, Log and Error
	// are recorded with every secret the process knows redacted (see
	// package redact).
	Error string
}

// StartRun records the start of a run of r.Env (required) at r.Revision,
// started by r.Trigger at r.Started (the current time when zero), and returns
// its ID. The other fields of r are ignored. Until FinishRun is called the
// run reads as ResultRunning, or as ResultInterrupted once this process is
// gone.
//
// StartRun honours ctx and is safe for concurrent use.
func (s *Store) StartRun(ctx context.Context, r Run) (int64, error) {
	if err := s.writable("start run"); err != nil {
		return 0, err
	}
	if r.Env == "" {
		return 0, errors.New("start run: no environment given")
	}
	res, err := s.w.ExecContext(ctx, `INSERT INTO runs (env, revision, trigger, started, pid, session) VALUES (?, ?, ?, ?, ?, ?)`,
		r.Env, redact.String(r.Revision), redact.String(r.Trigger), toDB(orNow(r.Started)), os.Getpid(), s.session)
	if err != nil {
		return 0, fmt.Errorf("record start of run of environment %q: %w", r.Env, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("record start of run of environment %q: %w", r.Env, err)
	}
	return id, nil
}

// FinishRun records how run id ended. It fails with an error wrapping
// ErrNotFound when there is no such run, and refuses to finish a run that is
// already finished or was marked interrupted.
//
// FinishRun honours ctx and is safe for concurrent use.
func (s *Store) FinishRun(ctx context.Context, id int64, res RunResult) error {
	if err := s.writable("finish run"); err != nil {
		return err
	}
	if res.Result == "" || res.Result == ResultRunning {
		return fmt.Errorf("finish run %d: result %q is not how a run ends", id, res.Result)
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var result string
		err := tx.QueryRowContext(ctx, `SELECT result FROM runs WHERE id = ?`, id).Scan(&result)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("finish run %d: no such run: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("finish run %d: %w", id, err)
		}
		if result != "" {
			return fmt.Errorf("finish run %d: it already ended as %q", id, result)
		}
		_, err = tx.ExecContext(ctx, `UPDATE runs SET finished = ?, result = ?, revision = CASE WHEN ? = '' THEN revision ELSE ? END, changes = ?, log = ?, error = ? WHERE id = ?`,
			toDB(orNow(res.Finished)), res.Result, res.Revision, res.Revision, redact.Bytes(res.Changes), redact.Bytes(res.Log), redact.String(res.Error), id)
		if err != nil {
			return fmt.Errorf("finish run %d: %w", id, err)
		}
		return nil
	})
}

const runSummaryColumns = `id, env, revision, trigger, started, finished, result, error, pid, session`

// Runs returns the runs of env, newest first, at most limit of them (all when
// limit <= 0); env "" returns the runs of every environment. To keep listings
// cheap, Changes and Log are left nil: read them with Run.
//
// Runs honours ctx and is safe for concurrent use.
func (s *Store) Runs(ctx context.Context, env string, limit int) ([]Run, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	var (
		rows *sql.Rows
		err  error
	)
	if env == "" {
		rows, err = s.r.QueryContext(ctx, `SELECT `+runSummaryColumns+` FROM runs ORDER BY id DESC LIMIT ?`, limit)
	} else {
		rows, err = s.r.QueryContext(ctx, `SELECT `+runSummaryColumns+` FROM runs WHERE env = ? ORDER BY id DESC LIMIT ?`, env, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("read runs of %s: %w", envName(env), err)
	}
	defer rows.Close()
	live := s.liveWriterSession()
	out := []Run{}
	for rows.Next() {
		var r Run
		var started, finished int64
		var session string
		if err := rows.Scan(&r.ID, &r.Env, &r.Revision, &r.Trigger, &started, &finished, &r.Result, &r.Error, &r.PID, &session); err != nil {
			return nil, fmt.Errorf("read runs of %s: %w", envName(env), err)
		}
		r.Started, r.Finished = fromDB(started), fromDB(finished)
		r.Result = derivedResult(r.Result, session, live)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read runs of %s: %w", envName(env), err)
	}
	return out, nil
}

// Run returns run id with its Changes and Log. It fails with an error
// wrapping ErrNotFound (fs.ErrNotExist) when there is no such run.
//
// Run honours ctx and is safe for concurrent use.
func (s *Store) Run(ctx context.Context, id int64) (Run, error) {
	var r Run
	var started, finished int64
	var session string
	err := s.r.QueryRowContext(ctx, `SELECT `+runSummaryColumns+`, changes, log FROM runs WHERE id = ?`, id).
		Scan(&r.ID, &r.Env, &r.Revision, &r.Trigger, &started, &finished, &r.Result, &r.Error, &r.PID, &session, &r.Changes, &r.Log)
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, fmt.Errorf("read run %d: no such run: %w", id, ErrNotFound)
	}
	if err != nil {
		return Run{}, fmt.Errorf("read run %d: %w", id, err)
	}
	r.Started, r.Finished = fromDB(started), fromDB(finished)
	r.Result = derivedResult(r.Result, session, s.liveWriterSession())
	return r, nil
}

// LastApplied returns the revision of env's newest run that ended as
// ResultSucceeded or ResultNoOp (a no-op run proves the hosts already match
// its revision) and when that run finished. When env has no such run it
// returns an error wrapping ErrNotFound.
//
// LastApplied honours ctx and is safe for concurrent use.
func (s *Store) LastApplied(ctx context.Context, env string) (revision string, at time.Time, err error) {
	var finished int64
	err = s.r.QueryRowContext(ctx, `SELECT revision, finished FROM runs WHERE env = ? AND result IN (?, ?) ORDER BY id DESC LIMIT 1`,
		env, ResultSucceeded, ResultNoOp).Scan(&revision, &finished)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, fmt.Errorf("last applied revision of environment %q: no run has succeeded yet: %w", env, ErrNotFound)
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("last applied revision of environment %q: %w", env, err)
	}
	return revision, fromDB(finished), nil
}

// IsJob says whether r is a scheduled job the daemon recorded (a backup
// or cron pass), not a run of the environment.
func (r Run) IsJob() bool { return r.Result == ResultJobDone || r.Result == ResultJobFailed }

// LastStarted returns when env's newest run started by trigger started;
// the zero time when there is none. The daemon's scheduled jobs are due
// from it.
func (s *Store) LastStarted(ctx context.Context, env, trigger string) (time.Time, error) {
	var started sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT max(started) FROM runs WHERE env = ? AND trigger = ?`, env, trigger).Scan(&started)
	if err != nil {
		return time.Time{}, fmt.Errorf("last run of environment %q by %q: %w", env, trigger, err)
	}
	if !started.Valid {
		return time.Time{}, nil
	}
	return fromDB(started.Int64), nil
}

// derivedResult is the result to report for a stored one: an unfinished run
// ("") is running when the live writer started it, interrupted otherwise.
func derivedResult(stored, session, live string) string {
	if stored != "" {
		return stored
	}
	if live != "" && session == live {
		return ResultRunning
	}
	return ResultInterrupted
}

// markInterrupted records as interrupted every unfinished run. It is called
// by a writing Open, which holds the exclusive lock: whoever started those
// runs is gone.
func (s *Store) markInterrupted(ctx context.Context) error {
	_, err := s.w.ExecContext(ctx, `UPDATE runs SET result = ?,
		error = CASE WHEN error = '' THEN 'berth (pid ' || pid || ') stopped before finishing this run' ELSE error END
		WHERE result = ''`, ResultInterrupted)
	if err != nil {
		return fmt.Errorf("mark unfinished runs interrupted in %s: %w", s.dbPath, err)
	}
	return nil
}
