package source

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watchLog runs a Watcher and records, in the order the watch goroutine
// saw them, its events (with their relevance) and its onChange calls.
type watchLog struct {
	calls  chan struct{}
	events chan seenEvent

	mu  sync.Mutex
	log []string // "call", "+name" (a change), "-name" (ignored)
}

type seenEvent struct {
	name     string
	relevant bool
}

const waitLimit = 20 * time.Second // bound on every wait; never a synchronisation sleep

func startWatch(t *testing.T, path string) *watchLog {
	t.Helper()
	w, err := NewWatcher(path)
	if err != nil {
		t.Fatal(err)
	}
	l := &watchLog{calls: make(chan struct{}, 1000), events: make(chan seenEvent, 100_000)}
	w.seen = func(ev fsnotify.Event, rel bool) {
		l.mu.Lock()
		l.log = append(l.log, map[bool]string{true: "+", false: "-"}[rel]+ev.Name)
		l.mu.Unlock()
		l.events <- seenEvent{ev.Name, rel}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- w.Run(ctx, func() {
			l.mu.Lock()
			l.log = append(l.log, "call")
			l.mu.Unlock()
			l.calls <- struct{}{}
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(waitLimit):
			t.Error("Run did not return after its context ended")
		}
	})
	return l
}

// waitCall waits for the next onChange call.
func (l *watchLog) waitCall(t *testing.T, what string) {
	t.Helper()
	select {
	case <-l.calls:
	case <-time.After(waitLimit):
		t.Fatalf("no onChange after %s; events: %s", what, l.String())
	}
}

// waitEvent waits until the watcher has handled an event for name and
// checks its relevance.
func (l *watchLog) waitEvent(t *testing.T, name string, relevant bool) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case ev := <-l.events:
			if ev.name != name {
				continue
			}
			if ev.relevant != relevant {
				t.Errorf("event for %s: relevant = %v, want %v", name, ev.relevant, relevant)
			}
			return
		case <-deadline:
			t.Fatalf("no event for %s; events: %s", name, l.String())
		}
	}
}

// callsSince returns the onChange calls logged, and whether a change was
// seen after the last call (that is, a call is still due).
func (l *watchLog) counts() (calls int, pending bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.log {
		switch {
		case e == "call":
			calls++
			pending = false
		case strings.HasPrefix(e, "+"):
			pending = true
		}
	}
	return calls, pending
}

func (l *watchLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.log, " ")
}

func TestWatchGitRepo(t *testing.T) {
	f := newFixture(t)
	l := startWatch(t, f.work)
	gitDir := filepath.Join(f.work, ".git")

	// One commit: one call, after which nothing is pending. The barrier
	// file is written after the commit, so once its event is handled every
	// event of the commit has been.
	commit(t, f.work, "main: watched", map[string]string{"sites/w.yaml": "w\n"})
	l.waitCall(t, "a commit")
	barrier := filepath.Join(gitDir, "berth-test-barrier")
	writeFiles(t, gitDir, map[string]string{"berth-test-barrier": "1"})
	l.waitEvent(t, barrier, false)
	if calls, pending := l.counts(); calls != 1 || pending {
		t.Errorf("one commit: %d calls (a change pending: %v), want 1; events: %s", calls, pending, l)
	}

	// Uncommitted edits of the work tree are not changes.
	writeFiles(t, f.work, map[string]string{"sites/w.yaml": "edited\n"})
	gitCmd(t, f.work, "add", "sites/w.yaml") // writes .git/index
	os.Remove(barrier)
	l.waitEvent(t, barrier, false)
	if calls, pending := l.counts(); calls != 1 || pending {
		t.Errorf("work tree edit counted as a change: %d calls, pending %v; events: %s", calls, pending, l)
	}

	// A new branch in a new refs/heads subdirectory, then a move of it.
	gitCmd(t, f.work, "branch", "feature/x")
	l.waitCall(t, "git branch feature/x")
	gitCmd(t, f.work, "update-ref", "refs/heads/feature/x", f.heads["main"])
	l.waitCall(t, "moving feature/x")

	// Switching branches moves HEAD; packing refs rewrites packed-refs.
	gitCmd(t, f.work, "checkout", "-q", "-f", "dev")
	l.waitCall(t, "git checkout dev")
	gitCmd(t, f.work, "pack-refs", "--all")
	l.waitCall(t, "git pack-refs")
	// A branch that only lives in packed-refs moves.
	gitCmd(t, f.work, "update-ref", "refs/heads/staging", f.heads["main"])
	l.waitCall(t, "moving packed staging")
}

func TestWatchBareRepo(t *testing.T) {
	f := newFixture(t)
	l := startWatch(t, f.origin)
	f.push(t, "dev", "dev: pushed", map[string]string{"p.yaml": "p\n"})
	l.waitCall(t, "a push into the bare repo")
	gitCmd(t, f.work, "push", "-q", "origin", "--delete", "staging")
	l.waitCall(t, "deleting a branch")
}

func TestWatchDir(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"berth.yaml": "a\n", "sites/a.yaml": "a\n"})
	l := startWatch(t, dir)

	// Editor temporary files and .git are not changes.
	for _, name := range []string{".berth.yaml.swp", "berth.yaml~", ".#berth.yaml", "4913", "sites/.a.yaml.swx", "#a.yaml#"} {
		writeFiles(t, dir, map[string]string{name: "tmp"})
		l.waitEvent(t, filepath.Join(dir, name), false)
	}
	if err := os.MkdirAll(filepath.Join(dir, ".git", "objects"), 0o755); err != nil {
		t.Fatal(err)
	}
	l.waitEvent(t, filepath.Join(dir, ".git"), false)
	if calls, pending := l.counts(); calls != 0 || pending {
		t.Fatalf("temporary files counted as changes: %d calls; events: %s", calls, l)
	}

	// An edit is a change.
	writeFiles(t, dir, map[string]string{"berth.yaml": "b\n"})
	l.waitCall(t, "editing berth.yaml")

	// A new subdirectory is a change, and is watched: a file created in it,
	// then edited, is a change each time.
	if err := os.MkdirAll(filepath.Join(dir, "sites", "new", "deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	l.waitCall(t, "mkdir sites/new/deeper")
	writeFiles(t, dir, map[string]string{"sites/new/deeper/x.yaml": "x\n"})
	l.waitCall(t, "creating sites/new/deeper/x.yaml")
	writeFiles(t, dir, map[string]string{"sites/new/deeper/x.yaml": "y\n"})
	l.waitCall(t, "editing sites/new/deeper/x.yaml")
	writeFiles(t, dir, map[string]string{"sites/new/deeper/.x.yaml.swp": "tmp"})
	l.waitEvent(t, filepath.Join(dir, "sites/new/deeper/.x.yaml.swp"), false)

	// Removing and renaming are changes.
	if err := os.Rename(filepath.Join(dir, "sites/a.yaml"), filepath.Join(dir, "sites/b.yaml")); err != nil {
		t.Fatal(err)
	}
	l.waitCall(t, "renaming sites/a.yaml")
	if err := os.RemoveAll(filepath.Join(dir, "sites", "new")); err != nil {
		t.Fatal(err)
	}
	l.waitCall(t, "removing sites/new")
}

func TestWatchErrors(t *testing.T) {
	if _, err := NewWatcher(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("NewWatcher(missing) succeeded")
	}
	f := filepath.Join(t.TempDir(), "file")
	writeFiles(t, filepath.Dir(f), map[string]string{"file": "x"})
	if _, err := NewWatcher(f); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("NewWatcher(file) = %v", err)
	}
	// Watch returns nil when its context ends.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Watch(ctx, t.TempDir(), func() {}); err != nil {
		t.Errorf("Watch(cancelled) = %v", err)
	}
}

func TestIgnored(t *testing.T) {
	for name, want := range map[string]bool{
		".git": true, "x.swp": true, ".x.yaml.swo": true, "x~": true, ".#x": true, "#x#": true, "4913": true, "x.tmp": true,
		"x.yaml": false, "berth.yaml": false, ".gitignore": false, "#x": false, "sites": false,
	} {
		if Ignored(name) != want {
			t.Errorf("Ignored(%q) = %v, want %v", name, !want, want)
		}
	}
}
