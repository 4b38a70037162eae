package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/state"
)

// TestBusyErrorAdvice: the error of a busy state directory names the holder
// and says what to do, which depends on who holds it and what was asked.
func TestBusyErrorAdvice(t *testing.T) {
	serve := &state.LockedError{Dir: "/var/lib/berth", PID: 42, Command: "berth serve", API: "127.0.0.1:8080", Waited: 10 * time.Second}
	oldServe := &state.LockedError{Dir: "/var/lib/berth", PID: 42, Command: "berth serve"}
	cli := &state.LockedError{Dir: "/var/lib/berth", PID: 7, Command: "berth apply", Waited: 10 * time.Second}
	for _, c := range []struct {
		name    string
		err     *busyError
		want    []string
		notWant []string
	}{
		{"apply behind serve", &busyError{le: serve, command: "berth apply", env: "production", wait: 10 * time.Second}, []string{
			`berth (pid 42, "berth serve", API on 127.0.0.1:8080)`, "gave up after waiting 10s",
			"curl -X POST", "http://127.0.0.1:8080/api/v1/environments/production/reconcile", "--api-token-file",
			"berth status --server http://127.0.0.1:8080", "systemctl stop berth", "run berth apply again",
		}, []string{"longer --wait"}},
		{"verify behind a serve that did not record its API", &busyError{le: oldServe, command: "berth verify", env: "staging"}, []string{
			"http://ADDRESS/api/v1/environments/staging/reconcile", "run berth verify again",
		}, []string{"gave up after waiting"}},
		{"apply with env unknown", &busyError{le: serve, command: "berth apply"}, []string{
			"/api/v1/environments/ENV/reconcile",
		}, nil},
		{"restore behind serve", &busyError{le: serve, command: "berth restore", env: "production", wait: 10 * time.Second}, []string{
			"stop it (systemctl stop berth), run berth restore, and start it again",
		}, []string{"reconcile", "longer --wait"}},
		{"backup behind apply", &busyError{le: cli, command: "berth backup", env: "production", wait: 10 * time.Second}, []string{
			`"berth apply"`, "Wait for it to finish, or give berth backup a longer --wait",
		}, []string{"berth serve", "reconcile"}},
		{"apply behind apply, no wait", &busyError{le: &state.LockedError{Dir: "/s", PID: 7, Command: "berth apply"}, command: "berth apply", env: "production"}, []string{
			"give berth apply a --wait to queue behind it",
		}, []string{"gave up after waiting"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			msg := c.err.Error()
			if !errors.Is(c.err, state.ErrLocked) {
				t.Error("errors.Is(busyError, state.ErrLocked) is false")
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q\ndoes not contain %q", msg, w)
				}
			}
			for _, w := range c.notWant {
				if strings.Contains(msg, w) {
					t.Errorf("%q\ncontains %q", msg, w)
				}
			}
		})
	}
}
