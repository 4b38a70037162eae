package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/berthhq/berth/state"
)

// defaultWait is how long a command that writes waits for another berth
// holding the state directory: long enough to queue behind a short apply,
// short enough that nobody mistakes it for a hang when the holder is
// berth serve, which holds the directory for as long as it runs.
const defaultWait = 10 * time.Second

// registerWait adds --wait to a command that writes to hosts or the store.
func (f *envFlags) registerWait(fs *flag.FlagSet) {
	fs.DurationVar(&f.wait, "wait", defaultWait, "how long to wait for another berth that holds the state directory (berth serve holds it while it runs) before giving up; 0 gives up at once")
}

// lock opens the state store for writing, holding the state directory's
// lock until the store is closed: every command that writes to hosts or the
// store does, so that no two of them (nor one and berth serve) run at once.
func (l *loaded) lock(ctx context.Context, f *envFlags, command string, stderr io.Writer) (*state.Store, error) {
	return openLocked(ctx, l.stateDir, f.wait, command, l.res.Environment, stderr)
}

// openLocked opens dir for writing, waiting at most wait for another berth
// to release it; env, when known, goes into the advice of the error.
func openLocked(ctx context.Context, dir string, wait time.Duration, command, env string, stderr io.Writer) (*state.Store, error) {
	s, err := state.Open(ctx, dir, state.Options{Wait: wait, Command: command,
		OnWait: func(holder string) {
			fmt.Fprintf(stderr, "berth: %s is in use by %s; waiting up to %s (--wait)\n", dir, holder, wait)
		}})
	var le *state.LockedError
	if errors.As(err, &le) {
		return nil, &busyError{le: le, command: command, env: env, wait: wait}
	}
	return s, err
}

// busyError is a state directory held by another berth, with what the
// operator can do about it. Its exit status is 1, as for any other error.
type busyError struct {
	le      *state.LockedError
	command string // "berth apply"
	env     string // "" when not known
	wait    time.Duration
}

func (e *busyError) Unwrap() error { return e.le }

func (e *busyError) Error() string {
	msg := e.le.Error() + ". "
	if e.le.Command != "berth serve" && e.le.API == "" {
		if e.wait == 0 {
			return msg + fmt.Sprintf("Wait for it to finish, or give %s a --wait to queue behind it", e.command)
		}
		return msg + fmt.Sprintf("Wait for it to finish, or give %s a longer --wait", e.command)
	}
	msg += "berth serve holds the state directory for as long as it runs"
	if e.command == "berth apply" || e.command == "berth verify" {
		env, api := e.env, e.le.API
		if env == "" {
			env = "ENV"
		}
		if api == "" {
			api = "ADDRESS" // an older berth serve did not record it
		}
		return msg + fmt.Sprintf(": let it converge the environment instead, with its operator token (--api-token-file): "+
			"curl -X POST -H \"Authorization: Bearer $(cat TOKEN_FILE)\" http://%s/api/v1/environments/%s/reconcile "+
			"(berth status --server http://%s shows the result); or stop it (systemctl stop berth) and run %s again", api, env, api, e.command)
	}
	return msg + fmt.Sprintf(": stop it (systemctl stop berth), run %s, and start it again", e.command)
}
