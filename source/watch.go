package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Debounce is how long a Watcher waits after the last relevant file event
// before it calls onChange, so a `git commit`, a `git push` or an editor's
// save-all makes one call. A stream of events that never pauses still
// makes a call every MaxDelay.
const (
	Debounce = 150 * time.Millisecond
	MaxDelay = time.Second
)

// A Watcher notices changes to a local sites repo with inotify (fsnotify);
// it never polls.
//
// For a Git repository (bare, or a work tree with .git) it watches the
// branches — refs/heads/** (new subdirectories too), packed-refs and HEAD —
// so a commit, a push into it, or a branch created, moved or deleted is a
// change; edits to the work tree that are not committed are not.
//
// For a plain directory it watches every subdirectory (new ones as they
// appear); any file created, written, removed or renamed is a change,
// except within .git and for editor temporary files (see Ignored).
type Watcher struct {
	path    string
	gitDir  string // "" for a plain directory
	refsDir string // where refs/ and packed-refs live (the common dir of a linked work tree)
	fw      *fsnotify.Watcher

	// seen, when set (by tests), is called on the watch goroutine with
	// every event and whether it counts as a change.
	seen func(ev fsnotify.Event, relevant bool)
}

// NewWatcher sets up the watches on path and returns; events are queued
// from then on, so nothing that happens after NewWatcher returns is missed
// by Run. The caller must call Run (which releases the watches when it
// returns) or Close.
func NewWatcher(path string) (*Watcher, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("source: watch %s: %w", path, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("source: watch %s: not a directory (watch the sites repo's directory)", path)
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("source: watch %s: %w (raise fs.inotify.max_user_instances?)", path, err)
	}
	w := &Watcher{path: path, gitDir: gitDir(path), fw: fw}
	if w.gitDir != "" {
		w.refsDir = w.gitDir
		// A linked work tree keeps HEAD in its own git dir and the refs in
		// the common one.
		if b, err := os.ReadFile(filepath.Join(w.gitDir, "commondir")); err == nil {
			c := strings.TrimSpace(string(b))
			if !filepath.IsAbs(c) {
				c = filepath.Join(w.gitDir, c)
			}
			w.refsDir = filepath.Clean(c)
		}
		err = w.addGit()
	} else {
		err = w.addTree(path)
	}
	if err != nil {
		fw.Close()
		return nil, err
	}
	return w, nil
}

// Watch watches path (see Watcher) and calls onChange, on one goroutine,
// after each burst of changes, until ctx ends; then it returns nil. It
// returns an error when the watches cannot be set up or the kernel reports
// a failure. onChange must not block for long: hand the change to the
// daemon's loop.
func Watch(ctx context.Context, path string, onChange func()) error {
	w, err := NewWatcher(path)
	if err != nil {
		return err
	}
	return w.Run(ctx, onChange)
}

// Close releases the watches of a Watcher whose Run is not called.
func (w *Watcher) Close() error { return w.fw.Close() }

func (w *Watcher) addGit() error {
	dirs := []string{w.gitDir, w.refsDir, filepath.Join(w.refsDir, "refs")}
	for _, d := range dirs {
		if err := w.fw.Add(d); err != nil { // adding a directory twice is harmless
			return fmt.Errorf("source: watch %s: %w", d, err)
		}
	}
	heads := filepath.Join(w.refsDir, "refs", "heads")
	if _, err := os.Stat(heads); err == nil {
		return w.addTree(heads)
	}
	return nil
}

// addTree watches dir and every directory under it, skipping ignored ones.
func (w *Watcher) addTree(dir string) error {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p != dir {
				return nil // removed while walking
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if p != dir && w.gitDir == "" && Ignored(d.Name()) {
			return filepath.SkipDir
		}
		return w.fw.Add(p)
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		if errors.Is(err, fsnotify.ErrClosed) {
			return err
		}
		return fmt.Errorf("source: watch %s: %w (too many directories? raise fs.inotify.max_user_watches)", dir, err)
	}
	return nil
}

// Run delivers changes until ctx ends, then releases the watches and
// returns nil. See Watch.
func (w *Watcher) Run(ctx context.Context, onChange func()) error {
	defer w.fw.Close()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var first time.Time // of the pending burst; zero when none is pending
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case ev, ok := <-w.fw.Events:
			if !ok {
				return nil
			}
			rel, err := w.handle(ev)
			if err != nil {
				return err
			}
			if w.seen != nil {
				w.seen(ev, rel)
			}
			if !rel {
				continue
			}
			now := time.Now()
			if first.IsZero() {
				first = now
			}
			timer.Reset(min(Debounce, MaxDelay-now.Sub(first)))
		case err, ok := <-w.fw.Errors:
			if !ok {
				return nil
			}
			if !errors.Is(err, fsnotify.ErrEventOverflow) {
				return fmt.Errorf("source: watch %s: %w", w.path, err)
			}
			// Events were lost: assume a change.
			if first.IsZero() {
				first = time.Now()
			}
			timer.Reset(Debounce)
		case <-timer.C:
			first = time.Time{}
			onChange()
		}
	}
}

// handle decides whether ev is a change and watches new directories.
func (w *Watcher) handle(ev fsnotify.Event) (bool, error) {
	if ev.Op == fsnotify.Chmod {
		return false, nil
	}
	name := filepath.Base(ev.Name)
	dir := filepath.Dir(ev.Name)
	isNewDir := false
	if ev.Has(fsnotify.Create) {
		if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() {
			isNewDir = true
		}
	}
	if w.gitDir == "" {
		if Ignored(name) || w.underIgnored(dir) {
			return false, nil
		}
		if isNewDir {
			if err := w.addTree(ev.Name); err != nil {
				return true, err
			}
		}
		return true, nil
	}
	if strings.HasSuffix(name, ".lock") {
		return false, nil
	}
	heads := filepath.Join(w.refsDir, "refs", "heads")
	switch {
	case dir == w.gitDir && name == "HEAD":
		return true, nil
	case dir == w.refsDir && name == "packed-refs":
		return true, nil
	case ev.Name == heads:
		if isNewDir {
			return true, w.addTree(heads)
		}
		return true, nil
	case strings.HasPrefix(ev.Name, heads+string(filepath.Separator)):
		if isNewDir {
			return true, w.addTree(ev.Name)
		}
		return true, nil
	}
	return false, nil
}

// underIgnored reports whether dir, inside the watched directory, has an
// ignored element (a directory created ignored is never watched, but its
// own creation event names it).
func (w *Watcher) underIgnored(dir string) bool {
	rel, err := filepath.Rel(w.path, dir)
	if err != nil || rel == "." {
		return false
	}
	for _, el := range strings.Split(rel, string(filepath.Separator)) {
		if Ignored(el) {
			return true
		}
	}
	return false
}
