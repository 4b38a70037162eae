package cron

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/berthhq/berth/host"
)

// MaxRuntime bounds one run of a job; a job whose period is shorter is
// bounded by its period, so that runs of one job never overlap.
const MaxRuntime = time.Hour

// Job is one scheduled command of one site.
type Job struct {
	// Environment, Site and Name say whose job it is.
	Environment, Site, Name string
	// Server is the web server it runs on.
	Server string
	// Every is its period.
	Every time.Duration
	// Argv is the command; it runs in Dir as User (through runuser when
	// User is set) with Vars (KEY=VALUE) added to its environment.
	Argv []string
	Dir  string
	User string
	Vars []string
}

// Trigger is the trigger of the job's runs in the run history:
// "cron SITE/NAME".
func (j Job) Trigger() string { return "cron " + j.Site + "/" + j.Name }

// Due says whether the job is due at now, its last run having started at
// last (zero: never ran). A run is due a twentieth of the period early, so
// that a timer ticking at the period does not skip a turn by a few
// seconds.
func (j Job) Due(last, now time.Time) bool { return Due(j.Every, last, now) }

// Due says whether a job run every every is due at now, its last run
// having started at last (zero: never ran), by the rule of Job.Due: the
// daemon's other scheduled jobs (an environment's data_from) share it.
func Due(every time.Duration, last, now time.Time) bool {
	return last.IsZero() || now.Sub(last) >= every-every/20
}

// Next is when a job run every every, last started at last, is due next
// by Due's rule; the zero time when it never ran (due now).
func Next(every time.Duration, last time.Time) time.Time {
	if last.IsZero() {
		return last
	}
	return last.Add(every - every/20)
}

// Result is how a run ended.
type Result struct {
	// Output is what the command wrote, stdout then stderr.
	Output []byte
	// ExitCode is the command's exit status; -1 when it did not run to an
	// exit (not started, killed at its time limit, host unreachable).
	ExitCode int
}

// Run runs the job on h and waits at most min(Every, MaxRuntime). The
// error says why a run failed: a non-zero exit, the time limit, or a
// command that could not start.
func (j Job) Run(ctx context.Context, h host.Host) (Result, error) {
	limit := min(j.Every, MaxRuntime)
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	res, err := h.Run(ctx, j.command(), host.RunOptions{Dir: j.Dir})
	out := Result{Output: append(res.Stdout, res.Stderr...), ExitCode: res.ExitCode}
	var exit *host.ExitError
	switch {
	case err == nil:
		return out, nil
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return out, fmt.Errorf("cron %s of site %s on %s: stopped after %s, its time limit (its period, at most %s)", j.Name, j.Site, j.Server, limit, MaxRuntime)
	case errors.As(err, &exit):
		return out, fmt.Errorf("cron %s of site %s on %s: exit status %d", j.Name, j.Site, j.Server, res.ExitCode)
	}
	return out, fmt.Errorf("cron %s of site %s on %s: %w", j.Name, j.Site, j.Server, err)
}

// command is the argv Run runs: as User, with Vars, through runuser and
// env (no shell).
func (j Job) command() []string {
	var argv []string
	if j.User != "" {
		argv = append(argv, "runuser", "-u", j.User, "--")
	}
	if len(j.Vars) > 0 {
		argv = append(append(argv, "env"), j.Vars...)
	}
	return append(argv, j.Argv...)
}
