package state

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLockInProcess(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	first := open(t, dir)

	_, err := Open(ctx, dir, Options{Command: "berth plan"})
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want a *LockedError", err)
	}
	if le.PID != os.Getpid() || le.Command != "berth test" || le.Waited != 0 {
		t.Errorf("holder = pid %d %q (waited %s), want pid %d \"berth test\" without waiting", le.PID, le.Command, le.Waited, os.Getpid())
	}
	for _, want := range []string{"state dir " + dir + " is in use by berth (pid " + strconv.Itoa(os.Getpid()), `"berth test"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}

	// Waiting, Open gets the lock once the first Store closes.
	waiting := make(chan string)
	opened := make(chan error)
	go func() {
		s, err := Open(ctx, dir, Options{Wait: time.Hour, OnWait: func(h string) { waiting <- h }})
		if err == nil {
			err = s.Close()
		}
		opened <- err
	}()
	if h := <-waiting; !strings.Contains(h, `"berth test"`) {
		t.Errorf("OnWait got %q", h)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-opened; err != nil {
		t.Fatalf("waiting Open = %v", err)
	}
}

func TestLockWaitHonoursContext(t *testing.T) {
	dir := t.TempDir()
	open(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := Open(ctx, dir, Options{Wait: time.Hour, OnWait: func(string) { cancel() }})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Open = %v, want context.Canceled", err)
	}
	if !strings.Contains(err.Error(), `"berth test"`) {
		t.Errorf("error does not name the holder: %v", err)
	}
}

func TestLockOtherProcess(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	h := startHelper(t, dir, "")

	_, err := Open(ctx, dir, Options{})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("Open while another process holds the dir = %v, want ErrLocked", err)
	}
	want := `state dir ` + dir + ` is in use by berth (pid ` + strconv.Itoa(h.cmd.Process.Pid) + `, "berth apply"`
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error = %q\nwant it to start with %q", err, want)
	}

	// Waiting: the helper closes its Store once we are waiting.
	s, err := Open(ctx, dir, Options{Wait: time.Hour, OnWait: func(string) { h.stop(t) }})
	if err != nil {
		t.Fatalf("waiting Open = %v", err)
	}
	s.Close()
}

// TestLockBoundedWait: a writer never waits for the holder without a bound;
// once Wait has passed (at once for 0) Open fails with a *LockedError that
// names the holder, here another process, and where its API is.
func TestLockBoundedWait(t *testing.T) {
	dir := t.TempDir()
	h := startHelperEnv(t, dir, "BERTH_STATE_TEST_COMMAND=berth serve", "BERTH_STATE_TEST_API=127.0.0.1:8080")
	for _, c := range []struct {
		name     string
		wait     time.Duration
		waits    bool
		contains []string
	}{
		{"no wait", 0, false, []string{`"berth serve"`, "API on 127.0.0.1:8080", "pid " + strconv.Itoa(h.cmd.Process.Pid)}},
		{"bounded wait", 20 * time.Millisecond, true, []string{`"berth serve"`, "API on 127.0.0.1:8080", "gave up after waiting"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			called := 0
			s, err := Open(context.Background(), dir, Options{Wait: c.wait, OnWait: func(string) { called++ }})
			if err == nil {
				s.Close()
				t.Fatal("Open got the lock the helper holds")
			}
			var le *LockedError
			if !errors.As(err, &le) || !errors.Is(err, ErrLocked) {
				t.Fatalf("Open = %v, want a *LockedError", err)
			}
			if le.PID != h.cmd.Process.Pid || le.Command != "berth serve" || le.API != "127.0.0.1:8080" || le.Since.IsZero() {
				t.Errorf("holder = %+v, want the helper as berth serve with its API", le)
			}
			if (le.Waited > 0) != c.waits || (called == 1) != c.waits || called > 1 {
				t.Errorf("waited %s and called OnWait %d times; want waiting %v", le.Waited, called, c.waits)
			}
			for _, want := range c.contains {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
	// The helper's lock survived the attempts: it closes its Store cleanly.
	h.stop(t)
	open(t, dir)
}

func TestLockFreedWhenHolderKilled(t *testing.T) {
	dir := t.TempDir()
	h := startHelper(t, dir, "")
	h.kill(t)
	s := open(t, dir)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultCommandLeavesOutFlags(t *testing.T) {
	saved := os.Args
	t.Cleanup(func() { os.Args = saved })
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"/usr/bin/berth", "apply", "--env", "prod"}, "berth apply"},
		{[]string{"berth", "--token=s3cret", "serve"}, "berth"},
		{[]string{"berth", "a", "b", "c", "d"}, "berth a b"},
		{[]string{"berth"}, "berth"},
	} {
		os.Args = c.args
		if got := defaultCommand(); got != c.want {
			t.Errorf("defaultCommand(%q) = %q, want %q", c.args, got, c.want)
		}
	}
}
