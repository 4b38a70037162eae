package state

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
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
	if le.PID != os.Getpid() || le.Command != "berth test" {
		t.Errorf("holder = pid %d %q, want pid %d \"berth test\"", le.PID, le.Command, os.Getpid())
	}
	for _, want := range []string{"state dir " + dir + " is in use by berth (pid " + strconv.Itoa(os.Getpid()), `"berth test"`, "pass --wait"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}

	// With Wait, Open gets the lock once the first Store closes.
	waiting := make(chan string)
	opened := make(chan error)
	go func() {
		s, err := Open(ctx, dir, Options{Wait: true, OnWait: func(h string) { waiting <- h }})
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
	_, err := Open(ctx, dir, Options{Wait: true, OnWait: func(string) { cancel() }})
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
	if !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), "; wait for it to finish or pass --wait") {
		t.Errorf("error = %q\nwant it to start with %q and end with the advice", err, want)
	}

	// Waiting: the helper closes its Store once we are waiting.
	s, err := Open(ctx, dir, Options{Wait: true, OnWait: func(string) { h.stop(t) }})
	if err != nil {
		t.Fatalf("waiting Open = %v", err)
	}
	s.Close()
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
